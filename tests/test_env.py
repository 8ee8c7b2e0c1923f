"""PiDog-v0: the checkers, real resets, independent simulators, the prior, the world."""

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import pidog_gaits.envs  # noqa: F401 - registers PiDog-v0
from pidog_gaits.envs import prior as prior_mod
from pidog_gaits.envs.config import EnvConfig
from pidog_gaits.envs.pidog_env import PiDogEnv
from pidog_gaits.envs.prior import PriorSequence
from pidog_gaits.envs.vec import make_vec_env
from pidog_gaits.gaits.command import CommandRanges
from pidog_gaits.gaits.library import GAITS
from pidog_gaits.robot import specs
from pidog_gaits.sim.physics import PRESETS
from pidog_gaits.sim.randomization import DomainParams, RandomizationRanges
from pidog_gaits.sim.rollout import stand_targets

NOMINAL = RandomizationRanges(enabled=False)
ZERO = np.zeros(13, dtype=np.float32)  # 12 residuals + steer
TROT = (0.44, 0.0)  # the full trot's command: the prior plays trot_forward unchanged


def fast_config(**changes) -> EnvConfig:
    return EnvConfig(quality="fast", **changes)


@pytest.mark.parametrize("vision", ["none", "depth"])
def test_gymnasium_and_sb3_checkers_pass(vision):
    env = gym.make("PiDog-v0", vision=vision, quality="fast")
    gym_check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(PiDogEnv(fast_config(vision=vision)), warn=True)
    env.close()


def test_rgb_image_is_a_uint8_camera_frame():
    env = PiDogEnv(fast_config(vision="rgb", image_width_px=32, image_height_px=24))
    obs, _ = env.reset(seed=0)
    assert obs["image"].shape == (3, 24, 32) and obs["image"].dtype == np.uint8
    assert obs["image"].std() > 1.0  # floor and sky are not one colour
    env.close()


def test_observation_groups_are_the_robots_then_the_critics():
    from pidog_gaits.envs.observations import PRIVILEGED_DIM, ROBOT_PARTS, policy_parts

    env = PiDogEnv(fast_config(vision="depth"))
    obs, _ = env.reset(seed=0, options={"command": TROT})
    assert set(obs) == {"image", *ROBOT_PARTS, "privileged"}
    assert "joints" not in obs  # PiDog's servos report nothing: not in the default actor
    for key, size in ROBOT_PARTS.items():
        assert obs[key].shape == (size,)
    assert obs["privileged"].shape == (PRIVILEGED_DIM,)
    np.testing.assert_allclose(obs["command"], [*GAITS["trot_forward"].command, 0.0])
    np.testing.assert_allclose(obs["phase"], [0.0, 1.0], atol=1e-6)
    measured = PiDogEnv(fast_config(vision="none", joint_readings="measured"))
    obs_m, _ = measured.reset(seed=0)
    assert list(policy_parts("measured")) == [k for k in obs_m if k != "privileged"]
    assert obs_m["joints"].shape == (24,)
    with pytest.raises(ValueError, match="joint_readings"):
        fast_config(joint_readings="encoders").validate()
    env.close()


def test_targets_are_the_commanded_history_newest_first():
    env = PiDogEnv(fast_config(vision="none", randomization=NOMINAL))
    obs, _ = env.reset(seed=0)
    sent = [env.prior.targets[0]] * 3
    rng = np.random.default_rng(0)
    for _ in range(5):
        action = rng.uniform(-1, 1, 13).astype(np.float32)
        expected = env.targets_for(action)
        obs, *_ = env.step(action)
        sent.insert(0, expected)
        np.testing.assert_allclose(obs["targets"], np.concatenate(sent[:3]), atol=1e-6)


def test_privileged_part_holds_the_truth_about_boxes_and_domain():
    from pidog_gaits.envs.observations import PRIVILEGED_SLICES, PRIVILEGED_TERMS

    env = PiDogEnv(fast_config(vision="none", randomization=NOMINAL, random_heading=False))
    obs, _ = env.reset(seed=0, options={"obstacles": [(0.8, 0.2, 0.05, 0.06)], "yaw_rad": 0.5})
    offsets = np.cumsum([0, *PRIVILEGED_TERMS.values()])
    term = dict(zip(PRIVILEGED_TERMS, zip(offsets[:-1], offsets[1:], strict=True), strict=True))
    assert {k: (s.start, s.stop) for k, s in PRIVILEGED_SLICES.items()} == term
    lo, hi = term["boxes_m"]
    boxes = obs["privileged"][lo:hi].reshape(-1, 3)
    # Placed 0.8 m ahead and 0.2 m left of the start, which the body has not left yet.
    assert boxes[0] == pytest.approx([0.8, 0.2, 0.05], abs=0.03)
    assert boxes[1][0] == pytest.approx(4.0)  # absent boxes read as far ahead
    lo, hi = term["domain"]
    nominal = list(DomainParams().as_dict().values())
    assert nominal[:6] == pytest.approx([1, 1, 1, 1, specs.DEFAULT_LATENCY_S, 1])
    assert obs["privileged"][lo:hi] == pytest.approx(nominal)


def test_sonar_reads_minus_one_without_an_echo():
    env = PiDogEnv(fast_config(vision="none", num_obstacles=0, randomization=NOMINAL))
    env.reset(seed=0)
    readings = []
    for _ in range(100):
        obs, *_ = env.step(ZERO)
        readings.append(float(obs["sonar"][0]))
    readings = np.array(readings)
    assert set(np.unique(readings[readings < 0.0])) <= {specs.ULTRASONIC_NO_ECHO}
    assert (readings == specs.ULTRASONIC_NO_ECHO).any()  # the library's -1 reaches the policy


def test_reset_really_resets():
    env = PiDogEnv(fast_config(vision="none", randomization=NOMINAL, random_heading=False))
    first, _ = env.reset(seed=3)
    start_qpos = env.sim.data.qpos.copy()
    for _ in range(60):
        env.step(np.full(13, 0.5, dtype=np.float32))
    assert np.linalg.norm(env.sim.data.qpos[:3] - start_qpos[:3]) > 0.005
    again, _ = env.reset(seed=3)
    np.testing.assert_allclose(env.sim.data.qpos, start_qpos)
    assert env.sim.time_s == 0.0 and env._step == 0
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    assert env.episode_return == 0.0 and env.boxes_hit == set()


def test_vec_envs_are_independent_simulators():
    venv = make_vec_env(fast_config(vision="none"), 4, "dummy", seed=0)
    venv.reset()
    envs = [venv.envs[i].unwrapped for i in range(4)]
    assert len({id(e.sim) for e in envs}) == 4
    assert len({id(e.sim.data) for e in envs}) == 4
    boxes = {
        tuple(np.round(e.sim.model.geom_pos[e.sim.obstacle_geom_ids].ravel(), 6)) for e in envs
    }
    assert len(boxes) == 4  # each env drew its own world
    before = [e.sim.data.qpos.copy() for e in envs]
    envs[0].step(np.ones(13, dtype=np.float32))
    assert not np.array_equal(envs[0].sim.data.qpos, before[0])
    for e, q in zip(envs[1:], before[1:], strict=True):
        np.testing.assert_array_equal(e.sim.data.qpos, q)
    venv.close()


@pytest.mark.parametrize("quality", ["fast", "production"])
def test_the_physics_preset_asked_for_is_the_one_stepping(quality):
    env = PiDogEnv(EnvConfig(quality=quality, vision="none"))
    assert env.sim.model.opt.timestep == PRESETS[quality].timestep_s
    assert env.sim.substeps * PRESETS[quality].timestep_s == pytest.approx(specs.CONTROL_DT_S)


def test_prior_alone_trots_forward_whatever_the_heading():
    env = PiDogEnv(fast_config(vision="none", num_obstacles=0, randomization=NOMINAL))
    env.reset(seed=0, options={"yaw_rad": math.pi / 2, "command": (0.3, 0.0)})  # facing +y
    rewards = []
    for _ in range(150):
        _, r, term, _, _ = env.step(ZERO)
        rewards.append(r)
        assert not term
    forward_m, lateral_m = env.sim.start_frame_displacement_m()
    assert forward_m > 0.6  # 3 s of trot at ~0.3 m/s
    assert abs(env.sim.body_pos_m[0]) < 0.15  # hardly any motion along world x
    assert np.mean(rewards[-50:]) > np.mean(rewards[:10])  # speed tracking pays once moving


def test_action_is_a_bounded_residual_on_the_prior():
    env = PiDogEnv(fast_config(vision="none", randomization=NOMINAL))
    env.reset(seed=0, options={"command": TROT})
    for _ in range(40):  # past the stand-to-gait ramp
        env.step(ZERO)
    k = env._step
    assert env._amplitude == 1.0  # the full trot: the command is its speed
    stand = stand_targets()
    prior = stand + env._amplitude * (env.prior.at_turn(k, env._turn) - stand)
    scale = env.config.action_scale_rad()
    np.testing.assert_allclose(env.targets_for(ZERO), prior)
    high = env.targets_for(np.append(np.full(12, 5.0), 0.0))  # clipped to +1, no steer
    np.testing.assert_allclose(high, np.minimum(prior + scale, env.sim.joint_high))
    assert np.all(scale[:8] > 0) and np.all(scale[8:] == 0)  # head and tail hold the prior


def test_commands_are_drawn_in_range_and_change_mid_episode():
    ranges = CommandRanges(hold_s=(0.2, 0.2), stand_prob=0.0, straight_prob=0.0)
    env = PiDogEnv(fast_config(vision="none", commands=ranges, heading_gain_per_s=0.0))
    obs, info = env.reset(seed=3)
    seen = {tuple(info["command"])}
    for _ in range(60):
        obs, *_ = env.step(ZERO)
        seen.add(tuple(env.user_command))
        assert ranges.contains(env.user_command)
        np.testing.assert_allclose(obs["command"], [*env.user_command, 0.0], atol=1e-6)
    assert len(seen) >= 5  # a new command every 10 steps


def test_the_rewards_yaw_rate_never_leaves_the_command_range():
    """Far behind its goal heading in a turn, the robot is asked for the largest yaw rate
    a command may ask, not the command plus the saturated correction (0.15 + 0.5 rad/s:
    no trot reaches it, and ``yaw_rate_tracking`` would pay ~0 turning or not)."""
    env = PiDogEnv(fast_config(vision="none", num_obstacles=0, randomization=NOMINAL))
    env.reset(seed=0, options={"command": (0.2, 0.15)})
    high = env.config.commands.yaw_radps[1]
    env.goal_yaw_rad += 1.0  # 1 rad behind, to the left: the correction saturates
    obs, *_ = env.step(ZERO)
    assert obs["command"][2] == pytest.approx(0.5)
    assert env.command[1] == pytest.approx(high)
    env.goal_yaw_rad -= 2.0  # 1 rad ahead: the turn back is clipped the same way
    env.step(ZERO)
    assert env.command[1] == pytest.approx(-high)
    env.goal_yaw_rad += 1.0  # on course: the command and a small correction, unclipped
    c = env.step(ZERO)[0]["command"]
    assert abs(c[2]) < 0.05 and env.command[1] == pytest.approx(c[1] + c[2], abs=1e-6)


def test_a_still_command_holds_the_stand_and_a_slow_one_walks_slowly():
    env = PiDogEnv(fast_config(vision="none", num_obstacles=0, randomization=NOMINAL))
    env.reset(seed=0, options={"command": (0.0, 0.0)})
    for _ in range(50):
        env.step(ZERO)
    np.testing.assert_allclose(env.targets_for(ZERO), stand_targets())
    speeds = {}
    for speed in (0.1, 0.3):
        env.reset(seed=0, options={"command": (speed, 0.0)})
        for _ in range(250):
            _, _, term, trunc, info = env.step(ZERO)
        speeds[speed] = env.sim.start_frame_displacement_m()[0] / 5.0
    assert 0.05 < speeds[0.1] < 0.15 and 0.2 < speeds[0.3] < 0.4


def test_episode_metrics_hold_the_tracking_errors():
    env = PiDogEnv(fast_config(vision="none", num_obstacles=0, randomization=NOMINAL,
                               episode_steps=150))  # fmt: skip
    env.reset(seed=0, options={"command": (0.2, 0.0)})
    for _ in range(150):
        _, _, term, trunc, info = env.step(ZERO)
    m = info["episode_metrics"]
    assert m["command_mps"] == 0.2 and m["command_yaw_radps"] == 0.0
    assert 0.0 <= m["speed_error_mps"] < 0.05  # the prior alone follows the command
    assert 0.0 <= m["yaw_rate_error_rps"] < 0.05
    errors = PiDogEnv(fast_config(vision="none", num_obstacles=0, randomization=NOMINAL,
                                  episode_steps=150, heading_gain_per_s=0.0))  # fmt: skip
    errors.reset(seed=0, options={"command": (0.2, 0.0)})
    bad = np.zeros(13, dtype=np.float32)
    bad[12] = 1.0  # steer hard left all the time: off the commanded yaw rate
    for _ in range(150):
        _, _, term, trunc, info = errors.step(bad)
    assert info["episode_metrics"]["yaw_rate_error_rps"] > m["yaw_rate_error_rps"] + 0.03


def test_pushes_center_of_mass_and_imu_bias_follow_the_domain_parameters():
    pushed = DomainParams(push_force_n=1.0, com_offset_m=0.01, imu_bias_scale=1.0)
    env = PiDogEnv(fast_config(vision="none", num_obstacles=0))
    env.reset(seed=0, options={"params": pushed, "command": TROT})
    body = env.sim.body_id
    nominal_x = float(env.sim._nominal["body_ipos"][body][0])
    assert env.sim.model.body_ipos[body][0] == pytest.approx(nominal_x + 0.01)
    assert np.any(env.sensors.imu_bias != 0.0)
    forces = []
    for _ in range(300):  # 6 s: a push every 2-5 s
        env.step(ZERO)
        forces.append(np.linalg.norm(env.sim.data.xfrc_applied[body, :3]))
    assert max(forces) >= 0.5 and forces.count(0.0) > 200  # brief pushes of 0.5-1 N
    env.reset(seed=0, options={"params": DomainParams(), "command": TROT})
    assert np.all(env.sensors.imu_bias == 0.0)
    assert env.sim.model.body_ipos[body][0] == pytest.approx(nominal_x)
    for _ in range(300):
        env.step(ZERO)
        assert not np.any(env.sim.data.xfrc_applied[body])


class CountingController:
    """A stateful stand-in for an imitation model: its output depends on its history."""

    def __init__(self):
        self.calls = 0

    def reset(self):
        self.calls = 0

    def __call__(self, gait_input):
        self.calls += 1
        out = GAITS["trot_forward"].targets(gait_input[3])[0]
        out[:8] += 0.001 * min(self.calls, 50)
        return out


def test_prior_sequence_equals_the_live_stateful_controller():
    gait = GAITS["trot_forward"]
    seq = PriorSequence(gait, lambda g: CountingController(), steps=80)
    live = CountingController()
    live.reset()
    stand = seq.targets[0]
    for k in range(81):
        w = min(1.0, k * specs.CONTROL_DT_S / 0.6)
        expected = w * live(gait.inputs(seq.phases[k])[0]) + (1 - w) * stand
        np.testing.assert_allclose(seq.targets[k], expected, atol=1e-12)


def test_imitation_prior_drives_the_env(monkeypatch):
    """--pretrained is used: the env's targets are the imitation model's plus the residual."""
    loaded = []

    def fake_loader(path):
        loaded.append(path)
        return CountingController()

    monkeypatch.setattr(prior_mod, "load_imitation_controller", fake_loader)
    imitation = PiDogEnv(fast_config(vision="none", prior="imitation", pretrained="imit.pth"))
    expert = PiDogEnv(fast_config(vision="none", prior="expert"))
    # Same turn in both (the prior's heading hold follows each robot's own heading).
    imitation.config = imitation.config.replace(heading_gain_per_s=0.0)
    expert.config = expert.config.replace(heading_gain_per_s=0.0)
    scratch = PiDogEnv(fast_config(vision="none", prior="none"))
    for env in (imitation, expert, scratch):
        env.reset(seed=0, options={"command": TROT})
        for _ in range(60):  # past the ramp and the fake model's 50-call warm-up
            env.step(ZERO)
    assert loaded == ["imit.pth"]
    diff = imitation.targets_for(ZERO) - expert.targets_for(ZERO)
    np.testing.assert_allclose(diff[:8], 0.05, atol=1e-9)  # the fake model's offset
    stand = scratch.prior.targets[0]
    np.testing.assert_allclose(scratch.targets_for(ZERO), stand)  # from scratch: no gait


def test_real_imitation_checkpoint_is_loaded(tmp_path):
    nn = pytest.importorskip("pidog_gaits.neural_network")
    model = nn.build_model("simple_lstm")
    path = tmp_path / "imit.pth"
    nn.save_checkpoint(model, path)
    env = PiDogEnv(fast_config(vision="none", prior="imitation", pretrained=str(path)))
    env.reset(seed=0)
    live = nn.PolicyController.from_file(path)
    live.reset()
    gait = GAITS["trot_forward"]
    outs = [live(gait.inputs(env.prior.phases[k])[0]) for k in range(40)]
    np.testing.assert_allclose(env.prior.targets[39], outs[39], atol=1e-6)
    with pytest.raises(FileNotFoundError):
        PiDogEnv(fast_config(prior="imitation", pretrained=str(tmp_path / "missing.pth")))


def test_fall_terminates_and_episode_truncates_at_its_length():
    env = PiDogEnv(fast_config(vision="none", episode_steps=5, randomization=NOMINAL))
    env.reset(seed=0)
    for i in range(5):
        _, _, term, trunc, info = env.step(ZERO)
        assert not term
        assert trunc == (i == 4)
    assert info["episode_metrics"]["length"] == 5
    env.reset(seed=0)
    env.sim.data.qpos[3:7] = [0.0, 1.0, 0.0, 0.0]  # upside down
    env.sim.data.qpos[2] = 0.2
    _, _, term, trunc, info = env.step(ZERO)
    assert term and not trunc
    assert info["episode_metrics"]["fell"]
    with pytest.raises(RuntimeError):
        env.step(ZERO)  # the episode is over


def test_obstacles_are_placed_ahead_and_seen_by_the_camera():
    env = PiDogEnv(fast_config(vision="depth", num_obstacles=3, randomization=NOMINAL))
    env.reset(seed=1, options={"yaw_rad": 1.0})
    ids = env.sim.obstacle_geom_ids
    pos = env.sim.model.geom_pos[ids]
    ahead = pos[:, 0] * math.cos(1.0) + pos[:, 1] * math.sin(1.0)
    assert np.all(pos[:, 2] > 0) and np.all(ahead > 0.4)
    open_obs, _ = env.reset(seed=1, options={"obstacles": []})
    box_obs, _ = env.reset(seed=1, options={"obstacles": [(0.35, 0.0, 0.08, 0.1)]})
    assert box_obs["image"].mean() < open_obs["image"].mean() - 5
    assert box_obs["sonar"][0] < 0.4 < open_obs["sonar"][0]


def test_walking_into_a_box_is_one_collision():
    """The box stops the body or head (it is solid), and many bumps on it count once."""
    env = PiDogEnv(fast_config(vision="none", num_obstacles=2, randomization=NOMINAL))
    env.reset(seed=0, options={"obstacles": [(0.5, 0.0, 0.1, 0.1)], "yaw_rad": 0.7})
    contact_steps = 0
    for _ in range(250):
        _, _, term, trunc, info = env.step(ZERO)
        contact_steps += env.measure(ZERO).obstacle_contacts > 0
        if term or trunc:
            break
    forward_m, _ = env.sim.start_frame_displacement_m()
    assert forward_m < 0.45  # stopped at the box face (0.4 m ahead)
    assert contact_steps > 3
    assert env.episode_metrics(False)["collisions"] == 1


def test_randomization_draws_within_ranges_and_options_fix_it():
    ranges = RandomizationRanges()
    env = PiDogEnv(fast_config(vision="none", randomization=ranges))
    drawn = []
    for seed in range(4):
        env.reset(seed=seed)
        drawn.append(env.params)
        low, high = ranges.friction_scale
        assert low <= env.params.friction_scale <= high
    assert len({p.friction_scale for p in drawn}) == 4
    fixed = DomainParams(friction_scale=0.5, latency_s=0.03)
    env.reset(seed=0, options={"params": fixed})
    assert env.sim.params == fixed
    env2 = PiDogEnv(fast_config(vision="none", randomization=RandomizationRanges(
        enabled=False, overrides={"servo_torque_scale": 0.8})))  # fmt: skip
    env2.reset(seed=0)
    assert env2.sim.params.servo_torque_scale == 0.8 and env2.sim.params.friction_scale == 1.0


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="vision"):
        PiDogEnv(EnvConfig(vision="lidar"))
    with pytest.raises(ValueError, match="pretrained"):
        PiDogEnv(EnvConfig(prior="imitation"))
    with pytest.raises(ValueError, match="speed_mps"):
        PiDogEnv(EnvConfig(commands=CommandRanges(speed_mps=(0.3, 0.1))))


def test_config_round_trips_through_a_dict():
    cfg = EnvConfig(vision="rgb", num_obstacles=5, reward_profile="speed")
    again = EnvConfig.from_dict(cfg.as_dict())
    assert again.vision == "rgb" and again.num_obstacles == 5
    assert again.weights() == cfg.weights()
    assert again.randomization == cfg.randomization


def test_some_training_episodes_are_open_floor_and_evaluation_never_is():
    from pidog_gaits.evaluate import EvalConfig, eval_env_config

    def boxes_placed(config, seed):
        env = PiDogEnv(config)
        env.reset(seed=seed)
        return int((env.sim.model.geom_pos[env._obstacle_array][:, 2] > 0).sum())

    mixed = fast_config(vision="none", num_obstacles=3, open_floor_prob=0.5)
    counts = [boxes_placed(mixed, seed) for seed in range(12)]
    assert 0 in counts and 3 in counts
    assert boxes_placed(fast_config(vision="none", open_floor_prob=1.0), 0) == 0
    evaluated = eval_env_config(mixed, EvalConfig(model="x.zip"))
    assert evaluated.open_floor_prob == 0.0
    assert all(boxes_placed(evaluated.replace(quality="fast"), s) == 3 for s in range(4))


def test_training_scatters_boxes_over_a_field_and_evaluation_uses_the_corridor():
    """With boxes only in the corridor ahead, walking off at an angle avoided them all and
    PPO learned to veer off: training's boxes cover a field no heading escapes."""
    from pidog_gaits.evaluate import EVAL_OBSTACLES, EvalConfig, eval_env_config
    from pidog_gaits.sim.world import ObstacleLayout
    from pidog_gaits.train_rl_vision import RLConfig

    trained = RLConfig(vision="none", prior="expert").env_config()
    assert trained.num_obstacles == 8 and trained.obstacle_lateral_m == (-1.0, 1.0)
    assert trained.open_floor_prob == 0.25
    env = PiDogEnv(trained.replace(quality="fast", open_floor_prob=0.0))
    lateral = []
    for seed in range(5):
        env.reset(seed=seed, options={"yaw_rad": 0.0})
        lateral += env.sim.model.geom_pos[env._obstacle_array][:, 1].tolist()
    assert min(lateral) < -0.5 and max(lateral) > 0.5 and max(map(abs, lateral)) <= 1.0
    evaluated = eval_env_config(trained, EvalConfig(model="x.zip"))
    assert evaluated.num_obstacles == EVAL_OBSTACLES == 3
    assert evaluated.obstacle_lateral_m == ObstacleLayout().lateral_m == (-0.35, 0.35)
