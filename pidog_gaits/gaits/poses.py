"""Static poses from SunFounder's ``actions_dictionary.py``, as leg joint angles (rad)."""

from __future__ import annotations

import numpy as np

from pidog_gaits.gaits.kinematics import leg_ik

STAND_FRONT_FOOT_XZ_M = (0.015, -0.080)
"""Library ``stand``: feet at the barycenter offset (15 mm ahead), 80 mm below the hips."""
STAND_HIND_FOOT_XZ_M = (-0.005, -0.075)
"""Hind feet 20 mm further back and 5 mm higher (``[x + 20, y - 5]``)."""


def _from_library_degrees(left_leg_angles_deg: list[float]) -> np.ndarray:
    """Library feet angles (degrees, right legs negated) to our eight angles (rad)."""
    signs = np.array([1, 1, -1, -1, 1, 1, -1, -1], dtype=float)
    return np.radians(np.asarray(left_leg_angles_deg, dtype=float)) * signs


def stand_pose() -> np.ndarray:
    front = leg_ik(*STAND_FRONT_FOOT_XZ_M)
    hind = leg_ik(*STAND_HIND_FOOT_XZ_M)
    return np.array([*front, *front, *hind, *hind], dtype=float)


SIT_DEG = [30, 60, -30, -60, 80, -45, -80, 45]
LIE_DEG = [45, -45, -45, 45, 45, -45, -45, 45]


def sit_pose() -> np.ndarray:
    """Front legs straight under the shoulders, hind legs folded: the rear goes down."""
    return _from_library_degrees(SIT_DEG)


def lie_pose() -> np.ndarray:
    return _from_library_degrees(LIE_DEG)


HEAD_TAIL_NEUTRAL_RAD = np.zeros(4)
