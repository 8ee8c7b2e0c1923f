"""Steering a gait: one number in [-1, 1] that bends any gait's path left or right.

Stage 3's policy steers around boxes with one extra action, ``steer``. Its effect is
defined on the gait input's ``turn``: the gait is played at ``turn = clip(gait.turn +
steer, -1, 1)``, and the joint targets at a turn between the knots -1, 0 and +1 are the
linear blend of the targets at the two nearest knots. The knots are the gaits the
imitation models were trained on (``trot_left``/``trot_forward``/``trot_right``, the walk's
``turn_right``/``walk_forward``/``turn_left``), so the blend never asks a model for an input
it has not learned. The env precomputes the three knot sequences per episode; a deployed
policy evaluates the prior at the three knots and blends in the same way, so both give
the same targets for the same steer (tested).

Numpy only: the robot imports this.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from pidog_gaits.gaits.library import GaitSpec

TURN_KNOTS = (-1.0, 0.0, 1.0)
"""Gait-input turns the prior is evaluated at (right, straight, left)."""
STEER_INDEX = 12
"""Position of ``steer`` in a steering policy's action (after the 12 joint residuals)."""
HEADING_GAIN_PER_S = 1.0
"""Heading hold: yaw-rate command per rad of heading error (``EnvConfig.heading_gain_per_s``)."""
HEADING_MAX_YAW_RADPS = 0.5
"""Largest yaw-rate correction the heading hold commands (rad/s)."""


HEADING_INTEGRAL_PER_S2 = 0.5
"""Heading hold's integral gain: yaw-rate command per rad*s of accumulated heading error
(``HeadingHold``; ``EnvConfig.heading_integral_per_s2``, 0: proportional only)."""
HEADING_INTEGRAL_MAX_RADPS = 0.15
"""Most yaw rate (rad/s) the integral part commands: a steer of 0.6 at the teacher's gain
4 (``envs.reflex.HEADING_STEER_PER_RADPS``), more than the steer biases measured (0.2)."""
HEADING_INTEGRAL_BAND_RAD = 0.15
"""The integral accumulates only while the heading error is within this (~9 deg): a
detour round a box (0.3-0.5 rad off) does not wind it up; a bias's error (~0.05) does."""
HEADING_INTEGRAL_SONAR_GATE_M = 1.2
"""The integral holds still (neither grows nor resets) while the ultrasonic hears something
nearer than this (m): the range at which the obstacle reflex reacts to a box
(``envs.reflex.REACT_RANGE_M``). Without it, the first 0.15 rad of each detour wound the
integral up to ~0.1 rad/s back towards the box, the teacher pulled back that much harder,
and its students cut the corner: at servo torque x0.7, two seeds' policies fell 9 times
in 60 episodes, most after clipping a box; the same seeds trained with the gate, 0
(``benchmarks/results/stage3_sonar_gate.json``). 0 or a miss (no echo) leaves it free.
The floor echoes within it too, as the head pitches in the trot (0.9-1.2 m; a third of
the readings at 0.3 m/s, over half at 0.44), which slows the integral: a gate at 0.8 m,
short of the floor, held the heading better (0.017 m per m at three seeds) but the weak
robot fell again (5 in 150 at x0.7, against 1)."""


def hold_settings(env: Mapping[str, Any]) -> dict[str, float]:
    """The heading-hold settings in an env config (``EnvConfig`` fields as a mapping, or
    the ONNX metadata's ``env``), as ``GaitSchedule.for_command`` keywords.

    One rule for every reader of a saved policy: a setting its env does not hold was
    saved before it existed, so it runs as it was trained, without it (the integral and
    its sonar gate 0); the gain was always there (``HEADING_GAIN_PER_S`` before it was
    saved)."""
    return {
        "heading_gain_per_s": float(env.get("heading_gain_per_s", HEADING_GAIN_PER_S)),
        "heading_integral_per_s2": float(env.get("heading_integral_per_s2", 0.0)),
        "heading_integral_sonar_gate_m": float(env.get("heading_integral_sonar_gate_m", 0.0)),
    }


def sonar_clear(sonar_m: float | None, gate_m: float) -> bool:
    """Whether a reading leaves the integral free to accumulate: no gate (``gate_m`` 0),
    no reading (None), no echo (negative), or an echo at or beyond ``gate_m``."""
    return gate_m <= 0.0 or sonar_m is None or sonar_m < 0.0 or sonar_m >= gate_m


def heading_correction(error_rad: float, gain_per_s: float = HEADING_GAIN_PER_S) -> float:
    """Yaw rate (rad/s) the command adds to turn back to the goal heading."""
    limit = HEADING_MAX_YAW_RADPS
    return min(limit, max(-limit, gain_per_s * error_rad))


@dataclasses.dataclass
class HeadingHold:
    """The heading hold: proportional plus a clamped integral of the heading error.

    Why an integral: the policy follows the correction with its steer, and any steer it
    adds on its own (a bias; measured 0.1-0.2 on average and up to 0.67 in some rooms,
    ``benchmarks/steer_bias.py``) leaves a proportional hold ``bias / (4 * gain)`` rad off
    its heading for good: ~0.05 m sideways per metre. The integral grows until it cancels
    the bias, so the heading error returns to 0 whatever the bias. Anti-windup: it only
    accumulates within ``band_rad`` of the goal (not in a detour), and not while the
    ultrasonic hears something within ``sonar_gate_m`` (a box ahead: a detour about to
    start), and it is clamped to ``integral_limit_radps``. One class for the env and the
    robot's runtime, so both give the policy the same correction.
    """

    gain_per_s: float = HEADING_GAIN_PER_S
    integral_per_s2: float = HEADING_INTEGRAL_PER_S2
    integral_limit_radps: float = HEADING_INTEGRAL_MAX_RADPS
    band_rad: float = HEADING_INTEGRAL_BAND_RAD
    sonar_gate_m: float = HEADING_INTEGRAL_SONAR_GATE_M
    """0: no sonar gate (``sonar_clear``)."""
    integral_radps: float = 0.0
    """The integral part of the correction now (rad/s)."""

    def reset(self) -> None:
        """Forget the accumulated error (a new episode, or standing still)."""
        self.integral_radps = 0.0

    def correction(self, error_rad: float, dt_s: float, sonar_m: float | None = None) -> float:
        """This step's yaw-rate correction (rad/s) for ``error_rad`` (goal minus heading),
        then the integral steps on by ``dt_s`` unless ``sonar_m`` (the last ultrasonic
        reading, m; -1 no echo; None: not known) holds it still."""
        limit = HEADING_MAX_YAW_RADPS
        out = heading_correction(error_rad, self.gain_per_s) + self.integral_radps
        out = min(limit, max(-limit, out))
        if (
            self.integral_per_s2 > 0.0
            and abs(error_rad) <= self.band_rad
            and sonar_clear(sonar_m, self.sonar_gate_m)
        ):
            cap = self.integral_limit_radps
            step = self.integral_radps + self.integral_per_s2 * error_rad * dt_s
            self.integral_radps = min(cap, max(-cap, step))
        return out


def steered_turn(gait_turn: float, steer: float) -> float:
    """The gait-input turn a steer asks for: the gait's own turn moved by ``steer``."""
    return float(min(1.0, max(-1.0, gait_turn + min(1.0, max(-1.0, steer)))))


def knot_weights(turn: float) -> np.ndarray:
    """Weights (3,) of the knots ``TURN_KNOTS`` that give ``turn`` (piecewise linear)."""
    t = min(1.0, max(-1.0, float(turn)))
    if t >= 0.0:
        return np.array([0.0, 1.0 - t, t])
    return np.array([-t, 1.0 + t, 0.0])


def blend_knots(knot_targets: np.ndarray, turn: float) -> np.ndarray:
    """Targets (12,) at ``turn`` from the targets (3, 12) at the three knots."""
    return knot_weights(turn) @ np.asarray(knot_targets, dtype=float)


def knot_gaits(gait: GaitSpec) -> tuple[GaitSpec, GaitSpec, GaitSpec]:
    """``gait`` at each knot turn (the same family, direction and period)."""
    return tuple(dataclasses.replace(gait, turn=t) for t in TURN_KNOTS)


def knot_inputs(gait_input: np.ndarray) -> np.ndarray:
    """The gait input (4,) at each knot turn (3, 4) float32."""
    rows = np.tile(np.asarray(gait_input, dtype=np.float32).reshape(1, 4), (3, 1))
    rows[:, 2] = TURN_KNOTS
    return rows
