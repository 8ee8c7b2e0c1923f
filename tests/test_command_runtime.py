"""Velocity commands on the deployment path (issue 14): ``--command``, the command schedule.

A command-following policy's prior is the trot at the amplitude and turn of
``gaits.command.CommandFollower``; the runtime must step the follower exactly as the env
does (blend weight = start ramp * amplitude, gait-input turn = the follower's), clip a
command outside the policy's ranges with one warning, and walk at the speed asked for.
"""

from __future__ import annotations

import json
import types

import numpy as np
import pytest
from _deploy_models import one_torch_thread, ppo_policy

from pidog_gaits.backends import Reading
from pidog_gaits.backends.sim import SimBackend
from pidog_gaits.envs.config import EnvConfig
from pidog_gaits.gaits import steering
from pidog_gaits.gaits.command import (
    CommandClipper,
    CommandFollower,
    CommandRanges,
    parse_command,
)
from pidog_gaits.gaits.library import GAITS, GaitPlayer, get_gait
from pidog_gaits.nn_controller import _command_plan, main
from pidog_gaits.robot import specs
from pidog_gaits.runtime.base import (
    ExpertPolicy,
    ExpertPrior,
    GaitSchedule,
    blend,
    ramp_weight,
    stand_targets,
)
from pidog_gaits.runtime.loop import LoopConfig, run_controller

DT = specs.CONTROL_DT_S


def _reading(gyro_z: float) -> Reading:
    imu = np.zeros(8)
    imu[2] = 9.81
    imu[5] = gyro_z
    return Reading(
        imu=imu, sonar_m=2.0, joint_pos_rad=stand_targets(), joint_vel_radps=np.zeros(12)
    )


# ---------------------------------------------------------------------- parsing, clipping
@pytest.mark.parametrize("text", ["0.2", "0.2,0,1", "fast,0", "nan,0", "0.2,inf", ""])
def test_parse_command_refuses_bad_text(text):
    with pytest.raises(ValueError, match="--command"):
        parse_command(text)
    assert parse_command(" 0.2, -0.1 ") == pytest.approx([0.2, -0.1])


def test_clipper_clips_and_warns_once():
    ranges = CommandRanges(speed_mps=(0.0, 0.3), yaw_radps=(-0.1, 0.1))
    said: list[str] = []
    clip = CommandClipper(ranges, "--command", said.append)
    assert np.array_equal(clip([0.2, 0.05]), [0.2, 0.05]) and said == []  # in range
    assert np.array_equal(clip([1.0, -0.5]), [0.3, -0.1])
    assert np.array_equal(clip([-0.2, 0.4]), [0.0, 0.1])  # clipped again, not said again
    assert len(said) == 1
    assert "--command 1,-0.5" in said[0] and "clipped to 0.3,-0.1" in said[0]


# ---------------------------------------------------------------------- the schedule
def test_command_schedule_steps_the_follower_like_the_env():
    """blend_weight = ramp * amplitude and gait_input[2] = the follower's turn, with the
    heading hold's correction fed to the follower; the phase is the trot's."""
    trot = GAITS["trot_forward"]
    schedule = GaitSchedule.for_command([0.2, 0.1], DT, stand_targets())
    follower = CommandFollower(DT)
    hold = steering.HeadingHold()
    error = 0.0
    gyro = 0.03
    for k in range(80):
        if k == 50:
            schedule.set_command([0.35, -0.05])
        user = (0.2, 0.1) if k < 50 else (0.35, -0.05)
        correction = hold.correction(error, DT)
        amp, turn = follower.step(*user, correction)
        ctx = schedule.context(stand_targets(), _reading(gyro))
        error += (user[1] - gyro) * DT
        assert ctx.gait == trot
        assert ctx.blend_weight == pytest.approx(ramp_weight(k * DT) * amp, abs=1e-12)
        assert float(ctx.gait_input[2]) == pytest.approx(turn, abs=1e-6)
        assert ctx.gait_input[0] == 3 and ctx.gait_input[1] == 1
        assert ctx.phase == pytest.approx((k * DT / trot.period_s) % 1.0, abs=1e-9)
        assert ctx.command == pytest.approx([user[0], user[1] + correction], abs=1e-6)
        schedule.advance()
    assert 0.0 < amp < 1.0 and turn < 0.0  # the second command's slew and turn were seen
    assert hold.integral_radps != 0.0  # the hold's integral part was in the correction
    with pytest.raises(ValueError):
        schedule.switch(GAITS["stand"], stand_targets())


def test_command_prior_is_stand_plus_amplitude_times_the_ramped_trot():
    """The runtime's ``blend`` with w = ramp * amp is the env's stand + amp * (ramped
    knot-blend - stand)."""
    stand = stand_targets()
    prior = ExpertPrior(steering=True)
    schedule = GaitSchedule.for_command([0.15, 0.12], DT, stand)
    follower = CommandFollower(DT)
    players = [GaitPlayer(g) for g in steering.knot_gaits(GAITS["trot_forward"])]
    steer = 0.3
    for k in range(60):
        amp, turn = follower.step(0.15, 0.12, 0.0)
        ctx = schedule.context(stand, None)
        phase = float(ctx.gait_input[3])
        knots = np.stack([p.targets(phase) for p in players])
        trot = steering.blend_knots(knots, np.clip(turn + steer, -1, 1))
        r = ramp_weight(k * DT)
        ramped = r * trot + (1 - r) * stand
        expected = stand + amp * (ramped - stand)
        np.testing.assert_allclose(blend(prior(ctx, steer), ctx), expected, rtol=0, atol=1e-12)
        schedule.advance()


def test_expert_prior_turns_by_the_gait_input():
    """The steered turn starts from ``gait_input[2]`` (the follower's turn), not the gait's
    own: the ONNX graph reads the same input, so torch and ONNX agree."""
    trot = GAITS["trot_forward"]
    ctx = GaitSchedule.for_command([0.2, 0.0], DT, stand_targets()).context(stand_targets(), None)
    ctx.gait_input[2] = 0.4
    ctx.gait_input[3] = 0.3
    turn, phase = float(ctx.gait_input[2]), float(ctx.gait_input[3])  # float32 as carried
    knots = np.stack([GaitPlayer(g).targets(phase) for g in steering.knot_gaits(trot)])
    steered = ExpertPrior(steering=True)(ctx, 0.2)
    np.testing.assert_allclose(steered, steering.blend_knots(knots, turn + 0.2), rtol=0, atol=1e-12)
    assert not np.allclose(steered, steering.blend_knots(knots, 0.2))  # gait.turn + steer
    unsteered = ExpertPrior(steering=False)(ctx)
    np.testing.assert_allclose(unsteered, steering.blend_knots(knots, turn), rtol=0, atol=1e-12)
    ctx.gait_input[2] = 0.0  # a named gait's own turn: its own table, exactly
    assert np.array_equal(ExpertPrior()(ctx), GaitPlayer(trot).targets(phase))


# ---------------------------------------------------------------------- policies
def test_ppo_policies_read_their_command_ranges(tmp_path):
    from pidog_gaits.export import export_ppo
    from pidog_gaits.runtime import load_policy
    from pidog_gaits.runtime.ppo_policy import TorchPpoPolicy

    as_json = {"speed_mps": [0.0, 0.3], "yaw_radps": [-0.1, 0.1], "hold_s": [1.0, 2.0]}
    trained = EnvConfig.from_dict({**EnvConfig(vision="none").as_dict(), "commands": as_json})
    assert trained.commands.speed_mps == (0.0, 0.3) and trained.commands.hold_s == (1.0, 2.0)
    config = EnvConfig(vision="none", prior="expert")
    with one_torch_thread():
        policy = TorchPpoPolicy(ppo_policy(config), config)
        assert policy.command_ranges == config.commands
        policy.command_ranges = CommandRanges(speed_mps=(0.05, 0.3), yaw_radps=(-0.1, 0.15))
        info = export_ppo(policy, tmp_path / "p.onnx", "test")
    assert info["commands"] == {"speed_mps": [0.05, 0.3], "yaw_radps": [-0.1, 0.15]}
    onnx = load_policy(tmp_path / "p.onnx")
    assert onnx.command_ranges.speed_mps == (0.05, 0.3)
    assert onnx.command_ranges.yaw_radps == (-0.1, 0.15)
    assert ExpertPolicy().command_ranges is None


def test_command_following_ppo_with_zero_residual_walks_like_the_expert(tmp_path):
    """On a turning command, the PPO prior (torch and ONNX, steering) is the expert's
    command prior: both read the follower's turn from the gait input."""
    from pidog_gaits.export import export_ppo
    from pidog_gaits.runtime import load_policy
    from pidog_gaits.runtime.ppo_policy import TorchPpoPolicy

    config = EnvConfig(vision="none", prior="expert")
    assert config.steering
    with one_torch_thread():
        torch_policy = TorchPpoPolicy(ppo_policy(config, action_gain=0.0), config)
        torch_policy.command_ranges = CommandRanges()
        export_ppo(torch_policy, tmp_path / "p.onnx", "test")
        onnx_policy = load_policy(tmp_path / "p.onnx")
        runs = [
            _run_command(p, [0.2, 0.12], 2.0) for p in (ExpertPolicy(), torch_policy, onnx_policy)
        ]
    expert = runs[0]
    assert abs(expert["yaw_rad"]) > 0.05  # it did turn
    for figures in runs[1:]:
        assert figures["distance_m"] == pytest.approx(expert["distance_m"], abs=1e-6)
        assert figures["yaw_rad"] == pytest.approx(expert["yaw_rad"], abs=1e-6)


def _run_command(policy, command, seconds: float) -> dict:
    backend = SimBackend(seconds=seconds, gait_name="trot_forward")
    try:
        return run_controller(
            policy, backend, GAITS["trot_forward"], LoopConfig(seconds, DT),
            command=np.asarray(command, dtype=float),
        )  # fmt: skip
    finally:
        backend.close()


def test_a_command_following_policy_runs_a_gait_as_its_command(capsys):
    policy = types.SimpleNamespace(kind="ppo", command_ranges=CommandRanges())
    gait, command = _command_plan(policy, get_gait("trot_left"), None, "sim", None, None)
    assert gait.name == "trot_forward"
    assert command == pytest.approx([0.26, 0.2])  # its yaw rate clipped to the range
    gait, command = _command_plan(policy, get_gait("sit"), None, "sim", None, None)
    assert gait.name == "stand" and np.array_equal(command, [0.0, 0.0])
    assert "has no sit" in capsys.readouterr().err
    gait, command = _command_plan(policy, get_gait("trot_forward"), None, "ros2", None, None)
    assert np.array_equal(command, [0.0, 0.0])  # ros2: stands until cmd_vel
    with pytest.raises(ValueError, match="--turn"):
        _command_plan(policy, get_gait("trot_forward"), None, "sim", None, 0.5)


# ---------------------------------------------------------------------- the command line
def _cli(args: list[str], tmp_path, capsys) -> tuple[dict, list[str]]:
    out = tmp_path / "run.json"
    assert main([*args, "--json", str(out)]) == 0
    return json.loads(out.read_text()), capsys.readouterr().err.strip().splitlines()


def test_cli_expert_walks_at_the_commanded_speed(tmp_path, capsys):
    slow, err = _cli(["--model", "expert", "--command", "0.2,0", "--seconds", "4"],
                     tmp_path, capsys)  # fmt: skip
    assert err == []  # in range: nothing said
    assert slow["command"] == [0.2, 0.0] and not slow["fell"]
    assert slow["distance_m"] > 0.2
    fast, _ = _cli(["--model", "expert", "--command", "0.44,0", "--seconds", "4"],
                   tmp_path, capsys)  # fmt: skip
    assert fast["distance_m"] > slow["distance_m"] + 0.3
    # From rest the trot reaches full amplitude after the ramp: ~0.2 m/s over 4 s, less
    # the start (a slowness of the prior tables would show here).
    assert 0.15 * 4 - 0.2 < slow["distance_m"] < 0.2 * 4


def test_cli_clips_an_out_of_range_command_with_one_warning(tmp_path, capsys):
    figures, err = _cli(["--model", "expert", "--command", "1.0,0", "--seconds", "2"],
                        tmp_path, capsys)  # fmt: skip
    assert len(err) == 1 and err[0].startswith("warning:")
    assert "--command 1,0" in err[0] and "clipped to 0.44,0" in err[0]
    assert figures["command"] == [pytest.approx(0.44), 0.0]
    top, err = _cli(["--model", "expert", "--command", "0.44,0", "--seconds", "2"],
                    tmp_path, capsys)  # fmt: skip
    assert err == []
    assert figures["distance_m"] == pytest.approx(top["distance_m"], abs=1e-9)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--command", "fast"], "SPEED,YAW_RATE"),
        (["--command", "0.2,0", "--turn", "0.5"], "--turn"),
        (["--command", "0.2,0", "--backend", "ros2"], "cmd_vel"),
    ],
)
def test_cli_command_errors_are_one_line(args, message, capsys):
    assert main(["--model", "expert", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0]


def test_the_robots_prior_equals_the_envs_for_the_same_commands_and_steers():
    """The env and the control loop run the same follower: equal targets step by step,
    through a change of command (heading hold off: the env's heading is the simulator's,
    the robot's the gyro's)."""
    from pidog_gaits.envs.config import EnvConfig
    from pidog_gaits.envs.pidog_env import PiDogEnv
    from pidog_gaits.runtime.base import ExpertPrior, blend
    from pidog_gaits.sim.randomization import RandomizationRanges

    config = EnvConfig(quality="fast", vision="none", prior="expert", num_obstacles=0,
                       heading_gain_per_s=0.0,
                       randomization=RandomizationRanges(enabled=False))  # fmt: skip
    env = PiDogEnv(config)
    env.reset(seed=0, options={"command": (0.2, 0.1)})
    schedule = GaitSchedule.for_command(
        np.array([0.2, 0.1]), specs.CONTROL_DT_S, stand_targets(), heading_gain_per_s=0.0
    )
    prior = ExpertPrior(steering=True)
    steers = 0.6 * np.sin(np.arange(120) * 0.21)
    for k in range(120):
        if k == 60:  # a new command mid-run, on the robot's side ...
            schedule.set_command(np.array([0.35, -0.05]))
        ctx = schedule.context(stand_targets(), None)
        action = np.zeros(13)
        action[12] = steers[k]
        env_targets = env.targets_for(action)
        robot_targets = blend(prior(ctx, float(steers[k])), ctx)
        np.testing.assert_allclose(robot_targets, env_targets, atol=1e-9, err_msg=f"step {k}")
        if k == 59:  # ... and the env's: both take effect at step 60
            env.set_command((0.35, -0.05))
        env.step(action)
        schedule.advance()


def test_the_observed_command_holds_the_users_yaw_rate_and_the_correction_apart():
    """As ``PiDogEnv``: [speed, the user's yaw rate, the heading hold's correction]."""
    from pidog_gaits.runtime.observation import build_observation

    schedule = GaitSchedule.for_command(np.array([0.2, 0.1]), specs.CONTROL_DT_S, stand_targets())
    for _ in range(30):  # the gyro reads no turn: the goal heading runs ahead, to the left
        ctx = schedule.context(stand_targets(), _reading(0.0))
        schedule.advance()
    obs = build_observation(ctx, ["command"], {})["command"][0]
    assert obs[0] == pytest.approx(0.2) and obs[1] == pytest.approx(0.1)
    assert obs[2] == pytest.approx(ctx.heading_correction_radps) and obs[2] > 0.02
    assert ctx.command[1] == pytest.approx(obs[1] + obs[2])  # the reward's yaw rate
