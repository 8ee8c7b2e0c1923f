"""What a deployed policy sees each control step, and the gait schedule that feeds it.

Every model kind (imitation net, PPO policy, the scripted expert), through PyTorch or
onnxruntime, is a ``DeployPolicy``: ``act(StepContext) -> 12 joint targets (rad)``. The
context carries the gait input ``[gait_type, direction, turn, phase]``, the velocity
command, the sensor ``Reading`` and the last commanded targets, so one control loop runs
them all. ``GaitSchedule`` plays either a named gait or, for a velocity command, the trot
at the amplitude and turn ``gaits.command.CommandFollower`` gives, as the env does for a
command-following policy. This module imports neither torch nor MuJoCo: it runs on the
robot.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from pidog_gaits.backends import Reading
from pidog_gaits.gaits import poses, steering
from pidog_gaits.gaits.command import CommandFollower, CommandRanges
from pidog_gaits.gaits.library import GAITS, GaitPlayer, GaitSpec
from pidog_gaits.robot import specs

RAMP_S = 0.6
"""Blend time (s) from the pose held into a new gait: ``sim.rollout.RAMP_S`` (tested equal),
repeated here so the robot's import path stays free of MuJoCo."""


def stand_targets() -> np.ndarray:
    """The stand with head and tail centred (12, rad): ``sim.rollout.stand_targets``."""
    return np.concatenate([poses.stand_pose(), np.zeros(4)])


def lie_targets() -> np.ndarray:
    return np.concatenate([poses.lie_pose(), np.zeros(4)])


def ramp_weight(time_s: float, ramp_s: float = RAMP_S) -> float:
    return 1.0 if ramp_s <= 0 else min(1.0, time_s / ramp_s)


@dataclass
class StepContext:
    """Everything a policy may use at one control step."""

    gait: GaitSpec
    gait_input: np.ndarray
    """``[gait_type, direction, turn, phase]`` (4,) float32."""
    phase: float
    """Gait phase in [0, 1) over one cycle."""
    command: np.ndarray
    """``[forward speed (m/s), yaw rate (rad/s)]`` the gait stands for, the heading hold's
    correction included in the yaw rate."""
    blend_weight: float
    """0 -> hold ``blend_from``, 1 -> the policy's own targets (ramp into a gait)."""
    blend_from: np.ndarray
    """Targets (12, rad) held when the gait started (the stand at start-up)."""
    last_targets: np.ndarray
    """Last commanded targets (12, rad)."""
    target_history: np.ndarray | None = None
    """``(TARGET_HISTORY, 12)`` commanded targets (rad), newest first: the ``targets``
    observation (``envs.observations``); ``None``: ``last_targets`` repeated."""
    reading: Reading | None = None
    heading_correction_radps: float = 0.0
    """The heading hold's part of ``command[1]`` (the policy observes it apart)."""
    step: int = 0
    """Control steps since the gait started."""


class DeployPolicy(Protocol):
    """A model ready to run on a backend."""

    kind: str
    """``imitation``, ``ppo`` or ``expert``."""
    engine: str
    """``torch``, ``onnx`` or ``numpy``."""
    image: str | None
    """``depth``/``rgb`` when the policy reads the head camera, else ``None``."""
    image_size_px: tuple[int, int]
    control_dt_s: float
    """Control period the model was trained for (s)."""
    signals: tuple[str, ...]
    """The robot signals the model reads (its observation parts, ``image`` included;
    empty for models that read only the gait input)."""
    command_ranges: CommandRanges | None
    """A command-following policy's trained command ranges (``EnvConfig.commands``):
    it runs on a velocity command (``GaitSchedule.for_command``), clipped into these.
    ``None``: a model that plays named gaits (imitation, expert)."""
    heading_hold: dict[str, float]
    """The heading hold it was trained with, as ``GaitSchedule.for_command``'s keyword
    arguments (empty: the defaults)."""

    def reset(self) -> None:
        """Clear any recurrent state (start of a run or a gait change)."""
        ...

    def act(self, ctx: StepContext) -> np.ndarray:
        """12 joint targets (rad) for this step, before the safety layer."""
        ...


def blend(targets: np.ndarray, ctx: StepContext) -> np.ndarray:
    """``w * targets + (1 - w) * blend_from``, exactly as ``run_gait`` ramps from the stand."""
    w = ctx.blend_weight
    if w >= 1.0:
        return np.asarray(targets, dtype=float)
    return w * np.asarray(targets, dtype=float) + (1.0 - w) * ctx.blend_from


class ExpertPrior:
    """The scripted gait's targets (12, rad, not ramped) at a step, from one cached
    ``GaitPlayer`` per gait; with ``steering``, blended between the knot turns for the
    policy's steer (``gaits.steering``), as ``envs.prior.PriorSequence.steered`` does.

    The turn is the gait input's (``ctx.gait_input[2]``), not ``ctx.gait.turn``: on a
    command it is the follower's turn, which the ONNX graph reads from the same input.
    """

    def __init__(self, steering: bool = False) -> None:
        self.steering = steering
        self._players: dict[GaitSpec, GaitPlayer] = {}

    def _targets(self, gait: GaitSpec, phase: float) -> np.ndarray:
        player = self._players.get(gait)
        if player is None:
            player = self._players[gait] = GaitPlayer(gait)
        return player.targets(phase)

    def __call__(self, ctx: StepContext, steer: float = 0.0) -> np.ndarray:
        # The phase as the gait input carries it (float32), exactly as ``run_gait`` plays it.
        phase = float(ctx.gait_input[3])
        turn = float(ctx.gait_input[2])
        if not self.steering and turn == float(np.float32(ctx.gait.turn)):
            return self._targets(ctx.gait, phase)  # the named gait's own table, exactly
        knots = np.stack([self._targets(g, phase) for g in steering.knot_gaits(ctx.gait)])
        return steering.blend_knots(knots, steering.steered_turn(turn, steer))


class ExpertPolicy:
    """The scripted expert gaits (``--model expert``): numpy only, for robot bring-up.

    Checks the robot's wiring, signs and offsets with a gait known to walk in simulation
    before any learned model runs on it.
    """

    kind = "expert"
    engine = "numpy"
    image = None
    signals: tuple[str, ...] = ()
    command_ranges = None
    heading_hold: dict[str, float] = {}
    image_size_px = (specs.CAMERA_WIDTH_PX, specs.CAMERA_HEIGHT_PX)
    control_dt_s = specs.CONTROL_DT_S

    def __init__(self) -> None:
        self._prior = ExpertPrior()

    def reset(self) -> None:
        pass

    def act(self, ctx: StepContext) -> np.ndarray:
        return blend(self._prior(ctx), ctx)


def gait_with(gait: GaitSpec, direction: float | None, turn: float | None) -> GaitSpec:
    """``gait`` with its direction and/or turn replaced (``None`` keeps the gait's own)."""
    changes = {}
    if direction is not None:
        changes["direction"] = float(direction)
    if turn is not None:
        changes["turn"] = float(turn)
    return dataclasses.replace(gait, **changes) if changes else gait


COMMAND_GAIT = GAITS["trot_forward"]
"""The gait a command plays (at the follower's amplitude and turn): the env's prior for
every command-following policy."""


class GaitSchedule:
    """Steps a gait's phase at the control rate; a gait change restarts the phase and blend.

    Two modes. Named gait (``GaitSchedule(gait, ...)``): the gait's own input and command,
    ramped from ``start_targets`` over ``RAMP_S``. Command (``GaitSchedule.for_command``):
    the trot (``COMMAND_GAIT``) played at the amplitude and turn a ``CommandFollower``
    gives for ``[speed, yaw rate]`` plus the heading hold's correction, stepped once per
    control step exactly as ``PiDogEnv`` steps it: ``gait_input[2]`` is the follower's
    turn and ``blend_weight`` the start ramp times the amplitude, so the prior is
    ``stand + amplitude * (ramped trot - stand)``. ``set_command`` changes the command
    without restarting anything: the follower slews the amplitude.

    :param gait: the gait to run.
    :param dt_s: control period (s).
    :param start_targets: what the robot holds at the start (blended from).
    :param heading_gain_per_s: heading hold gain (``EnvConfig.heading_gain_per_s``).
    :param heading_integral_per_s2: its integral gain (``EnvConfig.heading_integral_per_s2``:
        the policy's own, ``DeployPolicy.heading_hold``).
    :param heading_integral_sonar_gate_m: the integral's sonar gate (m; 0: none;
        ``EnvConfig.heading_integral_sonar_gate_m``). The gate reads the previous step's
        ultrasonic, the last one the policy saw, as ``PiDogEnv`` does.
    """

    def __init__(
        self,
        gait: GaitSpec,
        dt_s: float,
        start_targets: np.ndarray,
        heading_gain_per_s: float = steering.HEADING_GAIN_PER_S,
        heading_integral_per_s2: float = steering.HEADING_INTEGRAL_PER_S2,
        heading_integral_sonar_gate_m: float = steering.HEADING_INTEGRAL_SONAR_GATE_M,
    ) -> None:
        self.dt_s = dt_s
        self.hold = steering.HeadingHold(
            heading_gain_per_s,
            heading_integral_per_s2,
            sonar_gate_m=heading_integral_sonar_gate_m,
        )
        self._last_sonar_m: float | None = None
        self.follower: CommandFollower | None = None
        """Set in command mode (``for_command``)."""
        self.user_command = np.zeros(2)
        """Command mode: the ``[speed (m/s), yaw rate (rad/s)]`` asked for."""
        self.switch(gait, start_targets)

    @classmethod
    def for_command(
        cls,
        command,
        dt_s: float,
        start_targets: np.ndarray,
        heading_gain_per_s: float = steering.HEADING_GAIN_PER_S,
        heading_integral_per_s2: float = steering.HEADING_INTEGRAL_PER_S2,
        heading_integral_sonar_gate_m: float = steering.HEADING_INTEGRAL_SONAR_GATE_M,
    ) -> GaitSchedule:
        """A schedule that follows ``command`` (``[speed, yaw rate]``, already clipped to
        the policy's ranges) from ``start_targets`` (the stand)."""
        schedule = cls(COMMAND_GAIT, dt_s, start_targets, heading_gain_per_s,
                       heading_integral_per_s2, heading_integral_sonar_gate_m)  # fmt: skip
        schedule.follower = CommandFollower(dt_s)
        schedule.set_command(command)
        return schedule

    def set_command(self, command) -> None:
        """Command mode: follow ``command`` from the next step on. The phase, the start
        ramp and the goal heading carry on (the goal turns at the new yaw rate)."""
        if self.follower is None:
            raise ValueError("set_command needs a schedule made with GaitSchedule.for_command")
        self.user_command = np.asarray(command, dtype=float).reshape(2).copy()

    def switch(self, gait: GaitSpec, hold_targets: np.ndarray) -> None:
        if self.follower is not None:
            raise ValueError("a command schedule plays the trot; change it with set_command")
        self.gait = gait
        self.phase = 0.0
        self.step = 0
        self.blend_from = np.asarray(hold_targets, dtype=float).copy()
        self._dphase = self.dt_s / gait.period_s
        self.heading_error_rad = 0.0
        """Goal heading (the start's, turning at the commanded yaw rate) minus the heading,
        integrated from the gyro: the heading hold of ``PiDogEnv._update_command``."""
        self.hold.reset()
        self._last_sonar_m = None

    def context(
        self,
        last_targets: np.ndarray,
        reading: Reading | None,
        target_history: np.ndarray | None = None,
    ) -> StepContext:
        """This step's context; call it once per step (it steps the heading hold and, on
        a command, the follower)."""
        gait = self.gait
        user = self.user_command if self.follower is not None else gait.command
        command = user.astype(np.float32)
        correction = 0.0
        if self.follower is not None and CommandFollower.is_still(user):
            self.heading_error_rad = 0.0  # standing: no heading to hold (as the env)
            self.hold.reset()
        elif reading is not None and self.hold.gain_per_s > 0:
            correction = self.hold.correction(self.heading_error_rad, self.dt_s, self._last_sonar_m)
            command[1] += correction
            gyro_z = float(reading.imu[5])
            self.heading_error_rad += (float(user[1]) - gyro_z) * self.dt_s
        if reading is not None:
            self._last_sonar_m = float(reading.sonar_m)
        gait_input = gait.inputs(self.phase)[0]
        weight = ramp_weight(self.step * self.dt_s)
        if self.follower is not None:
            amplitude, turn = self.follower.step(float(user[0]), float(user[1]), correction)
            gait_input[2] = turn
            weight *= amplitude
        return StepContext(
            gait=gait,
            gait_input=gait_input,
            phase=self.phase,
            command=command,
            heading_correction_radps=correction,
            blend_weight=weight,
            blend_from=self.blend_from,
            last_targets=last_targets,
            target_history=target_history,
            reading=reading,
            step=self.step,
        )

    def advance(self) -> None:
        self.phase = (self.phase + self._dphase) % 1.0
        self.step += 1
