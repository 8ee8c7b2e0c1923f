"""Drive the simulated PiDog with a gait-input controller and measure what it did.

A controller maps the 4-number gait input ``[gait_type, direction, turn, phase]`` to 12
joint targets: the expert gait (a table lookup) or an imitation model. Both run through
``run_gait`` so their figures compare like for like.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from pidog_gaits.gaits import poses
from pidog_gaits.gaits.library import GaitPlayer, GaitSpec
from pidog_gaits.robot import specs
from pidog_gaits.sim.physics import PiDogSim
from pidog_gaits.sim.randomization import DomainParams

RAMP_S = 0.6
"""Every run starts in the stand and blends into the gait over this time (s)."""


class GaitController(Protocol):
    def reset(self) -> None: ...

    def __call__(self, gait_input: np.ndarray) -> np.ndarray: ...


class ExpertController:
    """The scripted expert: joint targets from the gait's precomputed table."""

    def __init__(self, gait: GaitSpec) -> None:
        self._player = GaitPlayer(gait)

    def reset(self) -> None:
        pass

    def __call__(self, gait_input: np.ndarray) -> np.ndarray:
        return self._player.targets(float(gait_input[3]))


def stand_targets() -> np.ndarray:
    return np.concatenate([poses.stand_pose(), np.zeros(4)])


def ramp_weight(time_s: float) -> float:
    return min(1.0, time_s / RAMP_S)


@dataclass
class GaitRunResult:
    """What a gait run did, in SI units."""

    gait: str
    seconds: float
    quality: str
    seed: int
    distance_m: float
    """Body displacement along the starting heading."""
    lateral_m: float
    """Displacement to the left of the starting heading."""
    yaw_rad: float
    """Heading change, positive = turned left."""
    fell: bool
    mean_height_m: float
    mean_forward_velocity_mps: float
    realtime_factor: float
    """Simulated seconds per wall-clock second of the control loop (no video)."""
    rear_height_m: float
    """Mean height of the hind hips over the last second."""

    def as_dict(self) -> dict:
        return asdict(self)


def run_gait(
    gait: GaitSpec,
    seconds: float,
    quality: str = "fast",
    seed: int = 0,
    controller: GaitController | None = None,
    params: DomainParams | None = None,
    video: str | Path | None = None,
    stop_on_fall: bool = True,
    on_step=None,
    ramp_s: float = RAMP_S,
) -> GaitRunResult:
    """Run ``gait`` for ``seconds`` of simulated time and report figures.

    :param controller: maps gait inputs to targets; the expert when ``None``.
    :param on_step: called as ``on_step(sim, gait_input, targets)`` after every control step.
    :param ramp_s: blend from the stand into the controller's targets over this time (s);
        0 for a controller that starts from the stand itself (the library replay).
    """
    if seconds <= 0:
        raise ValueError("seconds must be > 0")
    controller = controller or ExpertController(gait)
    controller.reset()
    sim = PiDogSim(quality, seed=seed, params=params)
    sim.reset()
    recorder = None
    if video is not None:
        from pidog_gaits.sim.video import VideoRecorder

        recorder = VideoRecorder(sim, video)
        recorder.capture(force=True)
    stand = stand_targets()
    steps = round(seconds / specs.CONTROL_DT_S)
    dphase = specs.CONTROL_DT_S / gait.period_s
    phase = 0.0
    sitting = gait.family == "sit"
    heights: list[float] = []
    rear: list[float] = []
    hind_ids = [sim.model.body(f"{leg}_thigh").id for leg in ("left_hind", "right_hind")]
    fell = False
    loop_s = 0.0
    for i in range(steps):
        t0 = time.perf_counter()
        gait_input = gait.inputs(phase)[0]
        targets = controller(gait_input)
        w = min(1.0, sim.time_s / ramp_s) if ramp_s > 0 else 1.0
        if w < 1.0:
            targets = w * targets + (1.0 - w) * stand
        sim.step(targets)
        phase = (phase + dphase) % 1.0
        loop_s += time.perf_counter() - t0
        heights.append(sim.body_height_m)
        if i >= steps - round(1.0 / specs.CONTROL_DT_S):
            rear.append(float(np.mean(sim.data.xpos[hind_ids, 2])))
        if on_step is not None:
            on_step(sim, gait_input, targets)
        if recorder is not None:
            recorder.capture()
        if sim.fallen(allow_body_contact=sitting):
            fell = True
            if stop_on_fall:
                break
    if recorder is not None:
        recorder.close()
    forward, lateral = sim.start_frame_displacement_m()
    return GaitRunResult(
        gait=gait.name,
        seconds=round(sim.time_s, 6),
        quality=quality,
        seed=seed,
        distance_m=forward,
        lateral_m=lateral,
        yaw_rad=sim.yaw_change_rad(),
        fell=fell,
        mean_height_m=float(np.mean(heights)),
        mean_forward_velocity_mps=forward / max(sim.time_s, 1e-9),
        realtime_factor=sim.time_s / max(loop_s, 1e-9),
        rear_height_m=float(np.mean(rear)) if rear else math.nan,
    )
