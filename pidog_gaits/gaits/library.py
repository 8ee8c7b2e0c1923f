"""The named expert gaits and the 4-number gait input the imitation models take.

Gait input: ``[gait_type, direction, turn, phase]``

* ``gait_type``: 0 stand, 1 sit, 2 walk, 3 trot (``GAIT_TYPES``);
* ``direction``: +1 forward, -1 backward, 0 in place;
* ``turn``: in [-1, 1], positive turns left;
* ``phase``: in [0, 1) over exactly one cycle of that gait (walk 1.25 s, trot 0.24 s;
  poses use a nominal 1 s cycle and ignore it).

``expert_targets(inputs)`` is the one function from input to the 12 joint targets (rad):
the imitation models learn exactly this function, so every named gait has a distinct
input and a transition between gaits is never labelled as either.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pidog_gaits.gaits import poses, trot, walk
from pidog_gaits.robot.specs import CONTROL_DT_S, NUM_JOINTS

GAIT_TYPES = {"stand": 0, "sit": 1, "walk": 2, "trot": 3}
COMMAND_SCALE = np.array([0.1, 0.1])
"""Command differences (m/s, rad/s) counted as equal when picking a gait for a command."""
POSE_PERIOD_S = 1.0
INPUT_NAMES = ("gait_type", "direction", "turn", "phase")


@dataclass(frozen=True)
class GaitSpec:
    """A named expert gait: which family, which command, how long one cycle lasts."""

    name: str
    family: str
    direction: float
    turn: float
    period_s: float
    command_mps: float = 0.0
    """Forward speed this gait reaches in simulation (m/s): its velocity command."""
    command_yaw_radps: float = 0.0
    """Yaw rate this gait reaches (rad/s, + = left)."""

    @property
    def gait_type(self) -> int:
        return GAIT_TYPES[self.family]

    @property
    def command(self) -> np.ndarray:
        """``[forward speed (m/s), yaw rate (rad/s)]`` as the policy observes it."""
        return np.array([self.command_mps, self.command_yaw_radps])

    def inputs(self, phase) -> np.ndarray:
        """Gait inputs (N, 4) float32 for phases (N,)."""
        phase = np.mod(np.asarray(phase, dtype=float).reshape(-1), 1.0)
        out = np.empty((phase.size, 4), dtype=np.float32)
        out[:, 0] = self.gait_type
        out[:, 1] = self.direction
        out[:, 2] = self.turn
        out[:, 3] = phase
        return out

    def targets(self, phase) -> np.ndarray:
        """Joint targets (N, 12) in rad."""
        return expert_targets(self.inputs(phase))


# Commands are the speed along the heading and the yaw rate the expert gaits reach on the
# production preset, averaged from 1 s to 10 s (`python benchmarks/gait_commands.py`),
# rounded; re-measured on the robot model of issue 13 (5 V servos, metal feet).
GAITS: dict[str, GaitSpec] = {
    g.name: g
    for g in (
        GaitSpec("walk_forward", "walk", 1.0, 0.0, walk.PERIOD_S, 0.07),
        GaitSpec("walk_backward", "walk", -1.0, 0.0, walk.PERIOD_S, -0.08),
        GaitSpec("trot_forward", "trot", 1.0, 0.0, trot.PERIOD_S, 0.44),
        GaitSpec("turn_left", "walk", 1.0, 1.0, walk.PERIOD_S, 0.04, 0.15),
        GaitSpec("turn_right", "walk", 1.0, -1.0, walk.PERIOD_S, 0.04, -0.15),
        GaitSpec("stand", "stand", 0.0, 0.0, POSE_PERIOD_S),
        GaitSpec("sit", "sit", 0.0, 0.0, POSE_PERIOD_S),
        # Trotting turns: the steering knots of stage 3 (``envs.prior``); appended last so
        # the gaits above keep their place, which seeds their stage 1 episodes.
        GaitSpec("trot_left", "trot", 1.0, 1.0, trot.PERIOD_S, 0.26, 0.23),
        GaitSpec("trot_right", "trot", 1.0, -1.0, trot.PERIOD_S, 0.26, -0.23),
    )
}


def get_gait(name: str) -> GaitSpec:
    """The gait called ``name``; ``ValueError`` naming the valid ones otherwise."""
    try:
        return GAITS[name]
    except KeyError:
        raise ValueError(f"unknown gait {name!r}; choose one of {', '.join(GAITS)}") from None


def gait_for_velocity(forward_mps: float, yaw_radps: float) -> GaitSpec:
    """The expert gait whose command is nearest ``[forward_mps, yaw_radps]`` (sit excluded).

    The policies were trained on these commands only, so a ``cmd_vel`` maps to the
    nearest one instead of being fed raw (``envs.prior.gait_for_command`` does the same).
    """
    wanted = np.array([forward_mps, yaw_radps], dtype=float)
    best, best_d = GAITS["stand"], float("inf")
    for gait in GAITS.values():
        if gait.family == "sit":
            continue
        d = float(np.sum(((gait.command - wanted) / COMMAND_SCALE) ** 2))
        if d < best_d:
            best, best_d = gait, d
    return best


def expert_targets(inputs: np.ndarray) -> np.ndarray:
    """12 joint targets (N, 12) in rad for gait inputs (N, 4); head and tail held at 0."""
    inputs = np.atleast_2d(np.asarray(inputs, dtype=float))
    gait_type = np.rint(inputs[:, 0]).astype(int)
    direction, turn, phase = inputs[:, 1], inputs[:, 2], np.mod(inputs[:, 3], 1.0)
    out = np.zeros((inputs.shape[0], NUM_JOINTS))
    for family, type_id in GAIT_TYPES.items():
        rows = gait_type == type_id
        if not rows.any():
            continue
        if family == "stand":
            out[rows, :8] = poses.stand_pose()
        elif family == "sit":
            out[rows, :8] = poses.sit_pose()
        elif family == "walk":
            out[rows, :8] = walk.walk_targets(phase[rows], direction[rows], turn[rows])
        else:
            out[rows, :8] = trot.trot_targets(phase[rows], direction[rows], turn[rows])
    unknown = ~np.isin(gait_type, list(GAIT_TYPES.values()))
    if unknown.any():
        raise ValueError(f"unknown gait_type {sorted(set(gait_type[unknown]))}")
    return out


class GaitPlayer:
    """Steps a named gait's phase at the control rate and serves its targets from a table.

    The table (``samples`` per cycle, linearly interpolated) makes a control step cost a
    lookup instead of IK, which keeps the simulator loop near the bare ``mj_step`` cost.
    """

    def __init__(self, gait: GaitSpec, samples: int = 1000, start_phase: float = 0.0) -> None:
        self.gait = gait
        self._table = gait.targets(np.arange(samples + 1) / samples)
        self._samples = samples
        self.phase = start_phase % 1.0
        self._dphase = CONTROL_DT_S / gait.period_s

    def targets(self, phase: float | None = None) -> np.ndarray:
        p = (self.phase if phase is None else phase % 1.0) * self._samples
        i = int(p)
        frac = p - i
        return self._table[i] + frac * (self._table[i + 1] - self._table[i])

    def input(self) -> np.ndarray:
        return self.gait.inputs(self.phase)[0]

    def advance(self) -> None:
        self.phase = (self.phase + self._dphase) % 1.0
