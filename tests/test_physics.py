"""Servo model, latency, forward axis, determinism and falls in PiDogSim."""

import math

import numpy as np
import pytest

from pidog_gaits.robot import specs
from pidog_gaits.sim.physics import PiDogSim, get_preset
from pidog_gaits.sim.randomization import DomainParams, RandomizationRanges, parse_overrides


def test_unknown_preset_names_the_valid_ones():
    with pytest.raises(ValueError, match="production, medium, fast"):
        get_preset("ultra")


def test_servo_setpoint_never_slews_faster_than_the_servo():
    sim = PiDogSim("fast", params=DomainParams(latency_s=0.0))
    start = sim.servo_setpoint_rad.copy()
    target = start.copy()
    target[0] -= 1.0  # a 57 deg jump
    sim.step(target)
    moved = abs(sim.servo_setpoint_rad[0] - start[0])
    assert moved == pytest.approx(specs.SERVO_MAX_SPEED_RADPS * specs.CONTROL_DT_S, rel=1e-4)


def test_actuator_torque_is_limited_to_stall_torque():
    sim = PiDogSim("fast")
    target = sim.servo_setpoint_rad.copy()
    target[:8] += 0.8
    peak = 0.0
    for _ in range(10):
        sim.step(target)
        peak = max(peak, float(np.abs(sim.data.actuator_force[:8]).max()))
    assert peak == pytest.approx(specs.SERVO_STALL_TORQUE_NM, rel=1e-6)


def test_latency_delays_the_command():
    def setpoint_after_one_step(latency_s):
        sim = PiDogSim("production", params=DomainParams(latency_s=latency_s))
        target = sim.servo_setpoint_rad.copy()
        start = target[1]
        target[1] += 0.5
        sim.step(target)
        return abs(sim.servo_setpoint_rad[1] - start)

    no_delay, delay_10, delay_30 = (setpoint_after_one_step(x) for x in (0.0, 0.010, 0.030))
    # 20 ms control step: 10 ms latency leaves half the step to move, 30 ms none.
    assert no_delay == pytest.approx(specs.SERVO_MAX_SPEED_RADPS * 0.020, rel=1e-3)
    assert delay_10 == pytest.approx(specs.SERVO_MAX_SPEED_RADPS * 0.010, rel=1e-3)
    assert delay_30 == pytest.approx(0.0, abs=1e-9)


def test_forward_is_the_body_x_axis_whatever_the_start_heading():
    for yaw in (0.0, math.pi / 2, -2.0):
        sim = PiDogSim("fast")
        sim.reset(yaw_rad=yaw)
        fwd_world = (sim.body_rotation @ specs.FORWARD_AXIS_BODY)[:2]
        sim.data.qpos[0:2] += 0.1 * fwd_world / np.linalg.norm(fwd_world)
        forward, lateral = sim.start_frame_displacement_m()
        assert forward == pytest.approx(0.1, abs=1e-6)
        assert lateral == pytest.approx(0.0, abs=1e-6)


def test_reset_really_resets():
    sim = PiDogSim("fast")
    pose = sim.data.qpos.copy()
    target = sim.servo_setpoint_rad.copy()
    target[:8] += 0.3
    for _ in range(50):
        sim.step(target)
    assert not np.allclose(sim.data.qpos, pose)
    sim.reset()
    np.testing.assert_allclose(sim.data.qpos, pose)
    assert sim.time_s == 0.0


def test_same_seed_same_motion():
    def run():
        sim = PiDogSim("fast", seed=3)
        target = sim.servo_setpoint_rad.copy()
        for k in range(100):
            target[:8] += 0.01 * math.sin(k / 5)
            sim.step(target)
        return sim.data.qpos.copy()

    np.testing.assert_array_equal(run(), run())


def test_tipping_over_counts_as_a_fall():
    sim = PiDogSim("fast")
    assert not sim.fallen()
    sim.data.qpos[3:7] = [math.cos(math.pi / 4), math.sin(math.pi / 4), 0, 0]  # 90 deg roll
    sim.step(sim.servo_setpoint_rad.copy())
    assert sim.fallen()


def test_domain_params_change_the_model():
    sim = PiDogSim("fast", params=DomainParams(servo_torque_scale=0.5, mass_scale=1.2))
    assert sim.model.actuator_forcerange[0, 1] == pytest.approx(0.5 * specs.SERVO_STALL_TORQUE_NM)
    assert sim.model.body_mass.sum() == pytest.approx(1.2 * specs.TOTAL_MASS_KG)


def test_overrides_parse_and_reject_unknown_keys():
    assert parse_overrides(["friction=0.5", "latency_ms=30"]) == {
        "friction_scale": 0.5,
        "latency_s": 0.03,
    }
    with pytest.raises(ValueError, match="valid"):
        parse_overrides(["gravity=3"])
    params = RandomizationRanges(overrides={"friction_scale": 0.4}).sample(np.random.default_rng(0))
    assert params.friction_scale == 0.4
    assert 0.85 <= params.mass_scale <= 1.15


def test_friction_coef_sets_the_feet_friction_coefficient():
    """``friction_coef=0.35`` is the foot's coefficient itself, not a scale (nominal 0.4)."""
    overrides = parse_overrides(["friction_coef=0.35"])
    assert overrides == {"friction_scale": pytest.approx(0.35 / specs.FOOT_FRICTION)}
    sim = PiDogSim("fast", params=DomainParams(**overrides))
    np.testing.assert_allclose(sim.model.geom_friction[sim.foot_geom_ids, 0], 0.35)
    with pytest.raises(ValueError, match="friction_coef"):
        parse_overrides(["gravity=3"])
