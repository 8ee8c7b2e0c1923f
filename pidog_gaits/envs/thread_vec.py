"""``ThreadVecEnv``: N envs stepped by a few threads of this process, one per core.

Why threads: MuJoCo's ``mj_step`` and ``mj_multiRay`` release the GIL, and they are most
of a PiDog-v0 step, so two threads stepping two simulators overlap the C work on two
cores. ``DummyVecEnv`` keeps one core busy, and ``SubprocVecEnv`` pays a pickle and a
pipe round trip per step that costs more than the step itself (``vec.py``).

Design:

- Persistent workers, one per core by default (``threads``), each owning a fixed,
  contiguous slice of the envs. Each env is built, reset, stepped and closed by its own
  worker only (with ``main_steps``, slice 0 by the calling thread), so thread-bound
  state (an OpenGL context for the colour camera) stays on one thread. A step costs one
  ``SimpleQueue`` put per worker and one reply per worker (~30 us per step of 4 envs
  more than ``DummyVecEnv``, measured with cost-free envs).
- No copy of the world per step: workers write straight into the shared observation,
  reward and done buffers, each at its own indices.
- Semantics are ``DummyVecEnv``'s: ``seed()``/``reset()`` seed env i with ``seed + i``
  at its next reset; a finished episode leaves ``terminal_observation`` and
  ``TimeLimit.truncated`` in its info and is reset at once, its reset info in
  ``reset_infos``. Each env owns its simulator and random generator, so results do not
  depend on which thread ran when: the same seed gives ``dummy``'s episodes exactly.
  Infos are not deep-copied as ``DummyVecEnv`` does: envs return a fresh dict per step.
- A worker that raises sends the error back; the step raises ``EnvWorkerError`` naming
  the env's index, chained to the original exception. Every worker always answers, so
  nothing waits forever.

Limits: the Python part of each step holds the GIL, so two threads cannot beat 1e6 /
(Python microseconds per step) env steps/s (``benchmarks/env_step_cpu.py``); and when
other jobs fill the cores, each GIL hand-off waits for the OS to run the other thread,
so ``dummy`` can be faster: ``vec.pick_vec_env`` measures.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnv,
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
)
from stable_baselines3.common.vec_env.patch_gym import _patch_env
from stable_baselines3.common.vec_env.util import dict_to_obs, obs_space_info

MAIN_STEPS = False
"""Default of ``ThreadVecEnv(main_steps=)``. Helpers only measured faster, 4 envs on the
shared 2-core machine (load 5-7), best of 5 interleaved: depth 32x24 750 vs 659 and 444
vs 359 env steps/s, no camera 628 vs 453; the caller stepping a slice adds a third
thread contending for the GIL instead of saving a hand-off."""


class EnvWorkerError(RuntimeError):
    """An env raised inside a ``ThreadVecEnv`` worker; ``env_index`` says which."""

    def __init__(self, env_index: int, error: BaseException, where: str) -> None:
        super().__init__(f"env {env_index} raised in {where}: {type(error).__name__}: {error}")
        self.env_index = env_index


_Job = Callable[[int, gym.Env], Any]
"""A call on one env: ``job(env_index, env)``; its result lands in ``results[env_index]``."""


def _run_slice(indices: list[int], job: Callable[[int], Any], results: list, where: str):
    """``results[i] = job(i)`` for the slice; the first error as ``(i, exc, where)``."""
    for i in indices:
        try:
            results[i] = job(i)
        except BaseException as exc:  # noqa: BLE001 - any error goes to the caller
            return i, exc, where
    return None


class _Worker:
    """One thread owning envs ``indices``; runs each job it is given on each of them."""

    def __init__(self, indices: list[int], replies: queue.SimpleQueue, name: str) -> None:
        self.indices = indices
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.replies = replies
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while True:
            seq, job, results, where = self.inbox.get()
            if job is None:
                return
            self.replies.put((seq, _run_slice(self.indices, job, results, where)))


def split_indices(n_envs: int, n_threads: int) -> list[list[int]]:
    """Contiguous slices of ``range(n_envs)``, as equal as they come (earlier ones larger)."""
    base, extra = divmod(n_envs, n_threads)
    slices, start = [], 0
    for w in range(n_threads):
        size = base + (1 if w < extra else 0)
        slices.append(list(range(start, start + size)))
        start += size
    return slices


class ThreadVecEnv(VecEnv):
    """Envs stepped in parallel by ``threads`` worker threads (see the module docstring).

    :param env_fns: functions building one env each (called in the env's worker thread).
    :param threads: threads stepping envs; ``None``: one per core, at most one per env.
    :param main_steps: the calling thread steps the first slice itself (``threads - 1``
        helper threads), instead of handing every slice to a helper and waiting.
    """

    def __init__(
        self,
        env_fns: list[Callable[[], gym.Env]],
        threads: int | None = None,
        main_steps: bool = MAIN_STEPS,
    ) -> None:
        n_envs = len(env_fns)
        if n_envs < 1:
            raise ValueError("need at least one env")
        threads = min(threads or os.cpu_count() or 1, n_envs)
        slices = split_indices(n_envs, threads)
        self._own: list[int] = slices.pop(0) if main_steps else []
        self._replies: queue.SimpleQueue = queue.SimpleQueue()
        self._seq = 0  # numbers each dispatch; workers echo it in their reply
        self._workers = [
            _Worker(idx, self._replies, f"ThreadVecEnv-{w}") for w, idx in enumerate(slices)
        ]
        self._closed = False
        self.envs: list[gym.Env] = [None] * n_envs  # type: ignore[list-item]
        try:
            self._run(lambda i: _patch_env(env_fns[i]()), "env construction", into=self.envs)
        except BaseException:
            self._stop_workers()
            raise
        if len({id(env.unwrapped) for env in self.envs}) != n_envs:
            self._stop_workers()
            raise ValueError("each env_fn must build a new env, not return a shared one")
        env = self.envs[0]
        super().__init__(n_envs, env.observation_space, env.action_space)
        self.keys, shapes, dtypes = obs_space_info(env.observation_space)
        self.buf_obs = OrderedDict(
            (k, np.zeros((n_envs, *tuple(shapes[k])), dtype=dtypes[k])) for k in self.keys
        )
        self.buf_dones = np.zeros((n_envs,), dtype=bool)
        self.buf_rews = np.zeros((n_envs,), dtype=np.float32)
        self.buf_infos: list[dict[str, Any]] = [{} for _ in range(n_envs)]
        self.metadata = env.metadata
        self.actions: np.ndarray | None = None
        self._step_job = self._step_one  # bound once: no per-step allocation
        self._reset_job = self._reset_one

    @property
    def threads(self) -> int:
        """Threads stepping the envs (the caller's included when it steps a slice)."""
        return len(self._workers) + bool(self._own)

    # ------------------------------------------------------------------ dispatch
    def _run(self, job: _Job | Callable[[int], Any], where: str, into: list | None = None) -> list:
        """Run ``job(i)`` for every env on its worker; results by env index."""
        if self._closed:
            raise RuntimeError("ThreadVecEnv is closed")
        results = into if into is not None else [None] * len(self.envs)
        self._seq += 1
        for worker in self._workers:
            worker.inbox.put((self._seq, job, results, where))
        errors = [_run_slice(self._own, job, results, where)]
        waiting = len(self._workers)
        while waiting:
            seq, error = self._replies.get()
            if seq == self._seq:  # else a reply to a call an interrupt (Ctrl-C) abandoned
                errors.append(error)
                waiting -= 1
        errors = [e for e in errors if e is not None]
        if errors:
            i, exc, where = min(errors, key=lambda e: e[0])
            raise EnvWorkerError(i, exc, where) from exc
        return results

    def _run_on(self, indices: Iterable[int], fn: Callable[[gym.Env], Any], where: str) -> list:
        wanted = list(indices)
        chosen = set(wanted)
        out = self._run(lambda i: fn(self.envs[i]) if i in chosen else None, where)
        return [out[i] for i in wanted]

    # ------------------------------------------------------------------ per env
    def _save_obs(self, i: int, obs: VecEnvObs) -> None:
        for key in self.keys:
            if key is None:
                self.buf_obs[key][i] = obs
            else:
                self.buf_obs[key][i] = obs[key]  # type: ignore[call-overload]

    def _step_one(self, i: int) -> None:
        env = self.envs[i]
        obs, reward, terminated, truncated, info = env.step(self.actions[i])  # type: ignore[index]
        done = terminated or truncated
        self.buf_rews[i] = reward
        self.buf_dones[i] = done
        info["TimeLimit.truncated"] = truncated and not terminated
        if done:
            info["terminal_observation"] = obs
            obs, self.reset_infos[i] = env.reset()
        self.buf_infos[i] = info
        self._save_obs(i, obs)

    def _reset_one(self, i: int) -> None:
        options = self._options[i]
        kwargs = {"options": options} if options else {}
        obs, self.reset_infos[i] = self.envs[i].reset(seed=self._seeds[i], **kwargs)
        self._save_obs(i, obs)

    # ------------------------------------------------------------------ VecEnv API
    def step_async(self, actions: np.ndarray) -> None:
        self.actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        self._run(self._step_job, "step")
        # Each env returns a fresh info dict per step (the Gymnasium convention), so the
        # list is a copy DummyVecEnv's deepcopy would only duplicate.
        obs = self._obs_from_buf()
        return obs, self.buf_rews.copy(), self.buf_dones.copy(), list(self.buf_infos)

    def reset(self) -> VecEnvObs:
        self._run(self._reset_job, "reset")
        self._reset_seeds()
        self._reset_options()
        return self._obs_from_buf()

    def _obs_from_buf(self) -> VecEnvObs:
        return dict_to_obs(self.observation_space, {k: v.copy() for k, v in self.buf_obs.items()})

    def close(self) -> None:
        if self._closed:
            return
        try:
            self._run(lambda i: self.envs[i].close(), "close")
        finally:
            self._stop_workers()

    def _stop_workers(self) -> None:
        self._closed = True
        for worker in self._workers:
            worker.inbox.put((0, None, None, None))
        for worker in self._workers:
            worker.thread.join(timeout=5.0)

    def get_images(self) -> Sequence[np.ndarray | None]:
        if self.render_mode != "rgb_array":
            return [None for _ in self.envs]
        return self._run_on(range(self.num_envs), lambda env: env.render(), "render")

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [self.envs[i].get_wrapper_attr(attr_name) for i in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        for i in self._get_indices(indices):
            setattr(self.envs[i], attr_name, value)

    def env_method(
        self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs
    ) -> list[Any]:
        """Calls run on each env's own worker (thread-bound state stays on its thread)."""
        return self._run_on(
            self._get_indices(indices),
            lambda env: env.get_wrapper_attr(method_name)(*method_args, **method_kwargs),
            f"env_method {method_name}",
        )

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        from stable_baselines3.common import env_util

        wrapped = env_util.is_wrapped
        return [wrapped(self.envs[i], wrapper_class) for i in self._get_indices(indices)]

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self._stop_workers()
