"""Start PPO's actor from the obstacle reflex: record it, then clone it into the policy.

The imitation prior gives PPO a dog that trots; this gives it one that also steers round
boxes (``envs.reflex``). Demonstrations are recorded in the training envs' own
configuration (randomized physics, boxes) with noise on the executed steer, so the
states include the robot slightly off the reflex's course (as in DART), labelled with the
reflex's clean action. The actor's mean is then fitted to those labels by mean squared
error, residuals to zero and steer to the reflex's. PPO refines the result; the deployed
policy stays one network.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from pidog_gaits.envs.config import EnvConfig
from pidog_gaits.envs.reflex import reflex_action
from pidog_gaits.envs.vec import make_vec_env
from pidog_gaits.robot import specs

log = logging.getLogger("pidog_gaits.rl.warm_start")  # into the stage 3 log


def can_warm_start(env_config: EnvConfig) -> bool:
    """The reflex needs the floor-removed depth channel, a steer to set and boxes to see."""
    return env_config.steering and env_config.vision == "depth" and env_config.num_obstacles > 0


def record_demonstrations(
    env_config: EnvConfig, steps: int, envs: int, seed: int, steer_noise: float = 0.3
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``steps`` observations (all envs together) and the reflex's action for each."""
    venv = make_vec_env(env_config, envs, "dummy", seed=seed)
    rng = np.random.default_rng(seed)
    observations: dict[str, list[np.ndarray]] = {}
    labels: list[np.ndarray] = []
    try:
        obs = venv.reset()
        for _ in range(max(steps // envs, 1)):
            target = np.stack(
                [reflex_action({k: v[i] for k, v in obs.items()}) for i in range(envs)]
            )
            for key, value in obs.items():
                observations.setdefault(key, []).append(value.copy())
            labels.append(target)
            executed = target.copy()
            executed[:, specs.NUM_JOINTS] += rng.normal(0.0, steer_noise, envs)
            obs, _, _, _ = venv.step(np.clip(executed, -1.0, 1.0))
    finally:
        venv.close()
    return {k: np.concatenate(v) for k, v in observations.items()}, np.concatenate(labels)


def clone_into_policy(
    policy,
    observations: dict[str, np.ndarray],
    actions: np.ndarray,
    epochs: int = 10,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    seed: int = 0,
) -> list[float]:
    """Fit the actor's mean action to ``actions``; returns the mean loss of each epoch."""
    device = policy.device
    generator = torch.Generator().manual_seed(seed)
    params = [p for name, p in policy.named_parameters() if not name.startswith("value_net")]
    optimizer = torch.optim.Adam(params, lr=learning_rate)
    n = len(actions)
    target_all = torch.as_tensor(actions, dtype=torch.float32)
    history = []
    policy.set_training_mode(True)
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            obs = {k: torch.as_tensor(v[idx.numpy()]).to(device) for k, v in observations.items()}
            mean = policy.get_distribution(obs).distribution.mean
            # Summed over the action (not averaged): the steer, the one non-zero label,
            # would otherwise weigh 1/13 of the loss.
            loss = ((mean - target_all[idx].to(device)) ** 2).sum(dim=1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
        history.append(total / n)
    policy.set_training_mode(False)
    return history


def warm_start_steering(
    policy, env_config: EnvConfig, steps: int, envs: int, seed: int, epochs: int = 10
) -> dict:
    """Record ``steps`` reflex demonstrations and clone them into ``policy``; figures."""
    t0 = time.perf_counter()
    observations, actions = record_demonstrations(env_config, steps, envs, seed)
    t1 = time.perf_counter()
    history = clone_into_policy(policy, observations, actions, epochs=epochs, seed=seed)
    t2 = time.perf_counter()
    steer = actions[:, specs.NUM_JOINTS]
    figures = {
        "demonstration_steps": int(len(actions)),
        "steering_share": float(np.mean(np.abs(steer) > 0.05)),
        "clone_loss_first": history[0],
        "clone_loss_last": history[-1],
        "record_s": t1 - t0,
        "clone_s": t2 - t1,
    }
    log.info(
        "warm start: %d reflex steps (steering in %.0f%%) in %.0f s; cloned, loss %.2e -> "
        "%.2e in %.0f s", figures["demonstration_steps"], 100 * figures["steering_share"],
        figures["record_s"], history[0], history[-1], figures["clone_s"],
    )  # fmt: skip
    return figures
