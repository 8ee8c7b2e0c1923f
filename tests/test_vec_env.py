"""ThreadVecEnv: DummyVecEnv's episodes exactly, seeded runs repeat, errors name the env."""

from __future__ import annotations

import threading

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv

from pidog_gaits.envs.config import EnvConfig
from pidog_gaits.envs.pidog_env import PiDogEnv
from pidog_gaits.envs.thread_vec import EnvWorkerError, ThreadVecEnv, split_indices
from pidog_gaits.envs.vec import MEASURED_KINDS, VEC_KINDS, env_factory, make_vec_env, pick_vec_env

TIMEOUT_S = 60.0
"""Longest any call here may take; a hang fails the test instead of stalling the suite."""


def small_config(**changes) -> EnvConfig:
    """Fast physics, a tiny depth image and 20-step episodes: auto-resets happen early."""
    base = dict(quality="fast", vision="depth", image_width_px=12, image_height_px=8)
    return EnvConfig(**(base | {"episode_steps": 20} | changes))


def within_timeout(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` in a thread; fails if it has not returned after ``TIMEOUT_S``."""
    out: dict = {}

    def run():
        try:
            out["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(TIMEOUT_S)
    assert not t.is_alive(), f"{fn.__name__} hung for {TIMEOUT_S} s"
    if "error" in out:
        raise out["error"]
    return out["value"]


def rollout(kind: str, n_envs: int = 5, steps: int = 45, seed: int = 7) -> list:
    """Every observation, reward, done and info of ``steps`` random-action steps."""
    if kind == "main_steps":  # the caller steps the first slice itself
        venv = ThreadVecEnv([env_factory(small_config()) for _ in range(n_envs)], 2, True)
        venv.seed(seed)
    else:
        venv = make_vec_env(small_config(), n_envs, kind, seed=seed)
    rng = np.random.default_rng(0)
    record = [(venv.reset(), [dict(r) for r in venv.reset_infos])]
    for _ in range(steps):
        actions = rng.uniform(-1, 1, (n_envs, *venv.action_space.shape)).astype(np.float32)
        obs, rewards, dones, infos = venv.step(actions)
        record.append((obs, rewards, dones, infos, [dict(r) for r in venv.reset_infos]))
    venv.close()
    return record


def assert_same(a, b, path="") -> None:
    """Deep equality of nested dicts/lists/arrays, bit for bit for floats."""
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in set(a) - {"t"}:  # Monitor's episode wall time
            assert_same(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=path)
        assert a.dtype == b.dtype, path
    else:
        assert a == b, path


def test_kinds_and_slices():
    assert "threads" in VEC_KINDS
    assert split_indices(5, 2) == [[0, 1, 2], [3, 4]]
    assert split_indices(2, 2) == [[0], [1]]
    venv = within_timeout(make_vec_env, small_config(), 3, "threads", 0)
    assert isinstance(venv, ThreadVecEnv) and 1 <= venv.threads <= 3
    venv.close()
    venv.close()  # twice is fine


def test_threads_give_dummys_episodes_exactly():
    """Same seed: the same observations, rewards, dones, infos (terminal observations
    and episode metrics of the auto-resets included) and reset infos as ``dummy``."""
    dummy = rollout("dummy")
    threads = within_timeout(rollout, "threads")
    assert sum(int(d.sum()) for _, _, d, _, _ in dummy[1:]) >= 5  # auto-resets happened
    assert any("terminal_observation" in i for *_, infos, _ in dummy[1:] for i in infos)
    assert_same(dummy, threads)
    assert_same(dummy, within_timeout(rollout, "main_steps"))


def test_same_seed_same_run_and_other_seed_differs():
    first = within_timeout(rollout, "threads", 4, 25, 3)
    again = within_timeout(rollout, "threads", 4, 25, 3)
    assert_same(first, again)
    other = within_timeout(rollout, "threads", 4, 25, 4)
    assert not np.array_equal(first[-1][0]["imu"], other[-1][0]["imu"])


class Raises(gym.Wrapper):
    """Raises ``ValueError`` at the ``at``-th step."""

    def __init__(self, env: gym.Env, at: int) -> None:
        super().__init__(env)
        self.at, self.steps = at, 0

    def step(self, action):
        self.steps += 1
        if self.steps == self.at:
            raise ValueError("servo on fire")
        return self.env.step(action)


def test_a_raising_env_ends_the_step_with_its_index_and_error():
    cfg = small_config()
    fns = [env_factory(cfg) for _ in range(4)]
    fns[2] = lambda: Raises(PiDogEnv(cfg), at=3)
    venv = within_timeout(ThreadVecEnv, fns, 2)
    venv.seed(0)
    within_timeout(venv.reset)
    zero = np.zeros((4, *venv.action_space.shape), dtype=np.float32)
    for _ in range(2):
        within_timeout(venv.step, zero)
    with pytest.raises(
        EnvWorkerError, match=r"env 2 raised in step: ValueError: servo on fire"
    ) as info:
        within_timeout(venv.step, zero)
    assert info.value.env_index == 2 and isinstance(info.value.__cause__, ValueError)
    try:
        within_timeout(venv.step, zero)  # the other envs still answer: nothing hangs
    finally:
        within_timeout(venv.close)


def test_ppo_training_ends_with_the_workers_error():
    from stable_baselines3 import PPO

    cfg = small_config(vision="none")
    fns = [env_factory(cfg) for _ in range(3)]
    fns[1] = lambda: Raises(PiDogEnv(cfg), at=40)
    venv = within_timeout(ThreadVecEnv, fns)
    model = PPO("MultiInputPolicy", venv, n_steps=32, batch_size=32, n_epochs=1, seed=0)
    with pytest.raises(EnvWorkerError, match="env 1 raised in step: ValueError: servo on fire"):
        within_timeout(model.learn, 256)
    within_timeout(venv.close)


def test_a_failing_constructor_names_its_env():
    cfg = small_config()

    def broken():
        raise OSError("no camera")

    fns = [env_factory(cfg), broken, env_factory(cfg)]
    with pytest.raises(EnvWorkerError, match=r"env 1 raised in env construction") as info:
        within_timeout(ThreadVecEnv, fns, 2)
    assert isinstance(info.value.__cause__, OSError)


def test_env_method_runs_on_the_envs_own_thread():
    venv = within_timeout(make_vec_env, small_config(), 4, "threads", 0)
    within_timeout(venv.reset)
    names = within_timeout(venv.env_method, "get_wrapper_attr", "spec", indices=[3, 0])
    assert names == [None, None]
    where = venv._run(lambda i: threading.current_thread().name, "probe")
    assert where[0] == where[1] != where[3] == where[2]  # two slices, two threads
    assert threading.current_thread().name not in where
    assert venv.get_attr("render_mode") == [None] * 4
    venv.close()


def ppo_returns(
    kind: str, steps: int, seed: int = 0, normalize_rewards: bool = False
) -> tuple[list, np.ndarray]:
    """Episode (return, length) pairs and the final policy weights of a short PPO run
    (with stage 3's reward normalization when ``normalize_rewards``)."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecNormalize

    torch.set_num_threads(1)
    venv = make_vec_env(small_config(vision="none", episode_steps=40), 2, kind, seed=seed)
    if normalize_rewards:
        venv = VecNormalize(venv, norm_obs=False, norm_reward=True)
    model = PPO("MultiInputPolicy", venv, n_steps=64, batch_size=64, n_epochs=2, seed=seed)
    episodes: list = []
    model.learn(steps, callback=_EpisodeLog(episodes))
    venv.close()
    weights = torch.cat([p.detach().flatten() for p in model.policy.parameters()]).numpy()
    return episodes, weights


class _EpisodeLog:
    """SB3 callback as a plain callable: collects Monitor's episode (return, length)."""

    def __new__(cls, episodes: list):
        from stable_baselines3.common.callbacks import BaseCallback

        class Log(BaseCallback):
            def _on_step(self) -> bool:
                for info in self.locals["infos"]:
                    if "episode" in info:
                        episodes.append((info["episode"]["r"], info["episode"]["l"]))
                return True

        return Log()


def test_ppo_same_seed_same_returns_as_dummy_and_as_itself():
    """The learning loop sees the same data: identical returns and weights."""
    threads = within_timeout(ppo_returns, "threads", 512)
    again = within_timeout(ppo_returns, "threads", 512)
    dummy = within_timeout(ppo_returns, "dummy", 512)
    assert len(threads[0]) >= 10
    assert threads[0] == again[0] == dummy[0]
    np.testing.assert_array_equal(threads[1], again[1])
    np.testing.assert_array_equal(threads[1], dummy[1])


def test_ppo_with_normalized_rewards_trains_the_same_policy_in_every_kind():
    """``auto`` picks the kind by a timing, so a seed must train the same policy in each:
    SB3's SubprocVecEnv handed float64 rewards to the normalization (the others float32)
    and the policies parted in the last bits, then for good over a long run."""
    runs = {kind: within_timeout(ppo_returns, kind, 512, 0, True) for kind in ("dummy", "subproc")}
    assert len(runs["dummy"][0]) >= 10
    assert runs["dummy"][0] == runs["subproc"][0]
    np.testing.assert_array_equal(runs["dummy"][1], runs["subproc"][1])


def test_any_env_with_a_box_observation_matches_dummy():
    """Only ``reset``/``step`` are used: a plain Gymnasium env works as well."""
    fns = [lambda: gym.make("CartPole-v1") for _ in range(3)]
    runs = []
    for venv in (DummyVecEnv(fns), within_timeout(ThreadVecEnv, fns, 2)):
        venv.seed(5)
        record = [venv.reset()]
        for t in range(60):
            record.append(venv.step(np.array([t % 2, 1, 0])))
        venv.close()
        runs.append(record)
    assert_same(runs[0], runs[1])


def test_auto_measures_every_kind_and_keeps_the_fastest():
    kind, rates = within_timeout(pick_vec_env, small_config(vision="none"), 2, 0.3)
    assert set(rates) == set(MEASURED_KINDS) and all(r > 0 for r in rates.values())
    assert rates[kind] == max(rates.values())


def test_dummy_vec_env_is_still_what_dummy_builds():
    venv = make_vec_env(small_config(), 2, "dummy", seed=0)
    assert isinstance(venv, DummyVecEnv)
    venv.close()
