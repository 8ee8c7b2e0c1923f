"""The one configuration of the PiDog-v0 environment (stage 3 and evaluation).

A frozen dataclass: ``default_env_config()`` returns fresh defaults and ``replace`` makes a
changed copy, so no caller can change another's settings in place. Every field that
changes what the policy learns is written to ``config.txt`` and into the model files.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from pidog_gaits.envs import rewards
from pidog_gaits.envs.observations import JOINT_READINGS
from pidog_gaits.gaits.command import CommandRanges
from pidog_gaits.gaits.steering import (
    HEADING_GAIN_PER_S,
    HEADING_INTEGRAL_PER_S2,
    HEADING_INTEGRAL_SONAR_GATE_M,
    HeadingHold,
    hold_settings,
)
from pidog_gaits.robot import specs
from pidog_gaits.sim.camera import AppearanceRanges
from pidog_gaits.sim.physics import get_preset
from pidog_gaits.sim.randomization import RandomizationRanges
from pidog_gaits.sim.world import ObstacleLayout

VISIONS = ("depth", "rgb", "none")
TRAINING_OBSTACLES = 8
TRAINING_OPEN_FLOOR_PROB = 0.25
TRAINING_LATERAL_M = (-1.0, 1.0)
"""Stage 3's box field across the start line (m): 8 boxes over 2 m are about as dense as
the evaluation's 3 in its 0.7 m corridor (``sim.world.ObstacleLayout``), so no heading is
free of boxes."""
PRIORS = ("imitation", "expert", "none")

RESIDUAL_SCALE_RAD = (0.25,) * specs.NUM_LEG_JOINTS + (0.0,) * 4
"""Largest residual (rad) the policy adds to the prior's leg targets. The head and tail
keep the prior's pose (scale 0): the camera and ultrasonic sensor look along the path, and
the reward's ultrasonic proximity cannot be dodged by looking away from a box."""
SCRATCH_SCALE_RAD = (0.6,) * specs.NUM_LEG_JOINTS + (0.0,) * 4
"""Without a prior (from scratch) the action spans stand +- this (rad): it covers every
leg angle the expert gaits use (trot and walk stay within stand +-0.5 rad)."""


@dataclass(frozen=True)
class EnvConfig:
    """Everything that defines a PiDog-v0 episode."""

    vision: str = "rgb"
    """Head camera image in the policy's observation: ``rgb`` (PiDog's colour camera, the
    default), ``depth`` (simulator only: PiDog has no depth camera) or ``none``."""
    joint_readings: str = "commanded"
    """What stands in for joint encoders in the policy's observation: ``commanded`` (the
    last commanded targets, ``targets``: all PiDog's hobby servos allow) or ``measured``
    (adds the simulator's joint positions and velocities as ``joints``: only for robots
    with feedback servos; never the default)."""
    image_width_px: int = specs.CAMERA_WIDTH_PX
    image_height_px: int = specs.CAMERA_HEIGHT_PX
    quality: str = "medium"
    """Physics preset (``production``, ``medium``, ``fast``)."""
    num_obstacles: int = 3
    """Random boxes placed ahead of the start each episode (0 = open floor)."""
    obstacle_lateral_m: tuple[float, float] = ObstacleLayout().lateral_m
    """Where boxes go across the start line (m, + = left): by default the evaluation's
    corridor. Stage 3 trains on a wider field (``TRAINING_OBSTACLES`` over
    ``TRAINING_LATERAL_M``): with boxes only in the corridor ahead, walking off at an angle
    avoided them all, and PPO learned to veer off in every episode (0.1-0.7 m sideways per
    metre, even on an open floor)."""
    open_floor_prob: float = 0.0
    """Chance that an episode has no boxes at all. Stage 3 trains with
    ``TRAINING_OPEN_FLOOR_PROB``: the policy must learn to walk straight where nothing is
    in its way, not only to steer (the teacher steers in over half the steps among
    boxes). Evaluation sets it to 0 (``evaluate``)."""
    episode_steps: int = 500
    """Control steps per episode (50 Hz: 10 s) before truncation."""
    commands: CommandRanges = field(default_factory=CommandRanges)
    """The ``[speed (m/s), yaw rate (rad/s)]`` commands an episode draws, and how often it
    draws a new one (``gaits.command``); the prior plays the trot at the amplitude and turn
    that follow the command (``gaits.command.CommandFollower``)."""
    prior: str = "expert"
    """Targets the action is a residual on: ``imitation`` (``pretrained`` model), ``expert``
    (the scripted gait) or ``none`` (from scratch: stand pose + a wide action)."""
    pretrained: str | None = None
    """Imitation model (.pth) for ``prior='imitation'``."""
    residual_scale_rad: tuple[float, ...] = RESIDUAL_SCALE_RAD
    scratch_scale_rad: tuple[float, ...] = SCRATCH_SCALE_RAD
    randomization: RandomizationRanges = field(default_factory=RandomizationRanges)
    """Domain randomization ranges (sampled per episode) and fixed overrides."""
    appearance: AppearanceRanges = field(default_factory=AppearanceRanges)
    """What the camera sees differ per episode: floor, box and wall colours, light,
    exposure, pixel noise, camera pitch (``sim.camera``)."""
    reward_profile: str = rewards.DEFAULT_PROFILE
    """Name (or YAML path) the weights came from; recorded for config.txt."""
    reward_weights: dict[str, float] | None = None
    """``{term: weight}``; ``None`` loads ``reward_profile``."""
    reward_floor: float | None = 0.0
    """Per-step reward floor before the fall penalty (``rewards.Reward``); ``None``: off."""
    random_heading: bool = True
    """Start facing a random direction (the forward axis is the body's, not world x)."""
    steering: bool = True
    """Give the policy a 13th action, ``steer`` in [-1, 1], that bends the prior gait's
    path (``gaits.steering``): how it turns away from a box. Without it the policy can
    only bend the path through joint residuals, which PPO did not learn (issue 5)."""
    heading_gain_per_s: float = HEADING_GAIN_PER_S
    """Heading hold: the command's yaw rate is the gait's plus this gain times the heading
    error from the episode's goal heading (``gaits.steering.heading_correction``), so the
    policy sees which way is back on course after a detour (0: the gait's yaw rate)."""
    heading_integral_per_s2: float = HEADING_INTEGRAL_PER_S2
    """The heading hold's integral gain (``gaits.steering.HeadingHold``): what the policy
    steers on its own is cancelled, not left as a standing heading error (0: proportional
    only, as every policy trained before it; ``from_dict`` reads a missing key as 0)."""
    heading_integral_sonar_gate_m: float = HEADING_INTEGRAL_SONAR_GATE_M
    """The integral holds still while the ultrasonic hears something nearer than this (m;
    ``gaits.steering.HeadingHold``; 0: no gate, as every policy trained before it)."""

    def heading_hold(self) -> HeadingHold:
        """A fresh heading hold with this config's gains."""
        return HeadingHold(
            self.heading_gain_per_s,
            self.heading_integral_per_s2,
            sonar_gate_m=self.heading_integral_sonar_gate_m,
        )

    def replace(self, **changes) -> EnvConfig:
        return dataclasses.replace(self, **changes)

    def weights(self) -> dict[str, float]:
        if self.reward_weights is not None:
            return rewards.check_weights(self.reward_weights)
        return rewards.load_profile(self.reward_profile)

    def action_dim(self) -> int:
        """12 joint residuals, plus ``steer`` when steering."""
        return specs.NUM_JOINTS + (1 if self.steering else 0)

    def action_scale_rad(self) -> np.ndarray:
        scale = self.scratch_scale_rad if self.prior == "none" else self.residual_scale_rad
        return np.asarray(scale, dtype=float)

    def validate(self) -> EnvConfig:
        """Raise ``ValueError`` on any setting that cannot run; returns ``self``."""
        if self.vision not in VISIONS:
            raise ValueError(f"unknown vision {self.vision!r}; choose one of {', '.join(VISIONS)}")
        if self.joint_readings not in JOINT_READINGS:
            raise ValueError(
                f"unknown joint_readings {self.joint_readings!r}; choose one of "
                f"{', '.join(JOINT_READINGS)}"
            )
        if self.prior not in PRIORS:
            raise ValueError(f"unknown prior {self.prior!r}; choose one of {', '.join(PRIORS)}")
        if self.prior == "imitation" and not self.pretrained:
            raise ValueError("prior 'imitation' needs a pretrained model file")
        get_preset(self.quality)
        if self.num_obstacles < 0:
            raise ValueError("num_obstacles must be >= 0")
        low, high = self.obstacle_lateral_m
        if not low <= high:
            raise ValueError("obstacle_lateral_m needs low <= high")
        if not 0.0 <= self.open_floor_prob <= 1.0:
            raise ValueError("open_floor_prob must lie in [0, 1]")
        if self.heading_gain_per_s < 0:
            raise ValueError("heading_gain_per_s must be >= 0")
        if self.heading_integral_per_s2 < 0:
            raise ValueError("heading_integral_per_s2 must be >= 0")
        if self.heading_integral_sonar_gate_m < 0:
            raise ValueError("heading_integral_sonar_gate_m must be >= 0")
        if self.episode_steps < 1:
            raise ValueError("episode_steps must be >= 1")
        if self.image_width_px < 8 or self.image_height_px < 8:
            raise ValueError("camera image must be at least 8x8 pixels")
        self.commands.validate()
        for label, scale in (
            ("residual", self.residual_scale_rad),
            ("scratch", self.scratch_scale_rad),
        ):
            if len(scale) != specs.NUM_JOINTS:
                raise ValueError(f"{label}_scale_rad needs {specs.NUM_JOINTS} values")
        self.weights()
        return self

    def as_dict(self) -> dict:
        """JSON-safe dict (for config.txt and the model files)."""
        d = dataclasses.asdict(self)
        d["residual_scale_rad"] = list(self.residual_scale_rad)
        d["scratch_scale_rad"] = list(self.scratch_scale_rad)
        d["obstacle_lateral_m"] = list(self.obstacle_lateral_m)
        d["reward_weights"] = self.weights()
        for group in ("randomization", "appearance", "commands"):
            for key, value in d[group].items():
                if isinstance(value, tuple):
                    d[group][key] = list(value)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> EnvConfig:
        """Inverse of ``as_dict`` (unknown keys are refused)."""
        d = dict(d)
        d.update(hold_settings(d))  # an env saved before the integral or its gate: without
        rnd = dict(d.pop("randomization", {}) or {})
        for key, value in rnd.items():
            if isinstance(value, list):
                rnd[key] = tuple(value)
        look = dict(d.pop("appearance", {}) or {})
        for key, value in look.items():
            if isinstance(value, list):
                look[key] = tuple(value)
        d["appearance"] = AppearanceRanges(**look)
        cmds = dict(d.pop("commands", {}) or {})
        d["commands"] = CommandRanges(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in cmds.items()}
        )
        for key in ("residual_scale_rad", "scratch_scale_rad", "obstacle_lateral_m"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(randomization=RandomizationRanges(**rnd), **d)


def default_env_config() -> EnvConfig:
    """Fresh defaults (a new object each call)."""
    return EnvConfig()
