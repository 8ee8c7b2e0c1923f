"""SunFounder's own actions, re-derived and replayed with the library's timing (issue 13)."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from pidog_gaits.gaits import sunfounder as sf
from pidog_gaits.gaits.kinematics import leg_fk
from pidog_gaits.sim.library_replay import (
    LibraryPlayer,
    LibraryTiming,
    cycle_s,
    replay_library,
)


# --------------------------------------------------------------------------- frames
def test_trot_frames_follow_the_library_layout():
    coords = sf.trot_coords()
    assert coords.shape == (6, 4, 2)
    # Stroke origins: 100/2 - 17 (centre of gravity) -5 front / +5 hind = 28, 28, 38, 38 mm;
    # legs 2 and 3 start one section (100 mm) further on.
    third = 100.0 / 3.0
    np.testing.assert_allclose(coords[0, :, 0], [28.0, -72.0 + third, -62.0 + third, 38.0])
    np.testing.assert_allclose(coords[0, :, 1], 80.0)
    # End of the first section: legs 1 and 4 swung 100 mm forward and are 20 mm up; legs
    # 2 and 3 slid back to the rear of their strokes.
    np.testing.assert_allclose(coords[2], [[-72, 60], [28, 80], [38, 80], [-62, 60]], atol=1e-9)


def test_walk_lifts_one_leg_per_other_section_in_library_order():
    coords = sf.walk_coords()
    assert coords.shape == (49, 4, 2)
    lifted = [np.flatnonzero(coords[s * 6 + 5, :, 1] < 80.0).tolist() for s in range(8)]
    assert lifted == [[0], [], [3], [], [1], [], [2], []]  # legs 1, 4, 2, 3
    # Feet on the ground slide stride / 42 towards the rear each frame.
    np.testing.assert_allclose(coords[13, 1, 0] - coords[12, 1, 0], 80.0 / 42.0)
    # After 48 frames every foot is back where it started; the 49th frame (the start) repeats it.
    np.testing.assert_allclose(coords[-1], coords[-2], atol=1e-9)


def test_turning_left_shortens_the_left_legs():
    left = sf.trot_coords(sf.FORWARD, sf.LEFT)
    stroke = left[:, :, 0].max(axis=0) - left[:, :, 0].min(axis=0)
    np.testing.assert_allclose(stroke, [50.0, 100.0, 50.0, 100.0])


def test_library_ik_matches_a_hand_solved_leg_and_negates_the_right_side():
    # Foot straight below the hip at the hypotenuse of 42 and 76 mm: the knee is square
    # (library knee 90 - 90 = 0) and the thigh leans acos(42 / 86.8) back.
    reach = math.hypot(42.0, 76.0)
    coords = np.array([[[0.0, reach]] * 4])
    deg = sf.library_leg_angles_deg(coords)[0]
    thigh = math.degrees(math.acos(42.0 / reach))
    np.testing.assert_allclose(deg, [thigh, 0, -thigh, 0, thigh, 0, -thigh, 0], atol=1e-6)


def test_frames_round_trip_through_the_model_kinematics():
    for action in sf.library_actions().values():
        if action.family not in ("walk", "trot"):
            continue
        rad = sf.to_sim_rad(action.frames_deg)
        coords = sf.walk_coords(int(action.heading), action.turn)
        if action.family == "trot":
            coords = sf.trot_coords(int(action.heading), action.turn)
        x, z = leg_fk(rad[:, 0::2], rad[:, 1::2])
        # Where the library asks a servo past 90 deg (walking or trotting backwards), the
        # servo clamps (``robot_hat.Servo.angle``) and the foot cannot reach the target.
        reachable = np.all(np.abs(action.frames_deg.reshape(-1, 4, 2)) < 90.0, axis=-1)
        np.testing.assert_allclose(-x[reachable] * 1000.0, coords[..., 0][reachable], atol=1e-6)
        np.testing.assert_allclose(-z[reachable] * 1000.0, coords[..., 1][reachable], atol=1e-6)
        assert reachable.mean() > 0.8, action.name


def test_unknown_action_names_the_known_ones():
    with pytest.raises(ValueError, match="trot_forward"):
        sf.get_action("gallop")


# --------------------------------------------------------------------------- timing
def test_frame_steps_follow_servo_move():
    t = LibraryTiming(98)
    assert t.frame_steps(0.9) == 0  # under a whole degree: skipped
    assert t.frame_steps(5.0) == 2  # 1000 - 9.9 * 98 = 29.8 ms -> int(2.98) steps of 10 ms
    assert t.frame_steps(57.4) == 13  # 57 deg at 428 deg/s = 133 ms
    assert LibraryTiming(70).frame_steps(5.0) == 30  # 307 ms


def test_player_spreads_a_frame_over_its_steps_and_drops_sub_degree_frames():
    start = np.zeros(8)
    frames = np.array([[10.0] + [0.0] * 7, [10.5] + [0.0] * 7, [0.0] * 8])
    player = LibraryPlayer(frames, start, LibraryTiming(98), loop=False)
    assert player.command_at(0.0)[0] == pytest.approx(5.0)  # first of two writes at t=0
    assert player.command_at(0.0101)[0] == pytest.approx(10.0)
    # Frame 2 (0.5 deg) is skipped for 10 ms without moving; frame 3 starts at 30 ms.
    assert player.command_at(0.025)[0] == pytest.approx(10.0)
    assert player.command_at(0.030)[0] == pytest.approx(5.0)
    assert player.command_at(1.0)[0] == pytest.approx(0.0)


def test_cycle_times_match_the_library_at_its_examples_speed():
    trot, walk = sf.get_action("trot_forward"), sf.get_action("forward")
    assert cycle_s(trot, LibraryTiming(98)) == pytest.approx(0.54, abs=0.005)
    assert cycle_s(walk, LibraryTiming(98)) == pytest.approx(1.27, abs=0.01)
    assert cycle_s(trot, LibraryTiming(98, time_scale=2.0)) == pytest.approx(1.08, abs=0.01)


# --------------------------------------------------------------------------- replay
def test_stand_and_sit_hold_on_the_fast_preset():
    for name in ("stand", "sit", "lie"):
        result = replay_library(name, 3.0, quality="fast")
        assert not result.fell, name
        assert abs(result.distance_m) < 0.1
    assert replay_library("stand", 2.0, quality="fast").mean_height_m > 0.09  # 95 mm stand


def test_walk_turns_turn_their_way():
    left = replay_library("turn_left", 4.0, quality="medium")
    right = replay_library("turn_right", 4.0, quality="medium")
    assert left.heading_change_rad > 0.2 and right.heading_change_rad < -0.2
    assert not left.fell and not right.fell


@pytest.mark.parametrize("name", ["trot_forward", "forward"])
def test_production_bar_library_gaits_walk_at_their_implied_speed(name):
    """Issue 13's bar: 10 s from the stand, no fall, 50-150% of stride x cycle rate."""
    result = replay_library(name, 10.0, quality="production")
    assert not result.fell
    assert 0.5 <= result.progress_ratio <= 1.5, result.progress_ratio


@pytest.mark.parametrize("name", ["stand", "sit"])
def test_production_bar_poses_hold_ten_seconds(name):
    result = replay_library(name, 10.0, quality="production")
    assert not result.fell
    assert result.seconds == pytest.approx(10.0)


def test_cli_json_and_unknown_action():
    cmd = [sys.executable, "-m", "pidog_gaits.cli", "replay-library"]
    proc = subprocess.run(
        [*cmd, "forward", "--seconds", "2", "--quality", "fast", "--json", "-"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout)
    for key in ("distance_m", "mean_forward_velocity_mps", "fell", "heading_change_rad"):
        assert key in figures
    bad = subprocess.run([*cmd, "gallop"], capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0
    assert "trot_forward" in bad.stderr and "Traceback" not in bad.stderr
