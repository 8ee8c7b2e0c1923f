"""Foot paths shared by the walk and the trot: a swing arc and a straight stance stroke.

A leg spends ``swing_fraction`` of the cycle in the air. In the air its foot moves from
the back of its stroke to the front on a cosine (as SunFounder's ``step_y_func``); on the
ground it slides back linearly at a constant speed, which is what pushes the body forward.

The lift: the library raises the foot linearly through the swing and drops it at the end.
We keep its late lift (``sin(pi * s**LIFT_SKEW)``, highest at 71% of the swing) but land
the foot smoothly, which matters with real contacts. Lifting late also keeps the
shoulders inside the servos' +-90 deg: a foot lifted early, at the back of its stroke,
would need the thigh past horizontal (up to 106 deg with a half-sine lift). A late lift
also made the trot stable where a half sine tipped it (grid search, ``robot/README.md``).
"""

from __future__ import annotations

import numpy as np

LIFT_SKEW = 2.0
"""Exponent that moves the swing's highest point towards its end (1 = half sine)."""


def swing_lift(s: np.ndarray, skew: float = LIFT_SKEW) -> np.ndarray:
    """Fraction of the step height reached at swing fraction ``s`` (0 at both ends)."""
    return np.sin(np.pi * s**skew)


def foot_xz(
    phase: np.ndarray,
    swing_start: np.ndarray,
    swing_fraction: float,
    stride_m: np.ndarray,
    center_x_m: np.ndarray,
    step_height_m: float,
    hip_height_m: float,
    lift_skew: float = LIFT_SKEW,
) -> np.ndarray:
    """Foot positions relative to the hips, shape ``(N, 4, 2)`` as ``(x_m, z_m)``.

    :param phase: gait phase in [0, 1), shape ``(N,)``.
    :param swing_start: phase at which each leg lifts, shape ``(4,)`` or ``(N, 4)``.
    :param swing_fraction: fraction of the cycle each foot is in the air.
    :param stride_m: signed stroke length per leg, shape ``(N, 4)`` or ``(4,)``;
        positive walks forward, negative backward.
    :param center_x_m: middle of each foot's stroke ahead of its hip, ``(N, 4)`` or ``(4,)``.
    :param step_height_m: apex height of a swing above the stance line.
    :param hip_height_m: hip height above the foot in stance.
    :param lift_skew: see ``swing_lift``; larger lifts later.
    """
    phase = np.asarray(phase, dtype=float).reshape(-1, 1)
    u = np.mod(phase - np.asarray(swing_start, dtype=float), 1.0)
    in_swing = u < swing_fraction
    s_swing = np.clip(u / swing_fraction, 0.0, 1.0)
    s_stance = np.clip((u - swing_fraction) / (1.0 - swing_fraction), 0.0, 1.0)
    half = 0.5 * np.broadcast_to(np.asarray(stride_m, dtype=float), u.shape)
    center = np.broadcast_to(np.asarray(center_x_m, dtype=float), u.shape)
    x_swing = center - half * np.cos(np.pi * s_swing)
    # Lift late in the direction of travel: mirrored when the stroke runs backwards.
    s_lift = np.where(half >= 0, s_swing, 1.0 - s_swing)
    z_swing = -hip_height_m + step_height_m * swing_lift(s_lift, lift_skew)
    x_stance = center + half - 2.0 * half * s_stance
    x = np.where(in_swing, x_swing, x_stance)
    z = np.where(in_swing, z_swing, -hip_height_m)
    return np.stack([x, z], axis=-1)


def turn_scales(turn: np.ndarray, turning_rate: float) -> np.ndarray:
    """Per-leg stride scale ``(N, 4)`` for a turn command in [-1, 1] (positive = left).

    Turning left shortens the left legs' strides down to ``turning_rate`` of the right
    legs' (the library's ``LEG_STEP_SCALES_LEFT``), and the mirror for right.
    """
    turn = np.clip(np.asarray(turn, dtype=float).reshape(-1, 1), -1.0, 1.0)
    left_scale = 1.0 - (1.0 - turning_rate) * np.clip(turn, 0.0, 1.0)
    right_scale = 1.0 - (1.0 - turning_rate) * np.clip(-turn, 0.0, 1.0)
    # Leg order: left front, right front, left hind, right hind.
    return np.concatenate([left_scale, right_scale, left_scale, right_scale], axis=1)
