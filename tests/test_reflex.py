"""The obstacle reflex and its cloning into PPO's actor (issue 5's warm start)."""

from __future__ import annotations

import numpy as np
import torch
from _deploy_models import one_torch_thread, ppo_policy

from pidog_gaits.envs.config import EnvConfig
from pidog_gaits.envs.features import DepthScan
from pidog_gaits.envs.pidog_env import PiDogEnv
from pidog_gaits.envs.reflex import (
    STEER_LABEL_LIMIT,
    avoidance_steer,
    scan_nearness,
    teacher_from_depth,
    teacher_steer,
)
from pidog_gaits.envs.warm_start import clone_into_policy, record_demonstrations
from pidog_gaits.robot import specs
from pidog_gaits.sim.randomization import RandomizationRanges

NOMINAL = RandomizationRanges(enabled=False)


def _config(**changes) -> EnvConfig:
    return EnvConfig(vision="depth", image_width_px=32, image_height_px=24, quality="fast",
                     prior="expert", randomization=NOMINAL, **changes)  # fmt: skip


def _obs_with_box(lateral_m: float, ahead_m: float = 0.8):
    env = PiDogEnv(_config(num_obstacles=1))
    obs, _ = env.reset(
        seed=0, options={"yaw_rad": 0.4, "obstacles": [(ahead_m, lateral_m, 0.05, 0.08)]}
    )
    env.close()
    return obs


def test_numpy_scan_equals_the_network_layer():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (3, 24, 32), dtype=np.uint8)
    layer = DepthScan(32)(torch.as_tensor(image, dtype=torch.float32) / 255.0).numpy()
    for i in range(3):
        np.testing.assert_allclose(scan_nearness(image[i]), layer[i], atol=1e-6)


def test_reflex_turns_away_from_the_box_and_ignores_the_floor():
    clear = _obs_with_box(0.0, ahead_m=5.0)["image"]  # the box is out of range
    assert (clear[1] == 255).all()  # floor-removed channel: nothing standing
    assert (clear[0] < 255).any()  # ... while the depth channel sees the floor
    assert avoidance_steer(clear[1]) == 0.0
    left = avoidance_steer(_obs_with_box(0.25)["image"][1])
    right = avoidance_steer(_obs_with_box(-0.25)["image"][1])
    assert left < -0.3 and right > 0.3  # box on the left: steer right, and the mirror
    # Dead ahead: a decisive turn (left), never the near-zero mean of two opposite ones.
    assert avoidance_steer(_obs_with_box(0.0)["image"][1]) > 0.5


def test_reflex_action_is_zero_residuals_plus_steer():
    obs = _obs_with_box(0.25)
    action, _ = teacher_from_depth(obs["image"], specs.NUM_JOINTS + 1)
    assert action.shape == (specs.NUM_JOINTS + 1,)
    assert not action[: specs.NUM_JOINTS].any() and action[specs.NUM_JOINTS] < 0


def test_a_sure_teacher_labels_beyond_the_steer_it_executes():
    # A box dead ahead and near: the label goes past 1 (a student that shrinks it by half
    # still turns fully); the teacher that drives, and the env, turn at most 1.
    obs = _obs_with_box(0.0, ahead_m=0.5)
    label, _ = teacher_from_depth(obs["image"], specs.NUM_JOINTS + 1, correction_radps=-0.3)
    assert 1.5 < label[specs.NUM_JOINTS] <= STEER_LABEL_LIMIT  # the correction is ignored
    assert avoidance_steer(obs["image"][1]) == 1.0
    env = PiDogEnv(_config(num_obstacles=1))
    env.reset(seed=0, options={"yaw_rad": 0.4, "obstacles": [(0.5, 0.0, 0.05, 0.08)]})
    executed, (view, _) = env.teacher_action(), env.teacher_view()
    env.close()
    assert executed[specs.NUM_JOINTS] == 1.0 and view[specs.NUM_JOINTS] > 1.5
    # Where the raw steer is within 1, the label is what the teacher executes.
    assert teacher_steer(-0.5, 0.0) == -0.5 and teacher_steer(-2.0, 0.5) == -2.0


def test_teacher_turns_back_to_the_heading_where_no_box_is_near():
    # Off course to the right (correction left, +): steer left, harder the further off.
    assert 0.0 < teacher_steer(0.0, 0.05) < teacher_steer(0.0, 0.2) <= 1.0
    assert teacher_steer(0.0, -0.05) == -teacher_steer(0.0, 0.05)
    # A saturated avoidance wins; a partial one leaves part of the turn back.
    assert teacher_steer(-1.0, 0.5) == -1.0
    assert teacher_steer(-0.5, 0.5) > -0.5
    # The env's teacher reads the observed correction: an open floor, off course.
    env = PiDogEnv(_config(num_obstacles=0))
    env.reset(seed=0, options={"yaw_rad": 0.0, "command": (0.3, 0.0)})
    env.goal_yaw_rad = 0.3  # the goal lies to the left
    env._update_command()
    action = env.teacher_action()
    env.close()
    assert action[specs.NUM_JOINTS] > 0.5


def test_cloning_puts_the_reflex_into_the_actor():
    config = _config(num_obstacles=3, episode_steps=120)
    with one_torch_thread():
        observations, actions, scans = record_demonstrations(config, steps=1200, envs=2, seed=1)
        assert scans.shape == (1200, 8) and scans.max() > 0.3  # the boxes were seen
        assert observations["image"].shape == (1200, 2, 24, 32)
        steer = actions[:, specs.NUM_JOINTS]
        assert (np.abs(steer) > 0.05).mean() > 0.1  # the boxes made it steer
        policy = ppo_policy(config, action_gain=1.0)
        history = clone_into_policy(policy, observations, actions, epochs=30, seed=0, scans=scans)
        assert history[-1] < 0.3 * history[0]
        for lateral, sign in ((0.25, -1.0), (-0.25, 1.0)):
            obs = _obs_with_box(lateral)
            tensors = {k: torch.as_tensor(v[None]) for k, v in obs.items()}
            with torch.no_grad():
                mean = policy.get_distribution(tensors).distribution.mean[0].numpy()
            assert np.sign(mean[specs.NUM_JOINTS]) == sign
            assert np.abs(mean[: specs.NUM_JOINTS]).max() < 0.3  # residuals stay small


class _SteerLeft:
    """A stand-in student that always steers hard left: DAgger must execute it."""

    def __init__(self):
        self.calls = 0

    def predict(self, obs, deterministic=True):
        self.calls += 1
        action = np.zeros((len(obs["imu"]), specs.NUM_JOINTS + 1), dtype=np.float32)
        action[:, specs.NUM_JOINTS] = 1.0
        return action, None


def test_dagger_lets_the_student_drive_and_the_teacher_label():
    config = _config(num_obstacles=0, episode_steps=400)
    student = _SteerLeft()
    with one_torch_thread():
        obs, labels, _ = record_demonstrations(config, steps=300, envs=1, seed=1, student=student)
    assert student.calls == 300
    # The student turned the robot left, so the heading hold asks to turn back right ...
    assert obs["command"][-1, 2] < -0.05
    # ... and the teacher's labels are its own (turn back right), never the student's left.
    steer = labels[:, specs.NUM_JOINTS]
    assert np.all(steer <= 0.0) and steer[-1] == -1.0


def test_dagger_rounds_aggregate_and_refit():
    from pidog_gaits.envs.warm_start import warm_start_steering

    config = _config(num_obstacles=3, episode_steps=120)
    with one_torch_thread():
        policy = ppo_policy(config, action_gain=1.0)
        figures = warm_start_steering(policy, config, steps=400, envs=2, seed=0, epochs=2,
                                      dagger_rounds=2)  # fmt: skip
    assert figures["dagger_rounds"] == 2 and len(figures["dagger_loss_last"]) == 2
    assert figures["demonstration_steps"] == 400 + 2 * 200  # every round's labels kept


def test_colour_shuffle_keeps_shapes_and_passes_depth():
    from pidog_gaits.envs.warm_start import augment_colours

    g = torch.Generator().manual_seed(0)
    image = torch.zeros(64, 3, 4, 4, dtype=torch.uint8)
    image[:, 0] = 200  # a red room
    out = augment_colours(image, g)
    assert out.shape == image.shape and out.dtype == torch.uint8
    lit = (out > 0).sum(dim=(2, 3))  # which channel holds the colour now
    assert (lit.count_nonzero(dim=1) == 1).all()  # one channel, all 16 pixels
    assert len(set(lit.argmax(dim=1).tolist())) == 3  # moved to every channel
    values = out.amax(dim=(1, 2, 3)).float()
    assert values.min() >= 140 and values.max() <= 255 and values.std() > 10  # scaled
    depth = torch.randint(0, 256, (8, 2, 4, 4), dtype=torch.uint8)
    assert torch.equal(augment_colours(depth, g), depth)


def test_scan_head_trains_the_camera_and_leaves_no_trace():
    config = EnvConfig(vision="rgb", image_width_px=32, image_height_px=24, quality="fast",
                       prior="expert", randomization=NOMINAL, num_obstacles=3,
                       episode_steps=120)  # fmt: skip
    with one_torch_thread():
        observations, actions, scans = record_demonstrations(config, steps=600, envs=2, seed=3)
        zero = np.zeros_like(actions)  # action labels the same in both fits
        plain = clone_into_policy(ppo_policy(config, action_gain=1.0), observations, zero,
                                  epochs=25, seed=0)  # fmt: skip
        policy = ppo_policy(config, action_gain=1.0)
        keys = set(policy.state_dict())
        cnn = policy.pi_features_extractor.cnn
        seeing = clone_into_policy(policy, observations, zero, epochs=25, seed=0, scans=scans)
    scan_loss = np.array(seeing) - np.array(plain)  # what the scan head adds to the loss
    assert scan_loss[0] > 0.05  # the boxes' scan is far from a fresh head's guess ...
    assert scan_loss[-1] < 0.5 * scan_loss[0]  # ... and the camera network learnt it
    assert set(policy.state_dict()) == keys  # the head is not part of the actor
    assert not cnn._forward_hooks  # nor is its hook
