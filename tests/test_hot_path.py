"""The per-step speed-ups give the numbers of the straightforward numpy code, bit for bit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pidog_gaits.envs import rewards
from pidog_gaits.envs.config import EnvConfig
from pidog_gaits.envs.pidog_env import BODY_FRONT_M, PiDogEnv
from pidog_gaits.robot import specs
from pidog_gaits.robot.imu import AttitudeFilter
from pidog_gaits.sim.physics import PiDogSim
from pidog_gaits.sim.sensors import Sensors


def reference_path_obstacle_m(env: PiDogEnv) -> float:
    """The numpy version ``path_obstacle_m`` replaced."""
    m, ids = env.sim.model, np.asarray(env.sim.obstacle_geom_ids, dtype=int)
    if ids.size == 0:
        return math.inf
    pos = m.geom_pos[ids]
    body = env.sim.data.xpos[env.sim.body_id]
    rel_x, rel_y = pos[:, 0] - body[0], pos[:, 1] - body[1]
    cx, sx, _ = env.sim.body_rotation @ specs.FORWARD_AXIS_BODY
    ahead = rel_x * cx + rel_y * sx
    lateral = rel_y * cx - rel_x * sx
    half = m.geom_size[ids, 0]
    free = ahead - half - BODY_FRONT_M
    hit = (pos[:, 2] > 0.0) & (np.abs(lateral) < half + rewards.PATH_HALF_WIDTH_M)
    hit &= ahead > 0.0
    if not hit.any():
        return math.inf
    return float(max(0.0, free[hit].min()))


def test_path_obstacle_matches_the_numpy_version():
    env = PiDogEnv(EnvConfig(quality="fast", vision="none", num_obstacles=3))
    rng = np.random.default_rng(0)
    seen = set()
    for episode in range(6):
        env.reset(seed=episode)
        for _ in range(60):
            env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
            got, want = env.path_obstacle_m(), reference_path_obstacle_m(env)
            assert got == want or (math.isinf(got) and math.isinf(want))
            seen.add(math.isinf(want))
            if env.sim.fallen():
                break
    assert seen == {True, False}  # both a box in the path and a clear path were checked


def reference_readings(sim: PiDogSim, rng: np.random.Generator, scale: float) -> list:
    """IMU, encoders and ultrasonic as the per-part ``rng.normal`` code read them."""

    def noise(key, shape):
        sigma = specs.NOISE_SIGMA[key] * scale
        return np.zeros(shape) if sigma == 0.0 else rng.normal(0.0, sigma, shape)

    sd = sim.data.sensordata
    sensors = Sensors(sim, rng)
    a, g = sensors._accel_adr, sensors._gyro_adr
    accel = sd[a : a + 3] + noise("accel_mps2", 3)
    gyro = sd[g : g + 3] + noise("gyro_radps", 3)
    roll, pitch = AttitudeFilter().update(accel, gyro, -1.0)  # a first reading: gravity's
    imu = np.concatenate([accel, gyro, [roll, pitch]])
    sonar_true = sensors.ultrasonic_true_m()
    sonar = specs.ULTRASONIC_NO_ECHO
    in_range = sonar_true < specs.ULTRASONIC_MAX_RANGE_M
    missed = in_range and scale > 0 and rng.random() < specs.ULTRASONIC_MISS_PROB
    if in_range and not missed:
        reading = sonar_true + float(noise("ultrasonic_m", ()))
        sonar = float(np.clip(reading, specs.ULTRASONIC_MIN_RANGE_M, specs.ULTRASONIC_MAX_RANGE_M))
    joints = np.concatenate(
        [
            sim.joint_pos_rad + noise("joint_pos_rad", specs.NUM_JOINTS),
            sim.joint_vel_radps + noise("joint_vel_radps", specs.NUM_JOINTS),
        ]
    )
    return [imu, sonar, joints]


@pytest.mark.parametrize("scale", [1.0, 0.37, 0.0])
def test_sensor_noise_drawn_at_once_matches_per_part_draws(scale):
    sim = PiDogSim("fast", num_obstacles=3)
    env_rng = np.random.default_rng(3)
    for _ in range(30):
        sim.step(sim.servo_setpoint_rad + env_rng.normal(0, 0.2, specs.NUM_JOINTS))
        fast = Sensors(sim, np.random.default_rng(11), noise_scale=scale)
        got = [fast.imu(), fast.ultrasonic(), fast.joints()]
        want = reference_readings(sim, np.random.default_rng(11), scale)
        np.testing.assert_array_equal(got[0], want[0])
        assert got[1] == want[1]
        np.testing.assert_array_equal(got[2], want[2])


def test_ultrasonic_sees_a_box_ahead():
    sim = PiDogSim("fast", num_obstacles=1)
    from pidog_gaits.sim import world

    world.place_box(sim.model, sim.data, int(sim.obstacle_geom_ids[0]), [0.5, 0, 0.1], [0.1] * 3)
    sim.step(sim.servo_setpoint_rad)
    sensors = Sensors(sim, np.random.default_rng(0), noise_scale=0.0)
    assert 0.2 < sensors.ultrasonic() < 0.6
