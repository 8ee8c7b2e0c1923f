"""PiDog's camera on the robot: picamera2 frames to the policy's image, bad frames and all.

Only imported by the ``pidog`` backend for a policy that sees colour; ``picamera2`` is
imported only when the camera is opened. Every frame goes through
``robot.camera.check_frame`` and the same ``preprocess_frame`` as the simulator's frames.
A bad frame (capture error, wrong shape, all zeros) logs one warning per streak and the
step runs on the last good frame; more than ``max_bad_frames`` in a row, or a capture
that hangs, raise ``SafetyStopError("camera")`` and the robot lies down, like the other
safety stops.
"""

from __future__ import annotations

import logging
import math
import threading
import time

import numpy as np

from pidog_gaits.backends.base import BackendUnavailableError
from pidog_gaits.backends.safety import CAMERA_STOP, SafetyStopError
from pidog_gaits.robot import camera as robot_camera

LOG = logging.getLogger(__name__)


def open_camera():
    """picamera2 in its video configuration: ``CAMERA_CAPTURE_SIZE_PX`` ``RGB888`` frames
    at 30 frames/s (the figures the simulated camera copies: ``robot/camera.py``)."""
    try:
        from picamera2 import Picamera2
    except ImportError as exc:
        raise BackendUnavailableError(
            "this policy sees the camera: install picamera2 on the robot "
            "(sudo apt install python3-picamera2)"
        ) from exc
    camera = Picamera2()
    main = {"size": robot_camera.CAMERA_CAPTURE_SIZE_PX, "format": robot_camera.CAMERA_FORMAT}
    camera.configure(camera.create_video_configuration(main=main))
    camera.start()
    return camera


def frame_to_policy(
    frame: np.ndarray,
    size_px: tuple[int, int],
    channel_order: str = robot_camera.CAMERA_CHANNEL_ORDER,
    expected_shape: tuple[int, ...] | None = None,
) -> np.ndarray:
    """A picamera2 frame -> the policy's ``(3, H, W)`` uint8 RGB image.

    ``check_frame`` first (raises ``FrameError`` for a broken frame), then the same
    ``preprocess_frame`` the simulator's frames go through; picamera2's ``RGB888`` arrays
    are B, G, R in memory (``robot_camera.CAMERA_CHANNEL_ORDER``).
    """
    w, h = size_px
    robot_camera.check_frame(frame, w, h, expected_shape)
    return robot_camera.preprocess_frame(frame, w, h, channel_order)


class CameraReader:
    """picamera2 frames to policy images: the newest good one, riding out bad frames.

    With ``background`` a thread captures at the camera's own rate and ``read()`` returns
    the newest good image at once, holding it until the next one arrives: the robot's
    counterpart of the simulator's ``CameraStream``. A frame that fails (an exception from
    the capture, or ``check_frame``: wrong shape, all zeros, ...) is counted and the last
    good image stays; the first of a streak logs one warning. ``read()`` raises
    ``SafetyStopError(CAMERA_STOP)`` once more than ``max_bad_frames`` failed in a row, or
    (in the background) no good frame came for as long as that many frames take (a
    capture that hangs): the policy would otherwise steer by an ever older picture.

    When the camera offers ``capture_request`` (picamera2 does), each frame's age is
    measured: ``time.monotonic_ns()`` minus the request's ``SensorTimestamp`` (both
    ``CLOCK_MONOTONIC``; the timestamp marks the end of the first row's exposure) plus half
    the exposure time. ``camera_age_ms`` in the figures is the figure to compare with
    ``robot_camera.CAMERA_DELAY_S`` (the time a held frame waits for ``read()`` adds to it:
    ~10 ms on average at 50 Hz).

    :param camera: a started ``Picamera2`` (or anything with ``capture_array()``).
    :param size_px: the policy's (width, height).
    :param max_bad_frames: bad frames in a row that are still ridden out.
    :param open_tries: captures to wait for the first good frame before giving up.
    :param background: capture in a thread (the robot); else one capture per ``read()``.
    :param frame_rate_hz: the camera's rate: paces retries and sets the hang timeout.
    """

    def __init__(
        self,
        camera,
        size_px: tuple[int, int],
        max_bad_frames: int = 5,
        open_tries: int = 30,
        background: bool = False,
        frame_rate_hz: float = robot_camera.CAMERA_FRAME_RATE_HZ,
    ) -> None:
        self.camera = camera
        self.size_px = size_px
        self.max_bad_frames = max_bad_frames
        self.frame_period_s = 1.0 / frame_rate_hz
        self.max_stale_s = (max_bad_frames + 1) * self.frame_period_s
        w, h = robot_camera.CAMERA_CAPTURE_SIZE_PX
        self.expected_shape = (h, w, 3)
        self.frames = 0
        self.bad_frames = 0
        self.consecutive_bad = 0
        self.warnings = 0
        self.ages_ms: list[float] = []
        self.last_error: Exception | None = None
        self.last_good: np.ndarray | None = None
        for _ in range(max(1, open_tries)):
            try:
                self.last_good = self._capture()
                break
            except Exception as exc:  # any failure is a bad frame here
                self.last_error = exc
        if self.last_good is None:
            raise BackendUnavailableError(
                f"the camera gave no good frame in {open_tries} tries ({self.last_error}); "
                "check its ribbon cable, or run a policy without the camera"
            )
        self._last_good_s = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, name="camera", daemon=True)
            self._thread.start()

    def _capture(self) -> np.ndarray:
        capture_request = getattr(self.camera, "capture_request", None)
        if capture_request is None:
            frame = self.camera.capture_array()
        else:
            request = capture_request()
            try:
                frame = request.make_array("main")
                metadata = request.get_metadata()
            finally:
                request.release()
            stamp_ns = metadata.get("SensorTimestamp")
            if stamp_ns:
                exposure_ns = 1e3 * float(metadata.get("ExposureTime", 0.0))
                age_ns = time.monotonic_ns() - stamp_ns + exposure_ns / 2
                self.ages_ms.append(age_ns / 1e6)
        return frame_to_policy(frame, self.size_px, expected_shape=self.expected_shape)

    def _take(self) -> bool:
        """Capture and record one frame; False when it was bad."""
        try:
            image = self._capture()
        except Exception as exc:  # capture errors and FrameError alike
            with self._lock:
                self.bad_frames += 1
                self.consecutive_bad += 1
                self.last_error = exc
                first = self.consecutive_bad == 1
                if first:
                    self.warnings += 1
            if first:
                LOG.warning("bad camera frame (%s): holding the last good frame", exc)
            return False
        with self._lock:
            recovered = self.consecutive_bad
            self.consecutive_bad = 0
            self.last_good = image
            self.frames += 1
            self._last_good_s = time.monotonic()
        if recovered:
            LOG.info("camera frames good again after %d bad", recovered)
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._take():
                self._stop.wait(self.frame_period_s)  # a failing camera fails fast: pace it

    def read(self) -> np.ndarray:
        """The policy's image for this step: the newest good frame."""
        if self._thread is None:
            self._take()
        with self._lock:
            bad, image, error = self.consecutive_bad, self.last_good, self.last_error
            stale_s = time.monotonic() - self._last_good_s
        if bad > self.max_bad_frames:
            raise SafetyStopError(
                CAMERA_STOP, f"{bad} bad camera frames in a row (last: {error})"
            ) from error
        if self._thread is not None and stale_s > self.max_stale_s:
            raise SafetyStopError(
                CAMERA_STOP, f"no good camera frame for {stale_s * 1e3:.0f} ms (last: {error})"
            )
        return image

    def close(self) -> None:
        """Stop the capture thread (waits for the capture under way)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
            self._thread = None

    def figures(self) -> dict:
        ages = np.asarray(self.ages_ms)
        return {
            "camera_frames": self.frames,
            "camera_bad_frames": self.bad_frames,
            "camera_age_ms": float(np.median(ages)) if ages.size else math.nan,
            "camera_age_p95_ms": float(np.percentile(ages, 95)) if ages.size else math.nan,
        }
