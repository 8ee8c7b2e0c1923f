"""Where the controller's joint targets go: the simulator, the real PiDog, or ROS 2.

Every backend speaks radians in ``specs.JOINT_NAMES`` order and SI units; conversion to
the SunFounder library's degrees happens inside the ``pidog`` backend only. Backends are
imported lazily (``make_backend``) so the robot never loads MuJoCo and a workstation
never needs SunFounder's library or rclpy.
"""

from __future__ import annotations

from typing import Any

from pidog_gaits.backends.base import BACKENDS, Backend, BackendUnavailableError, Reading

__all__ = ["BACKENDS", "Backend", "BackendUnavailableError", "Reading", "make_backend"]


def make_backend(name: str, **kwargs: Any) -> Backend:
    """Build backend ``name`` (``sim``, ``pidog``, ``ros2``) with its keyword settings."""
    if name == "sim":
        from pidog_gaits.backends.sim import SimBackend

        return SimBackend(**kwargs)
    if name == "pidog":
        from pidog_gaits.backends.pidog import PidogBackend

        return PidogBackend(**kwargs)
    if name == "ros2":
        from pidog_gaits.backends.ros2 import Ros2Backend

        return Ros2Backend(**kwargs)
    raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
