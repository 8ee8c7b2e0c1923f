"""Stage 3's PPO policy as a ``DeployPolicy`` (PyTorch).

The policy acts on the observation of ``PiDogEnv`` (``runtime.observation``) and outputs
a residual: joint targets = prior + ``action_scale_rad`` * clip(action, -1, 1), clipped
to the joint ranges (``PiDogEnv.targets_for``). The prior is the imitation model
(``EnvConfig.pretrained``), the scripted expert, or the stand, ramped from the stand over
``RAMP_S`` as in ``envs.prior.PriorSequence``. A steering policy (``EnvConfig.steering``)
has a 13th action, ``steer``: the prior is then evaluated at the three knot turns and
blended (``gaits.steering``), exactly as the env does. The deployed action is the
deterministic one (the Gaussian's mean), as ``policy.predict(obs, deterministic=True)``
gives it.

A command-following policy (``EnvConfig.commands`` set: every policy trained since issue
14) runs on a velocity command: its prior is the trot at the amplitude and turn of
``gaits.command.CommandFollower`` (``runtime.base.GaitSchedule.for_command``), and its
``command_ranges`` say which commands it was trained on.

Its ONNX export (``export.export_ppo``) holds the policy and, for an imitation prior, the
imitation net too (inputs ``gait_input`` + its LSTM state), so the robot loads one file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pidog_gaits.gaits import steering
from pidog_gaits.gaits.command import CommandRanges
from pidog_gaits.robot import specs
from pidog_gaits.runtime.base import ExpertPrior, StepContext, blend, stand_targets
from pidog_gaits.runtime.observation import actor_keys, build_observation
from pidog_gaits.runtime.onnx_policy import ModelLoadError


def is_ppo_checkpoint(ckpt: object) -> bool:
    from pidog_gaits.envs.policy_file import ARCH

    return isinstance(ckpt, dict) and ckpt.get("arch") == ARCH


def resolve_prior_path(stored: str | None, model_path: Path, override: str | None) -> Path:
    """Where the imitation prior is now: ``override``, the stored path, or beside the model.

    Training stores the path it was given; a packaged model (``final_model/``) may have
    moved, so the experiment's ``imitation_model/`` next to it is tried too.
    """
    if override:
        path = Path(override)
        if not path.is_file():
            raise FileNotFoundError(f"imitation prior not found: {path}")
        return path
    if not stored:
        raise ModelLoadError("this PPO policy refines an imitation model but names none")
    stored_path = Path(stored)
    candidates = [stored_path]
    for base in (model_path.parent, model_path.parent.parent):
        candidates += [base / stored_path.name, base / "imitation_model" / stored_path.name]
    for path in candidates:
        if path.is_file():
            return path
    raise ModelLoadError(
        f"the imitation prior {stored} was not found (nor beside {model_path.name}); "
        "give its path with --pretrained"
    )


class TorchPpoPolicy:
    """An SB3 multi-input PPO policy with its prior (see the module docstring).

    :param policy: the SB3 ``MultiInputActorCriticPolicy`` (eval mode, CPU).
    :param env_config: the ``EnvConfig`` it was trained with.
    :param prior_model: the imitation ``GaitModel`` for ``prior='imitation'``.
    """

    kind = "ppo"
    engine = "torch"

    def __init__(self, policy, env_config, prior_model=None) -> None:
        self.policy = policy
        self.env_config = env_config
        self.prior = env_config.prior
        if self.prior == "imitation" and prior_model is None:
            raise ModelLoadError("an imitation prior model is needed")
        self.prior_model = prior_model
        self.arch = "ppo"
        self.control_dt_s = specs.CONTROL_DT_S
        self.image = None if env_config.vision == "none" else env_config.vision
        self.image_size_px = (env_config.image_width_px, env_config.image_height_px)
        spaces = policy.observation_space.spaces
        self.obs_keys = actor_keys(spaces)  # the policy group: the critic's part never
        self.signals = tuple(self.obs_keys)  # reaches the deployed actor
        self.bounds = {
            k: (box.low.astype(np.float32), box.high.astype(np.float32))
            for k, box in spaces.items()
            if k in self.obs_keys and k != "image"
        }
        self.scale = np.asarray(env_config.action_scale_rad(), dtype=float)
        self.steering = bool(env_config.steering)
        self.command_ranges: CommandRanges = env_config.commands  # every format-3 policy
        self.heading_hold = steering.hold_settings(vars(env_config))
        self.action_dim = env_config.action_dim()
        self._stand = stand_targets()
        self._expert = ExpertPrior(self.steering)
        self._controllers: list = []
        if prior_model is not None:
            from pidog_gaits.neural_network import PolicyController

            # One per knot turn when steering: a recurrent prior keeps a state per knot,
            # as the env's three precomputed sequences do.
            count = len(steering.TURN_KNOTS) if self.steering else 1
            self._controllers = [PolicyController(prior_model) for _ in range(count)]

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_checkpoint(
        cls, ckpt: dict, path: str | Path, pretrained: str | None = None
    ) -> TorchPpoPolicy:
        """From stage 3's ``final_model.pth`` (already read with ``weights_only=True``)."""
        from pidog_gaits.envs.policy_file import load_policy

        try:
            policy, env_config = load_policy(path)
        except ValueError as exc:
            raise ModelLoadError(str(exc)) from None
        return cls(policy, env_config, _prior_model(env_config, Path(path), pretrained))

    @classmethod
    def from_zip(cls, path: str | Path, pretrained: str | None = None) -> TorchPpoPolicy:
        """From SB3's ``final_model.zip``. SB3 unpickles Python objects from a .zip: this
        runs code from the file, so only pass a path the user chose and trusts."""
        from stable_baselines3 import PPO

        from pidog_gaits.envs.config import EnvConfig

        path = Path(path)
        try:
            model = PPO.load(path, device="cpu")
        except Exception as exc:  # noqa: BLE001 - an unreadable file is the user's error
            raise ModelLoadError(f"{path}: not a stage 3 model ({type(exc).__name__})") from None
        stored = getattr(model, "pidog_env_config", None)
        if stored is None:
            raise ModelLoadError(f"{path}: no PiDog env settings inside (not from stage 3)")
        env_config = EnvConfig.from_dict(stored)
        model.policy.set_training_mode(False)
        return cls(model.policy, env_config, _prior_model(env_config, path, pretrained))

    # ------------------------------------------------------------------ acting
    def reset(self) -> None:
        for controller in self._controllers:
            controller.reset()

    def prior_targets(self, ctx: StepContext, steer: float = 0.0) -> np.ndarray:
        """The prior's targets at this step for ``steer``, ramped from the stand
        (``PriorSequence.steered``)."""
        if self.prior == "none":
            return self._stand
        if self.prior == "expert":
            return blend(self._expert(ctx, steer), ctx)
        if not self.steering:
            return blend(self._controllers[0](ctx.gait_input), ctx)
        rows = steering.knot_inputs(ctx.gait_input)
        knots = np.stack([c(row) for c, row in zip(self._controllers, rows, strict=True)])
        turn = steering.steered_turn(float(ctx.gait_input[2]), steer)
        return blend(steering.blend_knots(knots, turn), ctx)

    def action(self, ctx: StepContext) -> np.ndarray:
        """The deterministic action (12, or 13 with ``steer``; in [-1, 1]) for this step.

        What ``policy.predict(obs, deterministic=True)`` returns (tested equal), without
        its per-call input checks and copies, which cost about half a millisecond.
        """
        obs = build_observation(ctx, self.obs_keys, self.bounds)
        with torch.no_grad():
            tensors = {k: torch.from_numpy(v) for k, v in obs.items()}
            action = self.policy.get_distribution(tensors).get_actions(deterministic=True)
        return np.clip(action.numpy().reshape(self.action_dim).astype(float), -1.0, 1.0)

    def act(self, ctx: StepContext) -> np.ndarray:
        action = self.action(ctx)
        n = specs.NUM_JOINTS
        steer = float(action[n]) if self.steering else 0.0
        targets = self.prior_targets(ctx, steer) + self.scale * action[:n]
        return np.clip(targets, specs.JOINT_RANGE_RAD[:, 0], specs.JOINT_RANGE_RAD[:, 1])


def _prior_model(env_config, path: Path, pretrained: str | None):
    if env_config.prior != "imitation":
        return None
    from pidog_gaits.neural_network import load_checkpoint

    prior_path = resolve_prior_path(env_config.pretrained, path, pretrained)
    try:
        model, _ = load_checkpoint(prior_path)
    except ValueError as exc:
        raise ModelLoadError(str(exc)) from None
    return model
