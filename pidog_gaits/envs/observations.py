"""What the policy sees and what only the critic sees: the observation groups, in one place.

The **policy group** (the deployed actor) holds only what a PiDog has (DESIGN.md, "What
the policy may see"): the head colour camera (``image``), the 6-axis IMU with roll and
pitch as the robot estimates them (``imu``), the ultrasonic range with its -1 for no echo
(``sonar``), the joint targets it commanded over the last ``TARGET_HISTORY`` steps
(``targets``: hobby servos report no position, so the commands stand in for encoders),
the command (``command``) and the gait phase (``phase``). ``joints`` (measured positions
and velocities) joins the group only for robots with feedback servos
(``EnvConfig.joint_readings='measured'``), never by default.

The **critic group** adds ``privileged``: what the simulator knows and the robot does
not (true joint states, body velocity and attitude, the nearest boxes, the episode's
domain parameters, the true range ahead). The value function uses it during training
(asymmetric actor-critic, ``envs.asymmetric``); the exported ONNX graph takes the policy
group only, so a deployed model can never ask for it.

Stage 1 records the same robot parts as a flat vector (``observations`` in the gait data),
so what the imitation data saw and what PPO's actor sees are the same numbers.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from pidog_gaits.robot import specs
from pidog_gaits.sim.randomization import DomainParams
from pidog_gaits.sim.sensors import IMU_DIM, Sensors

TARGET_HISTORY = 3
"""Commanded joint-target vectors the policy sees, newest first: the last one says where
the servos are heading, the two before it how fast (a servo's lag is ~2-3 steps)."""
JOINT_READINGS = ("commanded", "measured")

ROBOT_PARTS: dict[str, int] = {
    "imu": IMU_DIM,  # accel xyz (m/s^2), gyro xyz (rad/s), roll, pitch (rad, estimated)
    "sonar": 1,  # ultrasonic range (m), 0.02..4.0, or -1 for no echo
    "targets": TARGET_HISTORY * specs.NUM_JOINTS,  # commanded targets (rad), newest first
    "command": 3,  # speed (m/s), yaw rate (rad/s, + = left), heading-hold correction (rad/s)
    "phase": 2,  # sin, cos of the gait phase
}
"""The policy group's non-image parts, in their flat order (``joints`` not included)."""
MEASURED_PARTS: dict[str, int] = {"joints": 2 * specs.NUM_JOINTS}
"""Measured joint positions (rad) then velocities (rad/s): feedback servos only."""

DOMAIN_DIM = len(dataclasses.fields(DomainParams))
"""The episode's domain parameters in ``privileged`` (``sim.randomization.DomainParams``)."""
PRIVILEGED_BOXES = 3
"""Nearest boxes the critic sees (body frame); absent ones read as far away."""
PRIVILEGED_TERMS: dict[str, int] = {
    "joint_pos_rad": specs.NUM_JOINTS,
    "joint_vel_radps": specs.NUM_JOINTS,
    "body_lin_vel_mps": 3,  # body frame
    "body_ang_vel_radps": 3,  # body frame
    "roll_pitch_rad": 2,  # true attitude
    "body_height_m": 1,
    "boxes_m": 3 * PRIVILEGED_BOXES,  # per box: ahead, left (centre, m), half size (m)
    "domain": DOMAIN_DIM,  # every DomainParams field, in its order
    "range_ahead_m": 1,  # the true ultrasonic distance, no noise or misses
}
"""The critic-only vector ``privileged``, its terms in order."""
PRIVILEGED_DIM = sum(PRIVILEGED_TERMS.values())
_ends = np.cumsum(list(PRIVILEGED_TERMS.values()))
PRIVILEGED_SLICES: dict[str, slice] = {
    name: slice(int(end - size), int(end))
    for (name, size), end in zip(PRIVILEGED_TERMS.items(), _ends, strict=True)
}
"""Where each term sits in ``privileged``."""
FAR_BOX_M = 4.0
"""Where an absent box is put in ``boxes_m`` (ahead, m): beyond anything that matters."""

PROPRIO_DIM = sum(ROBOT_PARTS.values())


def policy_parts(joint_readings: str = "commanded") -> dict[str, int]:
    """The policy group's non-image parts and sizes, in order, for a joint-reading mode."""
    if joint_readings not in JOINT_READINGS:
        raise ValueError(f"joint_readings must be one of {', '.join(JOINT_READINGS)}")
    parts = dict(ROBOT_PARTS)
    if joint_readings == "measured":
        parts = {"imu": parts["imu"], "sonar": parts["sonar"], **MEASURED_PARTS, **parts}
    return parts


_MEASURED_ORDER = tuple(policy_parts("measured"))

IMAGE_UNITS = {
    "rgb": "head colour camera (PiDog's OV5647 via picamera2), RGB uint8, through "
    "robot.camera.preprocess_frame",
    "depth": "depth image: SIMULATOR ONLY, PiDog has no depth camera",
}
PART_UNITS: dict[str, str] = {
    "imu": "accelerometer (m/s^2), gyro (rad/s), roll and pitch estimated from both (rad)",
    "sonar": "ultrasonic range (m), -1 for no echo",
    "targets": f"the last {TARGET_HISTORY} commanded joint-target vectors (rad), newest first",
    "joints": "measured joint positions (rad) and velocities (rad/s): feedback servos only",
    "command": "forward speed (m/s) and yaw rate (rad/s) asked for, and the heading hold's "
    "correction (rad/s) towards the goal heading",
    "phase": "sin and cos of the gait phase",
}
"""What each policy input is, for model READMEs and SUMMARY.txt."""


def policy_inputs(vision: str, joint_readings: str = "commanded") -> list[tuple[str, str]]:
    """``(part, what it is)`` for every input the deployed actor reads, in order: what a
    model README and SUMMARY.txt tell the user the robot must supply."""
    rows = [("image", IMAGE_UNITS[vision])] if vision in IMAGE_UNITS else []
    return rows + [(k, PART_UNITS[k]) for k in policy_parts(joint_readings)]


def runs_on_pidog(vision: str, joint_readings: str = "commanded") -> str:
    """'' when PiDog can feed every input, else why not (one sentence)."""
    if vision == "depth":
        return "it sees a depth image, which PiDog's colour camera cannot give"
    if joint_readings == "measured":
        return "it reads measured joint angles, which PiDog's hobby servos do not report"
    return ""


def phase_features(phase: float) -> np.ndarray:
    """sin/cos of the gait phase: continuous across the wrap from 1 to 0."""
    angle = 2.0 * math.pi * phase
    return np.array([math.sin(angle), math.cos(angle)])


def read_parts(
    sensors: Sensors,
    target_history: np.ndarray,
    command: np.ndarray,
    phase: float,
    joint_readings: str = "commanded",
) -> dict[str, np.ndarray]:
    """The policy group's non-image parts as float32 arrays, in ``policy_parts`` order.

    :param target_history: ``(TARGET_HISTORY, 12)`` commanded targets (rad), newest first.
    """
    parts = {
        "imu": sensors.imu().astype(np.float32),
        "sonar": np.array([sensors.ultrasonic()], dtype=np.float32),
        "targets": np.asarray(target_history, dtype=np.float32).ravel(),
        "command": np.asarray(command, dtype=np.float32),
        "phase": phase_features(phase).astype(np.float32),
    }
    if joint_readings == "measured":
        parts["joints"] = sensors.joints().astype(np.float32)
        return {k: parts[k] for k in _MEASURED_ORDER}
    return parts  # already in ROBOT_PARTS order


def flatten(parts: dict[str, np.ndarray]) -> np.ndarray:
    """The flat ``(PROPRIO_DIM,)`` vector of the robot parts in ``ROBOT_PARTS`` order."""
    return np.concatenate([np.asarray(parts[k], dtype=np.float32).ravel() for k in ROBOT_PARTS])


def push_history(history: np.ndarray, targets: np.ndarray) -> None:
    """Shift ``history`` (newest first) by one and put ``targets`` in front, in place."""
    history[1:] = history[:-1]
    history[0] = targets
