"""Leg IK/FK from the one PiDog geometry."""

import numpy as np
import pytest

from pidog_gaits.gaits.kinematics import UnreachableError, leg_fk, leg_ik, library_coord_to_xz
from pidog_gaits.robot.specs import LOWER_LEG_M, UPPER_LEG_M


def test_ik_then_fk_returns_the_foot_across_the_workspace():
    rng = np.random.default_rng(0)
    reach = rng.uniform(
        abs(LOWER_LEG_M - UPPER_LEG_M) + 1e-3, UPPER_LEG_M + LOWER_LEG_M - 1e-3, 5000
    )
    angle = rng.uniform(-1.2, 1.2, 5000)  # direction of the foot from straight down
    x, z = reach * np.sin(angle), -reach * np.cos(angle)
    shoulder, knee = leg_ik(x, z)
    fx, fz = leg_fk(shoulder, knee)
    assert np.max(np.hypot(fx - x, fz - z)) < 1e-6


def test_stand_matches_sunfounder_numbers():
    # Library stand: foot 80 mm below the hip -> shoulder ~69.2 deg, knee ~-10.3 deg.
    shoulder, knee = leg_ik(0.0, -0.080)
    assert np.degrees(shoulder) == pytest.approx(69.2, abs=0.1)
    assert np.degrees(knee) == pytest.approx(-10.3, abs=0.1)


def test_knee_points_backwards():
    shoulder, _ = leg_ik(0.0, -0.080)
    knee_x = -UPPER_LEG_M * np.sin(shoulder)
    assert knee_x < -0.03


def test_unreachable_target_raises():
    with pytest.raises(UnreachableError):
        leg_ik(0.0, -0.2)


def test_library_coordinates_convert_to_ours():
    # SunFounder y points to the rear, z down; ours x forward, z up.
    assert library_coord_to_xz(-15, 80) == (0.015, -0.080)
