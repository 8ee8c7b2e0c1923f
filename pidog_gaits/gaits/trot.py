"""SunFounder's Trot as a continuous function of the gait phase.

Kept from the library's ``trot.py``: two sections in which the diagonal pairs (left-front
with right-hind, then right-front with left-hind) swing together, hips 80 mm above the
feet, 20 mm step height, front feet 5 mm ahead of and hind feet 5 mm behind their stroke
centre, turning by shortening one side's strides to 0.5, and the late foot lift.

Changed, because the library's figures fall in simulation: its 100 mm strides at about
0.54 s per cycle with the feet 17 mm ahead of the hips tipped the robot over within
1-3 s in every variant we tried (centre offsets -10..17 mm, periods 0.4-0.9 s, step
heights 15-25 mm, and even with ideal 5x-strength servos). A trot is statically unstable:
on two diagonal feet the body tips with a time constant of ~0.1 s, so the diagonals must
alternate quickly and the centre of mass must sit over the diagonal. A quicker, shorter
trot (50 mm strides, 0.24 s cycle, strokes centred under the hips) is stable on every
physics preset and under joint noise; it was picked by a grid search over period, stride,
centre offset, lift timing and step height (``robot/README.md``).
"""

from __future__ import annotations

import numpy as np

from pidog_gaits.gaits.footpath import foot_xz, turn_scales
from pidog_gaits.gaits.kinematics import legs_ik
from pidog_gaits.robot.specs import STAND_HIP_HEIGHT_M

STRIDE_M = 0.050
STEP_HEIGHT_M = 0.020
CENTER_OF_GRAVITY_FORWARD_M = 0.0
"""Stroke centre ahead of the hips (library: 17 mm)."""
CENTER_OF_GRAVITY_BACKWARD_M = 0.005
"""Backing up (the library centres 8 mm further back; that put the hind shoulders at
93 deg, past the servo range, so we centre 5 mm ahead instead: max 83 deg)."""
LEG_CENTER_OFFSET_M = np.array([0.005, 0.005, -0.005, -0.005])
TURNING_RATE = 0.5
SWING_FRACTION = 0.5
SWING_START = np.array([0.0, 0.5, 0.5, 0.0])
"""Left-front and right-hind lift at phase 0, right-front and left-hind at 0.5."""
HIP_HEIGHT_M = STAND_HIP_HEIGHT_M
LIFT_SKEW = 2.5
"""Late lift (``footpath.swing_lift``); keeps every joint within 86 deg."""
PERIOD_S = 0.24
"""One cycle (the library's runs ~0.54 s with 100 mm strides; see the module docstring)."""


def trot_targets(phase: np.ndarray, direction: np.ndarray, turn: np.ndarray) -> np.ndarray:
    """Eight leg joint angles (N, 8) in rad for the trot at ``phase`` (N,)."""
    phase = np.asarray(phase, dtype=float).reshape(-1)
    direction = np.broadcast_to(np.asarray(direction, dtype=float), phase.shape)
    scales = turn_scales(np.broadcast_to(turn, phase.shape), TURNING_RATE)
    stride = STRIDE_M * scales * np.sign(direction)[:, None]
    cog = np.where(direction < 0, CENTER_OF_GRAVITY_BACKWARD_M, CENTER_OF_GRAVITY_FORWARD_M)
    center = cog[:, None] + LEG_CENTER_OFFSET_M[None, :] * scales
    feet = foot_xz(
        phase,
        SWING_START,
        SWING_FRACTION,
        stride,
        center,
        STEP_HEIGHT_M,
        HIP_HEIGHT_M,
        LIFT_SKEW,
    )
    return legs_ik(feet)
