"""The left-right mirror (envs.symmetry): each map is what the simulator does to the
mirrored robot, and TeacherAnchor's symmetry fit makes the actor symmetric."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
import torch

from pidog_gaits.envs.config import EnvConfig
from pidog_gaits.envs.pidog_env import PRIOR_GAIT, PiDogEnv
from pidog_gaits.envs.prior import PriorSequence, make_controller_factory
from pidog_gaits.envs.symmetry import mirror_action, mirror_joints, mirror_observation
from pidog_gaits.gaits.library import GAITS
from pidog_gaits.gaits.steering import STEER_INDEX
from pidog_gaits.robot import specs
from pidog_gaits.sim.camera import CameraAppearance
from pidog_gaits.sim.physics import PiDogSim
from pidog_gaits.sim.randomization import RandomizationRanges


def _config(**kw) -> EnvConfig:
    kw.setdefault("quality", "fast")
    return EnvConfig(randomization=RandomizationRanges(enabled=False), **kw)


def test_mirroring_twice_gives_back_the_observation_and_the_action():
    rng = np.random.default_rng(0)
    env = PiDogEnv(_config(num_obstacles=3))
    obs, _ = env.reset(seed=1)
    for _ in range(5):
        obs, *_ = env.step(env.action_space.sample())
    twice = mirror_observation(mirror_observation(obs))
    assert set(twice) == set(obs) - {"privileged"}
    for key, value in twice.items():
        np.testing.assert_array_equal(value, obs[key])
    assert not np.array_equal(mirror_observation(obs)["image"], obs["image"])
    action = rng.uniform(-1, 1, (4, env.action_space.shape[0]))
    np.testing.assert_array_equal(mirror_action(mirror_action(action)), action)
    assert np.array_equal(mirror_action(action)[:, STEER_INDEX], -action[:, STEER_INDEX])
    with pytest.raises(ValueError, match="multiple of 12"):
        mirror_joints(np.zeros(13))
    with pytest.raises(KeyError, match="no mirror"):
        mirror_observation({"lidar": np.zeros(3)})


def test_the_mirrored_trot_is_the_trot_half_a_cycle_on_with_the_turn_reversed():
    """What makes the phase map (both features negated) right: the prior's knot turns."""
    seq = PriorSequence(GAITS[PRIOR_GAIT], make_controller_factory("expert", None), 120, True)
    half = round(GAITS[PRIOR_GAIT].period_s / specs.CONTROL_DT_S / 2)
    for k in range(60, 72):  # past the ramp from the stand
        right, straight, left = seq.knots[k]
        later = seq.knots[k + half]
        np.testing.assert_allclose(mirror_joints(straight), later[1], atol=1e-6)
        np.testing.assert_allclose(mirror_joints(left), later[0], atol=1e-6)
        np.testing.assert_allclose(mirror_joints(right), later[2], atol=1e-6)
        phase_now = np.array([np.sin(2 * np.pi * seq.phases[k]), np.cos(2 * np.pi * seq.phases[k])])
        phase_later = 2 * np.pi * seq.phases[k + half]
        np.testing.assert_allclose(-phase_now, [np.sin(phase_later), np.cos(phase_later)],
                                   atol=1e-9)  # fmt: skip
    assert np.abs(mirror_joints(seq.knots[66, 1]) - seq.knots[66, 1]).max() > 0.2


def test_the_imu_of_the_mirrored_robot_is_the_mirrored_imu():
    """Put the simulator in a state and in its mirror image; the accelerometer and gyro
    read the mirror map of each other."""
    sim = PiDogSim("fast", seed=0)
    sim.reset(np.zeros(specs.NUM_JOINTS))
    m, d = sim.model, sim.data
    rng = np.random.default_rng(3)
    joints = rng.uniform(-0.5, 0.5, specs.NUM_JOINTS)
    joint_vel = rng.uniform(-3, 3, specs.NUM_JOINTS)
    quat = rng.normal(size=4)
    quat /= np.linalg.norm(quat)
    lin, ang = rng.uniform(-0.5, 0.5, 3), rng.uniform(-2, 2, 3)
    accel = m.sensor_adr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SENSOR, specs.ACCEL_SENSOR)]
    gyro = m.sensor_adr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SENSOR, specs.GYRO_SENSOR)]

    def imu(sign: float) -> np.ndarray:
        flip = np.array([1.0, sign, 1.0])
        d.qpos[:3] = [0.0, 0.0, 0.3]
        d.qpos[3:7] = [quat[0], sign * quat[1], quat[2], sign * quat[3]]
        d.qvel[:3] = lin * flip
        d.qvel[3:6] = ang * np.array([sign, 1.0, sign])
        d.qpos[sim.qpos_adr] = joints if sign > 0 else mirror_joints(joints)
        d.qvel[sim.dof_adr] = joint_vel if sign > 0 else mirror_joints(joint_vel)
        d.qacc[:] = 0.0
        mujoco.mj_forward(m, d)
        return np.concatenate([d.sensordata[accel : accel + 3], d.sensordata[gyro : gyro + 3]])

    here, there = imu(1.0), imu(-1.0)
    reading = np.concatenate([here, [0.1, 0.2]])  # roll, pitch appended as the robot does
    expected = mirror_observation({"imu": reading})["imu"][:6]
    np.testing.assert_allclose(there, expected, atol=1e-6)
    assert np.abs(here[[1, 3, 5]]).max() > 0.05  # the signs that flip were not all zero


def test_the_camera_of_the_mirrored_room_sees_the_mirrored_picture():
    env = PiDogEnv(_config(num_obstacles=3))
    appearance = CameraAppearance(pixel_noise_sigma=0.0)
    images = []
    for side in (1.0, -1.0):
        boxes = [(0.5, 0.1 * side, 0.05, 0.05), (0.9, -0.25 * side, 0.06, 0.06)]
        options = {"yaw_rad": 0.0, "obstacles": boxes, "appearance": appearance}
        obs, _ = env.reset(seed=3, options=options)
        images.append(obs["image"].astype(int))
    flipped = mirror_observation({"image": images[0]})["image"]
    agree = np.mean(np.abs(flipped - images[1]) <= 8)
    unflipped = np.mean(np.abs(images[0] - images[1]) <= 8)
    print(f"pixels agreeing: mirrored {agree:.3f}, not mirrored {unflipped:.3f}")
    assert agree >= 0.95 and unflipped < 0.9


def test_the_anchors_mirror_fit_makes_a_lopsided_actor_symmetric():
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from pidog_gaits.envs.asymmetric import PiDogActorCriticPolicy
    from pidog_gaits.envs.warm_start import TeacherAnchor, actor_means

    config = _config(image_width_px=32, image_height_px=24, num_obstacles=3, episode_steps=100)
    venv = DummyVecEnv([lambda: PiDogEnv(config) for _ in range(2)])
    venv.seed(5)
    # PPO's own updates change nothing (learning rate 0): only the anchor moves the actor.
    model = PPO(PiDogActorCriticPolicy, venv, n_steps=64, batch_size=64, n_epochs=1,
                learning_rate=0.0, device="cpu", seed=5, verbose=0)  # fmt: skip
    with torch.no_grad():  # a left front shoulder that leans forward, its mirror does not
        model.policy.action_net.bias[0] += 0.6

    def asymmetry(obs: dict[str, np.ndarray]) -> float:
        means = actor_means(model.policy, obs)
        mirrored = mirror_action(actor_means(model.policy, mirror_observation(obs)))
        return float(np.abs(means - mirrored)[:, : specs.NUM_LEG_JOINTS].mean())

    anchor = TeacherAnchor(STEER_INDEX, every=1, epochs=20, learning_rate=3e-3, seed=0,
                           mirror_weight=1.0)  # fmt: skip
    model.learn(128, callback=anchor)  # labels one rollout
    batch = {k: np.concatenate(v) for k, v in anchor._obs.items()}
    before = asymmetry(batch)
    model.learn(3 * 128, callback=anchor, reset_num_timesteps=False)
    after = asymmetry(batch)
    print(f"leg residual asymmetry on one labelled batch: {before:.3f} -> {after:.3f}")
    assert anchor.fits >= 3 and before > 0.05
    assert after < 0.3 * before
    steer_labels = anchor.last_batch[1]
    assert len(steer_labels) == 128  # the mirrored copies join inside the fit, not the record
    # The mirrored states get no steer label: the teacher breaks ties to the left.
    both, labels, residuals = anchor._with_mirror(*anchor.last_batch)
    assert len(labels) == 256 and np.isnan(labels[128:]).all()
    np.testing.assert_array_equal(labels[:128], steer_labels)
    assert residuals.shape == (256, specs.NUM_LEG_JOINTS)


def test_the_teacher_breaks_a_tie_to_the_left_so_its_steer_is_not_mirrored():
    from pidog_gaits.envs.reflex import SECTOR_WEIGHTS, steer_from_scan

    centred = np.zeros(len(SECTOR_WEIGHTS))
    centred[[3, 4]] = 0.9  # a box dead ahead fills the two middle sectors alike
    assert steer_from_scan(centred) > 0.5 and steer_from_scan(centred[::-1]) > 0.5
    off_left = np.zeros(len(SECTOR_WEIGHTS))
    off_left[1] = 0.9  # off the centre the teacher is symmetric
    assert steer_from_scan(off_left) == -steer_from_scan(off_left[::-1])


def test_a_clone_shown_mirror_images_steers_away_from_boxes_on_both_sides():
    """Demonstrations with boxes on the left only, cloned with mirror images half the
    time: the student still steers right round a box on the left and left round one on
    the right. Had the mirrored samples kept their own labels (the mean not mirrored
    back), half the data would teach "box on the right: steer right", into it. (The plain
    clone of this depth camera gets the unseen side right too: the test is of the
    mirror's plumbing; ``benchmarks/clone_generalization.py`` measures what it is worth.)"""
    from _deploy_models import one_torch_thread, ppo_policy

    from pidog_gaits.envs.warm_start import clone_into_policy, record_demonstrations

    config = _config(vision="depth", image_width_px=32, image_height_px=24, prior="expert",
                     num_obstacles=3, episode_steps=120,
                     obstacle_lateral_m=(0.08, 0.3))  # fmt: skip
    env = PiDogEnv(config.replace(num_obstacles=1))

    def steer_at(policy, lateral_m: float) -> float:
        options = {"yaw_rad": 0.0, "obstacles": [(0.8, lateral_m, 0.05, 0.08)],
                   "command": (0.3, 0.0)}  # fmt: skip
        obs, _ = env.reset(seed=0, options=options)
        tensors = {k: torch.as_tensor(v[None]) for k, v in obs.items() if k != "privileged"}
        with torch.no_grad():
            return float(policy.get_distribution(tensors).distribution.mean[0, STEER_INDEX])

    steers = {}
    with one_torch_thread():
        observations, actions, scans = record_demonstrations(config, steps=1200, envs=2, seed=1)
        assert actions[:, STEER_INDEX].min() < -0.5  # it steered right round left boxes
        for mirror_prob in (0.0, 0.5):
            policy = ppo_policy(config, action_gain=1.0)
            clone_into_policy(policy, observations, actions, epochs=30, seed=0, scans=scans,
                              mirror_prob=mirror_prob)  # fmt: skip
            steers[mirror_prob] = (steer_at(policy, 0.2), steer_at(policy, -0.2))
    env.close()
    print(f"steer for a box left, right: plain {steers[0.0]}, with mirror images {steers[0.5]}")
    left_box, right_box = steers[0.5]
    assert left_box < -0.2 and right_box > 0.2
