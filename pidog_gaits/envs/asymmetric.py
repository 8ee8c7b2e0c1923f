"""Asymmetric actor-critic for SB3's PPO: the actor sees the robot, the critic sees more.

The deployed actor may only use what a PiDog senses (``envs.observations``' policy
group). The value function is thrown away after training, so it may use anything the
simulator knows: true joint states, body velocity, where the boxes are, the episode's
domain parameters. Legged-robot sim-to-real work (legged_gym, Isaac Lab) trains this way:
a critic that sees the state predicts returns far better than one guessing it from a
noisy, partial view, which gives the actor cleaner advantages at the same budget.

SB3 supports separate actor and critic feature extractors (``share_features_extractor
=False``) but builds both from one class and one set of keyword arguments. This policy
keeps everything else of SB3's ``MultiInputActorCriticPolicy`` and only replaces, while
the networks are built, the critic's extractor with ``PiDogFeatures(role='critic')`` and
the MLP head with one whose actor and critic take inputs of different widths.
``critic='symmetric'`` gives the critic its own copy of the actor's inputs instead (the
ablation in the results table).
"""

from __future__ import annotations

from typing import Any

import torch
from stable_baselines3.common.policies import MultiInputActorCriticPolicy
from torch import nn

from pidog_gaits.envs.features import PiDogFeatures

CRITICS = ("privileged", "symmetric")


def _mlp(in_dim: int, sizes: list[int], activation_fn: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for size in sizes:
        layers += [nn.Linear(in_dim, size), activation_fn()]
        in_dim = size
    return nn.Sequential(*layers)


class AsymmetricMlpExtractor(nn.Module):
    """SB3's ``MlpExtractor`` with separate input widths for the actor and the critic.

    Same attribute names (``policy_net``, ``value_net``, ``latent_dim_pi``,
    ``latent_dim_vf``) and methods, so SB3's policy uses it unchanged.
    """

    def __init__(
        self,
        pi_features_dim: int,
        vf_features_dim: int,
        net_arch: dict[str, list[int]] | list[int],
        activation_fn: type[nn.Module],
        device: torch.device | str = "auto",
    ) -> None:
        super().__init__()
        if isinstance(net_arch, dict):
            pi_sizes, vf_sizes = list(net_arch.get("pi", [])), list(net_arch.get("vf", []))
        else:
            pi_sizes = vf_sizes = list(net_arch)
        self.policy_net = _mlp(pi_features_dim, pi_sizes, activation_fn)
        self.value_net = _mlp(vf_features_dim, vf_sizes, activation_fn)
        self.latent_dim_pi = pi_sizes[-1] if pi_sizes else pi_features_dim
        self.latent_dim_vf = vf_sizes[-1] if vf_sizes else vf_features_dim

    def forward(self, features: tuple[torch.Tensor, torch.Tensor]):
        pi_features, vf_features = features
        return self.forward_actor(pi_features), self.forward_critic(vf_features)

    def forward_actor(self, features: torch.Tensor) -> torch.Tensor:
        return self.policy_net(features)

    def forward_critic(self, features: torch.Tensor) -> torch.Tensor:
        return self.value_net(features)


class PiDogActorCriticPolicy(MultiInputActorCriticPolicy):
    """SB3's multi-input actor-critic with a ``PiDogFeatures`` actor and a separate critic.

    :param critic: ``privileged`` (the critic reads the policy group's non-image parts
        and the ``privileged`` vector) or ``symmetric`` (a copy of the actor's inputs).
    Every other argument is ``MultiInputActorCriticPolicy``'s.
    """

    def __init__(self, *args: Any, critic: str = "privileged", **kwargs: Any) -> None:
        if critic not in CRITICS:
            raise ValueError(f"unknown critic {critic!r}; choose one of {', '.join(CRITICS)}")
        self.critic = critic
        kwargs["share_features_extractor"] = False
        kwargs.setdefault("features_extractor_class", PiDogFeatures)
        super().__init__(*args, **kwargs)

    def _build_mlp_extractor(self) -> None:
        # Called by SB3's ``_build`` before the heads and the optimizer exist, so the
        # critic extractor made here is the one trained (and initialized) by SB3.
        kwargs = dict(self.features_extractor_kwargs)
        kwargs["role"] = "critic" if self.critic == "privileged" else "actor"
        self.vf_features_extractor = self.features_extractor_class(self.observation_space, **kwargs)
        self.mlp_extractor = AsymmetricMlpExtractor(
            self.pi_features_extractor.features_dim,
            self.vf_features_extractor.features_dim,
            self.net_arch,
            self.activation_fn,
            self.device,
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data["critic"] = self.critic
        return data

    def actor_parameters(self) -> list[nn.Parameter]:
        """The parameters the deployed actor uses (what behaviour cloning may change)."""
        modules = (self.pi_features_extractor, self.mlp_extractor.policy_net, self.action_net)
        params = [p for m in modules for p in m.parameters()]
        return [*params, self.log_std] if isinstance(self.log_std, nn.Parameter) else params
