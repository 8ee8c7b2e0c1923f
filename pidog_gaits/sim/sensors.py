"""PiDog's sensors with noise: IMU, ultrasonic rangefinder, head camera, joint encoders.

Readings are what the real robot can give: the SH3001 6-axis IMU has no magnetometer, so
orientation is roll and pitch only (no absolute yaw); the HC-SR04-type rangefinder
returns the nearest echo in a ~15 deg cone, clipped to 2 cm..4 m. Joint positions and
velocities are the simulator's; on the real robot the commanded angles stand in for them
(hobby servos report no position).
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from pidog_gaits.robot import specs
from pidog_gaits.sim.physics import PiDogSim

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


class Sensors:
    """Noisy sensor readings of a ``PiDogSim``.

    :param sim: the simulator to read.
    :param rng: random source for the noise (seeded by the caller).
    :param noise_scale: multiplies every sigma in ``specs.NOISE_SIGMA`` (0 = exact).
    """

    def __init__(self, sim: PiDogSim, rng: np.random.Generator, noise_scale: float = 1.0) -> None:
        self.sim = sim
        self.rng = rng
        self.noise_scale = noise_scale
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
        self._depth_dirs: np.ndarray | None = None
        self._renderer: mujoco.Renderer | None = None

    def _sigma(self, key: str) -> float:
        return specs.NOISE_SIGMA[key] * self.noise_scale

    def _noise(self, key: str, shape) -> np.ndarray:
        sigma = self._sigma(key)
        if sigma == 0.0:
            return np.zeros(shape)
        return self.rng.normal(0.0, sigma, shape)

    # ------------------------------------------------------------------ IMU
    def imu(self) -> np.ndarray:
        """``[ax, ay, az, gx, gy, gz, roll, pitch]`` in the body frame (m/s^2, rad/s, rad)."""
        sd = self.sim.data.sensordata
        accel = sd[self._accel_adr : self._accel_adr + 3] + self._noise("accel_mps2", 3)
        gyro = sd[self._gyro_adr : self._gyro_adr + 3] + self._noise("gyro_radps", 3)
        r = self.sim.body_rotation
        roll = math.atan2(r[2, 1], r[2, 2])
        pitch = -math.asin(max(-1.0, min(1.0, r[2, 0])))
        rp = np.array([roll, pitch]) + self._noise("orientation_rad", 2)
        return np.concatenate([accel, gyro, rp])

    # ------------------------------------------------------------------ encoders
    def joints(self) -> np.ndarray:
        """12 joint positions (rad) then 12 velocities (rad/s), with encoder noise."""
        pos = self.sim.joint_pos_rad + self._noise("joint_pos_rad", specs.NUM_JOINTS)
        vel = self.sim.joint_vel_radps + self._noise("joint_vel_radps", specs.NUM_JOINTS)
        return np.concatenate([pos, vel])

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
        hits = self._ray_dist[self._ray_geomid >= 0]
        return float(hits.min()) if hits.size else specs.ULTRASONIC_MAX_RANGE_M

    def ultrasonic(self) -> float:
        """Range reading (m) with noise, clipped to the sensor's 2 cm..4 m."""
        true = self.ultrasonic_true_m()
        if true >= specs.ULTRASONIC_MAX_RANGE_M:
            return specs.ULTRASONIC_MAX_RANGE_M
        reading = true + float(self._noise("ultrasonic_m", ()))
        return float(np.clip(reading, specs.ULTRASONIC_MIN_RANGE_M, specs.ULTRASONIC_MAX_RANGE_M))

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

    def rgb_image(
        self, width: int = specs.CAMERA_WIDTH_PX, height: int = specs.CAMERA_HEIGHT_PX
    ) -> np.ndarray:
        """RGB ``(height, width, 3)`` uint8 from the head camera (OpenGL, headless via EGL)."""
        if self._renderer is None or (self._renderer.width, self._renderer.height) != (
            width,
            height,
        ):
            self.close()
            from pidog_gaits.sim.gl import renderer  # closed safely at exit (sim/gl.py)

            self._renderer = renderer(self.sim.model, height, width)
        self._renderer.update_scene(self.sim.data, camera=self._cam_id)
        return self._renderer.render()

    def close(self) -> None:
        """Free the OpenGL renderer; safe to call twice."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
