"""Tiny imitation models trained on the spot for the deployment tests (seconds, CPU)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import torch

from pidog_gaits.gaits.library import GAITS, expert_targets


@contextlib.contextmanager
def one_torch_thread():
    """Per-step inference of these small nets is fastest on one thread, and on a shared
    2-core machine a second thread mostly waits (an LSTM step: 1 ms vs 30 ms)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def expert_dataset(gaits: tuple[str, ...], samples_per_cycle: int = 200) -> tuple:
    phases = np.arange(samples_per_cycle) / samples_per_cycle
    inputs = np.concatenate([GAITS[g].inputs(phases) for g in gaits]).astype(np.float32)
    return inputs, expert_targets(inputs).astype(np.float32)


def train_feedforward(
    arch: str = "mlp",
    gaits: tuple[str, ...] = ("trot_forward", "stand"),
    steps: int = 1500,
    seed: int = 0,
    **kwargs,
):
    """A feed-forward imitation model fitted to the expert on ``gaits`` (full batch, Adam)."""
    from pidog_gaits.neural_network import build_model

    torch.manual_seed(seed)
    inputs, targets = expert_dataset(gaits)
    model = build_model(arch, **kwargs)
    model.fit_normalization(inputs, targets)
    x, y = torch.from_numpy(inputs), torch.from_numpy(targets)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.mean((model(x)[0] - y) ** 2)
        loss.backward()
        opt.step()
        sched.step()
    return model.eval(), float(loss.detach())


def save(model, path: Path) -> Path:
    from pidog_gaits.neural_network import save_checkpoint

    save_checkpoint(model, path)
    return path


def untrained_imitation(arch: str, seed: int = 0, output_gain: float = 20.0):
    """An imitation model with random weights and the expert's normalisation.

    ``output_gain`` scales the last layer so outputs move by tenths of a radian across
    inputs (an untrained net's would barely move, and agreement would prove little).
    """
    from pidog_gaits.neural_network import build_model

    torch.manual_seed(seed)
    inputs, targets = expert_dataset(("trot_forward", "walk_forward", "stand", "sit"), 50)
    model = build_model(arch)
    model.fit_normalization(inputs, targets)
    last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.mul_(output_gain)
    return model.eval()


def ppo_policy(
    env_config, seed: int = 0, action_gain: float = 300.0, net=(32, 32), image_norm: bool = False
):
    """A PPO actor-critic for ``env_config`` with random weights.

    ``action_gain`` scales the action layer so many actions reach the [-1, 1] clip (the
    export must clip where SB3 does); 0 gives the zero residual (the prior alone).
    """
    import numpy as np
    from gymnasium import spaces

    from pidog_gaits.envs.asymmetric import PiDogActorCriticPolicy
    from pidog_gaits.envs.pidog_env import observation_space

    torch.manual_seed(seed)
    policy = PiDogActorCriticPolicy(
        observation_space(env_config),
        spaces.Box(-1.0, 1.0, (env_config.action_dim(),), dtype=np.float32),
        lr_schedule=lambda _: 0.0,
        net_arch={"pi": list(net), "vf": list(net)},
        log_std_init=-1.0,
        features_extractor_kwargs={"image_norm": image_norm},
    )
    with torch.no_grad():
        for p in policy.action_net.parameters():
            p.mul_(action_gain)
    policy.set_training_mode(False)
    return policy


def save_ppo_pth(policy, env_config, path: Path) -> Path:
    """Stage 3's ``final_model.pth`` for ``policy``, written by stage 3's own writer."""
    from pidog_gaits.envs.policy_file import save_policy

    save_policy(policy, env_config, path)
    return path
