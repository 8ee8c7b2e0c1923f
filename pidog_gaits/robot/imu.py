"""Roll and pitch as PiDog itself can estimate them, from its 6-axis IMU (numpy only).

The SH3001 has an accelerometer and a gyro and no magnetometer, so the robot knows its
roll and pitch only by estimating them: the accelerometer gives the gravity direction
(exact at rest, off by the body's own acceleration while trotting), the gyro gives the
rates (drifting when integrated). A complementary filter blends the two: the gyro's
integral over short times, the accelerometer's gravity over ``TIME_CONSTANT_S``.

The simulator's ``Sensors.imu`` and the real robot's backend run this same filter on
their (noisy) readings, so the policy's roll/pitch inputs carry the same errors in
training and on the robot, instead of the simulator's true attitude.
"""

from __future__ import annotations

import math

import numpy as np

TIME_CONSTANT_S = 0.5
"""Blend time of the filter (s): the trot's body accelerations (a ~0.3-0.5 s cycle)
are averaged out of the gravity estimate, while the gyro's drift (degrees per minute on
a MEMS gyro) never accumulates for longer than this."""
MAX_GAP_S = 0.1
"""A reading further apart than this from the last one restarts the filter from the
accelerometer (the gyro's integral over a long gap would be a guess)."""


def roll_pitch_from_accel(accel_mps2: np.ndarray) -> tuple[float, float]:
    """Roll and pitch (rad) of the gravity direction, in ``Sensors.imu``'s convention.

    At rest the accelerometer reads ``R^T (0, 0, g)``: the world's up axis in body axes,
    i.e. the third row of the body-to-world rotation, which the simulator turns into
    ``roll = atan2(r21, r22)`` and ``pitch = -asin(r20)`` (nose down positive).
    """
    ax, ay, az = (float(v) for v in accel_mps2)
    return math.atan2(ay, az), math.atan2(-ax, math.hypot(ay, az))


class AttitudeFilter:
    """Complementary filter: ``update(accel, gyro, dt_s) -> (roll, pitch)`` in rad.

    :param time_constant_s: how long the gyro's integral is trusted (s).
    """

    def __init__(self, time_constant_s: float = TIME_CONSTANT_S) -> None:
        if time_constant_s <= 0:
            raise ValueError("time_constant_s must be > 0")
        self.time_constant_s = time_constant_s
        self.roll_rad = 0.0
        self.pitch_rad = 0.0
        self._started = False

    def reset(self, roll_rad: float | None = None, pitch_rad: float | None = None) -> None:
        """Forget the estimate: the next update starts from the accelerometer alone, or,
        given ``roll_rad`` and ``pitch_rad``, from them (a filter that has settled)."""
        self._started = roll_rad is not None and pitch_rad is not None
        if self._started:
            self.roll_rad, self.pitch_rad = float(roll_rad), float(pitch_rad)

    def update(self, accel_mps2: np.ndarray, gyro_radps: np.ndarray, dt_s: float) -> tuple:
        """One reading (body-frame accel in m/s^2, gyro in rad/s) ``dt_s`` after the last."""
        roll_acc, pitch_acc = roll_pitch_from_accel(accel_mps2)
        if not self._started or dt_s < 0.0 or dt_s > MAX_GAP_S:
            self.roll_rad, self.pitch_rad = roll_acc, pitch_acc
            self._started = True
            return self.roll_rad, self.pitch_rad
        if dt_s == 0.0:  # a second reading at the same instant: nothing has moved
            return self.roll_rad, self.pitch_rad
        p, q, r = (float(v) for v in gyro_radps)
        roll, pitch = self.roll_rad, self.pitch_rad
        # Euler-angle rates of the body rates (ZYX convention, the simulator's).
        tan_pitch = math.tan(max(-1.4, min(1.4, pitch)))
        roll_rate = p + (math.sin(roll) * q + math.cos(roll) * r) * tan_pitch
        pitch_rate = math.cos(roll) * q - math.sin(roll) * r
        alpha = self.time_constant_s / (self.time_constant_s + dt_s)
        self.roll_rad = alpha * (roll + roll_rate * dt_s) + (1.0 - alpha) * roll_acc
        self.pitch_rad = alpha * (pitch + pitch_rate * dt_s) + (1.0 - alpha) * pitch_acc
        return self.roll_rad, self.pitch_rad
