"""CPU time of one PiDog-v0 step, split into MuJoCo's C calls and the Python around them.

Why: in ``ThreadVecEnv`` the C calls (``mj_step``, ``mj_multiRay``) run beside each other
on the cores, the Python holds the GIL and runs one thread at a time; so the Python
microseconds per step bound the env steps/s of any number of threads (1e6 / Python us).
``time.thread_time`` counts this thread's CPU only, so the figures hold on a shared,
loaded machine better than wall-clock rates do. Also prints a hash of every observation,
reward and info of the run: a speed-up that changes any number changes the hash.

    python benchmarks/env_step_cpu.py [--vision depth] [--steps 1000] [--json PATH|-]
"""

from __future__ import annotations

import hashlib
import os
import time

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
import typer  # noqa: E402

from pidog_gaits.envs.config import EnvConfig  # noqa: E402
from pidog_gaits.envs.pidog_env import PiDogEnv  # noqa: E402
from pidog_gaits.results import emit  # noqa: E402

C_CALLS = ("mj_step", "mj_multiRay")
"""The GIL-releasing calls of a step, timed apart from the rest."""


def main(
    vision: str = typer.Option("depth", help="none, depth or rgb."),
    width: int = typer.Option(32, help="Camera width (px), the training default."),
    height: int = typer.Option(24, help="Camera height (px)."),
    steps: int = typer.Option(1000, help="Steps per repeat (random actions, auto-reset)."),
    repeats: int = typer.Option(3, help="Repeats; the least CPU time is kept."),
    json_out: str | None = typer.Option(None, "--json", help="JSON path, or - for stdout."),
) -> None:
    """Print C and Python CPU microseconds per step and the trajectory hash."""
    in_c = [0.0]
    clock = time.thread_time
    originals = {name: getattr(mujoco, name) for name in C_CALLS}

    def timed(fn):
        def call(*args, **kwargs):
            t0 = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                in_c[0] += clock() - t0

        return call

    for name, fn in originals.items():
        setattr(mujoco, name, timed(fn))
    try:
        cfg = EnvConfig(
            quality="medium", vision=vision, image_width_px=width, image_height_px=height
        )
        env = PiDogEnv(cfg)
        actions = np.random.default_rng(0).uniform(-1, 1, (steps, *env.action_space.shape))
        actions = actions.astype(np.float32)
        digest, best = hashlib.sha256(), (float("inf"), 0.0)
        for rep in range(repeats):
            env.reset(seed=0)
            in_c[0], t0 = 0.0, clock()
            for a in actions:
                obs, reward, terminated, truncated, info = env.step(a)
                if rep == 0:
                    for key in sorted(obs):
                        digest.update(obs[key].tobytes())
                    digest.update(np.float64(reward).tobytes())
                    digest.update(repr(sorted(info.items())).encode())
                if terminated or truncated:
                    env.reset()
            best = min(best, (clock() - t0, in_c[0]))
        env.close()
    finally:
        for name, fn in originals.items():
            setattr(mujoco, name, fn)
    total_us, c_us = (x / steps * 1e6 for x in best)
    figures = {
        "vision": f"{vision}_{width}x{height}",
        "load_average_1min": os.getloadavg()[0],
        "cpu_us_per_step": total_us,
        "c_us_per_step": c_us,
        "python_us_per_step": total_us - c_us,
        "gil_bound_env_steps_per_s": 1e6 / (total_us - c_us),
        "trajectory_sha256": digest.hexdigest()[:16],
    }
    emit(figures, json_out, title="env step CPU time (us)")


if __name__ == "__main__":
    typer.run(main)
