"""The PPO policy's observation, assembled from a control step's context (numpy only).

The same parts, order, units and clipping as ``PiDogEnv._observe`` (``envs.observations.
OBS_PARTS``): ``imu``, ``sonar``, ``joints`` (12 positions then 12 velocities),
``last_action`` (last joint targets), ``command``, ``phase`` (sin, cos), and ``image`` when
the policy has a camera. Part bounds travel with the model (ONNX metadata, or the SB3
policy's observation space), so the robot needs neither gymnasium nor MuJoCo to build it.
"""

from __future__ import annotations

import math

import numpy as np

from pidog_gaits.runtime.base import StepContext

PART_ORDER = ("imu", "sonar", "joints", "last_action", "command", "phase")
"""``envs.observations.OBS_PARTS`` order (tested equal)."""


def phase_features(phase: float) -> np.ndarray:
    angle = 2.0 * math.pi * phase
    return np.array([math.sin(angle), math.cos(angle)], dtype=np.float32)


def build_observation(
    ctx: StepContext,
    keys: list[str] | tuple[str, ...],
    bounds: dict[str, tuple[np.ndarray, np.ndarray]],
) -> dict[str, np.ndarray]:
    """``{key: array}`` with a leading batch axis of 1, float32 (uint8 for ``image``)."""
    r = ctx.reading
    if r is None:
        raise ValueError("this policy needs sensor readings")
    parts = {
        "imu": np.asarray(r.imu, dtype=np.float32),
        "sonar": np.array([r.sonar_m], dtype=np.float32),
        "joints": np.concatenate([r.joint_pos_rad, r.joint_vel_radps]).astype(np.float32),
        "last_action": np.asarray(ctx.last_targets, dtype=np.float32),
        "command": np.asarray(ctx.command, dtype=np.float32),
        "phase": phase_features(ctx.phase),
    }
    out: dict[str, np.ndarray] = {}
    for key in keys:
        if key == "image":
            if r.image is None:
                raise ValueError("this policy needs the head camera image")
            out[key] = np.asarray(r.image, dtype=np.uint8)[None]
            continue
        value = parts[key]
        if key in bounds:
            low, high = bounds[key]
            value = np.clip(value, low, high).astype(np.float32)
        out[key] = value[None]
    return out
