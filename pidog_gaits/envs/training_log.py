"""What stage 3 reports while it trains: TensorBoard reward terms, a log line, a PNG curve.

``TrainingLogCallback`` records each finished episode's per-term reward sums under
``reward_terms/<name>`` and its metrics under ``episode/<name>`` (speed, distance, falls,
collisions, energy), averaged over the episodes of each PPO rollout, and writes a
progress line to the log about every 5 % of the run.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from pathlib import Path

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback


class UpdateThreads(BaseCallback):
    """Torch CPU threads: ``rollout`` while the envs step, ``update`` while PPO updates.

    Stepping 4 in-process envs keeps one core busy and the policy's batch-4 inference is
    fastest on one thread; PPO's minibatch updates can use every core. SB3 calls
    ``on_rollout_end`` just before ``train()``.
    """

    def __init__(self, rollout: int, update: int) -> None:
        super().__init__()
        self.rollout = rollout
        self.update = update

    def _on_rollout_start(self) -> None:
        torch.set_num_threads(self.rollout)

    def _on_rollout_end(self) -> None:
        torch.set_num_threads(self.update)

    def _on_step(self) -> bool:
        return True


class CriticWarmup(BaseCallback):
    """PPO's first ``steps`` update the critic only; the actor (``actor_parameters``) waits.

    After the teacher clone the actor already walks and steers, but the critic is fresh:
    the first updates' advantages are noise, and its gradient through the actor undid the
    clone (seed 0, 3 boxes, 20 episodes: 5 boxes hit by the clone, 8 after 200k PPO steps).
    A frozen parameter gets no gradient, and Adam leaves a parameter without one alone.
    """

    def __init__(self, steps: int, log: logging.Logger | None = None) -> None:
        super().__init__()
        self.steps = steps
        self.log = log
        self.frozen = False

    def _set(self, trainable: bool) -> None:
        for p in self.model.policy.actor_parameters():
            p.requires_grad_(trainable)
        self.frozen = not trainable

    def _on_training_start(self) -> None:
        if self.num_timesteps < self.steps:
            self._set(False)

    def _on_rollout_end(self) -> None:
        if self.frozen and self.num_timesteps >= self.steps:
            self._set(True)
            if self.log is not None:
                self.log.info("critic warm-up over at %d steps: the actor trains too",
                              self.num_timesteps)  # fmt: skip

    def _on_training_end(self) -> None:
        if self.frozen:
            self._set(True)

    def _on_step(self) -> bool:
        return True


class TrainingLogCallback(BaseCallback):
    """Per-term episode sums to TensorBoard, progress to ``logger``.

    :param log: where progress lines go.
    :param total_timesteps: the run's total (for percent and ETA).
    :param every_fraction: a log line each time this fraction of the run has passed.
    """

    def __init__(
        self, log: logging.Logger, total_timesteps: int, every_fraction: float = 0.05
    ) -> None:
        super().__init__()
        self.log = log
        self.total = total_timesteps
        self.every = max(int(total_timesteps * every_fraction), 2000)
        self._next = 0
        self._returns: deque[float] = deque(maxlen=100)
        self._speeds: deque[float] = deque(maxlen=100)
        self._falls: deque[float] = deque(maxlen=100)
        self._t0 = 0.0
        self._steps0 = 0

    def _on_training_start(self) -> None:
        self._t0 = time.perf_counter()
        self._steps0 = self.num_timesteps
        self._next = self.num_timesteps

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", ()):
            terms = info.get("reward_terms")
            if terms is None:
                continue
            for name, value in terms.items():
                self.logger.record_mean(f"reward_terms/{name}", value)
            metrics = info["episode_metrics"]
            for name, value in metrics.items():
                self.logger.record_mean(f"episode/{name}", float(value))
            self._returns.append(metrics["return"])
            self._speeds.append(metrics["mean_forward_velocity_mps"])
            self._falls.append(float(metrics["fell"]))
        if self.num_timesteps >= self._next:
            self._next += self.every
            self._report()
        return True

    def _report(self) -> None:
        done = self.num_timesteps
        elapsed = time.perf_counter() - self._t0
        rate = (done - self._steps0) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else float("nan")
        if self._returns:
            stats = (
                f"return {np.mean(self._returns):.1f} | speed {np.mean(self._speeds):.3f} m/s"
                f" | falls {100 * np.mean(self._falls):.0f}%"
            )
        else:
            stats = "no episode finished yet"
        self.log.info(
            "steps %d/%d (%.0f%%) | %.0f steps/s | ETA %.0f s | %s",
            done, self.total, 100 * done / max(self.total, 1), rate, eta, stats,
        )  # fmt: skip

    def _on_training_end(self) -> None:
        self._report()


def read_scalar(tensorboard_dir: Path, tag: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of ``tag`` across every run under ``tensorboard_dir``, by step."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    steps, values = [], []
    for events in sorted(Path(tensorboard_dir).rglob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        if tag in acc.Tags().get("scalars", []):
            for ev in acc.Scalars(tag):
                steps.append(ev.step)
                values.append(ev.value)
    order = np.argsort(steps, kind="stable")
    return np.asarray(steps)[order], np.asarray(values)[order]


def plot_reward_curve(
    tensorboard_dir: Path, png: Path, tag: str = "rollout/ep_rew_mean", title: str | None = None
) -> Path | None:
    """Plot ``tag`` against steps to ``png``; ``None`` when nothing was logged yet."""
    steps, values = read_scalar(tensorboard_dir, tag)
    if steps.size == 0:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    ax.plot(steps, values, lw=1.5)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("mean episode return")
    ax.set_title(title or "PPO on PiDog-v0")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png)
    plt.close(fig)
    return png
