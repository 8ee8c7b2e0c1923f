"""The safety layer between a policy and the servos: clamp, rate limit, tilt and overrun stops.

A learned policy can output anything: a glitch, a NaN, a target past a joint's end stop.
On the real PiDog that means a stripped servo gear or a dog on its back, so every target
passes through ``SafetyMonitor.limit`` before any backend sees it, in the simulator too
(the sim backend is how this layer is tested against the same walking figures).

Stops (each ends the run with the robot lying down):

* tilt: the gravity direction from the accelerometer, low-pass filtered so the foot
  impacts of a trot do not trip it, leans past ``max_tilt_rad``. Only the accelerometer's
  up axis is needed, which the SunFounder library calibrates at start-up (the robot must
  be level then), so a wrong sign on the forward or left axis cannot disable this stop;
* overrun: the control step (read, inference, command) took longer than its period
  ``max_overruns`` times in a row: the policy is no longer running at the rate it was
  trained for;
* interrupt: Ctrl-C or SIGTERM (handled by the control loop);
* camera: more than ``PidogConfig.max_bad_frames`` corrupt or failed camera frames in a
  row (the policy would act on an ever older picture). The backend raises ``SafetyStopError``
  from ``read()``; the loop lies the robot down (its ``finally``) and records the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pidog_gaits.robot import specs

TILT_STOP = "tilt"
OVERRUN_STOP = "overrun"
INTERRUPT_STOP = "interrupted"
FELL_STOP = "fell"
CAMERA_STOP = "camera"


class SafetyStopError(RuntimeError):
    """A backend's own reason to stop the robot now (a sensor that keeps failing).

    Raised from ``Backend.read``; ``reason`` is the ``stop_reason`` to record, like the
    monitor's own stops.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class SafetyConfig:
    """Limits the control loop enforces on every step (radians, seconds)."""

    joint_margin_rad: float = 0.0
    """Keep targets this far inside ``specs.JOINT_RANGE_RAD`` (rad)."""
    max_step_rad: float = specs.SERVO_MAX_SPEED_RADPS * specs.CONTROL_DT_S
    """Largest change of one joint's target per control step (rad). The default is the
    servo's own slew limit (428 deg/s at 50 Hz: 8.6 deg), so it only removes jumps the
    servo could not follow anyway; ``math.inf`` disables it."""
    max_tilt_rad: float = math.radians(45.0)
    """Stop when the body leans further than this from upright (rad). The expert walk and
    trot lean at most 15 deg in simulation (``max_tilt_seen_rad``)."""
    sit_max_tilt_rad: float = math.radians(75.0)
    """The same limit while sitting: the sit itself leans the body back 43 deg (48 deg
    while it settles), measured in simulation with ``--model expert --gait sit``."""
    tilt_filter_s: float = 0.1
    """Time constant of the low-pass filter on the gravity direction (s)."""
    max_overruns: int = 5
    """Stop after this many consecutive control steps longer than the period."""

    def validate(self) -> SafetyConfig:
        if self.max_step_rad <= 0:
            raise ValueError("max_step_rad must be > 0")
        for name in ("max_tilt_rad", "sit_max_tilt_rad"):
            if not 0 < getattr(self, name) < math.pi:
                raise ValueError(f"{name} must be in (0, pi)")
        if self.max_overruns < 1:
            raise ValueError("max_overruns must be >= 1")
        if self.joint_margin_rad < 0:
            raise ValueError("joint_margin_rad must be >= 0")
        return self


def tilt_from_accel(accel_mps2: np.ndarray) -> float:
    """Angle (rad) between the body's up axis and the measured gravity direction.

    The accelerometer reads the specific force: +g along the body's up axis at rest.
    """
    a = np.asarray(accel_mps2, dtype=float)
    norm = float(np.linalg.norm(a))
    if norm < 1e-6:  # free fall or a dead sensor: no direction to judge
        return 0.0
    return math.acos(max(-1.0, min(1.0, a[2] / norm)))


class SafetyMonitor:
    """Applies a ``SafetyConfig`` step by step and remembers why it stopped.

    :param config: the limits.
    :param dt_s: control period (s); sets the filter gain and the overrun threshold.
    :param start_rad: joint angles (12, rad) the robot holds now; the first target is
        rate-limited from these.
    """

    def __init__(self, config: SafetyConfig, dt_s: float, start_rad: np.ndarray) -> None:
        self.config = config.validate()
        self.dt_s = dt_s
        self.low = specs.JOINT_RANGE_RAD[:, 0] + config.joint_margin_rad
        self.high = specs.JOINT_RANGE_RAD[:, 1] - config.joint_margin_rad
        self.last_rad = np.clip(np.asarray(start_rad, dtype=float), self.low, self.high)
        self._alpha = 1.0 - math.exp(-dt_s / config.tilt_filter_s) if config.tilt_filter_s else 1.0
        self._gravity: np.ndarray | None = None
        self.tilt_rad = 0.0
        self.max_tilt_seen_rad = 0.0
        self.consecutive_overruns = 0
        self.overruns = 0
        self.clamped_steps = 0
        self.rate_limited_steps = 0
        self.nonfinite_steps = 0
        self.stop_reason: str | None = None
        self.sitting = False
        """Set by the loop while the gait is a sit (``sit_max_tilt_rad`` applies)."""

    # ------------------------------------------------------------------ targets
    def limit(self, targets_rad: np.ndarray) -> np.ndarray:
        """Clamp to the joint ranges, then limit the change from the last command.

        Non-finite targets (a broken model) hold the last command for that joint.
        """
        t = np.asarray(targets_rad, dtype=float).reshape(specs.NUM_JOINTS).copy()
        bad = ~np.isfinite(t)
        if bad.any():
            self.nonfinite_steps += 1
            t[bad] = self.last_rad[bad]
        clamped = np.clip(t, self.low, self.high)
        if np.any(clamped != t):
            self.clamped_steps += 1
        step = self.config.max_step_rad
        limited = np.clip(clamped, self.last_rad - step, self.last_rad + step)
        if np.any(limited != clamped):
            self.rate_limited_steps += 1
        self.last_rad = limited
        return limited.copy()

    # ------------------------------------------------------------------ stops
    def check_tilt(self, accel_mps2: np.ndarray) -> bool:
        """Feed one accelerometer reading; True (and ``stop_reason``) when past the limit."""
        a = np.asarray(accel_mps2, dtype=float)
        if not np.all(np.isfinite(a)):
            return False
        if self._gravity is None:
            self._gravity = a.copy()
        else:
            self._gravity += self._alpha * (a - self._gravity)
        self.tilt_rad = tilt_from_accel(self._gravity)
        self.max_tilt_seen_rad = max(self.max_tilt_seen_rad, self.tilt_rad)
        limit = self.config.sit_max_tilt_rad if self.sitting else self.config.max_tilt_rad
        if self.tilt_rad > limit:
            self.stop(TILT_STOP)
            return True
        return False

    def check_step_time(self, step_s: float) -> bool:
        """Feed one control step's duration; True after ``max_overruns`` in a row."""
        if step_s > self.dt_s:
            self.overruns += 1
            self.consecutive_overruns += 1
        else:
            self.consecutive_overruns = 0
        if self.consecutive_overruns >= self.config.max_overruns:
            self.stop(OVERRUN_STOP)
            return True
        return False

    def stop(self, reason: str) -> None:
        """Record the first reason to stop (later ones do not overwrite it)."""
        if self.stop_reason is None:
            self.stop_reason = reason

    @property
    def stopped(self) -> bool:
        return self.stop_reason is not None

    def figures(self) -> dict:
        return {
            "stop_reason": self.stop_reason,
            "overruns": self.overruns,
            "clamped_steps": self.clamped_steps,
            "rate_limited_steps": self.rate_limited_steps,
            "nonfinite_steps": self.nonfinite_steps,
            "max_tilt_seen_rad": self.max_tilt_seen_rad,
        }
