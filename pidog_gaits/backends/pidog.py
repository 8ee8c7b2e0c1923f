"""The ``pidog`` backend: the real robot through SunFounder's ``pidog`` library.

Only this module imports ``pidog`` (installed on the robot by the user with SunFounder's
instructions), and only when the backend is built. It is the package's one hardware
boundary, where radians become the library's degrees:

* legs: ``deg = HARDWARE_SIGN * degrees(rad)`` (the library negates the right legs), sent
  with ``legs_move([[8 angles]], speed=100)`` (``feet_move`` on older library versions):
  at speed 100 the library executes a frame in 10 ms steps at up to 428 deg/s, so one
  rate-limited control step fits in one 20 ms period;
* head: ``head_move_raw([[yaw, -roll, pitch + 45]])`` (raw servo angles: the pitch servo
  is mounted 45 deg off, ``specs.HEAD_PITCH_OFFSET_DEG``); tail: ``tail_move([[deg]])``.
  Head and tail are sent only when their target changes;
* per-servo calibration offsets are *not* added here: the library's ``Robot`` adds the
  offsets saved by SunFounder's calibration (``examples/0_calibration.py``, stored in
  ``~/.config/pidog/pidog.conf``) to every angle it writes. Adding them here too would
  count them twice.

Sensors into the observation: the SH3001 IMU (``accData``, ``gyroData``: raw counts,
16384 per g and 16.4 per deg/s, the library's calibration makes the resting up axis read
-16384 on its x), the ultrasonic range (``read_distance()``, cm, -1 without an echo) and,
only for a policy trained on RGB images, the camera via ``picamera2``. Hobby servos
report no position: the last commanded angles stand in for the joint encoders and their
finite difference for the joint velocities (``Reading.joint_pos_rad``).

Camera frames (``CameraReader``) go through ``robot.camera.check_frame`` and the same
``preprocess_frame`` as the simulator's. A bad frame (capture error, wrong shape, all
zeros) logs one warning per streak and the step runs on the last good frame; more than
``PidogConfig.max_bad_frames`` in a row raise ``SafetyStopError("camera")`` and the robot
lies down, like the other safety stops.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np

from pidog_gaits.backends import BackendUnavailableError, Reading
from pidog_gaits.backends.safety import CAMERA_STOP, SafetyStopError
from pidog_gaits.robot import camera as robot_camera
from pidog_gaits.robot import specs

GRAVITY_MPS2 = 9.80665
ACCEL_COUNTS_PER_G = 16384.0
"""SH3001 at +-2 g (SunFounder ``sh3001.py``: ``1G = 16384``)."""
GYRO_COUNTS_PER_DPS = 32768.0 / 2000.0
"""SH3001 gyro at +-2000 deg/s full scale (``SH3001_GYRO_RANGE_2000``)."""
LIE_POSE_DEG = (45.0, -45.0, -45.0, 45.0, 45.0, -45.0, -45.0, 45.0)
"""The library's ``lie`` action (its legs after ``Pidog()`` starts), library degrees."""
DEFAULT_LEG_PINS = (2, 3, 7, 8, 0, 1, 10, 11)
DEFAULT_HEAD_PINS = (4, 6, 5)
DEFAULT_TAIL_PIN = (9,)
LOG = logging.getLogger(__name__)
MISSING_LIBRARY = (
    "the pidog backend needs SunFounder's pidog library, which runs on the robot's "
    "Raspberry Pi (install robot-hat, vilib and pidog as SunFounder's PiDog docs describe); "
    "on a workstation use --backend sim"
)


@dataclass(frozen=True)
class PidogConfig:
    """How the robot is wired and how its sensors are mounted."""

    leg_pins: tuple[int, ...] = DEFAULT_LEG_PINS
    """Robot HAT PWM pins in ``JOINT_NAMES`` leg order (the library's defaults)."""
    head_pins: tuple[int, ...] = DEFAULT_HEAD_PINS
    tail_pin: tuple[int, ...] = DEFAULT_TAIL_PIN
    speed: int = 100
    """The library's speed (0-100) for streamed frames: 100 = 10 ms substeps."""
    lie_speed: int = 60
    """Speed of the lie-down move on a stop."""
    head_pitch_offset_deg: float = specs.HEAD_PITCH_OFFSET_DEG
    imu_axes: tuple[tuple[float, float, float], ...] = (
        (0.0, -1.0, 0.0),
        (0.0, 0.0, -1.0),
        (-1.0, 0.0, 0.0),
    )
    """Rows: body x (forward), y (left), z (up) as combinations of the sensor's raw axes.
    The z row follows from the library's calibration (at rest the raw x reads -1 g). The x
    and y rows follow the library's own pitch/roll formulas (``ay``, ``az`` negated);
    check them on your robot with ``--dry-run`` (nose down: pitch > 0; left side up:
    roll > 0) and change them here if a sign is wrong. The tilt stop uses the z row only."""
    max_backlog_frames: int = 2
    """Frames the library may queue before stale ones are dropped (``immediately=True``)."""
    dry_run: bool = False
    """Read sensors and compute every command, but move no servo; print both twice a
    second (check the IMU signs and the degrees before the first real run)."""
    dry_run_print_every: int = 25
    max_bad_frames: int = 5
    """Camera frames in a row that may be bad (capture error, wrong shape, all zeros):
    each is replaced by the last good one; one more stops the robot (``CAMERA_STOP``)."""
    camera_open_tries: int = 30
    """Captures to wait at start-up for a first good frame (~1 s at 30 frames/s)."""
    camera_thread: bool = True
    """Capture in a background thread and hand the control loop the newest frame without
    waiting (the camera gives 30 frames/s, the loop asks 50 times a second: a blocking
    capture would wait up to 33 ms on 2 steps in 5 and overrun them). ``False`` captures in
    ``read()`` (tests that need an exact sequence of frames)."""


def to_library_deg(
    targets_rad: np.ndarray, head_pitch_offset_deg: float = specs.HEAD_PITCH_OFFSET_DEG
) -> tuple[list[float], list[float], list[float]]:
    """12 simulator targets (rad) -> the library's (8 leg, 3 head, 1 tail) servo degrees."""
    deg = specs.HARDWARE_SIGN * np.degrees(np.asarray(targets_rad, dtype=float))
    head = deg[8:11].copy()
    head[2] += head_pitch_offset_deg
    return deg[:8].tolist(), head.tolist(), deg[11:].tolist()


def from_library_deg(
    legs_deg,
    head_deg=None,
    tail_deg: float = 0.0,
    head_pitch_offset_deg: float = specs.HEAD_PITCH_OFFSET_DEG,
) -> np.ndarray:
    """Inverse of ``to_library_deg``; ``head_deg=None`` is the level, centred head."""
    head = [0.0, 0.0, head_pitch_offset_deg] if head_deg is None else [float(v) for v in head_deg]
    head[2] -= head_pitch_offset_deg
    deg = np.array([*legs_deg, *head, tail_deg], dtype=float)
    return np.radians(specs.HARDWARE_SIGN * deg)


def roll_pitch_from_accel(accel_mps2: np.ndarray) -> tuple[float, float]:
    """Roll and pitch (rad) of the gravity direction, in ``Sensors.imu``'s convention.

    At rest the accelerometer reads ``R^T (0, 0, g)``: the world's up axis in body axes,
    i.e. the third row of the body-to-world rotation, which ``Sensors.imu`` turns into
    ``roll = atan2(r21, r22)`` and ``pitch = -asin(r20)`` (nose down positive).
    """
    ax, ay, az = (float(v) for v in accel_mps2)
    return math.atan2(ay, az), math.atan2(-ax, math.hypot(ay, az))


def imu_to_body(accel_raw, gyro_raw, axes: np.ndarray) -> np.ndarray:
    """Raw SH3001 counts -> ``[accel xyz (m/s^2), gyro xyz (rad/s), roll, pitch]``."""
    accel = axes @ (np.asarray(accel_raw, dtype=float) * (GRAVITY_MPS2 / ACCEL_COUNTS_PER_G))
    gyro = axes @ np.radians(np.asarray(gyro_raw, dtype=float) / GYRO_COUNTS_PER_DPS)
    roll, pitch = roll_pitch_from_accel(accel)
    return np.concatenate([accel, gyro, [roll, pitch]])


def sonar_m_from_cm(distance_cm: float) -> float:
    """The library's reading (cm; <= 0 without an echo) -> metres, clipped like the sim."""
    if distance_cm is None or not math.isfinite(distance_cm) or distance_cm <= 0:
        return specs.ULTRASONIC_MAX_RANGE_M
    return float(
        np.clip(distance_cm / 100.0, specs.ULTRASONIC_MIN_RANGE_M, specs.ULTRASONIC_MAX_RANGE_M)
    )


def _import_pidog():
    try:
        from pidog import Pidog
    except ImportError as exc:
        raise BackendUnavailableError(MISSING_LIBRARY) from exc
    return Pidog


class PidogBackend:
    """The real PiDog. See the module docstring for the conventions.

    :param config: wiring, speeds, IMU mounting.
    :param image: ``rgb`` to read the camera (picamera2); ``depth`` is refused: PiDog
        has no depth camera.
    :param image_size_px: (width, height) the policy was trained on.
    """

    name = "pidog"
    realtime = True

    def __init__(
        self,
        config: PidogConfig | None = None,
        image: str | None = None,
        image_size_px: tuple[int, int] = (specs.CAMERA_WIDTH_PX, specs.CAMERA_HEIGHT_PX),
    ) -> None:
        self.config = config or PidogConfig()
        if image == "depth":
            raise BackendUnavailableError(
                "this policy sees a depth image, and PiDog's camera gives colour only: "
                "train it with vision 'rgb' or 'none' to run it on the robot"
            )
        Pidog = _import_pidog()
        cfg = self.config
        pins = {"head_pins": list(cfg.head_pins), "tail_pin": list(cfg.tail_pin)}
        try:
            self.dog = Pidog(leg_pins=list(cfg.leg_pins), **pins)
        except TypeError:  # library versions before 1.0 named them feet_pins
            self.dog = Pidog(feet_pins=list(cfg.leg_pins), **pins)
        self._legs_move = getattr(self.dog, "legs_move", None) or self.dog.feet_move
        self._axes = np.asarray(cfg.imu_axes, dtype=float)
        self._commanded = from_library_deg(LIE_POSE_DEG)
        self._previous = self._commanded.copy()
        self._sent_head: list[float] | None = None
        self._sent_tail: list[float] | None = None
        self.frames_sent = 0
        self.frames_dropped = 0
        self.sonar_misses = 0
        self.camera = None
        self.camera_reader: CameraReader | None = None
        self.last_reading: Reading | None = None
        self.image_size_px = image_size_px
        if image == "rgb":
            self.camera = _open_camera()
            self.camera_reader = CameraReader(
                self.camera,
                image_size_px,
                cfg.max_bad_frames,
                cfg.camera_open_tries,
                background=cfg.camera_thread,
            )
        elif image is not None:
            raise ValueError(f"unknown image kind {image!r}")

    # ------------------------------------------------------------------ Backend
    def joint_pos_rad(self) -> np.ndarray:
        return self._commanded.copy()

    def read(self) -> Reading:
        dog = self.dog
        accel = list(dog.accData or (0, 0, 0))
        imu = imu_to_body(accel, list(dog.gyroData or (0, 0, 0)), self._axes)
        # Older library versions only share the value their ultrasonic process writes.
        reader = getattr(dog, "read_distance", None)
        distance_cm = reader() if reader is not None else dog.distance.value
        sonar = sonar_m_from_cm(distance_cm)
        if sonar >= specs.ULTRASONIC_MAX_RANGE_M:
            self.sonar_misses += 1
        image = self.camera_reader.read() if self.camera_reader is not None else None
        self.last_reading = Reading(
            imu=imu,
            sonar_m=sonar,
            joint_pos_rad=self._commanded.copy(),
            joint_vel_radps=(self._commanded - self._previous) / specs.CONTROL_DT_S,
            image=image,
        )
        return self.last_reading

    def _backlog(self, part: str) -> int:
        """Frames the library still has queued for ``part`` (legs, head, tail)."""
        names = {"legs": ("legs_action_buffer", "feet_actions_buffer")}.get(
            part, (f"{part}_action_buffer", f"{part}_actions_buffer")
        )
        for attr in names:
            buffer = getattr(self.dog, attr, None)
            if buffer is not None:
                return len(buffer)
        return 0

    def _queue(self, part: str, move, frame: list[float]) -> None:
        """Queue one frame; flush first if stale frames pile up (``max_backlog_frames``).

        ``immediately=True`` makes the library wait for the frame in progress, so it is
        used only to drop a backlog, never on every step.
        """
        flush = self._backlog(part) > self.config.max_backlog_frames
        if flush:
            self.frames_dropped += 1
        move([frame], immediately=flush, speed=self.config.speed)

    def command(self, targets_rad: np.ndarray) -> None:
        """Queue one frame at the library's fastest speed.

        The library plays queued frames back to back, each in 10 ms substeps; a
        rate-limited step finishes within its 20 ms period. Head and tail frames are sent
        only when they change by more than 0.1 deg.
        """
        cfg = self.config
        self._previous = self._commanded
        self._commanded = np.asarray(targets_rad, dtype=float).copy()
        legs, head, tail = to_library_deg(self._commanded, cfg.head_pitch_offset_deg)
        if cfg.dry_run:
            self.last_frame = (legs, head, tail)
            if self.frames_sent % cfg.dry_run_print_every == 0:
                self._print_dry_run(legs, head, tail)
            self.frames_sent += 1
            return
        self._queue("legs", self._legs_move, legs)
        if self._sent_head is None or np.max(np.abs(np.subtract(head, self._sent_head))) > 0.1:
            self._queue("head", self.dog.head_move_raw, head)
            self._sent_head = head
        if self._sent_tail is None or abs(tail[0] - self._sent_tail[0]) > 0.1:
            self._queue("tail", self.dog.tail_move, tail)
            self._sent_tail = tail
        self.frames_sent += 1
        self.last_frame = (legs, head, tail)

    def _print_dry_run(self, legs, head, tail) -> None:
        r = self.last_reading
        sensed = ""
        if r is not None:
            sensed = (
                f" roll {math.degrees(r.imu[6]):+.1f} pitch {math.degrees(r.imu[7]):+.1f} deg,"
                f" accel {np.round(r.imu[:3], 2).tolist()} m/s^2, sonar {r.sonar_m:.2f} m"
            )
        print(
            f"[dry run] frame {self.frames_sent}: legs {np.round(legs, 1).tolist()} "
            f"head {np.round(head, 1).tolist()} tail {np.round(tail, 1).tolist()} deg;{sensed}",
            file=sys.stderr,
        )

    def fell(self) -> bool:
        return False  # the tilt stop watches the IMU; the robot has no ground truth

    def lie_down(self) -> None:
        if self.config.dry_run:
            return
        dog = self.dog
        if hasattr(dog, "stop_and_lie"):
            dog.stop_and_lie(speed=self.config.lie_speed)
        else:
            dog.do_action("lie", speed=self.config.lie_speed)
        self._commanded = from_library_deg(LIE_POSE_DEG)

    def close(self) -> None:
        if self.camera_reader is not None:
            self.camera_reader.close()
        if self.camera is not None:
            self.camera.stop()
            self.camera = None
        with contextlib.suppress(SystemExit):  # older versions call sys.exit(0) in close()
            self.dog.close()

    def calibration_offsets_deg(self) -> dict:
        """The per-servo offsets the library applies (from its own calibration file)."""
        out = {}
        for part in ("legs", "feet", "head", "tail"):
            robot = getattr(self.dog, part, None)
            offset = getattr(robot, "offset", None)
            if offset is not None:
                out[part] = [float(v) for v in offset]
        return out

    def figures(self) -> dict:
        figures = {
            "frames_sent": self.frames_sent,
            "frames_dropped": self.frames_dropped,
            "sonar_misses": self.sonar_misses,
            "calibration_offsets_deg": self.calibration_offsets_deg(),
            "dry_run": self.config.dry_run,
        }
        if self.camera_reader is not None:
            figures.update(self.camera_reader.figures())
        return figures


# ---------------------------------------------------------------------- camera
def _open_camera():
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


def downsample_rgb(rgb: np.ndarray, size_px: tuple[int, int]) -> np.ndarray:
    """Area-average an ``(H', W', 3)`` RGB image to ``(3, H, W)`` uint8 (``preprocess_frame``)."""
    return robot_camera.preprocess_frame(rgb, size_px[0], size_px[1], "rgb")
