"""The policy's observation: its parts, their sizes and units, and one flat order.

Stage 1 records the flat vector (``observations`` in the gait data) and stage 3's
Gymnasium env serves the same parts as a dict (plus the camera image), so what the
imitation data saw and what PPO sees are the same numbers.
"""

from __future__ import annotations

import math

import numpy as np

from pidog_gaits.robot import specs
from pidog_gaits.sim.sensors import IMU_DIM, Sensors

OBS_PARTS: dict[str, int] = {
    "imu": IMU_DIM,  # accel xyz (m/s^2), gyro xyz (rad/s), roll, pitch (rad)
    "sonar": 1,  # ultrasonic range (m), 0.02..4.0
    "joints": 2 * specs.NUM_JOINTS,  # 12 positions (rad), 12 velocities (rad/s)
    "last_action": specs.NUM_JOINTS,  # previous joint targets (rad)
    "command": 2,  # desired forward speed (m/s), yaw rate (rad/s, + = left)
    "phase": 2,  # sin, cos of the gait phase
}
"""Non-image observation parts in their flat order."""
PROPRIO_DIM = sum(OBS_PARTS.values())


def phase_features(phase: float) -> np.ndarray:
    """sin/cos of the gait phase: continuous across the wrap from 1 to 0."""
    angle = 2.0 * math.pi * phase
    return np.array([math.sin(angle), math.cos(angle)])


def read_parts(
    sensors: Sensors, last_action: np.ndarray, command: np.ndarray, phase: float
) -> dict[str, np.ndarray]:
    """Every non-image part as float32 arrays, in ``OBS_PARTS`` order."""
    return {
        "imu": sensors.imu().astype(np.float32),
        "sonar": np.array([sensors.ultrasonic()], dtype=np.float32),
        "joints": sensors.joints().astype(np.float32),
        "last_action": np.asarray(last_action, dtype=np.float32),
        "command": np.asarray(command, dtype=np.float32),
        "phase": phase_features(phase).astype(np.float32),
    }


def flatten(parts: dict[str, np.ndarray]) -> np.ndarray:
    """The flat ``(PROPRIO_DIM,)`` vector in ``OBS_PARTS`` order."""
    return np.concatenate([np.asarray(parts[k], dtype=np.float32).ravel() for k in OBS_PARTS])
