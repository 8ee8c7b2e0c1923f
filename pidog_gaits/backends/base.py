"""The types every backend and the control loop share: ``Reading``, ``Backend``.

The lowest module of ``backends``: numpy only. The backends (``sim``, ``pidog``,
``ros2``) and ``runtime`` import these from here; ``backends/__init__`` re-exports them
and builds a backend by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

BACKENDS = ("sim", "pidog", "ros2")


class BackendUnavailableError(RuntimeError):
    """A backend's library is missing on this machine (message says what to install)."""


@dataclass
class Reading:
    """What the robot senses at one control step (SI units, body frame x fwd, y left, z up)."""

    imu: np.ndarray
    """``[ax, ay, az (m/s^2), gx, gy, gz (rad/s), roll, pitch (rad)]`` (``Sensors.imu``)."""
    sonar_m: float
    """Ultrasonic range (m), 0.02..4.0; 4.0 = no echo."""
    joint_pos_rad: np.ndarray
    """12 joint angles. On the real PiDog the last *commanded* angles: hobby servos report
    no position."""
    joint_vel_radps: np.ndarray
    """12 joint rates; on the real PiDog the commanded angles' finite difference."""
    image: np.ndarray | None = None
    """Head camera, uint8 channels-first (``(2, H, W)`` depth and floor-removed depth,
    ``Sensors.depth_observation``, or ``(3, H, W)`` RGB)."""
    extra: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    """The control loop's view of a robot, simulated or real."""

    name: str
    realtime: bool
    """True when the loop must keep wall-clock time (the robot); False: as fast as possible."""

    def joint_pos_rad(self) -> np.ndarray:
        """The 12 joint angles the robot holds now (rad): where the first command starts."""
        ...

    def read(self) -> Reading: ...

    def command(self, targets_rad: np.ndarray) -> None:
        """Send 12 joint targets (rad), already clamped and rate-limited."""
        ...

    def fell(self) -> bool:
        """True when the backend knows the robot is down (simulator ground truth)."""
        ...

    def lie_down(self) -> None:
        """Bring the robot to rest (the library's lie pose); called on every safety stop."""
        ...

    def close(self) -> None: ...

    def figures(self) -> dict:
        """What the backend measured (the sim: the same figures as ``pidog-gaits gait``)."""
        ...
