"""The expert gaits do in simulation what they are named for, on every physics preset."""

import numpy as np
import pytest

from pidog_gaits.gaits.library import GAIT_TYPES, GAITS, expert_targets, get_gait
from pidog_gaits.robot import specs
from pidog_gaits.sim.physics import PRESETS
from pidog_gaits.sim.rollout import run_gait

PRESET_NAMES = list(PRESETS)


@pytest.fixture(scope="module")
def runs():
    """10 s of every gait on every preset, run once for the whole module."""
    return {
        (name, quality): run_gait(GAITS[name], 10.0, quality=quality)
        for quality in PRESET_NAMES
        for name in GAITS
    }


@pytest.mark.parametrize("quality", PRESET_NAMES)
def test_trot_covers_a_metre_in_ten_seconds(runs, quality):
    r = runs["trot_forward", quality]
    assert not r.fell
    assert r.distance_m >= 1.0
    assert abs(r.lateral_m) < 0.3 * r.distance_m


@pytest.mark.parametrize("quality", PRESET_NAMES)
def test_walk_forward_goes_forward(runs, quality):
    r = runs["walk_forward", quality]
    assert not r.fell
    assert r.distance_m >= 0.4


@pytest.mark.parametrize("quality", PRESET_NAMES)
def test_walk_backward_goes_backward(runs, quality):
    r = runs["walk_backward", quality]
    assert not r.fell
    assert r.distance_m <= -0.4


@pytest.mark.parametrize("quality", PRESET_NAMES)
def test_turns_change_heading_the_right_way(runs, quality):
    left, right = runs["turn_left", quality], runs["turn_right", quality]
    assert not left.fell and not right.fell
    assert np.degrees(left.yaw_rad) > 10
    assert np.degrees(right.yaw_rad) < -10


@pytest.mark.parametrize("quality", PRESET_NAMES)
def test_stand_holds_its_height(runs, quality):
    heights = []
    run_gait(
        GAITS["stand"],
        10.0,
        quality=quality,
        on_step=lambda sim, _i, _t: heights.append(sim.body_height_m),
    )
    assert max(heights) - min(heights) < 0.01
    assert abs(runs["stand", quality].distance_m) < 0.01


@pytest.mark.parametrize("quality", PRESET_NAMES)
def test_sit_lowers_the_rear(runs, quality):
    sit, stand = runs["sit", quality], runs["stand", quality]
    assert not sit.fell
    assert sit.rear_height_m < stand.rear_height_m - 0.03


def test_no_gait_commands_a_joint_outside_its_range():
    phase = np.linspace(0, 1, 2001)
    low, high = specs.JOINT_RANGE_RAD[:, 0], specs.JOINT_RANGE_RAD[:, 1]
    for gait in GAITS.values():
        targets = gait.targets(phase)
        assert np.all(targets >= low) and np.all(targets <= high), gait.name
    # Any command in between, too.
    for gait_type in (GAIT_TYPES["walk"], GAIT_TYPES["trot"]):
        for direction in (-1.0, 1.0):
            for turn in np.linspace(-1, 1, 9):
                inputs = np.stack(
                    [
                        np.full_like(phase, gait_type),
                        np.full_like(phase, direction),
                        np.full_like(phase, turn),
                        phase,
                    ],
                    axis=1,
                )
                targets = expert_targets(inputs)
                assert np.all(targets >= low) and np.all(targets <= high)


def test_every_named_gait_has_a_distinct_input():
    signatures = {tuple(g.inputs(0.25)[0, :3]) for g in GAITS.values()}
    assert len(signatures) == len(GAITS)


def test_phase_spans_exactly_one_cycle():
    for gait in GAITS.values():
        np.testing.assert_allclose(gait.targets(0.0), gait.targets(1.0), atol=1e-9)
    walk = get_gait("walk_forward").targets(np.linspace(0, 1, 200, endpoint=False))
    assert np.ptp(walk, axis=0).max() > 0.3  # it moves within a cycle


def test_walk_swings_one_leg_at_a_time_in_sunfounder_order():
    from pidog_gaits.gaits.footpath import foot_xz  # noqa: F401  (the shared foot path)
    from pidog_gaits.gaits.kinematics import leg_fk

    phase = np.linspace(0, 1, 800, endpoint=False)
    targets = get_gait("walk_forward").targets(phase)
    lifted = np.zeros((phase.size, 4), dtype=bool)
    for leg in range(4):
        _, z = leg_fk(targets[:, 2 * leg], targets[:, 2 * leg + 1])
        lifted[:, leg] = z > -0.0795
    assert lifted.sum(axis=1).max() == 1  # never two feet in the air
    first_lift = [int(np.argmax(lifted[:, leg])) for leg in range(4)]
    # Order left-front, right-hind, right-front, left-hind (legs 1, 4, 2, 3).
    assert np.argsort(first_lift).tolist() == [0, 3, 1, 2]


def test_unknown_gait_names_the_valid_ones():
    with pytest.raises(ValueError, match="trot_forward"):
        get_gait("gallop")


def test_a_cmd_vel_picks_the_nearest_named_gait():
    from pidog_gaits.gaits.library import gait_for_velocity

    assert gait_for_velocity(0.33, 0.0).name == "trot_forward"
    assert gait_for_velocity(0.06, 0.0).name == "walk_forward"
    assert gait_for_velocity(-0.07, 0.0).name == "walk_backward"
    assert gait_for_velocity(0.03, 0.12).name == "turn_left"
    assert gait_for_velocity(0.0, 0.0).name == "stand"
