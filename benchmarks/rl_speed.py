"""Stage 3 speed: PiDog-v0 env steps/s per vision mode, per vec env kind, and PPO steps/s.

Env (``env``): one env on medium physics under zero actions (the prior alone), for vision
none, depth and rgb at the training camera size (and depth/rgb at the sensor's 64x48).
Vec (``vec``): ``--envs`` envs stepped by each vec env kind (``dummy``, ``subproc``,
``threads``) under zero actions (the prior's trot), vision none, depth and colour 32x24, beside
the bare limit measured in the same run: the same trot's ``mj_step`` calls replayed with
nothing but ``mj_step`` (as ``sim_speed.py`` does), in one thread and in one thread per
core, each on its own ``MjData``. ``vec_share_*`` is a kind's env steps/s over that
all-core bare control-step rate. Kinds and the bare loops are
interleaved, best of ``--repeats``, so a neighbour's load hits them alike.
PPO (``ppo``): ``PPO.learn`` with the stage 3 defaults (4 envs, n_steps 256, batch 256,
5 epochs, the PiDog CNN), timed after a one-rollout warm-up, for each vectorized env type,
for twice the envs, and for ``null`` envs that cost nothing (the learner's own ceiling);
the cases take turns (``ppo_rates``);
the figure is environment steps per wall second including the gradient updates, i.e.
what ``--timesteps 200000`` costs. Best of ``--repeats`` (the machine is shared).

    python benchmarks/rl_speed.py [--sections env,vec,ppo,determinism] [--repeats 2] \
        [--ppo-rollouts 2] [--ppo-only CASE,...] [--envs 4] [--json PATH|-]
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym  # noqa: E402
import mujoco  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import typer  # noqa: E402

from pidog_gaits.envs.config import EnvConfig  # noqa: E402
from pidog_gaits.envs.pidog_env import PiDogEnv  # noqa: E402
from pidog_gaits.envs.vec import MEASURED_KINDS, make_vec_env, vec_steps_per_s  # noqa: E402
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


@dataclass
class BareReplay:
    """One env's zero-action episode as ``mj_step`` calls: the model, the start state and
    each call's ``(ctrl, nstep)``, to replay with nothing but MuJoCo."""

    model: mujoco.MjModel
    qpos: np.ndarray
    qvel: np.ndarray
    act: np.ndarray
    chunks: list[tuple[np.ndarray, int]]
    control_steps: int


def record_replay(config: EnvConfig, steps: int = 250) -> BareReplay:
    """Step a seeded env ``steps`` times under zero actions (the prior's trot, as the vec
    env figures step it), recording every ``mj_step`` call."""
    env = PiDogEnv(config)
    env.reset(seed=0)
    d = env.sim.data
    start = (d.qpos.copy(), d.qvel.copy(), d.act.copy())
    chunks: list[tuple[np.ndarray, int]] = []
    real_step = mujoco.mj_step

    def recording_step(m, data, nstep=1):
        chunks.append((data.ctrl.copy(), nstep))
        real_step(m, data, nstep=nstep)

    zero = np.zeros(env.action_space.shape, dtype=np.float32)
    done, taken = False, 0
    mujoco.mj_step = recording_step
    try:
        while taken < steps and not done:
            _, _, terminated, truncated, _ = env.step(zero)
            done, taken = terminated or truncated, taken + 1
    finally:
        mujoco.mj_step = real_step
    return BareReplay(env.sim.model, *start, chunks, taken)


def bare_control_steps_per_s(replay: BareReplay, threads: int, seconds: float) -> float:
    """Control steps/s of ``mj_step`` alone replaying ``replay`` over and over, summed over
    ``threads`` threads each on its own ``MjData``: the ceiling for any vec env on the
    same motion. ``mj_step`` releases the GIL, so the threads use separate cores."""
    counts = [0] * threads
    stop = threading.Event()
    per_chunk = replay.control_steps / len(replay.chunks)

    def loop(k: int) -> None:
        m = replay.model  # read-only while stepping: one model serves every thread
        d = mujoco.MjData(m)
        step, done = mujoco.mj_step, stop.is_set
        while not done():
            d.qpos[:], d.qvel[:], d.act[:] = replay.qpos, replay.qvel, replay.act
            mujoco.mj_forward(m, d)
            for ctrl, nstep in replay.chunks:
                d.ctrl[:] = ctrl
                step(m, d, nstep=nstep)
                counts[k] += 1
                if done():
                    break

    workers = [threading.Thread(target=loop, args=(k,)) for k in range(threads)]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    time.sleep(seconds)
    stop.set()
    for w in workers:
        w.join()
    return sum(counts) * per_chunk / (time.perf_counter() - t0)


def vec_rates(config: EnvConfig, envs: int, seconds: float, repeats: int) -> dict[str, float]:
    """Env steps/s of each vec env kind and the bare ``mj_step`` rates, interleaved."""
    cores = os.cpu_count() or 1
    replay = record_replay(config)
    venvs = {kind: make_vec_env(config, envs, kind) for kind in MEASURED_KINDS}
    best: dict[str, float] = {}
    try:
        for _ in range(repeats):
            rows = {
                "bare_1thread": bare_control_steps_per_s(replay, 1, seconds),
                f"bare_{cores}threads": bare_control_steps_per_s(replay, cores, seconds),
            }
            rows |= {kind: vec_steps_per_s(v, seconds) for kind, v in venvs.items()}
            best = {k: max(v, best.get(k, 0.0)) for k, v in rows.items()}
    finally:
        for v in venvs.values():
            v.close()
    ceiling = best[f"bare_{cores}threads"]
    return best | {f"share_{kind}": best[kind] / ceiling for kind in MEASURED_KINDS}


class NullEnv(gym.Env):
    """PiDog-v0's spaces and one real first observation, at no cost per step: PPO on these
    measures the learner's own cost (policy forward, rollout buffer, updates)."""

    def __init__(self, config: EnvConfig) -> None:
        env = PiDogEnv(config)
        self.observation_space, self.action_space = env.observation_space, env.action_space
        self._obs, _ = env.reset(seed=0)
        env.close()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        return self._obs, {}

    def step(self, action):
        return self._obs, 0.0, False, False, {}


def make_ppo(config: EnvConfig, vec_kind: str, envs: int = 4, seed: int = 0):
    """Stage 3's PPO as ``train_rl_vision`` builds it (``RLConfig`` defaults, the
    asymmetric actor-critic) on ``envs`` seeded envs (``vec_kind`` ``null``: ``NullEnv``s
    in a ``DummyVecEnv``)."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from pidog_gaits.envs.asymmetric import PiDogActorCriticPolicy
    from pidog_gaits.train_rl_vision import RLConfig

    d = RLConfig()
    if vec_kind == "null":
        inner = DummyVecEnv([lambda: NullEnv(config) for _ in range(envs)])
    else:
        inner = make_vec_env(config, envs, vec_kind, seed=seed)
    venv = VecNormalize(inner, norm_obs=False, gamma=d.gamma)
    return PPO(
        PiDogActorCriticPolicy, venv, n_steps=d.n_steps, batch_size=d.batch_size,
        n_epochs=d.n_epochs, learning_rate=d.learning_rate, gamma=d.gamma,
        gae_lambda=d.gae_lambda, clip_range=d.clip_range, ent_coef=d.ent_coef, device="cpu",
        verbose=0, seed=seed,
        policy_kwargs={"net_arch": {"pi": list(d.net_arch), "vf": list(d.net_arch)},
                       "log_std_init": d.log_std_init, "critic": d.critic},
    )  # fmt: skip


def ppo_rates(
    cases: dict[str, tuple[EnvConfig, str, int, int]], rollouts: int, repeats: int
) -> dict[str, float]:
    """PPO steps/s per case ``name: (config, vec kind, envs, update threads)``, interleaved.

    Every case is built and warmed up (one rollout and update: allocations, first
    resets) first; then each repeat trains ``rollouts`` rollouts+updates of every case in
    turn, and the best rate is kept. A neighbour's load thus hits every case alike,
    instead of whichever happened to run while it was busy. ``update threads`` > 0
    switches torch threads for the updates (``UpdateThreads``).
    """
    from pidog_gaits.envs.training_log import UpdateThreads

    threads = torch.get_num_threads()
    models = {}
    try:
        for name, (config, kind, envs, update_threads) in cases.items():
            model = make_ppo(config, kind, envs)
            callback = UpdateThreads(threads, update_threads or threads)
            model.learn(model.n_steps * envs, callback=callback)
            models[name] = (model, callback)
        best: dict[str, float] = {}
        for _ in range(repeats):
            for name, (model, callback) in models.items():
                before, t0 = model.num_timesteps, time.perf_counter()
                steps = model.n_steps * model.n_envs * rollouts
                model.learn(steps, reset_num_timesteps=False, callback=callback)
                rate = (model.num_timesteps - before) / (time.perf_counter() - t0)
                torch.set_num_threads(threads)
                best[name] = max(rate, best.get(name, 0.0))
    finally:
        torch.set_num_threads(threads)
        for model, _ in models.values():
            model.get_env().close()
    return best


def ppo_episodes(config: EnvConfig, vec_kind: str, steps: int, envs: int, seed: int) -> dict:
    """Every episode's (return, length) of a seeded PPO run, its final weights' hash, steps/s.

    Two runs with the same seed must agree on all of them: each env owns its simulator
    and generator, so which thread stepped it when cannot change a number.
    """
    import hashlib

    from stable_baselines3.common.callbacks import BaseCallback

    episodes: list[tuple[float, int]] = []

    class Episodes(BaseCallback):
        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    episodes.append((float(info["episode"]["r"]), int(info["episode"]["l"])))
            return True

    model = make_ppo(config, vec_kind, envs, seed)
    t0 = time.perf_counter()
    model.learn(steps, callback=Episodes())
    rate = model.num_timesteps / (time.perf_counter() - t0)
    model.get_env().close()
    weights = torch.cat([p.detach().flatten() for p in model.policy.parameters()])
    digest = hashlib.sha256(weights.numpy().tobytes()).hexdigest()[:16]
    return {"episodes": episodes, "weights_sha256": digest, "steps_per_s": rate}


def main(
    sections: str = typer.Option(
        "env,vec,ppo", help="Comma-separated: env, vec, ppo, determinism (two seeded runs)."
    ),
    env_steps: int = typer.Option(2000, help="Steps per env measurement."),
    vec_seconds: float = typer.Option(1.0, help="Seconds per vec env / bare measurement."),
    ppo_rollouts: int = typer.Option(2, help="Rollouts+updates per PPO measurement."),
    ppo_only: str = typer.Option(
        "", help="Comma-separated PPO cases to run (e.g. depth_32x24_threads); all if empty."
    ),
    determinism_steps: int = typer.Option(20_000, help="PPO steps of each determinism run."),
    determinism_vision: str = typer.Option("depth_32x24", help="Env case of those runs."),
    envs: int = typer.Option(4, help="Envs per vec env and PPO run."),
    repeats: int = typer.Option(2, help="Repeats; the best is kept."),
    threads: int = typer.Option(1, help="Torch threads (the training default)."),
    json_out: str = typer.Option(DEFAULT_JSON, "--json", help="JSON path, or - for stdout."),
) -> None:
    """Print env, vec env and PPO training steps/s; write them as JSON."""
    wanted = {s.strip() for s in sections.split(",") if s.strip()}
    known = {"env", "vec", "ppo", "determinism"}
    if not wanted <= known:
        raise typer.BadParameter(f"unknown sections {sorted(wanted - known)}")
    torch.set_num_threads(threads)
    torch.distributions.Distribution.set_default_validate_args(False)
    from pidog_gaits.train_rl_vision import RLConfig

    base = RLConfig(quality="medium").env_config()  # what stage 3 trains on
    env_cases = {
        "none": base.replace(vision="none"),
        "depth_32x24_fast": base.replace(
            vision="depth", image_width_px=32, image_height_px=24, quality="fast"
        ),
        "depth_32x24": base.replace(vision="depth", image_width_px=32, image_height_px=24),
        "rgb_32x24": base.replace(vision="rgb", image_width_px=32, image_height_px=24),
        "depth_64x48": base.replace(vision="depth"),
        "rgb_64x48": base.replace(vision="rgb"),
    }
    figures: dict = {
        "cpu_count": os.cpu_count(),
        "load_average_1min_start": os.getloadavg()[0],
        "torch_threads": threads,
        "physics": "medium",
        "envs": envs,
    }
    if "env" in wanted:
        for name, cfg in env_cases.items():
            steps = env_steps if not name.startswith("rgb") else env_steps // 4
            rate = max(env_steps_per_s(cfg, steps) for _ in range(repeats))
            figures[f"env_steps_per_s_{name}"] = rate
    if "vec" in wanted:
        for name in ("none", "depth_32x24", "rgb_32x24"):
            for key, value in vec_rates(env_cases[name], envs, vec_seconds, repeats).items():
                prefix = "vec" if key.startswith("share_") else "vec_steps_per_s"
                if key.startswith("bare_"):
                    prefix = "bare_control_steps_per_s"
                    key = key.removeprefix("bare_")
                figures[f"{prefix}_{name}_{key}"] = value
    if "ppo" in wanted:
        both = os.cpu_count() or 1
        depth = env_cases["depth_32x24"]
        ppo_cases = {
            f"{vision}_{kind}": (env_cases[vision], kind, envs, 0)
            for vision in ("depth_32x24", "rgb_32x24", "none")
            for kind in (*MEASURED_KINDS, "null")
        }
        ppo_cases |= {
            f"{vision}_{kind}_{2 * envs}envs": (env_cases[vision], kind, 2 * envs, 0)
            for vision in ("depth_32x24", "rgb_32x24")
            for kind in ("dummy", "threads", "null")
        }
        ppo_cases[f"depth_32x24_threads_update_threads_{both}"] = (depth, "threads", envs, both)
        ppo_cases["depth_64x48_threads"] = (env_cases["depth_64x48"], "threads", envs, 0)
        if ppo_only:
            keep = {c.strip() for c in ppo_only.split(",")}
            ppo_cases = {k: v for k, v in ppo_cases.items() if k in keep}
        for name, rate in ppo_rates(ppo_cases, ppo_rollouts, repeats).items():
            figures[f"ppo_steps_per_s_{name}"] = rate
        rates = [figures.get(f"ppo_steps_per_s_depth_32x24_{k}", 0) for k in MEASURED_KINDS]
        if max(rates):
            figures["ppo_200k_minutes_depth_32x24_fastest"] = 200_000 / max(rates) / 60
    if "determinism" in wanted:  # the bar: same seed, same returns, with the threads
        cfg = env_cases[determinism_vision]
        runs = [ppo_episodes(cfg, "threads", determinism_steps, envs, 0) for _ in range(2)]
        returns = [[r for r, _ in run["episodes"]] for run in runs]
        figures |= {
            "determinism_case": f"{determinism_vision} threads, {determinism_steps} steps",
            "determinism_episodes": len(returns[0]),
            "determinism_mean_return": float(np.mean(returns[0])) if returns[0] else 0.0,
            "determinism_identical_returns": runs[0]["episodes"] == runs[1]["episodes"],
            "determinism_identical_weights": runs[0]["weights_sha256"] == runs[1]["weights_sha256"],
            "determinism_steps_per_s": [run["steps_per_s"] for run in runs],
        }
    figures["load_average_1min_end"] = os.getloadavg()[0]
    emit(figures, json_out if json_out == "-" else None, title="stage 3 speed (steps/s)")
    if json_out != "-":
        from pidog_gaits.results import write_json_atomic

        write_json_atomic(json_out, figures)
        print(f"wrote {json_out}")


if __name__ == "__main__":
    typer.run(main)
