"""The PiDog's left-right mirror: what the robot would sense, and should do, in the world
reflected through its own sagittal plane.

The robot, its trot and the task are symmetric under that reflection, so a good policy is
too: ``policy(mirror(obs)) == mirror(policy(obs))``. PPO does not find that by itself: a
residual that leans one way costs little reward within 200k steps and walks the robot off
its heading for good (seed 2 at stop 21: 0.27 m sideways per m on a straight command,
seeds 0 and 1: 0.01-0.03). ``warm_start.TeacherAnchor`` fits the actor towards its own
mirror-averaged mean with these maps (the symmetry augmentation of Mittal et al., 2024,
"Symmetry considerations for learning task symmetric robot policies").

The maps (body frame x ahead, y left, z up; reflection y -> -y):

- joints (``specs.JOINT_NAMES``): the left and right legs swap; the simulator's leg angles
  share one convention on both sides (``specs.HARDWARE_SIGN``), so they keep their sign;
  head yaw, head roll and tail change sign, head pitch keeps it.
- IMU ``[ax, ay, az, gx, gy, gz, roll, pitch]``: ay, gx, gz and roll change sign.
- command ``[speed, yaw rate, heading correction]``: the two turns change sign.
- phase ``[sin, cos]``: the trot's diagonal pairs swap, which is the same trot half a cycle
  later (``PriorSequence``'s knots satisfy ``mirror(turn t at phase p) == turn -t at
  phase p + 0.5`` to 1e-7 rad), so both features change sign.
- image: columns reversed; sonar: unchanged.
- action: the 12 residuals as joints, ``steer`` changes sign.
"""

from __future__ import annotations

import numpy as np

from pidog_gaits.robot import specs

JOINT_MIRROR_INDEX = np.array([2, 3, 0, 1, 6, 7, 4, 5, 8, 9, 10, 11])
"""Joint ``i`` of the mirrored robot is joint ``JOINT_MIRROR_INDEX[i]`` of this one."""
JOINT_MIRROR_SIGN = np.array([1.0] * specs.NUM_LEG_JOINTS + [-1.0, -1.0, 1.0, -1.0])
"""Then times this sign (head yaw, head roll, tail turn the other way)."""
IMU_MIRROR_SIGN = np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0, -1.0, 1.0])
COMMAND_MIRROR_SIGN = np.array([1.0, -1.0, -1.0])
PHASE_MIRROR_SIGN = np.array([-1.0, -1.0])

_SIGNS = {"imu": IMU_MIRROR_SIGN, "command": COMMAND_MIRROR_SIGN, "phase": PHASE_MIRROR_SIGN}


def mirror_joints(values: np.ndarray) -> np.ndarray:
    """Mirror joint vectors along the last axis: ``(..., 12 * k)`` holds ``k`` blocks of 12
    in ``JOINT_NAMES`` order (a target history, or positions then velocities)."""
    values = np.asarray(values)
    blocks = values.shape[-1] // specs.NUM_JOINTS
    if blocks * specs.NUM_JOINTS != values.shape[-1] or blocks == 0:
        raise ValueError(f"last axis {values.shape[-1]} is not a multiple of 12 joints")
    index = (JOINT_MIRROR_INDEX[None, :] + specs.NUM_JOINTS * np.arange(blocks)[:, None]).ravel()
    sign = np.tile(JOINT_MIRROR_SIGN, blocks).astype(values.dtype)
    return values[..., index] * sign


def mirror_observation(obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The mirrored policy observation, batched or not (images ``(..., C, H, W)``). The
    critic's ``privileged`` part is dropped: only the actor is mirrored."""
    out: dict[str, np.ndarray] = {}
    for key, value in obs.items():
        value = np.asarray(value)
        if key == "image":
            out[key] = np.ascontiguousarray(value[..., ::-1])
        elif key in ("targets", "joints"):
            out[key] = mirror_joints(value)
        elif key in _SIGNS:
            out[key] = value * _SIGNS[key].astype(value.dtype)
        elif key == "sonar":
            out[key] = value.copy()
        elif key != "privileged":
            raise KeyError(f"no mirror known for observation part {key!r}")
    return out


def mirror_action(action: np.ndarray) -> np.ndarray:
    """The mirrored action ``(..., 12)`` or ``(..., 13)``: residuals as joints, steer negated."""
    action = np.asarray(action)
    out = np.array(action, copy=True)
    n = specs.NUM_JOINTS
    out[..., :n] = mirror_joints(action[..., :n])
    if action.shape[-1] > n:
        out[..., n:] = -action[..., n:]
    return out
