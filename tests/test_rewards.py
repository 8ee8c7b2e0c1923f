"""Each reward term moves the right way, on states read from the real simulator; profiles."""

import math

import mujoco
import numpy as np
import pytest

from pidog_gaits.envs import rewards
from pidog_gaits.envs.config import EnvConfig
from pidog_gaits.envs.pidog_env import BODY_FRONT_M, PiDogEnv
from pidog_gaits.envs.rewards import REWARD_FUNCTIONS, Reward, StepState
from pidog_gaits.robot import specs
from pidog_gaits.sim import world
from pidog_gaits.sim.randomization import RandomizationRanges

ZERO = np.zeros(12)


@pytest.fixture(scope="module")
def env():
    e = PiDogEnv(
        EnvConfig(
            vision="none",
            quality="fast",
            num_obstacles=1,
            random_heading=False,
            randomization=RandomizationRanges(enabled=False, overrides={"sensor_noise_scale": 0}),
        )
    )
    yield e
    e.close()


def fresh(env):
    """The robot standing at the origin facing +x, the box hidden."""
    env.reset(seed=0, options={"obstacles": [], "command": (0.44, 0.0)})
    return env


def term(env, name, action=ZERO):
    return REWARD_FUNCTIONS[name](env.measure(action))


def set_tilt(env, roll_rad):
    d = env.sim.data
    d.qpos[3:7] = [math.cos(roll_rad / 2), math.sin(roll_rad / 2), 0.0, 0.0]
    mujoco.mj_forward(env.sim.model, d)


def test_stand_state_is_measured_right(env):
    s = fresh(env).measure(ZERO)
    assert s.upright_cos == pytest.approx(1.0, abs=1e-3)
    assert s.body_height_m == pytest.approx(rewards.NOMINAL_BODY_HEIGHT_M, abs=0.003)
    assert s.obstacle_contacts == 0 and not s.fell


def test_tilted_body_lowers_the_stability_terms(env):
    level_upright, level_height = term(fresh(env), "upright"), term(env, "body_height")
    set_tilt(env, 0.5)
    assert term(env, "upright") < level_upright - 0.1
    env.sim.data.qpos[2] -= 0.03  # sagging body
    mujoco.mj_forward(env.sim.model, env.sim.data)
    assert term(env, "body_height") < level_height - 0.5


def test_angular_rate_cost_grows_with_roll_rate(env):
    still = term(fresh(env), "angular_rate")
    env.sim.data.qvel[3] = 2.0  # roll rate, rad/s
    assert term(env, "angular_rate") == pytest.approx(still + 4.0, abs=0.1)


def test_speed_terms_follow_the_body_forward_axis(env):
    fresh(env)
    cmd = float(env.command[0])
    assert cmd > 0.2  # trot command
    # Robot turned to face +y: moving along world +y is forward, along world x is sideways.
    env.sim.data.qpos[3:7] = [math.cos(math.pi / 4), 0.0, 0.0, math.sin(math.pi / 4)]
    env.sim.data.qvel[0:2] = [0.0, cmd]
    mujoco.mj_forward(env.sim.model, env.sim.data)
    on_cmd = env.measure(ZERO)
    assert on_cmd.forward_velocity_mps == pytest.approx(cmd, abs=1e-6)
    assert rewards.velocity_tracking(on_cmd) == pytest.approx(1.0)
    assert rewards.lateral_velocity(on_cmd) == pytest.approx(0.0, abs=1e-9)
    env.sim.data.qvel[0:2] = [cmd, 0.0]  # sideways
    sideways = env.measure(ZERO)
    assert rewards.velocity_tracking(sideways) < 0.01
    assert rewards.forward_velocity(sideways) == pytest.approx(0.0, abs=1e-6)
    assert rewards.lateral_velocity(sideways) == pytest.approx(cmd**2, rel=1e-6)
    env.sim.data.qvel[0:2] = [0.0, -cmd]  # backwards
    assert rewards.forward_velocity(env.measure(ZERO)) == pytest.approx(-cmd, abs=1e-6)


def test_box_at_5cm_raises_the_sonar_penalty(env):
    open_floor = term(fresh(env), "sonar_proximity")
    sonar = env.sim.data.site_xpos[env.sensors._sonar_site]
    gid = int(env.sim.obstacle_geom_ids[0])
    world.place_box(env.sim.model, env.sim.data, gid, [sonar[0] + 0.05 + 0.05, 0.0, 0.1],
                    [0.05, 0.1, 0.1])  # fmt: skip
    assert open_floor == 0.0
    assert term(env, "sonar_proximity") > 0.6


def test_box_in_the_path_costs_more_as_it_nears_and_nothing_beside_it(env):
    fresh(env)
    assert term(env, "path_obstacle") == 0.0  # open floor
    gid = int(env.sim.obstacle_geom_ids[0])
    body = env.sim.body_pos_m.copy()
    costs = []
    for ahead_m in (1.2, 0.9, 0.6, 0.3):
        world.place_box(env.sim.model, env.sim.data, gid, body + [ahead_m, 0.0, 0.0],
                        [0.05, 0.05, 0.05])  # fmt: skip
        costs.append(term(env, "path_obstacle"))
    assert costs[0] == 0.0  # beyond the look-ahead
    assert 0.0 < costs[1] < costs[2] < costs[3] <= 1.0
    # The same box 0.6 m ahead but 0.15 m to the side (clear of the corridor): free.
    world.place_box(env.sim.model, env.sim.data, gid, body + [0.6, 0.05 + 0.15, 0.0],
                    [0.05, 0.05, 0.05])  # fmt: skip
    assert term(env, "path_obstacle") == 0.0
    world.place_box(env.sim.model, env.sim.data, gid, body + [-0.6, 0.0, 0.0],
                    [0.05, 0.05, 0.05])  # fmt: skip
    assert term(env, "path_obstacle") == 0.0  # behind


def test_a_box_hit_is_paid_once_and_never_floored(env):
    fresh(env)
    gid = int(env.sim.obstacle_geom_ids[0])
    body = env.sim.body_pos_m.copy()
    world.place_box(env.sim.model, env.sim.data, gid, body + [0.08, 0.0, 0.0], [0.03, 0.03, 0.03])
    first, second = env.measure(ZERO), env.measure(ZERO)
    assert rewards.box_hit(first) == 1.0 and rewards.collision(first) == 1.0
    assert rewards.box_hit(second) == 0.0 and rewards.collision(second) == 1.0  # still touching
    reward = Reward({"alive": 0.5, "collision": -5.0, "box_hit": -100.0})  # floor 0
    total, _ = reward(first)
    assert total == pytest.approx(-100.0)  # the per-step part floors at 0; the hit does not
    assert reward(second)[0] == 0.0


def test_box_against_the_body_is_a_collision_and_foot_contact_is_not(env):
    fresh(env)
    assert term(env, "collision") == 0.0
    gid = int(env.sim.obstacle_geom_ids[0])
    body = env.sim.body_pos_m.copy()
    world.place_box(env.sim.model, env.sim.data, gid, body + [0.08, 0.0, 0.0], [0.03, 0.03, 0.03])
    assert term(env, "collision") == 1.0
    foot = env.sim.data.geom_xpos[env.sim.foot_geom_ids[0]].copy()
    world.place_box(env.sim.model, env.sim.data, gid, foot + [0.018, 0.0, 0.0], [0.015] * 3)
    s = env.measure(ZERO)
    assert s.obstacle_contacts == 0 and s.foot_obstacle_contacts > 0
    assert rewards.foot_collision(s) == 1.0


def test_moving_joints_cost_power_and_jerky_actions_cost_action_rate(env):
    fresh(env)
    assert term(env, "mechanical_power") < 0.05  # standing still
    target = env.sim.servo_setpoint_rad.copy()
    target[:8] += 0.4
    env.sim.step(target)
    assert term(env, "mechanical_power") > 0.1
    env._action = np.zeros(12)
    small, big = np.full(12, 0.1), np.full(12, 1.0)
    assert term(env, "action_rate", big) > term(env, "action_rate", small) > 0.0
    assert term(env, "action_magnitude", big) == pytest.approx(12.0)


def test_a_fall_costs_and_ends_alive(env):
    fresh(env)
    assert term(env, "alive") == 1.0 and term(env, "fall") == 0.0
    set_tilt(env, 2.0)  # past 60 deg
    assert term(env, "alive") == 0.0 and term(env, "fall") == 1.0


def test_weighted_total_skips_zero_weights():
    state = StepState(
        upright_cos=0.9, body_height_m=0.08, ang_vel_body_radps=np.array([0.1, 0.2, 0.3]),
        forward_velocity_mps=0.2, lateral_velocity_mps=0.05, command=np.array([0.3, 0.0]),
        sonar_m=0.1, obstacle_contacts=1, foot_obstacle_contacts=0, power_w=2.0,
        action=np.ones(12) * 0.1,
    )  # fmt: skip
    reward = Reward({"upright": 2.0, "collision": -3.0, "alive": 0.0}, floor=None)
    total, terms = reward(state)
    assert set(terms) == {"upright", "collision"}
    assert total == pytest.approx(2.0 * 0.9 - 3.0)


def test_floor_keeps_a_pinned_robot_from_preferring_a_fall():
    """Stuck against a box (costs every step) must not pay less than falling over."""
    weights = {"alive": 0.5, "collision": -2.0, "sonar_proximity": -1.0, "fall": -20.0}
    reward = Reward(weights)  # floor 0
    pinned = StepState(
        upright_cos=1.0, body_height_m=0.08, ang_vel_body_radps=np.zeros(3),
        forward_velocity_mps=0.0, lateral_velocity_mps=0.0, command=np.array([0.3, 0.0]),
        sonar_m=0.02, obstacle_contacts=2, foot_obstacle_contacts=0, power_w=1.0,
        action=np.zeros(12),
    )  # fmt: skip
    total, terms = reward(pinned)
    assert total == 0.0 and terms["collision"] == -2.0  # logged unfloored
    fallen = StepState(**{**pinned.__dict__, "fell": True})
    assert reward(fallen)[0] == pytest.approx(-20.0)  # the fall penalty is never floored


def test_every_profile_names_only_known_terms_and_weights_the_issue_groups():
    names = rewards.profile_names()
    assert {"speed", "stable", "obstacle", rewards.DEFAULT_PROFILE} <= set(names)
    for name in names:
        weights = rewards.load_profile(name)
        for group in ("upright", "velocity_tracking", "sonar_proximity", "collision",
                      "mechanical_power", "action_rate", "alive"):  # fmt: skip
            assert weights.get(group, 0.0) != 0.0, (name, group)
    speed, stable = rewards.load_profile("speed"), rewards.load_profile("stable")
    assert speed["forward_velocity"] > stable["forward_velocity"]
    assert stable["upright"] > speed["upright"]


def test_unknown_term_or_profile_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown terms"):
        Reward({"uprite": 1.0})
    with pytest.raises(ValueError, match="speed"):
        rewards.load_profile("sprint")
    bad = tmp_path / "bad.yaml"
    bad.write_text("alive: 1.0\nspeeed: 2.0\n")
    with pytest.raises(ValueError, match="speeed"):
        rewards.load_profile(str(bad))
    with pytest.raises(FileNotFoundError):
        rewards.load_profile(str(tmp_path / "missing.yaml"))


def test_yaml_profile_file_is_loaded(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("alive: 2.0\nforward_velocity: 5.0\n")
    assert rewards.load_profile(str(path)) == {"alive": 2.0, "forward_velocity": 5.0}


def test_yaw_rate_tracking_peaks_at_the_heading_hold_command():
    """The env's command yaw rate turns the robot back on course; tracking it pays most."""
    base = StepState(
        upright_cos=1.0, body_height_m=0.08, ang_vel_body_radps=np.array([0.0, 0.0, -0.2]),
        forward_velocity_mps=0.3, lateral_velocity_mps=0.0, command=np.array([0.33, -0.2]),
        sonar_m=4.0, obstacle_contacts=0, foot_obstacle_contacts=0, power_w=1.0,
        action=np.zeros(13),
    )  # fmt: skip
    on = rewards.yaw_rate_tracking(base)
    off = rewards.yaw_rate_tracking(
        StepState(**{**base.__dict__, "command": np.array([0.33, 0.2])})
    )
    assert on == pytest.approx(1.0) and off < 0.2 * on


def test_yaw_rate_tracking_pays_the_gait_cycles_mean_not_its_swing():
    """A turning trot's yaw rate swings within each cycle: at a swing's peak the turn on
    course still pays in full, and more than walking straight does."""
    turning = StepState(
        upright_cos=1.0, body_height_m=0.08, ang_vel_body_radps=np.array([0.0, 0.0, 0.45]),
        forward_velocity_mps=0.2, lateral_velocity_mps=0.0, command=np.array([0.2, 0.15]),
        sonar_m=4.0, obstacle_contacts=0, foot_obstacle_contacts=0, power_w=1.0,
        action=np.zeros(13), cycle_yaw_rate_radps=0.15,
    )  # fmt: skip
    straight = StepState(
        **{**turning.__dict__, "ang_vel_body_radps": np.zeros(3), "cycle_yaw_rate_radps": 0.0}
    )
    assert rewards.yaw_rate_tracking(turning) == pytest.approx(1.0)
    assert rewards.yaw_rate_tracking(straight) < 0.5
    per_step = StepState(**{**turning.__dict__, "cycle_yaw_rate_radps": None})
    assert rewards.yaw_rate_tracking(per_step) < 0.05  # this step's swing alone: ~e^-4


def test_the_env_rewards_the_yaw_rate_of_the_last_gait_cycle():
    e = PiDogEnv(EnvConfig(vision="none", quality="fast", num_obstacles=0,
                           randomization=RandomizationRanges(enabled=False)))  # fmt: skip
    e.reset(seed=0, options={"command": (0.2, 0.15)})
    states, yaws = [], []
    score = e.reward
    e.reward = lambda s: (states.append(s), score(s))[1]
    for _ in range(40):
        e.step(np.zeros(13, dtype=np.float32))
        yaws.append(float(e.sim.body_ang_vel_body_radps[2]))
    window = round(rewards.YAW_RATE_WINDOW_S / specs.CONTROL_DT_S)
    assert window == 12
    for k in (0, 5, 11, 12, 39):
        expected = np.mean(yaws[max(0, k + 1 - window) : k + 1])
        assert states[k].cycle_yaw_rate_radps == pytest.approx(expected, abs=1e-9)
    assert np.std(yaws[12:]) > 2 * np.std([s.cycle_yaw_rate_radps for s in states[12:]])
    e.close()


def test_yaw_rate_tracking_leaves_the_turn_to_the_detour_with_a_box_in_view(env):
    """A box near in the camera's view: the term pays nothing whatever the yaw rate (the
    steer is going round it); beside the robot, far, or behind: the command's again."""
    fresh(env)
    gid = int(env.sim.obstacle_geom_ids[0])
    front = env.sim.data.xpos[env.sim.body_id][0] + BODY_FRONT_M  # the nose, facing +x
    env.sim.data.qvel[5] = 0.3  # turning left at 0.3 rad/s, the command is straight

    def place(x, y):
        world.place_box(env.sim.model, env.sim.data, gid, [front + x, y, 0.05], [0.05, 0.05, 0.05])
        return env.measure(ZERO)

    ahead = place(0.6, 0.0)
    assert env.box_in_view_m() == pytest.approx(0.55, abs=2e-3) and ahead.box_in_view
    assert rewards.yaw_rate_tracking(ahead) == 0.0
    env.sim.data.qvel[5] = 0.0  # on command
    assert rewards.yaw_rate_tracking(place(0.6, 0.0)) == 0.0
    for x, y in ((0.6, 0.5), (1.5, 0.0), (-0.3, 0.0)):  # outside the view, too far, behind
        s = place(x, y)
        assert not s.box_in_view and rewards.yaw_rate_tracking(s) > 0.9, (x, y)
