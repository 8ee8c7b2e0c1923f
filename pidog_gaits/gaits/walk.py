"""SunFounder's four-beat Walk as a continuous function of the gait phase.

From the library's ``walk.py``: the cycle has 8 sections; one leg swings in every other
section, in the order left-front, right-hind, right-front, left-hind (reversed when
walking backwards); 80 mm strides, 20 mm step height, hips 80 mm above the feet; a
per-leg stroke offset (front legs 10 mm ahead, hind legs 20 mm back); turning shortens
one side's strides to 0.3 of the other's.

Changed: the library shifts every stroke 15 mm forward for the head-heavy centre of
gravity. In simulation that shift halves the forward speed (0.35 m vs 0.65 m in 10 s)
and makes forward and backward walking lopsided; with the strokes 5 mm ahead of the hips
both directions cover 0.65-0.73 m in 10 s. Our model's centre of mass
is 13 mm ahead of the hips' centre (``robot/README.md``).
"""

from __future__ import annotations

import numpy as np

from pidog_gaits.gaits.footpath import foot_xz, turn_scales
from pidog_gaits.gaits.kinematics import legs_ik
from pidog_gaits.robot.specs import STAND_HIP_HEIGHT_M

STRIDE_M = 0.080
STEP_HEIGHT_M = 0.020
CENTER_OF_GRAVITY_M = 0.005
"""How far ahead of the hips the strokes are centred (library: 15 mm, see above)."""
LIFT_SKEW = 3.0
"""Late lift (``footpath.swing_lift``): keeps the hind shoulders within 90 deg (max 88)."""
LEG_CENTER_OFFSET_M = np.array([0.010, 0.010, -0.020, -0.020])
"""Per-leg stroke centre offsets, ours ahead-positive (library ``[-10, -10, 20, 20]``)."""
TURNING_RATE = 0.3
SWING_FRACTION = 1.0 / 8.0
SWING_START_FORWARD = np.array([0.0, 4.0, 6.0, 2.0]) / 8.0
"""Leg order 1, 4, 2, 3 with a pause after each: LF at section 0, RH 2, RF 4, LH 6."""
SWING_START_BACKWARD = np.array([7.0, 3.0, 1.0, 5.0]) / 8.0
PERIOD_S = 1.25
"""One cycle; the library's 49 frames at its examples' speed take about 1.27 s."""


def walk_targets(phase: np.ndarray, direction: np.ndarray, turn: np.ndarray) -> np.ndarray:
    """Eight leg joint angles (N, 8) in rad for the walk at ``phase`` (N,).

    ``direction`` > 0 walks forward, < 0 backward; ``turn`` in [-1, 1], positive = left.
    """
    phase = np.asarray(phase, dtype=float).reshape(-1)
    direction = np.broadcast_to(np.asarray(direction, dtype=float), phase.shape)
    backward = (direction < 0)[:, None]
    swing_start = np.where(backward, SWING_START_BACKWARD[None], SWING_START_FORWARD[None])
    scales = turn_scales(np.broadcast_to(turn, phase.shape), TURNING_RATE)
    stride = STRIDE_M * scales * np.sign(direction)[:, None]
    center = CENTER_OF_GRAVITY_M + LEG_CENTER_OFFSET_M[None, :] * scales
    feet = foot_xz(
        phase,
        swing_start,
        SWING_FRACTION,
        stride,
        center,
        STEP_HEIGHT_M,
        STAND_HIP_HEIGHT_M,
        LIFT_SKEW,
    )
    return legs_ik(feet)
