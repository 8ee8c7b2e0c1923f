"""The ``sim`` backend: the controller's loop against the simulated PiDog.

The same ``PiDogSim`` and ``Sensors`` as every training stage, and the same figures as
``pidog-gaits gait`` (``GaitRunResult``), so a model's deployment path (loading, ONNX,
observation assembly, safety layer, control loop) is measured here before it meets the
robot. ``joint_source="commanded"`` feeds the policy the last commanded angles instead of
the simulator's joint readings, as on the real robot, whose hobby servos report nothing.
"""

from __future__ import annotations

import collections
import math
import time
from pathlib import Path

import numpy as np

from pidog_gaits.backends.base import Reading
from pidog_gaits.robot import specs
from pidog_gaits.sim.physics import PiDogSim
from pidog_gaits.sim.randomization import DomainParams
from pidog_gaits.sim.rollout import GaitRunResult
from pidog_gaits.sim.sensors import Sensors

JOINT_SOURCES = ("measured", "commanded")
IMAGE_KINDS = ("depth", "rgb")


class SimBackend:
    """A simulated PiDog stepped one control period per ``command``.

    :param seconds: planned run length (s); the rear-height figure covers its last second.
    :param quality: physics preset.
    :param seed: seeds the simulator and the sensor noise.
    :param params: domain parameters (``None``: nominal).
    :param realtime: sleep so simulated time keeps pace with the wall clock.
    :param image: ``depth`` or ``rgb`` to render the head camera into each reading (30
        frames/s, ~35 ms late, held between captures: ``Sensors.camera_observation``).
    :param image_size_px: (width, height) of that image.
    :param noise_scale: sensor noise multiplier (0 = exact readings).
    :param joint_source: ``measured`` (simulated encoders) or ``commanded`` (as the robot).
    :param allow_body_contact: a sitting gait rests its body on the floor without falling.
    :param gait_name: recorded in the figures.
    :param video: write an mp4/gif from the chase camera.
    """

    name = "sim"

    def __init__(
        self,
        seconds: float,
        quality: str = "fast",
        seed: int = 0,
        params: DomainParams | None = None,
        realtime: bool = False,
        image: str | None = None,
        image_size_px: tuple[int, int] = (specs.CAMERA_WIDTH_PX, specs.CAMERA_HEIGHT_PX),
        noise_scale: float = 1.0,
        joint_source: str = "measured",
        allow_body_contact: bool = False,
        gait_name: str = "",
        video: str | Path | None = None,
    ) -> None:
        if joint_source not in JOINT_SOURCES:
            raise ValueError(f"joint_source must be one of {', '.join(JOINT_SOURCES)}")
        if image is not None and image not in IMAGE_KINDS:
            raise ValueError(f"image must be one of {', '.join(IMAGE_KINDS)} or None")
        self.realtime = realtime
        self.quality = quality
        self.seed = seed
        self.image = image
        self.image_size_px = image_size_px
        self.joint_source = joint_source
        self.allow_body_contact = allow_body_contact
        self.gait_name = gait_name
        self.sim = PiDogSim(quality, seed=seed, params=params)
        self.sim.reset()
        self.sensors = Sensors(self.sim, np.random.default_rng(seed), noise_scale=noise_scale)
        self.sensors.reset_attitude()  # settled in the stand, as the robot's after stand-up
        self.sensors.reset_camera(t0_s=self.sim.time_s)  # the model's own look
        one_second = round(1.0 / specs.CONTROL_DT_S)
        # The rear-height figure covers the run's last second (a rolling one if endless).
        self._first_rear_step = (
            0 if math.isinf(seconds) else round(seconds / specs.CONTROL_DT_S) - one_second
        )
        self._steps = 0
        self._heights: list[float] = []
        self._rear: collections.deque[float] = collections.deque(maxlen=one_second)
        self._hind_ids = [
            self.sim.model.body(f"{leg}_thigh").id for leg in ("left_hind", "right_hind")
        ]
        self._commanded = self.sim.servo_setpoint_rad.copy()
        self._previous = self._commanded.copy()
        self._fell = False
        self._loop_s = 0.0
        self._t_read: float | None = None
        self._wall_start: float | None = None
        self._recorder = None
        if video is not None:
            from pidog_gaits.sim.video import VideoRecorder

            self._recorder = VideoRecorder(self.sim, video)
            self._recorder.capture(force=True)

    # ------------------------------------------------------------------ Backend
    def joint_pos_rad(self) -> np.ndarray:
        return self.sim.servo_setpoint_rad.copy()

    def read(self) -> Reading:
        self._t_read = time.perf_counter()
        if self.joint_source == "measured":
            joints = self.sensors.joints()
            pos, vel = joints[: specs.NUM_JOINTS], joints[specs.NUM_JOINTS :]
        else:
            pos = self._commanded.copy()
            vel = (self._commanded - self._previous) / specs.CONTROL_DT_S
        image = None
        if self.image is not None:  # at the camera's rate and delay, as in training
            w, h = self.image_size_px
            image = self.sensors.camera_observation(self.image, self.sim.time_s, w, h)
        return Reading(
            imu=self.sensors.imu(),
            sonar_m=self.sensors.ultrasonic(),
            joint_pos_rad=pos,
            joint_vel_radps=vel,
            image=image,
        )

    def command(self, targets_rad: np.ndarray) -> None:
        sim = self.sim
        if self._wall_start is None:
            self._wall_start = time.perf_counter()
        self._previous = self._commanded
        self._commanded = np.asarray(targets_rad, dtype=float).copy()
        sim.step(self._commanded)
        if self._t_read is not None:
            self._loop_s += time.perf_counter() - self._t_read
            self._t_read = None
        self._heights.append(sim.body_height_m)
        if self._steps >= self._first_rear_step:
            self._rear.append(float(np.mean(sim.data.xpos[self._hind_ids, 2])))
        self._steps += 1
        if self._recorder is not None:
            self._recorder.capture()
        if sim.fallen(allow_body_contact=self.allow_body_contact):
            self._fell = True
        if self.realtime:
            ahead_s = sim.time_s - (time.perf_counter() - self._wall_start)
            if ahead_s > 0:
                time.sleep(ahead_s)

    def fell(self) -> bool:
        return self._fell

    def lie_down(self) -> None:
        """Nothing to protect in simulation: the figures stand as they are."""

    def close(self) -> None:
        if self._recorder is not None:
            self._recorder.close()
            self._recorder = None
        self.sensors.close()

    def figures(self) -> dict:
        """The ``pidog-gaits gait`` figures (``GaitRunResult``) of this run."""
        sim = self.sim
        forward, lateral = sim.start_frame_displacement_m()
        result = GaitRunResult(
            gait=self.gait_name,
            seconds=round(sim.time_s, 6),
            quality=self.quality,
            seed=self.seed,
            distance_m=forward,
            lateral_m=lateral,
            yaw_rad=sim.yaw_change_rad(),
            fell=self._fell,
            mean_height_m=float(np.mean(self._heights)) if self._heights else math.nan,
            mean_forward_velocity_mps=forward / max(sim.time_s, 1e-9),
            realtime_factor=sim.time_s / max(self._loop_s, 1e-9),
            rear_height_m=float(np.mean(self._rear)) if self._rear else math.nan,
        )
        return result.as_dict()
