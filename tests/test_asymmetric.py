"""The actor sees only PiDog's signals; the critic also sees the simulator's truth."""

import numpy as np
import pytest
import torch
from gymnasium import spaces

from pidog_gaits.envs.asymmetric import PiDogActorCriticPolicy
from pidog_gaits.envs.config import EnvConfig
from pidog_gaits.envs.pidog_env import PiDogEnv, observation_space


def _policy(
    config: EnvConfig, critic: str = "privileged", image_norm: bool = False
) -> PiDogActorCriticPolicy:
    torch.manual_seed(0)
    return PiDogActorCriticPolicy(
        observation_space(config),
        spaces.Box(-1.0, 1.0, (config.action_dim(),), dtype=np.float32),
        lr_schedule=lambda _: 1e-3,
        net_arch={"pi": [32], "vf": [32]},
        critic=critic,
        features_extractor_kwargs={"image_norm": image_norm},
    )


def _batch(config: EnvConfig) -> dict[str, torch.Tensor]:
    env = PiDogEnv(config)
    obs, _ = env.reset(seed=0)
    env.close()
    return {k: torch.as_tensor(v)[None] for k, v in obs.items()}


@pytest.mark.parametrize("vision", ["rgb", "none"])
def test_actor_ignores_privileged_and_critic_reads_it(vision):
    config = EnvConfig(quality="fast", vision=vision, image_width_px=32, image_height_px=24)
    policy = _policy(config)
    obs = _batch(config)
    changed = dict(obs)
    changed["privileged"] = obs["privileged"] + 3.0
    with torch.no_grad():
        mean = policy.get_distribution(obs).distribution.mean
        mean_changed = policy.get_distribution(changed).distribution.mean
        value = policy.predict_values(obs)
        value_changed = policy.predict_values(changed)
    torch.testing.assert_close(mean, mean_changed, rtol=0, atol=0)
    assert not torch.allclose(value, value_changed)
    # The actor runs without the critic's part at all: what the robot feeds it.
    robot_only = {k: v for k, v in obs.items() if k != "privileged"}
    with torch.no_grad():
        torch.testing.assert_close(policy.get_distribution(robot_only).distribution.mean, mean)
    assert set(policy.pi_features_extractor.keys) == set(obs) - {"image", "privileged"}
    assert "privileged" in policy.vf_features_extractor.keys
    assert policy.vf_features_extractor.cnn is None  # the critic knows the boxes: no camera


def test_image_norm_hides_the_rooms_colour_cast():
    """The same view under another room's tint: with ``image_norm`` the camera features
    hardly move (a shift per channel is removed exactly, up to the uint8 rounding), without
    it they follow the tint. (A gain is removed only in part: the variance floor
    ``IMAGE_NORM_EPS`` keeps some of it.)"""
    from stable_baselines3.common.preprocessing import preprocess_obs

    config = EnvConfig(quality="fast", vision="rgb", image_width_px=32, image_height_px=24)
    obs = _batch(config)
    image = 40.0 + 0.6 * obs["image"].float()  # room left to tint without clipping
    obs["image"] = image.round().to(torch.uint8)
    image = obs["image"].float()
    offset = torch.tensor([-30.0, 10.0, 25.0]).view(1, 3, 1, 1)
    tinted_image = image + offset
    assert tinted_image.min() >= 0 and tinted_image.max() <= 255  # no clipping
    tinted = dict(obs, image=tinted_image.round().to(torch.uint8))
    moved = {}
    for image_norm in (False, True):
        policy = _policy(config, image_norm=image_norm)
        cnn = policy.pi_features_extractor.cnn
        with torch.no_grad():
            seen = cnn(preprocess_obs(obs, policy.observation_space)["image"])
            seen_tinted = cnn(preprocess_obs(tinted, policy.observation_space)["image"])
        moved[image_norm] = ((seen_tinted - seen).norm() / seen.norm()).item()
    assert moved[False] > 0.05
    assert moved[True] < 0.05 * moved[False]


def test_symmetric_critic_sees_only_what_the_actor_sees():
    config = EnvConfig(quality="fast", vision="none")
    policy = _policy(config, critic="symmetric")
    obs = _batch(config)
    changed = dict(obs)
    changed["privileged"] = obs["privileged"] + 3.0
    with torch.no_grad():
        torch.testing.assert_close(policy.predict_values(obs), policy.predict_values(changed))
    assert policy.vf_features_extractor is not policy.pi_features_extractor


def test_actor_parameters_leave_the_critic_alone():
    policy = _policy(EnvConfig(quality="fast", vision="none"))
    actor = {id(p) for p in policy.actor_parameters()}
    critic = list(policy.vf_features_extractor.parameters())
    critic += list(policy.mlp_extractor.value_net.parameters())
    critic += list(policy.value_net.parameters())
    assert critic and not any(id(p) in actor for p in critic)
    assert id(policy.log_std) in actor


def test_unknown_critic_is_refused():
    with pytest.raises(ValueError, match="critic"):
        _policy(EnvConfig(quality="fast", vision="none"), critic="oracle")
