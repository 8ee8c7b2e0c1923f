"""Stage 3's Gymnasium environment: ``gymnasium.make("PiDog-v0", vision="depth", ...)``.

Importing this package registers ``PiDog-v0``; keyword arguments of ``make`` are
``EnvConfig`` fields (or ``config=EnvConfig(...)``).
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering; before mujoco is imported

from gymnasium.envs.registration import register, registry  # noqa: E402

ENV_ID = "PiDog-v0"

if ENV_ID not in registry:
    register(
        id=ENV_ID,
        entry_point="pidog_gaits.envs.pidog_env:PiDogEnv",
        max_episode_steps=None,  # the env truncates itself at EnvConfig.episode_steps
    )
