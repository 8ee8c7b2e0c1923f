"""``final_model.pth``: the PPO policy's weights in the DESIGN.md model-file contract.

A plain dict ``{arch, arch_kwargs, state_dict, input_spec, joint_names, normalization,
version}`` of tensors, numbers, strings and lists, so it loads with
``torch.load(..., weights_only=True)`` and never unpickles code. ``load_policy`` rebuilds
the SB3 actor-critic from it (for ONNX export, the controller backends, tests); its
``predict`` gives the same actions as the ``final_model.zip`` it came from.

The actions are residuals: joint targets = prior targets + ``action_scale_rad`` *
clip(action, -1, 1), the prior being ``arch_kwargs['env']['prior']`` (see
``envs/prior.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.policies import MultiInputActorCriticPolicy
from torch import nn

from pidog_gaits.envs.asymmetric import PiDogActorCriticPolicy
from pidog_gaits.envs.config import EnvConfig
from pidog_gaits.envs.features import PiDogFeatures, describe_scaling
from pidog_gaits.envs.pidog_env import observation_space
from pidog_gaits.neural_network import torch_load_error
from pidog_gaits.robot import specs

ARCH = "pidog_ppo_multiinput"
FORMAT_VERSION = 4
"""2: the actor sees the policy group only (commanded targets, no measured joints) and a
separate critic sees ``privileged`` too (``envs.asymmetric``). 3: the policy follows
velocity commands (``EnvConfig.commands``; the prior is the trot at the amplitude and turn
of ``gaits.command.CommandFollower``). 4: the camera CNN's layers
(``envs.features.CNN_LAYERS``) keep a finer grid."""
ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


def _activation_name(cls: type[nn.Module]) -> str:
    for name, act in ACTIVATIONS.items():
        if cls is act:
            return name
    raise ValueError(f"activation {cls.__name__} has no name in ACTIVATIONS")


def input_spec(space: spaces.Dict) -> dict[str, Any]:
    """Shapes, dtypes and bounds of each observation part, in the policy's key order."""
    spec = {}
    for key, box in space.spaces.items():
        spec[key] = {
            "shape": list(box.shape),
            "dtype": str(box.dtype),
            "low": float(np.min(box.low)),
            "high": float(np.max(box.high)),
        }
    return spec


def plain(value: Any) -> Any:
    """Python numbers, strings, lists and dicts only (what ``weights_only`` loads)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def policy_file_dict(policy: MultiInputActorCriticPolicy, env_config: EnvConfig) -> dict:
    """The DESIGN.md model-file dict of an SB3 multi-input policy trained on PiDog-v0."""
    kwargs = policy.features_extractor_kwargs
    keys = [k for k in policy.observation_space.spaces if k != "image"]
    critic = getattr(policy, "critic", "symmetric")
    normalization = {"parts": describe_scaling(keys)}
    if "image" in policy.observation_space.spaces:
        normalization["image"] = {"offset": 0.0, "scale": 255.0}
    meta = {
        "arch": ARCH,
        "arch_kwargs": {
            "net_arch": {k: list(v) for k, v in policy.net_arch.items()},
            "activation": _activation_name(policy.activation_fn),
            "features": {
                "image_features": int(kwargs.get("image_features", 64)),
                "channels": list(kwargs.get("channels", (8, 16, 16))),
                "scan_sectors": int(kwargs.get("scan_sectors", 8)),
                "image_norm": bool(kwargs.get("image_norm", False)),
            },
            "log_std_init": float(policy.log_std_init),
            "critic": critic,
            "use_sde": bool(policy.use_sde),
            "env": env_config.as_dict(),
            "action_scale_rad": env_config.action_scale_rad().tolist(),
        },
        "input_spec": input_spec(policy.observation_space),
        "joint_names": list(specs.JOINT_NAMES),
        "normalization": normalization,
        "version": FORMAT_VERSION,
    }
    data = plain(meta)
    data["state_dict"] = {k: v.detach().cpu().clone() for k, v in policy.state_dict().items()}
    return data


def save_policy(policy: MultiInputActorCriticPolicy, env_config: EnvConfig, path: str | Path):
    """Write ``final_model.pth`` (through a temporary file)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(policy_file_dict(policy, env_config), tmp)
    tmp.replace(path)


def load_policy(path: str | Path) -> tuple[PiDogActorCriticPolicy, EnvConfig]:
    """Rebuild the policy (eval mode, CPU) and its env config from a ``.pth``.

    Raises ``FileNotFoundError`` or ``ValueError`` (not a PiDog PPO policy file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"policy file not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's error
        raise ValueError(f"{path}: not a readable model file ({torch_load_error(exc)})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a PiDog PPO policy file")
    if data.get("arch") != ARCH:
        raise ValueError(f"{path}: not a PiDog PPO policy file (arch {data.get('arch')!r})")
    if data.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: format version {data.get('version')}, need {FORMAT_VERSION} "
            "(retrain it with this version of stage 3)"
        )
    if list(data["joint_names"]) != list(specs.JOINT_NAMES):
        raise ValueError(f"{path}: joint order differs from specs.JOINT_NAMES")
    kw = data["arch_kwargs"]
    env_config = EnvConfig.from_dict(kw["env"])
    obs_space = observation_space(env_config)
    if input_spec(obs_space) != data["input_spec"]:
        raise ValueError(f"{path}: input_spec does not match its env config")
    policy = PiDogActorCriticPolicy(
        obs_space,
        spaces.Box(-1.0, 1.0, (env_config.action_dim(),), dtype=np.float32),
        lr_schedule=lambda _: 0.0,
        net_arch=kw["net_arch"],
        activation_fn=ACTIVATIONS[kw["activation"]],
        log_std_init=kw["log_std_init"],
        use_sde=kw.get("use_sde", False),
        critic=kw.get("critic", "privileged"),
        features_extractor_class=PiDogFeatures,
        features_extractor_kwargs={
            "image_features": kw["features"]["image_features"],
            "channels": tuple(kw["features"]["channels"]),
            "scan_sectors": int(kw["features"].get("scan_sectors", 8)),
            "image_norm": bool(kw["features"].get("image_norm", False)),
        },
    )
    policy.load_state_dict(data["state_dict"])
    policy.set_training_mode(False)
    return policy, env_config


def torch_load_is_safe(path: str | Path) -> bool:
    """True when ``path`` loads with ``weights_only=True`` (no pickled code)."""
    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001
        return False
    return True
