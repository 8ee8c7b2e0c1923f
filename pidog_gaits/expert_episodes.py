"""One expert episode in the simulator: what it records and how (stage 1's inner loop).

``data_collector`` plans the episodes (gait, turn, start state, domain parameters, seed)
and hands each ``EpisodeTask`` to a worker process, which runs ``run_episode``: the expert
drives the PiDog from the stand, blending in over ``RAMP_S``, and the steps after the
ramp are recorded in bursts of consecutive 50 Hz control steps.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from pidog_gaits.gaits.library import GAITS, GaitSpec, expert_targets
from pidog_gaits.robot import specs
from pidog_gaits.sim.randomization import DomainParams


@dataclass(frozen=True)
class EpisodeTask:
    """Everything one episode needs, drawn in the parent so workers only simulate."""

    episode: int
    gait: str
    gait_index: int
    seconds: float
    quality: str
    turn: float
    start_phase: float
    start_yaw_rad: float
    start_joints_rad: tuple[float, ...]
    params: DomainParams
    record_offset_steps: int
    burst_steps: int
    burst_every_steps: int
    seed: int


@dataclass
class EpisodeResult:
    task: EpisodeTask
    fell: bool
    arrays: dict[str, np.ndarray]
    """Sample arrays (empty when the robot fell)."""


def recorded_steps(task: EpisodeTask) -> np.ndarray:
    """Control steps of ``task`` that are recorded: after the ramp, in bursts."""
    from pidog_gaits.sim.rollout import RAMP_S

    steps = round(task.seconds / specs.CONTROL_DT_S)
    first = math.ceil(RAMP_S / specs.CONTROL_DT_S - 1e-9)
    k = np.arange(first, steps)
    since = k - first + task.record_offset_steps
    return k[since % task.burst_every_steps < task.burst_steps]


def command_of(gait: GaitSpec) -> np.ndarray:
    """The command the observation carries: the named gait's speed and yaw rate (see the
    module doc), and no heading-hold correction (``envs.observations``)."""
    return np.array([*gait.command, 0.0], dtype=np.float32)  # no heading-hold correction


_SIM_CACHE: dict[str, object] = {}


def run_episode(task: EpisodeTask) -> EpisodeResult:
    """Simulate one episode with the expert and return its recorded samples.

    The observation of step k is read before the command of step k is sent, the order the
    RL env uses: the policy sees the state, then acts.
    """
    from pidog_gaits.envs.observations import (
        PROPRIO_DIM,
        TARGET_HISTORY,
        flatten,
        push_history,
        read_parts,
    )
    from pidog_gaits.sim.physics import PiDogSim
    from pidog_gaits.sim.rollout import ramp_weight, stand_targets
    from pidog_gaits.sim.sensors import Sensors

    sim = _SIM_CACHE.get(task.quality)
    if sim is None:
        sim = _SIM_CACHE[task.quality] = PiDogSim(task.quality)
    sim.apply_params(task.params)
    start = np.asarray(task.start_joints_rad)
    sim.reset(joint_targets_rad=start, yaw_rad=task.start_yaw_rad, settle_s=0.1)
    rng = np.random.default_rng(task.seed)
    sensors = Sensors(sim, rng, noise_scale=task.params.sensor_noise_scale)
    sensors.reset_attitude()

    gait = dataclasses.replace(GAITS[task.gait], turn=task.turn)
    steps = round(task.seconds / specs.CONTROL_DT_S)
    phases = (task.start_phase + np.arange(steps) * specs.CONTROL_DT_S / gait.period_s) % 1.0
    inputs = gait.inputs(phases)
    targets = expert_targets(inputs)
    record = np.zeros(steps, dtype=bool)
    record[recorded_steps(task)] = True
    command = command_of(GAITS[task.gait])
    stand = stand_targets()
    sitting = gait.family == "sit"

    obs, times = [], []
    history = np.tile(stand, (TARGET_HISTORY, 1))  # commanded targets, newest first
    for k in range(steps):
        w = ramp_weight(sim.time_s)
        action = targets[k] if w >= 1.0 else w * targets[k] + (1.0 - w) * stand
        if record[k]:
            obs.append(flatten(read_parts(sensors, history, command, phases[k])))
            times.append(sim.time_s)
        else:
            sensors.imu()  # the robot's attitude filter runs every step, recorded or not
        sim.step(action)
        push_history(history, action)
        if sim.fallen(allow_body_contact=sitting):
            return EpisodeResult(task, True, {})
    idx = np.flatnonzero(record)
    n = idx.size
    arrays = {
        "inputs": inputs[idx].astype(np.float32),
        "targets": targets[idx].astype(np.float32),
        "observations": np.asarray(obs, dtype=np.float32).reshape(n, PROPRIO_DIM),
        "episode": np.full(n, task.episode, dtype=np.int64),
        "gait": np.full(n, task.gait_index, dtype=np.int64),
        "step": idx.astype(np.int64),
        "time_s": np.asarray(times, dtype=np.float64),
    }
    return EpisodeResult(task, False, arrays)
