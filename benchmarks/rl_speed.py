"""Stage 3 speed: PiDog-v0 env steps/s per vision mode, and PPO training steps/s.

Env: one env on medium physics under zero actions (the prior alone), for vision none,
depth and rgb at the training camera size (and depth/rgb at the sensor's 64x48).
PPO: ``PPO.learn`` with the stage 3 defaults (4 envs, n_steps 256, batch 256, 5 epochs,
the PiDog CNN), timed after a one-rollout warm-up, for each vectorized env type; the
figure is environment steps per wall second including the gradient updates, i.e. what
``--timesteps 200000`` costs. Best of ``--repeats`` (the machine is shared).

    python benchmarks/rl_speed.py [--ppo-steps 8192] [--repeats 2] [--json PATH|-]
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import typer  # noqa: E402

from pidog_gaits.envs.config import EnvConfig  # noqa: E402
from pidog_gaits.envs.pidog_env import PiDogEnv  # noqa: E402
from pidog_gaits.results import emit  # noqa: E402

DEFAULT_JSON = os.path.join(os.path.dirname(__file__), "results", "rl_speed.json")


def env_steps_per_s(config: EnvConfig, steps: int) -> float:
    env = PiDogEnv(config)
    env.reset(seed=0)
    zero = np.zeros(env.action_space.shape, dtype=np.float32)
    t0 = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(zero)
        if terminated or truncated:
            env.reset()
    rate = steps / (time.perf_counter() - t0)
    env.close()
    return rate


def ppo_steps_per_s(
    config: EnvConfig, vec_kind: str, steps: int, envs: int = 4, update_threads: int = 0
) -> float:
    """PPO steps/s; ``update_threads`` > 0 switches torch threads for the updates."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecNormalize

    from pidog_gaits.envs.features import PiDogFeatures
    from pidog_gaits.envs.training_log import UpdateThreads
    from pidog_gaits.envs.vec import make_vec_env
    from pidog_gaits.train_rl_vision import RLConfig

    d = RLConfig()
    venv = VecNormalize(make_vec_env(config, envs, vec_kind), norm_obs=False)
    model = PPO(
        "MultiInputPolicy", venv, n_steps=d.n_steps, batch_size=d.batch_size,
        n_epochs=d.n_epochs, learning_rate=d.learning_rate, device="cpu", verbose=0,
        policy_kwargs={"features_extractor_class": PiDogFeatures,
                       "net_arch": {"pi": d.net_arch, "vf": d.net_arch},
                       "log_std_init": d.log_std_init},
    )  # fmt: skip
    threads = torch.get_num_threads()
    callback = UpdateThreads(threads, update_threads or threads)
    rollout = d.n_steps * envs
    model.learn(rollout, callback=callback)  # warm-up: allocations, first episode resets
    t0 = time.perf_counter()
    model.learn(max(steps, rollout), reset_num_timesteps=False, callback=callback)
    rate = (model.num_timesteps - rollout) / (time.perf_counter() - t0)
    torch.set_num_threads(threads)
    venv.close()
    return rate


def main(
    env_steps: int = typer.Option(2000, help="Steps per env measurement."),
    ppo_steps: int = typer.Option(8192, help="PPO steps per training measurement."),
    repeats: int = typer.Option(2, help="Repeats; the best is kept."),
    threads: int = typer.Option(1, help="Torch threads (the training default)."),
    json_out: str = typer.Option(DEFAULT_JSON, "--json", help="JSON path, or - for stdout."),
) -> None:
    """Print env and PPO training steps/s; write them as JSON."""
    torch.set_num_threads(threads)
    torch.distributions.Distribution.set_default_validate_args(False)
    base = EnvConfig(quality="medium")
    env_cases = {
        "none": base.replace(vision="none"),
        "depth_32x24": base.replace(vision="depth", image_width_px=32, image_height_px=24),
        "rgb_32x24": base.replace(vision="rgb", image_width_px=32, image_height_px=24),
        "depth_64x48": base.replace(vision="depth"),
        "rgb_64x48": base.replace(vision="rgb"),
    }
    env_rows = {}
    for name, cfg in env_cases.items():
        steps = env_steps if not name.startswith("rgb") else env_steps // 4
        env_rows[name] = max(env_steps_per_s(cfg, steps) for _ in range(repeats))
    ppo_cases = {
        "depth_32x24_dummy": (env_cases["depth_32x24"], "dummy"),
        "depth_32x24_subproc": (env_cases["depth_32x24"], "subproc"),
        "none_dummy": (env_cases["none"], "dummy"),
        "depth_64x48_dummy": (env_cases["depth_64x48"], "dummy"),
        "rgb_32x24_dummy": (env_cases["rgb_32x24"], "dummy"),
    }
    ppo_rows = {}
    for name, (cfg, kind) in ppo_cases.items():
        steps = ppo_steps if not name.startswith("rgb") else ppo_steps // 4
        ppo_rows[name] = max(ppo_steps_per_s(cfg, kind, steps) for _ in range(repeats))
    both = os.cpu_count() or 1
    if both > threads:  # the updates on every core, the rollouts on one
        ppo_rows[f"depth_32x24_dummy_update_threads_{both}"] = max(
            ppo_steps_per_s(env_cases["depth_32x24"], "dummy", ppo_steps, update_threads=both)
            for _ in range(repeats)
        )
    default = ppo_rows["depth_32x24_dummy"]
    figures = {
        "cpu_count": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "torch_threads": threads,
        "physics": "medium",
        **{f"env_steps_per_s_{k}": v for k, v in env_rows.items()},
        **{f"ppo_steps_per_s_{k}": v for k, v in ppo_rows.items()},
        "ppo_200k_minutes_default": 200_000 / default / 60,
    }
    emit(figures, json_out if json_out == "-" else None, title="stage 3 speed (steps/s)")
    if json_out != "-":
        from pidog_gaits.results import write_json_atomic

        write_json_atomic(json_out, figures)
        print(f"wrote {json_out}")


if __name__ == "__main__":
    typer.run(main)
