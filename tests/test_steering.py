"""Steering (issue 5): the 13th action bends the prior gait's path, in the env and on the
robot alike."""

from __future__ import annotations

import numpy as np
import pytest
from _deploy_models import one_torch_thread, ppo_policy, save, untrained_imitation

from pidog_gaits.envs.config import EnvConfig
from pidog_gaits.envs.pidog_env import PiDogEnv
from pidog_gaits.envs.prior import PriorSequence, make_controller_factory
from pidog_gaits.envs.reflex import HEADING_STEER_PER_RADPS, teacher_steer
from pidog_gaits.gaits import steering
from pidog_gaits.gaits.command import CommandFollower
from pidog_gaits.gaits.library import GAITS
from pidog_gaits.gaits.steering import HEADING_MAX_YAW_RADPS, HeadingHold
from pidog_gaits.robot import specs
from pidog_gaits.runtime.base import GaitSchedule, stand_targets
from pidog_gaits.runtime.ppo_policy import TorchPpoPolicy
from pidog_gaits.sim.randomization import RandomizationRanges


def test_knot_weights_interpolate_between_neighbours():
    for turn in np.linspace(-1, 1, 21):
        w = steering.knot_weights(turn)
        assert w.sum() == pytest.approx(1.0) and (w >= 0).all()
        assert w @ np.array(steering.TURN_KNOTS) == pytest.approx(turn)
        assert np.count_nonzero(w) <= 2
    knots = np.arange(36.0).reshape(3, 12)
    for i, turn in enumerate(steering.TURN_KNOTS):
        assert np.array_equal(steering.blend_knots(knots, turn), knots[i])  # exact
    assert steering.steered_turn(0.5, 0.8) == 1.0  # a turning gait cannot turn past 1
    assert steering.steered_turn(0.0, -3.0) == -1.0


def test_steered_prior_at_the_knots_is_the_turning_trot():
    seq = PriorSequence(GAITS["trot_forward"], make_controller_factory("expert", None), 60, True)
    left = PriorSequence(GAITS["trot_left"], make_controller_factory("expert", None), 60)
    right = PriorSequence(GAITS["trot_right"], make_controller_factory("expert", None), 60)
    for k in (0, 17, 60):
        assert np.array_equal(seq.steered(k, 0.0), seq.targets[k])
        np.testing.assert_allclose(seq.steered(k, 1.0), left.targets[k], atol=1e-12)
        np.testing.assert_allclose(seq.steered(k, -1.0), right.targets[k], atol=1e-12)
    middle = seq.steered(30, 0.5)
    assert not np.allclose(middle, seq.targets[30]) and not np.allclose(middle, left.targets[30])


def _yaw_after(steer: float, seconds: float = 5.0) -> tuple[float, float]:
    env = PiDogEnv(EnvConfig(quality="fast", vision="none", prior="expert", num_obstacles=0,
                             randomization=RandomizationRanges(enabled=False),
                             heading_integral_per_s2=0.0))  # fmt: skip
    assert env.action_space.shape == (13,)
    env.reset(seed=0, options={"yaw_rad": 0.7, "command": (0.44, 0.0)})
    action = np.zeros(13)
    action[12] = steer
    for _ in range(round(seconds / specs.CONTROL_DT_S)):
        obs, *_ = env.step(action)
    assert obs["command"][1] == 0.0  # the user's yaw rate; the correction comes apart
    return env.sim.yaw_change_rad(), float(obs["command"][2])


@pytest.mark.parametrize("steer", [1.0, -1.0])
def test_steer_turns_the_trot_and_the_heading_hold_points_back(steer):
    straight, straight_back = _yaw_after(0.0)
    yaw, command_yaw = _yaw_after(steer)
    # Nominal physics: unsteered, the expert trot wanders 0.14 rad in 5 s (fast preset) and
    # the command asks to turn that back; the prior holds no heading of its own
    # (PRIOR_HEADING_MAX_RADPS 0), so that is the policy's steer to do.
    assert abs(straight) < 0.2 and straight_back == pytest.approx(-straight, abs=1e-6)
    # Full steer turns the trot ~0.15 rad/s, and nothing turns back against it.
    assert np.sign(yaw) == steer and abs(yaw) > 0.5
    # The command now asks to turn back towards the start heading, proportionally (the
    # hold's integral is off here: test_heading_hold_* below).
    limit = HEADING_MAX_YAW_RADPS
    assert command_yaw == pytest.approx(min(limit, max(-limit, -yaw)), abs=1e-6)


def test_the_prior_leaves_the_heading_hold_to_the_steer():
    """In a detour the prior must not turn back while the steer turns away: its turn is the
    user's yaw rate alone, whatever the heading hold asks (``PRIOR_HEADING_MAX_RADPS``)."""
    for user_yaw in (0.0, 0.1):
        plain, held = CommandFollower(specs.CONTROL_DT_S), CommandFollower(specs.CONTROL_DT_S)
        for _ in range(50):
            assert plain.step(0.3, user_yaw) == held.step(0.3, user_yaw, -0.4)
    # The teacher holds the heading instead, in proportion to the asked correction.
    assert teacher_steer(0.0, 0.1) == pytest.approx(min(1.0, 0.1 * HEADING_STEER_PER_RADPS))
    assert teacher_steer(0.0, -0.1) < teacher_steer(0.0, -0.05) < 0.0


def test_without_steering_the_action_has_12_values():
    env = PiDogEnv(EnvConfig(quality="fast", vision="none", steering=False, num_obstacles=0,
                             heading_integral_per_s2=0.0))  # fmt: skip
    assert env.action_space.shape == (12,)
    env.reset(seed=0)
    for _ in range(100):
        obs, *_ = env.step(np.full(12, 0.3))  # a residual that veers the trot
    yaw = env.sim.yaw_change_rad()
    assert abs(yaw) > 0.01
    assert obs["command"][2] == pytest.approx(-yaw, abs=1e-6)  # heading hold still on


@pytest.mark.parametrize("prior_arch", [None, "simple_lstm"])
def test_deployed_policy_steers_its_prior_like_the_env(prior_arch, tmp_path):
    """For the same steer, the robot's prior equals the env's precomputed one (a recurrent
    prior keeps one state per knot, as the env's three sequences do)."""
    with one_torch_thread():
        pretrained = None
        if prior_arch:
            pretrained = str(save(untrained_imitation(prior_arch), tmp_path / "imit.pth"))
        config = EnvConfig(vision="none", prior="imitation" if pretrained else "expert",
                           pretrained=pretrained)  # fmt: skip
        model = None
        if pretrained:
            from pidog_gaits.neural_network import load_checkpoint

            model, _ = load_checkpoint(pretrained)
        policy = TorchPpoPolicy(ppo_policy(config), config, model)
        gait = GAITS["trot_forward"]
        seq = PriorSequence(gait, make_controller_factory(config.prior, pretrained), 80, True)
        schedule = GaitSchedule(gait, specs.CONTROL_DT_S, stand_targets())
        policy.reset()
        steers = np.sin(np.arange(81) * 0.37)
        for k in range(81):
            ctx = schedule.context(stand_targets(), None)
            got = policy.prior_targets(ctx, float(steers[k]))
            np.testing.assert_allclose(got, seq.steered(k, float(steers[k])), atol=1e-6)
            schedule.advance()


def test_robot_heading_hold_integrates_the_gyro_like_the_env_command():
    """On the robot the heading comes from the gyro: turning left at 0.2 rad/s for 1 s
    leaves the command asking for -0.2 rad/s, as the env's would."""
    from pidog_gaits.backends import Reading

    schedule = GaitSchedule(
        GAITS["trot_forward"], specs.CONTROL_DT_S, stand_targets(), heading_integral_per_s2=0.0
    )
    reading = Reading(
        imu=np.array([0, 0, 9.81, 0, 0, 0.2, 0, 0]), sonar_m=4.0,
        joint_pos_rad=stand_targets(), joint_vel_radps=np.zeros(12),
    )  # fmt: skip
    for _ in range(round(1.0 / specs.CONTROL_DT_S)):
        schedule.context(stand_targets(), reading)
        schedule.advance()
    ctx = schedule.context(stand_targets(), reading)
    assert ctx.command[0] == pytest.approx(GAITS["trot_forward"].command_mps)
    assert ctx.command[1] == pytest.approx(-0.2, abs=1e-6)
    assert schedule.context(stand_targets(), None).command[1] == 0.0  # no sensors, no hold


def _bias_loop(hold: HeadingHold, bias: float, seconds: float = 20.0) -> list[float]:
    """Heading error (rad) of a robot whose steer follows the teacher's gain on the hold's
    correction plus a constant ``bias``; a steer of 1 turns it ``STEER_YAW_RADPS``."""
    steer_yaw_radps, dt = 0.16, specs.CONTROL_DT_S
    error, errors = 0.0, []
    for _ in range(round(seconds / dt)):
        steer = HEADING_STEER_PER_RADPS * hold.correction(error, dt) + bias
        error -= steer_yaw_radps * min(1.0, max(-1.0, steer)) * dt
        errors.append(error)
    return errors


def test_heading_hold_integral_cancels_a_steer_bias():
    """A policy that steers 0.2 on its own: the proportional hold leaves it bias / 4 rad
    off its heading for good, the integral brings it back (and its sideways walk ends)."""
    proportional = _bias_loop(HeadingHold(integral_per_s2=0.0), 0.2)
    integral = _bias_loop(HeadingHold(), 0.2)
    assert proportional[-1] == pytest.approx(-0.2 / HEADING_STEER_PER_RADPS, rel=0.02)
    assert abs(integral[-1]) < 0.002
    # The heading error summed over the walk (sideways metres per m/s walked): a fraction.
    assert abs(sum(integral)) < 0.3 * abs(sum(proportional))


def test_heading_hold_integral_does_not_wind_up_in_a_detour():
    hold = HeadingHold()
    for _ in range(200):  # 4 s at 0.4 rad off course (a detour): outside the band
        hold.correction(0.4, specs.CONTROL_DT_S)
    assert hold.integral_radps == 0.0
    for _ in range(2000):  # 40 s just inside the band: clamped
        hold.correction(hold.band_rad, specs.CONTROL_DT_S)
    assert hold.integral_radps == pytest.approx(hold.integral_limit_radps)
    assert hold.correction(10.0, specs.CONTROL_DT_S) == HEADING_MAX_YAW_RADPS
    hold.reset()
    assert hold.integral_radps == 0.0


def test_heading_hold_integral_holds_still_while_the_sonar_hears_a_box():
    """An echo within the reflex's range: a detour is about to start, so the integral
    neither grows (towards the box: stop 28) nor forgets the bias it has learned."""
    dt = specs.CONTROL_DT_S
    hold = HeadingHold()
    assert hold.sonar_gate_m > 0
    for _ in range(50):
        hold.correction(0.1, dt, sonar_m=0.6)
    assert hold.integral_radps == 0.0
    for sonar in (specs.ULTRASONIC_NO_ECHO, None, hold.sonar_gate_m, 4.0):
        before = hold.integral_radps  # no echo, no reading, at the gate, far
        hold.correction(0.1, dt, sonar_m=sonar)
        assert hold.integral_radps > before
    learned = hold.integral_radps
    for _ in range(50):
        hold.correction(0.1, dt, sonar_m=hold.sonar_gate_m - 0.01)
    assert hold.integral_radps == learned  # held, not reset
    ungated = HeadingHold(sonar_gate_m=0.0)
    ungated.correction(0.1, dt, sonar_m=0.3)
    assert ungated.integral_radps > 0.0


def test_robot_heading_hold_has_the_envs_integral():
    """The robot's schedule and the env step the same ``HeadingHold``: for the same
    heading error the command carries the same integral part, gated by the previous
    step's ultrasonic (the last reading the policy saw, as in the env)."""
    from pidog_gaits.backends import Reading

    schedule = GaitSchedule(GAITS["trot_forward"], specs.CONTROL_DT_S, stand_targets())
    sonar_m = [0.5 if k < 30 else 4.0 for k in range(100)]  # a box ahead, then none
    hold, error, last = HeadingHold(), 0.0, None
    for k in range(100):
        reading = Reading(
            imu=np.array([0, 0, 9.81, 0, 0, 0.05, 0, 0]), sonar_m=sonar_m[k],
            joint_pos_rad=stand_targets(), joint_vel_radps=np.zeros(12),
        )  # fmt: skip
        ctx = schedule.context(stand_targets(), reading)
        expected = hold.correction(error, specs.CONTROL_DT_S, last)
        assert ctx.heading_correction_radps == pytest.approx(expected)
        if k == 30:
            assert hold.integral_radps == 0.0  # held while the box was heard
        last = sonar_m[k]
        error -= 0.05 * specs.CONTROL_DT_S
        schedule.advance()
    assert hold.integral_radps < -0.01  # the integral took part


def test_env_gates_the_integral_on_the_sonar_the_policy_saw():
    """``PiDogEnv``'s hold is ``HeadingHold`` fed each step's heading error and the
    previous observation's ultrasonic: replayed from the outside, equal corrections."""
    from pidog_gaits.sim.physics import wrap_angle, yaw_of_quat

    config = EnvConfig(quality="fast", vision="none", prior="expert", num_obstacles=1,
                       randomization=RandomizationRanges(enabled=False))  # fmt: skip
    env = PiDogEnv(config)
    obs, _ = env.reset(seed=0, options={"command": (0.3, 0.0),
                                        "obstacles": [(0.8, 0.0, 0.06, 0.06)]})  # fmt: skip
    hold, free = config.heading_hold(), HeadingHold(sonar_gate_m=0.0)
    last, heard = specs.ULTRASONIC_NO_ECHO, 0
    action = np.zeros(env.action_space.shape)
    for _ in range(60):
        error = wrap_angle(env.goal_yaw_rad - yaw_of_quat(env.sim.body_quat))
        assert obs["command"][2] == pytest.approx(hold.correction(error, specs.CONTROL_DT_S, last))
        free.correction(error, specs.CONTROL_DT_S)
        last = float(obs["sonar"][0])
        heard += 0.0 <= last < hold.sonar_gate_m
        obs, *_ = env.step(action)
    assert heard > 30  # the box was in the beam most of the time ...
    assert abs(hold.integral_radps) < 0.5 * abs(free.integral_radps)  # ... and held it
    env.close()


def test_a_model_saved_before_the_integral_runs_proportional_only():
    """An env dict without ``heading_integral_per_s2`` (every model trained before it)
    reads as 0: the policy runs with the hold it trained with."""
    saved = EnvConfig().as_dict()
    assert saved["heading_integral_per_s2"] > 0
    del saved["heading_integral_per_s2"]
    assert EnvConfig.from_dict(saved).heading_hold().integral_per_s2 == 0.0
    # ... and one saved before the sonar gate runs without it.
    saved = EnvConfig().as_dict()
    del saved["heading_integral_sonar_gate_m"]
    assert EnvConfig.from_dict(saved).heading_hold().sonar_gate_m == 0.0
