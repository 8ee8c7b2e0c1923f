"""Every physical constant and MJCF name of the simulated SunFounder PiDog, in one place.

Sources (see ``robot/README.md`` for the full list and what was assumed):

* Leg geometry, hip spacing, stand height, joint order, sign conventions and the
  library's gait constants: SunFounder's ``pidog`` Python library (``pidog.py``,
  ``walk.py``, ``trot.py``, ``actions_dictionary.py``).
* Servo figures: SunFounder's 9 g metal-gear servos at the Robot HAT's 5 V (no-load
  60 deg / 0.14 s at 4.8 V per ``robot_hat``, stall torque inferred 2.63 kgf*cm = 0.258 N*m;
  the library's largest leg move rate is 428 deg/s).
* Masses: weighed-part estimates (servos 13.5 g each, Raspberry Pi 4, Robot HAT,
  2x18650 pack, head, frame). Total ~0.75 kg; no published figure was found.

Frames: the robot's body frame has **x forward**, y to the robot's left, z up. The
robot spawns facing world +x, so "forward distance" is the body displacement projected
on the heading it started with (``FORWARD_AXIS_BODY``). Everything inside the package
is in SI units and radians; degrees appear only at the hardware boundary
(``HARDWARE_SIGN`` / ``backends``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from pidog_gaits.robot import camera

ROBOT_DIR = Path(__file__).resolve().parent
PIDOG_XML = ROBOT_DIR / "pidog.xml"
SCENE_XML = ROBOT_DIR / "scene.xml"

# --------------------------------------------------------------------------- frames
FORWARD_AXIS_BODY = np.array([1.0, 0.0, 0.0])
"""The robot's forward direction in its own body frame (x forward, y left, z up)."""
LEFT_AXIS_BODY = np.array([0.0, 1.0, 0.0])
UP_AXIS_BODY = np.array([0.0, 0.0, 1.0])

# --------------------------------------------------------------------------- geometry
UPPER_LEG_M = 0.042
"""Hip-to-knee length (SunFounder ``Pidog.leg = 42`` mm)."""
LOWER_LEG_M = 0.076
"""Knee-to-foot length (SunFounder ``Pidog.foot = 76`` mm)."""
BODY_LENGTH_M = 0.117
"""Front-to-hind hip spacing (SunFounder ``BODY_LENGTH = 117`` mm)."""
BODY_WIDTH_M = 0.098
"""Left-to-right hip spacing (SunFounder ``BODY_WIDTH = 98`` mm)."""
FOOT_RADIUS_M = 0.007
"""Rubber foot tip modelled as a sphere."""
STAND_HIP_HEIGHT_M = 0.080
"""Hip height above the foot centre in the library's stand, walk and trot (``Z_ORIGIN``)."""

LEG_NAMES = ("left_front", "right_front", "left_hind", "right_hind")
"""Leg order of the SunFounder library (feet pins 1-8)."""

HIP_POS_BODY_M = {
    "left_front": (BODY_LENGTH_M / 2, BODY_WIDTH_M / 2, 0.0),
    "right_front": (BODY_LENGTH_M / 2, -BODY_WIDTH_M / 2, 0.0),
    "left_hind": (-BODY_LENGTH_M / 2, BODY_WIDTH_M / 2, 0.0),
    "right_hind": (-BODY_LENGTH_M / 2, -BODY_WIDTH_M / 2, 0.0),
}

# --------------------------------------------------------------------------- joints
JOINT_NAMES = (
    "left_front_shoulder",
    "left_front_knee",
    "right_front_shoulder",
    "right_front_knee",
    "left_hind_shoulder",
    "left_hind_knee",
    "right_hind_shoulder",
    "right_hind_knee",
    "head_yaw",
    "head_roll",
    "head_pitch",
    "tail",
)
"""The one joint order of the package: SunFounder's (8 leg joints, head yaw/roll/pitch, tail)."""
NUM_JOINTS = len(JOINT_NAMES)
NUM_LEG_JOINTS = 8
ACTUATOR_NAMES = tuple(f"{name}_servo" for name in JOINT_NAMES)

LEG_JOINT_RANGE_RAD = (-math.pi / 2, math.pi / 2)
"""Leg servos: the library's servo range, -90..90 deg."""
JOINT_RANGE_RAD = np.array(
    [LEG_JOINT_RANGE_RAD] * NUM_LEG_JOINTS
    + [
        (math.radians(-90), math.radians(90)),  # head yaw
        (math.radians(-70), math.radians(70)),  # head roll
        (math.radians(-45), math.radians(30)),  # head pitch
        (math.radians(-90), math.radians(90)),  # tail
    ]
)
"""Per-joint [low, high] in rad, in ``JOINT_NAMES`` order."""

HARDWARE_SIGN = np.array([1, 1, -1, -1, 1, 1, -1, -1, 1, -1, 1, 1], dtype=float)
"""Sign from the simulator's joint angle to the SunFounder library's servo angle.

Simulator leg angles equal the library's *left* leg angles (shoulder: thigh angle from
straight down, positive towards the rear; knee: the library's ``beta - 90 deg``); the
library negates the right legs. Head roll is negated by ``head_rpy_to_angle``.
"""
HEAD_PITCH_OFFSET_DEG = 45.0
"""The head pitch servo's mounting offset on the real robot (LESSONS.md)."""

# --------------------------------------------------------------------------- servos
SERVO_SUPPLY_V = 5.0
"""The Robot HAT feeds its PWM servo headers 5 V (robot-hat docs, hardware_introduction.rst)."""
SERVO_NO_LOAD_SPEED_RADPS = math.radians(428.0 * SERVO_SUPPLY_V / 4.8)
"""~446 deg/s: SunFounder's own servo figure, 60 deg in 0.14 s at 4.8 V (``robot_hat.Robot.max_dps``
comment), scaled to 5 V (a DC motor's speed is proportional to its voltage)."""
SERVO_STALL_TORQUE_NM = 0.258
"""2.63 kgf*cm at 5 V, inferred: SunFounder publishes no torque, so its servo is taken to have
the motor of the metal-gear 9 g class (MG90S: 1.8 kgf*cm at 60 deg / 0.10 s, 4.8 V) geared
for its slower 60 deg / 0.14 s: 1.8 x 0.14 / 0.10 = 2.52 kgf*cm at 4.8 V, x 5 / 4.8 at 5 V.
SunFounder's trot stays up in the model in a window around this torque (x0.8: 3 of 7 runs
fall, x2: 7 of 7; ``robot/README.md``, "Why the library's trot fell")."""
SERVO_MAX_SPEED_RADPS = math.radians(428.0)
"""Largest joint rate the library commands (428 deg/s); the servo set-point's slew limit."""
SERVO_KP_NM_PER_RAD = 3.0
"""Position gain: full stall torque at ~5 deg of error, like a digital micro servo."""
SERVO_KV_NMS_PER_RAD = 0.033
"""Back-EMF damping: stall torque over no-load speed (0.258 / 7.78 rad/s), so a saturated
servo slows down under load like its DC motor does."""
SERVO_ARMATURE_KGM2 = 2.0e-4
"""Reflected rotor inertia of the gear train."""
SERVO_FRICTIONLOSS_NM = 0.004
DEFAULT_LATENCY_S = 0.010
"""Command latency from the controller to the servo (PWM frame + I2C), default 10 ms."""

# --------------------------------------------------------------------------- masses
MASSES_KG = {
    "chassis": 0.235,  # frame plates, standoffs, screws, wiring
    "battery": 0.115,  # 2x18650 pack and holder, under the body towards the rear
    "electronics": 0.080,  # Raspberry Pi 4 + Robot HAT + speaker
    "body_servos": 0.0135 * 5,  # 4 shoulder servos + tail servo, in the body
    "thigh": 0.024,  # knee servo + upper leg link, each
    "shank": 0.009,  # lower leg link + foot, each
    "neck": 0.030,  # head yaw servo + bracket
    "neck_roll": 0.020,  # head roll servo + bracket
    "head": 0.068,  # pitch servo, camera, ultrasonic sensor, head shell
    "tail": 0.006,
}
TOTAL_MASS_KG = (
    MASSES_KG["chassis"]
    + MASSES_KG["battery"]
    + MASSES_KG["electronics"]
    + MASSES_KG["body_servos"]
    + 4 * (MASSES_KG["thigh"] + MASSES_KG["shank"])
    + MASSES_KG["neck"]
    + MASSES_KG["neck_roll"]
    + MASSES_KG["head"]
    + MASSES_KG["tail"]
)

# --------------------------------------------------------------------------- contact
FOOT_FRICTION = 0.4
"""Bare metal leg tip on a wooden or tiled floor (metal on dry wood: 0.2-0.6, Engineer's
Handbook table); SunFounder's kit lists no rubber feet. The foot geom has priority, so this is
the contact's friction (before, MuJoCo took the floor's larger 1.0)."""
BODY_FRICTION = 0.5

# --------------------------------------------------------------------------- sensors
CONTROL_RATE_HZ = 50.0
"""Fixed control rate, whatever the physics preset (the library runs 10-20 ms frames)."""
CONTROL_DT_S = 1.0 / CONTROL_RATE_HZ

ULTRASONIC_MIN_RANGE_M = 0.02
ULTRASONIC_MAX_RANGE_M = 4.0
"""HC-SR04-type rangefinder in PiDog's head: 2 cm to 4 m."""
ULTRASONIC_HALF_ANGLE_RAD = math.radians(7.5)
"""Half-angle of the ~15 deg beam."""
ULTRASONIC_NO_ECHO = -1.0
"""The reading without an echo: SunFounder's ``Ultrasonic.read()`` returns -1 when the
echo times out (nothing in range, or the ping was lost)."""
ULTRASONIC_MISS_PROB = 0.05
"""Chance that a reading with a surface in range still gets no echo. Assumed: HC-SR04
modules on a walking robot lose an occasional ping to glancing surfaces and vibration;
no published rate for PiDog was found, so the policy is trained to shrug off ~1 in 20."""

NOISE_SIGMA = {
    "joint_pos_rad": 0.01,
    "joint_vel_radps": 0.1,
    "accel_mps2": 0.05,
    "gyro_radps": 0.01,
    "ultrasonic_m": 0.01,
    "depth_m": 0.01,
}
"""Gaussian sensor noise; joint figures match the seed pipeline's data collection. Roll and
pitch carry no noise of their own: they are estimated from the noisy accelerometer and
gyro (``robot.imu.AttitudeFilter``)."""
IMU_BIAS_SIGMA = {"accel_mps2": 0.1, "gyro_radps": 0.01}
"""Per-axis constant bias of an uncalibrated IMU (1 sigma): ~10 mg and ~0.6 deg/s, the
order of a consumer 6-axis MEMS part's zero offsets after soldering. Scaled per episode by
``DomainParams.imu_bias_scale`` (0 nominal: evaluation reads an unbiased IMU)."""

CAMERA_WIDTH_PX = 64
CAMERA_HEIGHT_PX = 48
"""Default image size of the sensors' camera methods (4:3, like the OV5647)."""
CAMERA_FOVY_DEG = camera.CAMERA_VFOV_DEG
"""Head camera's vertical field of view, ``pidog.xml``'s ``fovy`` (41.84 deg): SunFounder's
65 deg view angle taken as the 4:3 picture's diagonal (``robot/camera.py``)."""
DEPTH_MAX_M = 2.0
DEPTH_CHANNELS = 2
"""The policy's depth image: depth and floor-removed depth (``Sensors.depth_observation``)."""

# --------------------------------------------------------------------------- MJCF names
BODY_NAME = "body"
FREE_JOINT_NAME = "root"
IMU_SITE = "imu"
ULTRASONIC_SITE = "ultrasonic"
HEAD_CAMERA = "head_camera"
TRACK_CAMERA = "track"
FOOT_GEOMS = tuple(f"{leg}_foot" for leg in LEG_NAMES)
FALL_GEOMS = ("body_collision", "head_collision")
"""Geoms whose contact with the floor means the robot has fallen."""
STAND_KEYFRAME = "stand"
ACCEL_SENSOR = "imu_accel"
GYRO_SENSOR = "imu_gyro"
QUAT_SENSOR = "imu_quat"

ROBOT_GEOM_GROUP_VISUAL = 2
ROBOT_GEOM_GROUP_COLLISION = 3
WORLD_GEOM_GROUP = 0
