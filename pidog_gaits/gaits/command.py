"""Velocity commands, and the gait prior that follows them continuously.

A command-following policy is asked for ``[forward speed (m/s), yaw rate (rad/s)]``
anywhere in ``CommandRanges`` (``cmd_vel``, ``--command SPEED,YAW_RATE``), not only the
named gaits' figures. Its prior plays the trot at a continuous *amplitude* and *turn*:

* amplitude ``a`` in [0, 1] blends the joint targets from the stand (0) to the full trot
  (1); strides and foot lift shrink together, so the speed falls smoothly to zero.
* turn in [-1, 1] is the gait input's turn (the steering knots, ``gaits.steering``).

The speed and yaw rate each (amplitude, turn) reaches were measured on the production
preset with the scripted trot and nominal physics (``python benchmarks/command_prior.py``:
``SPEED_MPS``, ``YAW_RATE_RADPS``); the prior inverts those tables.

The walk is not blended in: its 1.25 s cycle cannot be mixed with the trot's 0.24 s one
without a jump in the phase, and the trot at a small amplitude already covers the walk's
0.07 m/s. ``CommandFollower`` slews the amplitude (no jump in the targets when a command
changes) and is run step by step in the same way by the env and by the robot's control
loop, so both give the same prior for the same command (tested).

Numpy only: the robot imports this.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

AMPLITUDE_KNOTS = np.array([0.0, 0.2, 0.3, 0.5, 0.7, 0.85, 1.0])
TURN_KNOTS = np.array([0.0, 0.5, 1.0])
SPEED_MPS = np.array(
    [
        [0.0, 0.0, 0.0],
        [0.025, 0.016, 0.007],
        [0.070, 0.054, 0.037],
        [0.162, 0.134, 0.096],
        [0.258, 0.212, 0.155],
        [0.347, 0.283, 0.211],
        [0.438, 0.350, 0.264],
    ]
)
"""Forward speed (m/s) of the trot at each amplitude (rows, ``AMPLITUDE_KNOTS``) and turn
(columns, ``TURN_KNOTS``; a right turn is the mirror): the body-frame speed averaged from
1 s to 10 s, production preset, nominal physics (``benchmarks/command_prior.py``)."""
YAW_RATE_RADPS = np.array(
    [
        [0.0, 0.0, 0.0],
        [0.0, 0.003, 0.030],
        [0.0, 0.033, 0.074],
        [0.0, 0.033, 0.057],
        [0.0, 0.060, 0.096],
        [0.0, 0.071, 0.155],
        [0.0, 0.082, 0.234],
    ]
)
"""Yaw rate (rad/s, + = left) of the same runs; 0 at turn 0 by symmetry (measured within
0.002)."""
_FINE_AMPLITUDE = np.linspace(0.0, 1.0, 101)
_FINE_TURN = np.linspace(0.0, 1.0, 41)


def _fine(table: np.ndarray) -> np.ndarray:
    """``table`` bilinearly interpolated on the fine amplitude x turn grid."""
    by_amplitude = np.stack(
        [np.interp(_FINE_AMPLITUDE, AMPLITUDE_KNOTS, table[:, j]) for j in range(table.shape[1])],
        axis=1,
    )
    return np.stack([np.interp(_FINE_TURN, TURN_KNOTS, row) for row in by_amplitude])


_FINE_SPEED_MPS = _fine(SPEED_MPS)
_FINE_YAW_RADPS = _fine(YAW_RATE_RADPS)
MATCH_SCALE = np.array([0.02, 0.02])
"""Speed (m/s) and yaw-rate (rad/s) differences weighed as equal when picking the amplitude."""

SPEED_MAX_MPS = 0.44
"""Fastest forward command: the full trot's speed (``trot_forward``'s command; 0.438
measured, so a named gait's command is never clipped)."""
YAW_RATE_MAX_RADPS = 0.2
"""Largest yaw-rate command (rad/s): a full trot turn reaches 0.22 at full amplitude."""
TURN_MIN_AMPLITUDE = 0.3
"""Amplitude the prior plays while turning with no forward speed asked: below it a turn
has no stride to shorten (``YAW_RATE_RADPS``)."""
STILL_MPS = 0.01
STILL_RADPS = 0.01
"""A command within these of zero means stand still: the prior is the stand."""
SLEW_S = 0.6
"""Time (s) the amplitude takes from 0 to 1: the stand-to-gait ramp of every rollout."""
PRIOR_HEADING_MAX_RADPS = 0.0
"""Largest heading-hold correction (rad/s) the prior's turn follows by itself: none. The
policy's steer holds the heading alone (its teacher turns back, ``reflex.teacher_steer``),
so in a detour the prior never turns back towards the goal while the steer turns away.
At 0.05 it took about a third of the steer's authority there, and three seeds hit 2, 6
and 10 boxes in 60 episodes each; at 0 (with the left-right symmetric gait,
``train_rl_vision.RLConfig.mirror_weight``) they hit 2, 2 and 1, and turned at 0.2,0.15
within 0.019 rad/s (``benchmarks/results/stage3_mirror_hold.json``, runs ``h0mir_*``)."""


def amplitude_for(speed_mps: float, yaw_radps: float = 0.0) -> float:
    """Trot amplitude in [0, 1] whose speed and yaw rate (at the turn that gives that yaw
    rate) come nearest the command: the measured tables, inverted. Turning slows the trot,
    so a turn asks for more amplitude than the same speed straight."""
    cost = ((_FINE_SPEED_MPS - speed_mps) / MATCH_SCALE[0]) ** 2 + (
        (_FINE_YAW_RADPS - abs(yaw_radps)) / MATCH_SCALE[1]
    ) ** 2
    i, _ = np.unravel_index(int(np.argmin(cost)), cost.shape)
    return float(_FINE_AMPLITUDE[i])


def turn_for_yaw(yaw_radps: float, amplitude: float) -> float:
    """Gait-input turn in [-1, 1] that asks for ``yaw_radps`` at ``amplitude``."""
    curve = [float(np.interp(amplitude, AMPLITUDE_KNOTS, YAW_RATE_RADPS[:, j])) for j in range(3)]
    if curve[-1] <= 0.0:
        return 0.0
    turn = float(np.interp(abs(yaw_radps), curve, TURN_KNOTS))
    return turn if yaw_radps >= 0.0 else -turn


@dataclass(frozen=True)
class CommandRanges:
    """What commands a policy is trained on, and how training draws them.

    An episode starts with a command drawn from these ranges and draws a new one every
    ``hold_s`` (uniform); ``stand_prob`` of the draws are stand still, ``straight_prob``
    of the rest have no yaw rate.
    """

    speed_mps: tuple[float, float] = (0.0, SPEED_MAX_MPS)
    yaw_radps: tuple[float, float] = (-YAW_RATE_MAX_RADPS, YAW_RATE_MAX_RADPS)
    hold_s: tuple[float, float] = (2.0, 5.0)
    stand_prob: float = 0.1
    straight_prob: float = 0.5

    def replace(self, **changes) -> CommandRanges:
        return dataclasses.replace(self, **changes)

    def validate(self) -> CommandRanges:
        """``ValueError`` on ranges that cannot be drawn from; returns ``self``."""
        for name in ("speed_mps", "yaw_radps", "hold_s"):
            low, high = getattr(self, name)
            if not (math.isfinite(low) and math.isfinite(high)) or low > high:
                raise ValueError(f"commands.{name}: need finite low <= high, got {(low, high)}")
        if self.speed_mps[0] < 0.0 or self.speed_mps[1] > SPEED_MAX_MPS + 1e-9:
            raise ValueError(f"commands.speed_mps must lie in [0, {SPEED_MAX_MPS}]")
        if self.hold_s[0] <= 0.0:
            raise ValueError("commands.hold_s must be > 0")
        for name in ("stand_prob", "straight_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"commands.{name} must lie in [0, 1]")
        return self

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """One ``[speed (m/s), yaw rate (rad/s)]`` command."""
        if rng.random() < self.stand_prob:
            return np.zeros(2)
        speed = float(rng.uniform(*self.speed_mps))
        yaw = 0.0 if rng.random() < self.straight_prob else float(rng.uniform(*self.yaw_radps))
        return np.array([speed, yaw])

    def sample_hold_s(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(*self.hold_s))

    def clip(self, command) -> np.ndarray:
        """``command`` clipped into the ranges (``[speed, yaw rate]``)."""
        c = np.asarray(command, dtype=float).reshape(2)
        return np.array(
            [
                min(self.speed_mps[1], max(self.speed_mps[0], c[0])),
                min(self.yaw_radps[1], max(self.yaw_radps[0], c[1])),
            ]
        )

    def contains(self, command) -> bool:
        return bool(np.allclose(self.clip(command), np.asarray(command, dtype=float)))


def parse_command(text: str) -> np.ndarray:
    """``"SPEED,YAW_RATE"`` (m/s, rad/s) -> array; ``ValueError`` naming the problem."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 2:
        raise ValueError(f"--command takes SPEED,YAW_RATE (m/s,rad/s), got {text!r}")
    try:
        values = np.array([float(p) for p in parts])
    except ValueError:
        raise ValueError(f"--command takes two numbers SPEED,YAW_RATE, got {text!r}") from None
    if not np.all(np.isfinite(values)):
        raise ValueError(f"--command values must be finite, got {text!r}")
    return values


class CommandFollower:
    """The prior's amplitude and turn for a stream of commands, one control step at a time.

    The amplitude moves towards the one the speed asks for by at most ``dt_s / SLEW_S``
    per step. The turn asks for the command's yaw rate plus the heading-hold correction,
    capped at ``PRIOR_HEADING_MAX_RADPS``.

    :param dt_s: control period (s).
    """

    def __init__(self, dt_s: float) -> None:
        self.dt_s = dt_s
        self.amplitude = 0.0
        self._goal_for: tuple[float, float] | None = None
        self._goal = 0.0

    @staticmethod
    def is_still(command) -> bool:
        """Whether ``[speed, yaw rate]`` asks the robot to stand still."""
        return abs(float(command[0])) < STILL_MPS and abs(float(command[1])) < STILL_RADPS

    def step(
        self, speed_mps: float, yaw_radps: float, correction_radps: float = 0.0
    ) -> tuple[float, float]:
        """``(amplitude, turn)`` for this step's command (advances the slew). Standing
        still the correction is ignored: there is no heading to hold."""
        if self.is_still((speed_mps, yaw_radps)):
            goal, yaw = 0.0, 0.0
        else:
            if self._goal_for != (speed_mps, yaw_radps):  # a search: once per command
                self._goal_for = (speed_mps, yaw_radps)
                self._goal = amplitude_for(speed_mps, yaw_radps)
                if abs(yaw_radps) >= STILL_RADPS:
                    self._goal = max(self._goal, TURN_MIN_AMPLITUDE)
            goal = self._goal
            cap = PRIOR_HEADING_MAX_RADPS
            yaw = yaw_radps + min(cap, max(-cap, correction_radps))
        limit = self.dt_s / SLEW_S
        self.amplitude += min(limit, max(-limit, goal - self.amplitude))
        return self.amplitude, turn_for_yaw(yaw, max(self.amplitude, AMPLITUDE_KNOTS[2]))


def format_command(command) -> str:
    """``[speed, yaw rate]`` as ``--command`` takes it (``0.2,0``)."""
    c = np.asarray(command, dtype=float).reshape(2)
    return f"{c[0]:g},{c[1]:g}"


class CommandClipper:
    """Clips commands into a policy's ``CommandRanges``, warning once per run.

    A command outside what the policy was trained on is never passed through (the policy
    has never seen it, and its prior's tables end there): it is clipped, and the first
    clip is reported through ``warn`` with the given and the clipped values; later ones
    are not (``cmd_vel`` arrives tens of times a second).

    :param ranges: the policy's command ranges.
    :param source: what the command came from, for the warning (``--command``, ``cmd_vel``).
    :param warn: called once with the one-line warning (without a ``warning:`` prefix:
        the caller's printer adds its own).
    """

    def __init__(self, ranges: CommandRanges, source: str, warn) -> None:
        self.ranges = ranges
        self.source = source
        self.warn = warn
        self.warned = False

    def __call__(self, command) -> np.ndarray:
        given = np.asarray(command, dtype=float).reshape(2)
        clipped = self.ranges.clip(given)
        if not self.warned and not np.array_equal(clipped, given):
            self.warned = True
            r = self.ranges
            self.warn(
                f"{self.source} {format_command(given)} is outside the policy's "
                f"command ranges (speed {r.speed_mps[0]:g}..{r.speed_mps[1]:g} m/s, yaw rate "
                f"{r.yaw_radps[0]:g}..{r.yaw_radps[1]:g} rad/s): clipped to "
                f"{format_command(clipped)}"
            )
        return clipped
