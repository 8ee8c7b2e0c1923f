"""Sensors read what the world holds, within their noise."""

import numpy as np
import pytest

from pidog_gaits.robot import specs
from pidog_gaits.sim import world
from pidog_gaits.sim.physics import PiDogSim
from pidog_gaits.sim.sensors import Sensors


def test_imu_reads_gravity_at_rest():
    sim = PiDogSim("production")
    for _ in range(25):
        sim.step(sim.servo_setpoint_rad.copy())
    sensors = Sensors(sim, np.random.default_rng(0))
    accel = np.mean([sensors.imu()[:3] for _ in range(50)], axis=0)
    assert np.linalg.norm(accel) == pytest.approx(9.81, abs=0.1)
    assert accel[2] > 9.7  # body level: gravity reaction points up in the body frame
    gyro = np.mean([sensors.imu()[3:6] for _ in range(50)], axis=0)
    assert np.all(np.abs(gyro) < 0.01)


@pytest.mark.parametrize("distance_m", [0.15, 0.5, 1.2])
def test_ultrasonic_reads_a_box_at_a_known_distance(distance_m):
    sim = PiDogSim("fast", num_obstacles=1)
    sensors = Sensors(sim, np.random.default_rng(1))
    site = sim.data.site(specs.ULTRASONIC_SITE).xpos
    half = 0.05
    world.place_box(
        sim.model,
        sim.data,
        sim.obstacle_geom_ids[0],
        [site[0] + distance_m + half, site[1], 0.1],
        [half, 0.2, 0.1],
    )
    # The standing body pitches ~1.5 deg, so the beam meets the face slightly long.
    assert sensors.ultrasonic_true_m() == pytest.approx(distance_m, rel=1e-3)
    readings = np.array([sensors.ultrasonic() for _ in range(400)])
    missed = readings == specs.ULTRASONIC_NO_ECHO
    # About 1 in 20 pings gets no echo (binomial: 20 expected, 3 sigma ~ 13).
    assert 5 <= missed.sum() <= 35
    echoes = readings[~missed]
    sigma = specs.NOISE_SIGMA["ultrasonic_m"]
    assert abs(echoes.mean() - distance_m) < 3 * sigma / np.sqrt(echoes.size) + 1e-3
    assert echoes.std() == pytest.approx(sigma, rel=0.2)


def test_ultrasonic_reads_minus_one_with_nothing_ahead():
    sim = PiDogSim("fast")
    sim.data.qpos[3:7] = [np.cos(0.15), 0, -np.sin(0.15), 0]  # nose up: beam misses the floor
    sim.step(sim.servo_setpoint_rad.copy())
    sensors = Sensors(sim, np.random.default_rng(0))
    assert sensors.ultrasonic() == specs.ULTRASONIC_NO_ECHO  # the library's "no echo"
    assert sensors.ultrasonic_true_m() == specs.ULTRASONIC_MAX_RANGE_M


def test_roll_pitch_are_the_robots_estimate_not_the_truth():
    """The attitude filter tracks a tilted, still body to within its noise, and lags a
    tilt that happens faster than its time constant (what the real robot would see)."""
    sim = PiDogSim("fast")
    sim.data.qpos[3:7] = [np.cos(0.05), np.sin(0.05), 0, 0]  # rolled 0.1 rad
    sim.step(sim.servo_setpoint_rad.copy())
    sensors = Sensors(sim, np.random.default_rng(0))
    sensors.reset_attitude(settled=False)
    for _ in range(100):
        sim.step(sim.servo_setpoint_rad.copy())
        imu = sensors.imu()
    truth = sensors.true_roll_pitch_rad()
    assert imu[6:8] == pytest.approx(truth, abs=0.03)


def test_attitude_filter_blends_gyro_and_gravity():
    from pidog_gaits.robot.imu import AttitudeFilter

    f = AttitudeFilter(time_constant_s=0.5)
    level = np.array([0.0, 0.0, 9.81])
    f.update(level, np.zeros(3), 0.02)
    # A roll rate of 1 rad/s for 0.1 s with gravity still reading level: the estimate
    # follows the gyro most of the way (the accelerometer pulls back ~4% a step).
    for _ in range(5):
        roll, _ = f.update(level, np.array([1.0, 0.0, 0.0]), 0.02)
    assert 0.08 < roll < 0.1
    for _ in range(200):  # then held still: gravity wins
        roll, pitch = f.update(level, np.zeros(3), 0.02)
    assert abs(roll) < 1e-3 and abs(pitch) < 1e-3


def test_joint_encoder_noise_matches_the_seed_pipeline():
    sim = PiDogSim("fast")
    sensors = Sensors(sim, np.random.default_rng(0))
    samples = np.array([sensors.joints() for _ in range(400)])
    truth = np.concatenate([sim.joint_pos_rad, sim.joint_vel_radps])
    err = samples - truth
    assert err[:, :12].std() == pytest.approx(0.01, rel=0.1)
    assert err[:, 12:].std() == pytest.approx(0.1, rel=0.1)


def test_depth_camera_sees_a_box_ahead():
    sim = PiDogSim("fast", num_obstacles=1)
    sensors = Sensors(sim, np.random.default_rng(0), noise_scale=0.0)
    empty = sensors.depth_image()
    cam = sim.data.cam(specs.HEAD_CAMERA).xpos
    world.place_box(
        sim.model,
        sim.data,
        sim.obstacle_geom_ids[0],
        [cam[0] + 0.45, cam[1], 0.1],
        [0.05, 0.1, 0.1],
    )
    depth = sensors.depth_image()
    assert depth.shape == (specs.CAMERA_HEIGHT_PX, specs.CAMERA_WIDTH_PX)
    centre = depth[specs.CAMERA_HEIGHT_PX // 2, specs.CAMERA_WIDTH_PX // 2]
    assert centre == pytest.approx(0.40, abs=0.01)  # front face 0.40 m ahead of the lens
    assert empty[specs.CAMERA_HEIGHT_PX // 2, specs.CAMERA_WIDTH_PX // 2] > 1.0


def test_rgb_camera_renders_the_box_colour():
    sim = PiDogSim("fast", num_obstacles=1)
    sensors = Sensors(sim, np.random.default_rng(0))
    cam = sim.data.cam(specs.HEAD_CAMERA).xpos
    world.place_box(
        sim.model, sim.data, sim.obstacle_geom_ids[0], [cam[0] + 0.3, cam[1], 0.1], [0.05, 0.2, 0.2]
    )
    try:
        image = sensors.rgb_image()
    finally:
        sensors.close()
    assert image.shape == (specs.CAMERA_HEIGHT_PX, specs.CAMERA_WIDTH_PX, 3)
    r, g, b = image[specs.CAMERA_HEIGHT_PX // 2, specs.CAMERA_WIDTH_PX // 2].astype(int)
    assert r > g + 40 and r > b + 60  # the orange box fills the centre
