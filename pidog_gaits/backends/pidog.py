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
report no position: a policy reads its own commanded targets instead (``targets``), and
one trained on measured joint angles (``joint_readings='measured'``) is refused.

Camera frames (``backends/picamera.py``) go through ``robot.camera.check_frame`` and the
same ``preprocess_frame`` as the simulator's. A bad frame (capture error, wrong shape,
all zeros) logs one warning per streak and the step runs on the last good frame; more
than ``PidogConfig.max_bad_frames`` in a row raise ``SafetyStopError("camera")`` and the
robot lies down, like the other safety stops.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from dataclasses import dataclass

import numpy as np

from pidog_gaits.backends.base import BackendUnavailableError, Reading
from pidog_gaits.backends.picamera import CameraReader, open_camera
from pidog_gaits.robot import specs
from pidog_gaits.robot.imu import AttitudeFilter, roll_pitch_from_accel

ROBOT_SIGNALS = ("image", "imu", "sonar", "targets", "command", "phase")
"""Observation parts this backend can feed (``image``: the colour camera only)."""

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


def imu_to_body(
    accel_raw,
    gyro_raw,
    axes: np.ndarray,
    attitude: AttitudeFilter | None = None,
    dt_s: float = -1.0,
) -> np.ndarray:
    """Raw SH3001 counts -> ``[accel xyz (m/s^2), gyro xyz (rad/s), roll, pitch]``.

    Roll and pitch come from ``attitude`` (the simulator's filter, ``robot.imu``) advanced
    by ``dt_s``; without one, from the accelerometer alone.
    """
    accel = axes @ (np.asarray(accel_raw, dtype=float) * (GRAVITY_MPS2 / ACCEL_COUNTS_PER_G))
    gyro = axes @ np.radians(np.asarray(gyro_raw, dtype=float) / GYRO_COUNTS_PER_DPS)
    if attitude is None:
        roll, pitch = roll_pitch_from_accel(accel)
    else:
        roll, pitch = attitude.update(accel, gyro, dt_s)
    return np.concatenate([accel, gyro, [roll, pitch]])


def sonar_m_from_cm(distance_cm: float) -> float:
    """The library's reading (cm; -1 or <= 0 without an echo) -> metres, clipped like the
    sim, or ``ULTRASONIC_NO_ECHO`` (-1), which the policy was trained to see."""
    if distance_cm is None or not math.isfinite(distance_cm) or distance_cm <= 0:
        return specs.ULTRASONIC_NO_ECHO
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
        signals: tuple[str, ...] = (),
    ) -> None:
        self.config = config or PidogConfig()
        if "joints" in signals:
            raise BackendUnavailableError(
                "this policy reads measured joint angles, and PiDog's hobby servos report "
                "none: train it with joint readings 'commanded' (the default) to run it here"
            )
        unknown = [s for s in signals if s not in ROBOT_SIGNALS]
        if unknown:
            raise BackendUnavailableError(
                f"this policy reads {', '.join(unknown)}, which PiDog cannot give"
            )
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
        self._attitude = AttitudeFilter()  # the simulator's roll/pitch estimate (robot.imu)
        self._last_read_s: float | None = None
        self.camera = None
        self.camera_reader: CameraReader | None = None
        self.last_reading: Reading | None = None
        self.image_size_px = image_size_px
        if image == "rgb":
            self.camera = open_camera()
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
        now = time.perf_counter()
        dt = -1.0 if self._last_read_s is None else now - self._last_read_s
        self._last_read_s = now
        gyro = list(dog.gyroData or (0, 0, 0))
        imu = imu_to_body(accel, gyro, self._axes, self._attitude, dt)
        # Older library versions only share the value their ultrasonic process writes.
        reader = getattr(dog, "read_distance", None)
        distance_cm = reader() if reader is not None else dog.distance.value
        sonar = sonar_m_from_cm(distance_cm)
        if sonar == specs.ULTRASONIC_NO_ECHO:
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
