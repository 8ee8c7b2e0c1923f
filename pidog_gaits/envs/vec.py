"""Vectorized PiDog-v0 envs: N independent simulators, in one thread, in a few threads
(one per core) or in one process each.

``auto`` times a short burst of each kind on this machine and keeps the fastest.
``threads`` (``thread_vec.ThreadVecEnv``) overlaps MuJoCo's C work on free cores;
``DummyVecEnv`` keeps one core busy, and ``SubprocVecEnv`` pays a process round trip per
step that costs more than the ~1 ms step. On a machine whose cores other jobs already
fill, a thread waiting for the GIL also waits for the OS to run the thread holding it,
and the winner changed from run to run (``benchmarks/rl_speed.py``, 4 depth envs at load
7-9 on 2 cores: threads 462 vs dummy 286 env steps/s, then 550 vs 738): hence the
measurement rather than a fixed choice. All three give the same episodes and the same
float32 rewards for the same seed, so the choice changes speed only, and a seed trains
the same policy on an idle machine as on a busy one.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable

import numpy as np
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from pidog_gaits.envs.config import EnvConfig
from pidog_gaits.envs.pidog_env import PiDogEnv
from pidog_gaits.envs.thread_vec import ThreadVecEnv

VEC_KINDS = ("auto", "dummy", "subproc", "threads")
"""``--vec-env`` choices; ``auto`` measures the others (``pick_vec_env``)."""
MEASURED_KINDS = VEC_KINDS[1:]


def die_with_parent() -> None:
    """In a worker process: be killed when the parent dies, even by SIGKILL (Linux).

    Forked workers hold each other's pipe ends, so none sees EOF when the trainer is
    killed; without this they wait forever (the kill-and-resume test left two behind).
    """
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def env_factory(config: EnvConfig, monitor: bool = True) -> Callable[[], PiDogEnv | Monitor]:
    """A picklable-enough thunk building one env (each call: a new simulator)."""

    def make():
        env = PiDogEnv(config)
        return Monitor(env) if monitor else env

    return make


class _SubprocVecEnv(SubprocVecEnv):
    """SB3's ``SubprocVecEnv`` with its rewards as float32, as ``DummyVecEnv`` and
    ``ThreadVecEnv`` store them. SB3's stacks the workers' Python floats into float64,
    and the reward normalization then differed in the last bits: the same seed trained a
    different policy whenever ``auto`` picked subproc (seed 2, the stage-3 defaults:
    0.27 m sideways per m with subproc, 0.05 with threads; the runs agreed step for step
    until the actor's first updates)."""

    def step_wait(self):
        obs, rewards, dones, infos = super().step_wait()
        return obs, np.asarray(rewards, dtype=np.float32), dones, infos


def _in_worker(fn: Callable[[], PiDogEnv | Monitor]) -> Callable[[], PiDogEnv | Monitor]:
    def make():
        die_with_parent()
        return fn()

    return make


def make_vec_env(config: EnvConfig, n_envs: int, kind: str = "dummy", seed: int = 0) -> VecEnv:
    """``n_envs`` PiDog-v0 envs (env i seeded ``seed + i`` at its first reset)."""
    if n_envs < 1:
        raise ValueError("need at least one env")
    fns = [env_factory(config) for _ in range(n_envs)]
    if kind == "dummy":
        venv: VecEnv = DummyVecEnv(fns)
    elif kind == "subproc":
        venv = _SubprocVecEnv([_in_worker(fn) for fn in fns], start_method="fork")
    elif kind == "threads":
        venv = ThreadVecEnv(fns)
    else:
        raise ValueError(f"unknown vec env kind {kind!r}; choose {', '.join(MEASURED_KINDS)}")
    venv.seed(seed)
    return venv


def vec_steps_per_s(venv: VecEnv, seconds: float = 1.0) -> float:
    """Env steps per second of ``venv`` under zero actions (after one warm-up step)."""
    venv.reset()
    actions = np.zeros((venv.num_envs, *venv.action_space.shape), dtype=np.float32)
    venv.step(actions)
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        venv.step(actions)
        steps += venv.num_envs
    return steps / (time.perf_counter() - t0)


def pick_vec_env(
    config: EnvConfig, n_envs: int, seconds: float = 1.0, rounds: int = 3
) -> tuple[str, dict]:
    """The fastest kind on this machine, and the measured env steps/s of each.

    Each kind gets ``seconds`` in all, in ``rounds`` turns taken with the others (best
    turn kept), so a neighbour's burst of load does not decide the choice alone.
    """
    if n_envs == 1:
        return "dummy", {}
    rates: dict[str, float] = {}
    venvs: dict[str, VecEnv] = {}
    try:
        for kind in MEASURED_KINDS:
            venvs[kind] = make_vec_env(config, n_envs, kind)
        for _ in range(rounds):
            for kind, venv in venvs.items():
                rates[kind] = max(rates.get(kind, 0.0), vec_steps_per_s(venv, seconds / rounds))
    finally:
        for venv in venvs.values():
            venv.close()
    return max(rates, key=rates.get), rates
