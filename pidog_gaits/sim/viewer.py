"""MuJoCo's interactive viewer on an expert gait (needs a display)."""

from __future__ import annotations

import time

import mujoco.viewer

from pidog_gaits.gaits.library import GaitPlayer, GaitSpec
from pidog_gaits.robot import specs
from pidog_gaits.sim.physics import PiDogSim
from pidog_gaits.sim.rollout import ramp_weight, stand_targets


def play_gait(gait: GaitSpec, quality: str = "medium") -> None:
    """Loop ``gait`` in real time until the viewer window closes."""
    sim = PiDogSim(quality)
    player = GaitPlayer(gait)
    stand = stand_targets()
    with mujoco.viewer.launch_passive(sim.model, sim.data) as viewer:
        while viewer.is_running():
            start = time.perf_counter()
            w = ramp_weight(sim.time_s)
            sim.step(w * player.targets() + (1 - w) * stand)
            player.advance()
            viewer.sync()
            time.sleep(max(0.0, specs.CONTROL_DT_S - (time.perf_counter() - start)))
