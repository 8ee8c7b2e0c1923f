"""Test inputs for comparing two engines of one model (PyTorch vs onnxruntime).

A closed-loop-like sequence: every named gait in turn with its phase advancing at the
control rate and the ramp from the stand, plus sensor readings drawn around the standing
robot's (so a PPO policy sees every observation part move).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from pidog_gaits.backends import Reading
from pidog_gaits.gaits.library import GAITS
from pidog_gaits.robot import specs
from pidog_gaits.runtime.base import GaitSchedule, StepContext, stand_targets


def random_reading(
    rng: np.random.Generator,
    image: str | None,
    size_px: tuple[int, int] = (specs.CAMERA_WIDTH_PX, specs.CAMERA_HEIGHT_PX),
) -> Reading:
    stand = stand_targets()
    imu = np.concatenate(
        [
            [0.0, 0.0, 9.81] + rng.normal(0, 2.0, 3),
            rng.normal(0, 1.0, 3),
            rng.normal(0, 0.1, 2),
        ]
    )
    img = None
    w, h = size_px
    if image == "depth":
        img = rng.integers(0, 256, (specs.DEPTH_CHANNELS, h, w), np.uint8)
    elif image == "rgb":
        img = rng.integers(0, 256, (3, h, w), np.uint8)
    return Reading(
        imu=imu,
        sonar_m=float(rng.uniform(0.02, 4.0)),
        joint_pos_rad=stand + rng.normal(0, 0.2, specs.NUM_JOINTS),
        joint_vel_radps=rng.normal(0, 2.0, specs.NUM_JOINTS),
        image=img,
    )


def random_contexts(
    steps: int,
    seed: int = 0,
    image: str | None = None,
    size_px: tuple[int, int] = (specs.CAMERA_WIDTH_PX, specs.CAMERA_HEIGHT_PX),
) -> Iterator[StepContext]:
    """``steps`` contexts cycling through every gait (``steps // 7`` each, at least 1);
    ``image``/``size_px``: the camera image a policy reads (``None``: no image)."""
    rng = np.random.default_rng(seed)
    gaits = list(GAITS.values())
    per_gait = max(1, steps // len(gaits))
    last = stand_targets()
    schedule = GaitSchedule(gaits[0], specs.CONTROL_DT_S, last)
    for i in range(steps):
        gait = gaits[(i // per_gait) % len(gaits)]
        if gait != schedule.gait:
            schedule.switch(gait, last)
        ctx = schedule.context(last, random_reading(rng, image, size_px))
        yield ctx
        last = stand_targets() + rng.normal(0, 0.1, specs.NUM_JOINTS)
        schedule.advance()
