"""PiDog's sensors with noise: IMU, ultrasonic rangefinder, head camera, joint encoders.

Readings are what the real robot can give: the SH3001 6-axis IMU has no magnetometer, so
orientation is roll and pitch only (no absolute yaw), estimated from the accelerometer
and gyro by the same filter the robot runs (``robot.imu.AttitudeFilter``); the
HC-SR04-type rangefinder returns the nearest echo in a ~15 deg cone, 2 cm..4 m, or the
library's -1 when no echo comes back (nothing in range, or a missed echo). Joint
positions and velocities are the simulator's: they are for the critic and for robots
with feedback servos; PiDog's hobby servos report no position.

The colour camera is ray cast (``sim/camera.py``, no OpenGL) and passes through the
robot's own ``robot.camera.preprocess_frame``. ``camera_observation(kind, t_s)`` gives the
policy's image as the real camera would deliver it at control time ``t_s``: captured at
30 frames/s, ~35 ms late, the last frame held between captures (``CameraStream``);
``reset_camera`` starts an episode with a new ``CameraAppearance``.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from pidog_gaits.robot import specs
from pidog_gaits.robot.camera import CAMERA_FRAME_RATE_HZ
from pidog_gaits.robot.imu import AttitudeFilter
from pidog_gaits.sim.camera import NATIVE_SCALE, CameraAppearance, CameraStream, RayCamera
from pidog_gaits.sim.physics import PiDogSim

CAMERA_KINDS = ("rgb", "depth")

IMU_DIM = 8
"""accelerometer xyz (m/s^2), gyro xyz (rad/s), roll, pitch (rad)."""


def _cone_directions(half_angle_rad: float, rings: int = 1, per_ring: int = 6) -> np.ndarray:
    """Unit ray directions in the sensor frame (x ahead) filling a cone."""
    dirs = [np.array([1.0, 0.0, 0.0])]
    for r in range(1, rings + 1):
        a = half_angle_rad * r / rings
        for k in range(per_ring):
            phi = 2 * math.pi * k / per_ring
            dirs.append(
                np.array([math.cos(a), math.sin(a) * math.cos(phi), math.sin(a) * math.sin(phi)])
            )
    return np.array(dirs)


def _sigmas(*parts: tuple[str, int]) -> np.ndarray:
    """``specs.NOISE_SIGMA`` of each ``(key, size)`` part repeated ``size`` times, in order."""
    return np.concatenate([np.full(n, specs.NOISE_SIGMA[key]) for key, n in parts])


class _NoiseSigma:
    """A reading's per-entry noise sigmas and which of them draw (sigma 0 draws nothing)."""

    def __init__(self, sigma: np.ndarray) -> None:
        self.sigma = sigma
        self.nonzero = sigma != 0.0
        self.count = int(self.nonzero.sum())
        self.all_nonzero = self.count == sigma.size


class Sensors:
    """Noisy sensor readings of a ``PiDogSim``.

    :param sim: the simulator to read.
    :param rng: random source for the noise (seeded by the caller).
    :param noise_scale: multiplies every sigma in ``specs.NOISE_SIGMA`` (0 = exact).
    """

    def __init__(self, sim: PiDogSim, rng: np.random.Generator, noise_scale: float = 1.0) -> None:
        self.sim = sim
        self.rng = rng
        m = sim.model
        self._accel_adr = m.sensor_adr[
            mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SENSOR, specs.ACCEL_SENSOR)
        ]
        self._gyro_adr = m.sensor_adr[
            mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SENSOR, specs.GYRO_SENSOR)
        ]
        self._sonar_site = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, specs.ULTRASONIC_SITE)
        self._cam_id = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_CAMERA, specs.HEAD_CAMERA)
        self._sonar_dirs = _cone_directions(specs.ULTRASONIC_HALF_ANGLE_RAD)
        self._geomgroup = np.zeros(6, dtype=np.uint8)
        self._geomgroup[specs.WORLD_GEOM_GROUP] = 1
        self._ray_geomid = np.zeros(len(self._sonar_dirs), dtype=np.int32)
        self._ray_dist = np.zeros(len(self._sonar_dirs))
        self.attitude = AttitudeFilter()
        self._attitude_time_s: float | None = None
        self.sonar_miss_prob = specs.ULTRASONIC_MISS_PROB
        """Chance that a reading with a surface in range gets no echo (-1)."""
        self.last_true_range_m = specs.ULTRASONIC_MAX_RANGE_M
        """The true range (m) behind the last ``ultrasonic()`` reading."""
        self._depth_dirs: np.ndarray | None = None
        self._ray_cameras: dict[tuple[int, int], RayCamera] = {}
        self._streams: dict[tuple[str, int, int], CameraStream] = {}
        self.appearance = CameraAppearance()
        """The colour camera's appearance this episode (``reset_camera``)."""
        self._camera_t0_s = 0.0
        self._camera_phase_s = 0.0
        # Roll and pitch are the attitude filter's, from the noisy accel and gyro.
        self._unit_imu = _sigmas(("accel_mps2", 3), ("gyro_radps", 3))
        self._unit_joints = _sigmas(
            ("joint_pos_rad", specs.NUM_JOINTS), ("joint_vel_radps", specs.NUM_JOINTS)
        )
        self.noise_scale = noise_scale
        self.imu_bias = np.zeros(6)
        """Constant ``[accel (m/s^2) x3, gyro (rad/s) x3]`` bias added to every IMU reading
        this episode (``draw_imu_bias``); zero unless a domain parameter asks for one."""

    def draw_imu_bias(self, scale: float) -> None:
        """A new constant IMU bias of ``scale`` x ``specs.IMU_BIAS_SIGMA`` per axis (from
        ``rng``; nothing is drawn at scale 0, so nominal runs keep their random stream)."""
        if scale == 0.0:
            self.imu_bias = np.zeros(6)
            return
        sigma = np.repeat(
            [specs.IMU_BIAS_SIGMA["accel_mps2"], specs.IMU_BIAS_SIGMA["gyro_radps"]], 3
        )
        self.imu_bias = scale * sigma * self.rng.standard_normal(6)

    @property
    def noise_scale(self) -> float:
        """Multiplies every sigma in ``specs.NOISE_SIGMA`` (0 = exact readings)."""
        return self._noise_scale

    @noise_scale.setter
    def noise_scale(self, scale: float) -> None:
        self._noise_scale = scale
        # Per-reading sigmas, worked out once per change (an episode's draw), not per step.
        self._imu_sigma = _NoiseSigma(self._unit_imu * scale)
        self._joint_sigma = _NoiseSigma(self._unit_joints * scale)

    def _add_noise(self, values: np.ndarray, sigma: _NoiseSigma) -> np.ndarray:
        """``values`` plus Gaussian noise of ``sigma`` per entry, in place.

        One draw for a whole reading: ``rng.normal(0, s, n)`` is ``0 + s * z`` with ``z``
        the generator's next standard normals, so drawing the parts' ``z`` together, in
        the parts' order, gives the per-part draws' numbers bit for bit; entries whose
        sigma is 0 draw nothing, as ``_noise`` does.
        """
        if sigma.all_nonzero:
            values += sigma.sigma * self.rng.standard_normal(sigma.sigma.size)
        elif sigma.count:
            values[sigma.nonzero] += sigma.sigma[sigma.nonzero] * self.rng.standard_normal(
                sigma.count
            )
        return values

    def _sigma(self, key: str) -> float:
        return specs.NOISE_SIGMA[key] * self.noise_scale

    def _noise(self, key: str, shape) -> np.ndarray:
        sigma = self._sigma(key)
        if sigma == 0.0:
            return np.zeros(shape)
        return self.rng.normal(0.0, sigma, shape)

    # ------------------------------------------------------------------ IMU
    def imu(self) -> np.ndarray:
        """``[ax, ay, az, gx, gy, gz, roll, pitch]`` in the body frame (m/s^2, rad/s, rad).

        Roll and pitch are the robot's own estimate from the noisy accelerometer and gyro
        (``robot.imu.AttitudeFilter``, advanced by the simulated time since the last
        reading), not the simulator's true attitude (``true_roll_pitch_rad``).
        """
        sd = self.sim.data.sensordata
        out = np.empty(6)
        out[0:3] = sd[self._accel_adr : self._accel_adr + 3]
        out[3:6] = sd[self._gyro_adr : self._gyro_adr + 3]
        out += self.imu_bias
        self._add_noise(out, self._imu_sigma)
        now = self.sim.time_s
        dt = -1.0 if self._attitude_time_s is None else now - self._attitude_time_s
        self._attitude_time_s = now
        roll, pitch = self.attitude.update(out[0:3], out[3:6], dt)
        return np.append(out, (roll, pitch))

    def reset_attitude(self, settled: bool = True) -> None:
        """Restart the roll/pitch filter for a new episode. ``settled``: start it at the
        true attitude, as the robot's filter has settled by the time a gait starts (it
        runs through the 1 s stand-up, ``runtime.loop``); else from the next reading."""
        if settled:
            self.attitude.reset(*self.true_roll_pitch_rad())
            self._attitude_time_s = self.sim.time_s
        else:
            self.attitude.reset()
            self._attitude_time_s = None

    def true_roll_pitch_rad(self) -> np.ndarray:
        """The simulator's exact roll and pitch (rad): privileged, for the critic."""
        r = self.sim.body_rotation
        roll = math.atan2(r[2, 1], r[2, 2])
        pitch = -math.asin(max(-1.0, min(1.0, r[2, 0])))
        return np.array([roll, pitch])

    # ------------------------------------------------------------------ encoders
    def joints(self) -> np.ndarray:
        """12 joint positions (rad) then 12 velocities (rad/s), with encoder noise."""
        out = np.concatenate([self.sim.joint_pos_rad, self.sim.joint_vel_radps])
        return self._add_noise(out, self._joint_sigma)

    # ------------------------------------------------------------------ ultrasonic
    def ultrasonic_true_m(self) -> float:
        """Nearest world surface in the beam (m), without noise, capped at the max range."""
        d = self.sim.data
        origin = d.site_xpos[self._sonar_site]
        rot = d.site_xmat[self._sonar_site].reshape(3, 3)
        dirs = (self._sonar_dirs @ rot.T).ravel()
        mujoco.mj_multiRay(
            self.sim.model,
            d,
            origin,
            dirs,
            self._geomgroup,
            1,
            -1,
            self._ray_geomid,
            self._ray_dist,
            None,
            len(self._sonar_dirs),
            specs.ULTRASONIC_MAX_RANGE_M,
        )
        rays = zip(self._ray_geomid.tolist(), self._ray_dist.tolist(), strict=True)
        hits = [r for g, r in rays if g >= 0]
        return min(hits) if hits else specs.ULTRASONIC_MAX_RANGE_M  # 7 rays: no numpy

    def ultrasonic(self) -> float:
        """Range reading (m) with noise, 2 cm..4 m, or ``ULTRASONIC_NO_ECHO`` (-1).

        No echo comes back when nothing is within range, and, with probability
        ``sonar_miss_prob``, when a surface is (a glancing or soft surface, or a ping lost
        to the trot's motion): the SunFounder library reports -1 for both. With
        ``noise_scale`` 0 (exact readings) no echo is lost.
        """
        true = self.last_true_range_m = self.ultrasonic_true_m()
        if true >= specs.ULTRASONIC_MAX_RANGE_M:
            return specs.ULTRASONIC_NO_ECHO
        miss = self.sonar_miss_prob if self.noise_scale > 0.0 else 0.0  # exact: no misses
        if miss > 0.0 and self.rng.random() < miss:
            return specs.ULTRASONIC_NO_ECHO
        sigma = self._sigma("ultrasonic_m")
        reading = true + sigma * float(self.rng.standard_normal()) if sigma else true
        # min/max: np.clip's per-call cost on one float was a visible share of a step.
        return min(max(reading, specs.ULTRASONIC_MIN_RANGE_M), specs.ULTRASONIC_MAX_RANGE_M)

    # ------------------------------------------------------------------ camera
    def depth_image(
        self, width: int = specs.CAMERA_WIDTH_PX, height: int = specs.CAMERA_HEIGHT_PX
    ) -> np.ndarray:
        """Depth (m) along each pixel's ray from the head camera, ``(height, width)`` float32.

        Ray-cast with ``mj_multiRay`` (no OpenGL needed), clipped at ``DEPTH_MAX_M``.
        """
        m, d = self.sim.model, self.sim.data
        if self._depth_dirs is None or self._depth_dirs.shape[0] != width * height:
            fovy = math.radians(m.cam_fovy[self._cam_id])
            half_h = math.tan(fovy / 2)
            half_w = half_h * width / height
            xs = (np.arange(width) + 0.5) / width * 2 - 1
            ys = 1 - (np.arange(height) + 0.5) / height * 2
            gx, gy = np.meshgrid(xs * half_w, ys * half_h)
            cam_dirs = np.stack([gx, gy, -np.ones_like(gx)], axis=-1).reshape(-1, 3)
            self._depth_dirs = cam_dirs / np.linalg.norm(cam_dirs, axis=1, keepdims=True)
            self._depth_geomid = np.zeros(width * height, dtype=np.int32)
            self._depth_dist = np.zeros(width * height)
        rot = d.cam_xmat[self._cam_id].reshape(3, 3)
        dirs = (self._depth_dirs @ rot.T).ravel()
        mujoco.mj_multiRay(
            m,
            d,
            d.cam_xpos[self._cam_id],
            dirs,
            self._geomgroup,
            1,
            -1,
            self._depth_geomid,
            self._depth_dist,
            None,
            width * height,
            specs.DEPTH_MAX_M,
        )
        depth = np.where(self._depth_geomid >= 0, self._depth_dist, specs.DEPTH_MAX_M)
        depth = depth + self._noise("depth_m", depth.shape)
        return np.clip(depth, 0.0, specs.DEPTH_MAX_M).reshape(height, width).astype(np.float32)

    def depth_observation(
        self, width: int = specs.CAMERA_WIDTH_PX, height: int = specs.CAMERA_HEIGHT_PX
    ) -> np.ndarray:
        """The policy's depth image: ``(2, height, width)`` uint8, 0..255 for 0..``DEPTH_MAX_M``.

        Channel 0 is the depth image. Channel 1 is the same depth with the floor removed
        (``DEPTH_MAX_M`` wherever the ray hit the floor): what a depth-camera obstacle
        detector gives after fitting and removing the ground plane. Here the ray's geom
        says which pixels are floor, so the segmentation is exact; the range noise is the
        depth image's. A policy reads a box's bearing and range from channel 1 without
        first learning to tell the floor (which tilts with every trot step) from a box.
        """
        depth = self.depth_image(width, height)
        geom = self._depth_geomid.reshape(height, width)
        standing = (geom >= 0) & (geom != self.sim.floor_geom_id)
        obstacles = np.where(standing, depth, specs.DEPTH_MAX_M)
        scale = 255.0 / specs.DEPTH_MAX_M
        return (np.stack([depth, obstacles]) * scale).astype(np.uint8)

    def ray_camera(self, width_px: int, height_px: int) -> RayCamera:
        """The head camera's ray caster at a native size (made once per size)."""
        key = (width_px, height_px)
        cam = self._ray_cameras.get(key)
        if cam is None:
            sim = self.sim
            cam = RayCamera(
                sim.model, self._cam_id, width_px, height_px,
                floor_geom_id=sim.floor_geom_id, box_geom_ids=sim.obstacle_geom_ids,
            )  # fmt: skip
            cam.set_appearance(self.appearance)
            self._ray_cameras[key] = cam
        return cam

    def rgb_observation(
        self, width: int = specs.CAMERA_WIDTH_PX, height: int = specs.CAMERA_HEIGHT_PX
    ) -> np.ndarray:
        """The policy's colour image now: ``(3, height, width)`` uint8, RGB.

        Ray cast at ``NATIVE_SCALE`` times the size, with this episode's appearance and
        its pixel noise times ``noise_scale`` (from ``rng``), then averaged down by
        ``robot.camera.preprocess_frame``, the function picamera2's frames go through.
        """
        cam = self.ray_camera(NATIVE_SCALE * width, NATIVE_SCALE * height)
        return cam.observation(self.sim.data, width, height, self.rng, self.noise_scale)

    def rgb_image(
        self, width: int = specs.CAMERA_WIDTH_PX, height: int = specs.CAMERA_HEIGHT_PX
    ) -> np.ndarray:
        """``rgb_observation`` as ``(height, width, 3)`` (the layout callers had from EGL)."""
        return np.ascontiguousarray(self.rgb_observation(width, height).transpose(1, 2, 0))

    # ------------------------------------------------------------------ camera timing
    def reset_camera(self, appearance: CameraAppearance | None = None, t0_s: float = 0.0) -> None:
        """Start an episode's camera at time ``t0_s`` (s) with ``appearance``.

        Draws the capture phase (the camera's clock against the controller's) from
        ``rng``; ``None`` keeps the model's nominal appearance.
        """
        self.appearance = appearance or CameraAppearance()
        for cam in self._ray_cameras.values():
            cam.set_appearance(self.appearance)
        self._camera_t0_s = t0_s
        period_s = 1.0 / CAMERA_FRAME_RATE_HZ
        self._camera_phase_s = float(self.rng.uniform(0.0, period_s))
        for stream in self._streams.values():
            stream.reset(t0_s, self._camera_phase_s)

    def camera_observation(
        self,
        kind: str,
        t_s: float,
        width: int = specs.CAMERA_WIDTH_PX,
        height: int = specs.CAMERA_HEIGHT_PX,
    ) -> np.ndarray:
        """The image a policy acting at control time ``t_s`` (s) has from the head camera.

        ``kind``: ``rgb`` (``rgb_observation``, ``(3, H, W)``) or ``depth``
        (``depth_observation``, ``(2, H, W)``). Frames come at the camera's rate and delay
        and are held between captures (``CameraStream``); call once per control step with
        increasing ``t_s`` after ``reset_camera``.
        """
        key = (kind, width, height)
        stream = self._streams.get(key)
        if stream is None:
            if kind == "rgb":
                render = lambda: self.rgb_observation(width, height)  # noqa: E731
            elif kind == "depth":
                render = lambda: self.depth_observation(width, height)  # noqa: E731
            else:
                raise ValueError(f"camera kind {kind!r}: expected one of {CAMERA_KINDS}")
            stream = CameraStream(render)
            stream.reset(self._camera_t0_s, self._camera_phase_s)
            self._streams[key] = stream
        return stream.frame(t_s)

    def close(self) -> None:
        """Nothing to free (the ray camera holds no OpenGL context); kept for callers."""
