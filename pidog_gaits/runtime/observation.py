"""The PPO policy's observation, assembled from a control step's context (numpy only).

The same parts, order, units and clipping as ``PiDogEnv._observe``'s policy group
(``envs.observations``): ``imu``, ``sonar`` (-1 for no echo), ``joints`` (measured
positions then velocities, only for a model trained on feedback servos), ``targets``
(the last ``TARGET_HISTORY`` commanded targets, newest first), ``command``, ``phase``
(sin, cos), and ``image`` when the policy has a camera. Part bounds travel with the model
(ONNX metadata, or the SB3 policy's observation space), so the robot needs neither
gymnasium nor MuJoCo to build it. The critic's ``privileged`` part never reaches here.
"""

from __future__ import annotations

import math

import numpy as np

from pidog_gaits.runtime.base import StepContext

TARGET_HISTORY = 3
"""``envs.observations.TARGET_HISTORY`` (tested equal), repeated here so the robot's
import path stays free of MuJoCo."""
PART_ORDER = ("imu", "sonar", "joints", "targets", "command", "phase")
"""The policy group's non-image parts in ``envs.observations.policy_parts`` order
(``joints`` only for ``joint_readings='measured'``; tested equal)."""
CRITIC_ONLY = ("privileged",)
"""Observation parts the deployed actor never reads."""


def phase_features(phase: float) -> np.ndarray:
    angle = 2.0 * math.pi * phase
    return np.array([math.sin(angle), math.cos(angle)], dtype=np.float32)


def actor_keys(keys) -> list[str]:
    """A model's observation keys without the critic-only ones, in order."""
    return [k for k in keys if k not in CRITIC_ONLY]


def build_observation(
    ctx: StepContext,
    keys: list[str] | tuple[str, ...],
    bounds: dict[str, tuple[np.ndarray, np.ndarray]],
) -> dict[str, np.ndarray]:
    """``{key: array}`` with a leading batch axis of 1, float32 (uint8 for ``image``)."""
    r = ctx.reading
    if r is None:
        raise ValueError("this policy needs sensor readings")
    history = ctx.target_history
    if history is None:
        history = np.tile(np.asarray(ctx.last_targets, dtype=float), (TARGET_HISTORY, 1))
    parts = {
        "imu": lambda: np.asarray(r.imu, dtype=np.float32),
        "sonar": lambda: np.array([r.sonar_m], dtype=np.float32),
        "joints": lambda: np.concatenate([r.joint_pos_rad, r.joint_vel_radps]).astype(np.float32),
        "targets": lambda: np.asarray(history, dtype=np.float32).ravel(),
        "command": lambda: np.array(
            [
                ctx.command[0],
                ctx.command[1] - ctx.heading_correction_radps,
                ctx.heading_correction_radps,
            ],
            dtype=np.float32,
        ),
        "phase": lambda: phase_features(ctx.phase),
    }
    out: dict[str, np.ndarray] = {}
    for key in keys:
        if key == "image":
            if r.image is None:
                raise ValueError("this policy needs the head camera image")
            out[key] = np.asarray(r.image, dtype=np.uint8)[None]
            continue
        if key not in parts:
            raise ValueError(f"the robot cannot give the observation part {key!r}")
        value = parts[key]()
        if key in bounds:
            low, high = bounds[key]
            value = np.clip(value, low, high).astype(np.float32)
        out[key] = value[None]
    return out
