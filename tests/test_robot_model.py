"""The MJCF model agrees with specs.py: joints, ranges, masses, keyframe, servos."""

import mujoco
import numpy as np
import pytest

from pidog_gaits.gaits import poses
from pidog_gaits.robot import specs
from pidog_gaits.sim.physics import PRESETS, PiDogSim


@pytest.fixture(scope="module")
def sim():
    return PiDogSim("fast")


def test_joint_order_and_ranges_follow_specs(sim):
    m = sim.model
    for i, name in enumerate(specs.JOINT_NAMES):
        jid = m.joint(name).id
        np.testing.assert_allclose(m.jnt_range[jid], specs.JOINT_RANGE_RAD[i], atol=1e-5)
        assert m.actuator(i).name == specs.ACTUATOR_NAMES[i]
        assert m.actuator_trnid[i, 0] == jid


def test_leg_segment_lengths_are_sunfounder_geometry(sim):
    m = sim.model
    knee_body = m.body("left_front_shank")
    assert np.linalg.norm(m.body_pos[knee_body.id]) == pytest.approx(0.042)
    foot = m.geom("left_front_foot")
    assert np.linalg.norm(m.geom_pos[foot.id]) == pytest.approx(0.076)
    hips = [m.body_pos[m.body(f"{leg}_thigh").id] for leg in specs.LEG_NAMES]
    assert hips[0][0] - hips[2][0] == pytest.approx(0.117)
    assert hips[0][1] - hips[1][1] == pytest.approx(0.098)


def test_every_body_has_mass_and_total_matches_specs(sim):
    m = sim.model
    assert np.all(m.body_mass[1:] > 0)
    assert m.body_mass.sum() == pytest.approx(specs.TOTAL_MASS_KG, rel=1e-6)


def test_centre_of_mass_is_ahead_of_the_hips(sim):
    com = sim.data.subtree_com[sim.body_id]
    assert 0.005 < com[0] < 0.02


def test_stand_keyframe_holds_the_library_stand(sim):
    key = sim.model.key("stand")
    np.testing.assert_allclose(key.act[:8], poses.stand_pose(), atol=1e-5)


def test_servo_limits_are_the_real_servos(sim):
    m = sim.model
    np.testing.assert_allclose(m.actuator_forcerange[:8, 1], specs.SERVO_STALL_TORQUE_NM)
    np.testing.assert_allclose(m.actuator_ctrlrange[:8, 1], specs.SERVO_MAX_SPEED_RADPS, rtol=1e-4)


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_sets_timestep_and_solver(name):
    sim = PiDogSim(name)
    assert sim.model.opt.timestep == PRESETS[name].timestep_s
    assert sim.model.opt.iterations == PRESETS[name].iterations
    assert sim.substeps * sim.model.opt.timestep == pytest.approx(specs.CONTROL_DT_S)


def test_only_feet_body_and_head_collide(sim):
    m = sim.model
    colliding = {
        m.geom(g).name for g in range(m.ngeom) if m.geom_contype[g] and sim.robot_geom_mask[g]
    }
    assert colliding == set(specs.FOOT_GEOMS) | set(specs.FALL_GEOMS)
    assert mujoco.mjtGeom.mjGEOM_MESH not in {m.geom_type[g] for g in range(m.ngeom)}
