"""The networks' input layers: fixed per-part observation scaling and a small camera CNN.

Scaling is fixed (from the robot's specs, not running statistics), so the network file
alone maps raw sensor readings to actions: on the robot, in ONNX, or in another process,
with nothing else to load. Depth or RGB images arrive as uint8 and SB3 divides them by
255 before this module sees them.

``PiDogFeatures`` serves two roles (``envs.asymmetric``): the **actor** reads the policy
group only (``envs.observations``: what PiDog has, camera included); the **critic**
reads the policy group's non-image parts plus ``privileged`` (the simulator's truth,
which already holds where the boxes are, so it skips the camera and its CNN).
"""

from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from pidog_gaits.envs import observations as obs_mod
from pidog_gaits.envs.rewards import NOMINAL_BODY_HEIGHT_M
from pidog_gaits.robot import specs
from pidog_gaits.sim.rollout import stand_targets

ROLES = ("actor", "critic")
NOT_PROPRIO = ("image", "privileged")


def part_scaling() -> dict[str, tuple[list[float], list[float]]]:
    """``{part: (offset, scale)}``: the network sees ``(reading - offset) / scale``.

    Offsets are the standing robot's readings (gravity on the accelerometer, stand joint
    angles); scales are a typical walking excursion of each reading, in its units.
    """
    stand = stand_targets().tolist()
    history = obs_mod.TARGET_HISTORY
    boxes = obs_mod.PRIVILEGED_BOXES
    privileged = {  # obs_mod.PRIVILEGED_TERMS, in order: (offset, scale) per term
        "joint_pos_rad": (stand, [0.5] * 12),
        "joint_vel_radps": ([0.0] * 12, [5.0] * 12),
        "body_lin_vel_mps": ([0.0] * 3, [0.3] * 3),
        "body_ang_vel_radps": ([0.0] * 3, [2.0] * 3),
        "roll_pitch_rad": ([0.0] * 2, [0.3] * 2),
        "body_height_m": ([NOMINAL_BODY_HEIGHT_M], [0.02]),
        "boxes_m": ([1.5, 0.0, 0.05] * boxes, [1.5, 1.0, 0.05] * boxes),
        "domain": (  # DomainParams' fields, in order
            [1.0, 1.0, 1.0, 1.0, 0.02, 1.0, 0.0, 0.5, 0.75],
            [0.3, 0.3, 0.3, 0.3, 0.02, 0.5, 0.01, 0.5, 0.75],
        ),
        "range_ahead_m": ([1.0], [1.0]),
    }
    if list(privileged) != list(obs_mod.PRIVILEGED_TERMS):
        raise AssertionError("part_scaling's privileged terms differ from PRIVILEGED_TERMS")
    return {
        "imu": ([0.0, 0.0, 9.81, 0.0, 0.0, 0.0, 0.0, 0.0], [5.0] * 3 + [2.0] * 3 + [0.3] * 2),
        "sonar": ([1.0], [1.0]),  # -1 (no echo) maps to -2, apart from any real range
        "joints": (stand + [0.0] * 12, [0.5] * 12 + [5.0] * 12),
        "targets": (stand * history, [0.5] * 12 * history),
        "command": ([0.0, 0.0, 0.0], [0.3, 0.3, 0.3]),
        "phase": ([0.0, 0.0], [1.0, 1.0]),
        "privileged": (
            sum((v[0] for v in privileged.values()), []),
            sum((v[1] for v in privileged.values()), []),
        ),
    }


CNN_LAYERS = ((3, 2), (3, 2), (3, 1))
"""(kernel, stride) of the camera CNN's three conv layers. The last keeps stride 1, so a
32x24 image leaves 5x3 cells (was (5,2),(3,2),(3,2): 2x1): the box's bearing survives
to the dense layer. Cloned from the teacher with the camera alone, the held-out steer
correlation rose from 0.29 to 0.46 (20k steps, scan head and colour shuffles on)."""


IMAGE_NORM_EPS = 0.005
"""Added to each channel's variance (images in 0..1) before ``image_norm`` divides by its
root: a near-uniform view (a blank wall, variance ~0.001) is scaled ~x12, not blown up to
its pixel noise; the env's views (variance 0.001-0.14 per channel, median 0.03) keep
most of the normalization."""


def conv_out_size(size: int, kernel: int, stride: int) -> int:
    return (size - kernel) // stride + 1


def cnn_min_size_px() -> int:
    """Smallest image side ``CNN_LAYERS`` leave at least one cell of."""
    size = 1
    for kernel, stride in reversed(CNN_LAYERS):
        size = (size - 1) * stride + kernel
    return size


class DepthScan(nn.Module):
    """Nearness of the closest box in each of ``sectors`` vertical slices of the view.

    A fixed layer (no weights) on the floor-removed depth channel
    (``Sensors.depth_observation``): the minimum over each image column, then over each
    sector's columns, as a laser scan made from a depth image. It hands the policy a
    box's bearing and range directly: the CNN alone did not learn to steer round boxes in
    200k steps (issue 5). Output ``1 - range / DEPTH_MAX_M`` per sector, left to right:
    0 when the sector is clear, towards 1 as a box nears.
    """

    def __init__(self, width_px: int, sectors: int = 8) -> None:
        super().__init__()
        if width_px % sectors:
            raise ValueError(f"image width {width_px} is not a multiple of {sectors} sectors")
        self.sectors = sectors
        self.width_px = width_px

    def forward(self, obstacle_depth: torch.Tensor) -> torch.Tensor:
        """``(B, H, W)`` in [0, 1] (depth / ``DEPTH_MAX_M``) -> ``(B, sectors)``."""
        nearness = 1.0 - obstacle_depth  # max over rows and columns = nearest
        column = nearness.amax(dim=1)  # (B, W)
        return column.view(-1, self.sectors, self.width_px // self.sectors).amax(dim=2)


def role_keys(observation_space: spaces.Dict, role: str) -> list[str]:
    """The non-image parts a role reads, in the space's order."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    keys = [k for k in observation_space.spaces if k not in NOT_PROPRIO]
    if role == "critic" and "privileged" in observation_space.spaces:
        keys.append("privileged")
    return keys


class PiDogFeatures(BaseFeaturesExtractor):
    """Scaled proprioception concatenated with CNN features of the head camera.

    :param observation_space: the env's dict space (``image`` optional).
    :param image_features: width of the CNN's output layer.
    :param channels: output channels of the three conv layers (5x5/2, 3x3/2, 3x3/2).
    :param scan_sectors: ``DepthScan`` sectors appended for a two-channel depth image.
    :param role: ``actor`` (the policy group: what the robot has) or ``critic`` (the
        policy group's non-image parts plus ``privileged``; no camera).
    :param image_norm: a colour image enters the CNN standardized per image and channel
        (``nn.InstanceNorm2d``, no weights): the room's colour cast and light level are
        gone before any weight sees them, so the steer cannot lean on them (a depth
        image is left as it is: its values are metres). Part of the network, so the ONNX
        file does the same on the robot.
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        image_features: int = 64,
        channels: tuple[int, int, int] = (8, 16, 16),
        scan_sectors: int = 8,
        role: str = "actor",
        image_norm: bool = False,
    ) -> None:
        self.role = role
        self.keys = role_keys(observation_space, role)
        proprio_dim = sum(int(np.prod(observation_space[k].shape)) for k in self.keys)
        has_image = role == "actor" and "image" in observation_space.spaces
        has_scan = has_image and observation_space["image"].shape[0] == specs.DEPTH_CHANNELS
        features = proprio_dim + (image_features if has_image else 0)
        features += scan_sectors if has_scan else 0
        super().__init__(observation_space, features)
        self.scan: DepthScan | None = None
        if has_scan:
            self.scan = DepthScan(observation_space["image"].shape[2], scan_sectors)
        scaling = part_scaling()
        offset = np.concatenate([scaling[k][0] for k in self.keys]).astype(np.float32)
        scale = np.concatenate([scaling[k][1] for k in self.keys]).astype(np.float32)
        self.register_buffer("offset", torch.as_tensor(offset))
        self.register_buffer("inv_scale", torch.as_tensor(1.0 / scale))
        self.cnn: nn.Module | None = None
        if has_image:
            c, h, w = observation_space["image"].shape
            size = f"{w}x{h}"
            layers: list[nn.Module] = []
            if image_norm and not has_scan:
                layers.append(nn.InstanceNorm2d(c, eps=IMAGE_NORM_EPS))
            in_c = c
            for out_c, (k, s) in zip(channels, CNN_LAYERS, strict=True):
                layers += [nn.Conv2d(in_c, out_c, k, stride=s), nn.ReLU()]
                h, w, in_c = conv_out_size(h, k, s), conv_out_size(w, k, s), out_c
            if min(h, w) < 1:
                least = cnn_min_size_px()
                raise ValueError(
                    f"camera image {size} too small for the CNN (at least {least}x{least})"
                )
            flat = in_c * h * w
            self.cnn = nn.Sequential(
                *layers, nn.Flatten(), nn.Linear(flat, image_features), nn.ReLU()
            )

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        proprio = torch.cat([observations[k].flatten(1) for k in self.keys], dim=1)
        proprio = (proprio - self.offset) * self.inv_scale
        if self.cnn is None:
            return proprio
        image = observations["image"]
        parts = [proprio, self.cnn(image)]
        if self.scan is not None:
            parts.append(self.scan(image[:, 1]))
        return torch.cat(parts, dim=1)


def describe_scaling(keys: list[str]) -> dict[str, dict[str, list[float]]]:
    """The scaling of ``keys`` as plain lists (for the model file's ``normalization``)."""
    scaling = part_scaling()
    return {k: {"offset": scaling[k][0], "scale": scaling[k][1]} for k in keys}
