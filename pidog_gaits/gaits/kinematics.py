"""Planar two-link leg kinematics of the PiDog, from the one geometry in ``robot/specs.py``.

Each leg moves in the body's sagittal plane. A foot position is given relative to its
hip as ``(x_m, z_m)``: x forward, z up (so a standing foot has ``z_m ~ -0.080``).

Joint conventions match the SunFounder library's left legs, so the hardware boundary is
a sign and a degree conversion only:

* shoulder: angle of the thigh from straight down, positive towards the rear (rad);
* knee: interior knee angle minus 90 deg (rad); 0 puts the shank at a right angle to
  the thigh, pointing forward and down in a stand.

The knee points backwards (the library's elbow-back solution).
"""

from __future__ import annotations

import numpy as np

from pidog_gaits.robot.specs import LOWER_LEG_M, UPPER_LEG_M


class UnreachableError(ValueError):
    """A foot target lies outside the leg's workspace."""


def leg_ik(x_m, z_m, *, strict: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Shoulder and knee angles (rad) that put the foot at ``(x_m, z_m)`` from the hip.

    Works elementwise on arrays. With ``strict`` an unreachable target raises
    ``UnreachableError``; otherwise the leg stretches or folds as far as it can.
    """
    x = np.asarray(x_m, dtype=float)
    z = np.asarray(z_m, dtype=float)
    l1, l2 = UPPER_LEG_M, LOWER_LEG_M
    reach = np.hypot(x, z)
    if strict and (np.any(reach > l1 + l2 + 1e-12) or np.any(reach < abs(l2 - l1) - 1e-12)):
        raise UnreachableError(f"foot target at {reach.max():.4f} m is out of reach")
    reach = np.clip(reach, abs(l2 - l1) + 1e-9, l1 + l2)
    cos_knee = np.clip((l1**2 + l2**2 - reach**2) / (2 * l1 * l2), -1.0, 1.0)
    interior_knee = np.arccos(cos_knee)
    foot_angle = np.arctan2(-x, -z)  # from straight down, positive towards the rear
    cos_hip = np.clip((l1**2 + reach**2 - l2**2) / (2 * l1 * reach), -1.0, 1.0)
    shoulder = foot_angle + np.arccos(cos_hip)
    knee = interior_knee - np.pi / 2
    return shoulder, knee


def leg_fk(shoulder_rad, knee_rad) -> tuple[np.ndarray, np.ndarray]:
    """Foot position ``(x_m, z_m)`` relative to the hip for the given joint angles."""
    a = np.asarray(shoulder_rad, dtype=float)
    shank = a + np.asarray(knee_rad, dtype=float) - np.pi / 2
    x = -UPPER_LEG_M * np.sin(a) - LOWER_LEG_M * np.sin(shank)
    z = -UPPER_LEG_M * np.cos(a) - LOWER_LEG_M * np.cos(shank)
    return x, z


def legs_ik(feet_xz_m: np.ndarray) -> np.ndarray:
    """Eight leg joint angles (rad, library order) for four feet ``(4, 2)`` or ``(N, 4, 2)``."""
    feet = np.asarray(feet_xz_m, dtype=float)
    shoulder, knee = leg_ik(feet[..., 0], feet[..., 1], strict=False)
    return np.stack([shoulder, knee], axis=-1).reshape(*feet.shape[:-2], 8)


def library_coord_to_xz(y_mm: float, z_mm: float) -> tuple[float, float]:
    """Convert a SunFounder foot coordinate (mm, y towards the rear, z down) to ours (m)."""
    return -y_mm / 1000.0, -z_mm / 1000.0
