"""evaluate / test_rl_model.py: --command (parsed, clipped with one warning), --stress, and
the figures aggregated from the episode rows. A tiny random policy, fast physics, no camera."""

import json

import numpy as np
import pytest
from _deploy_models import ppo_policy, save_ppo_pth

from pidog_gaits import evaluate as ev
from pidog_gaits.envs.config import EnvConfig
from pidog_gaits.gaits.command import SPEED_MAX_MPS, CommandRanges

TRAINED_RANGES = CommandRanges(speed_mps=(0.0, 0.3), yaw_radps=(-0.1, 0.1))
"""Narrower than the defaults, so a clip shows which ranges it used (the policy's)."""


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    env_cfg = EnvConfig(
        vision="none", quality="fast", episode_steps=75, num_obstacles=0, commands=TRAINED_RANGES
    )
    path = tmp_path_factory.mktemp("eval") / "final_model.pth"
    return save_ppo_pth(ppo_policy(env_cfg, action_gain=1.0), env_cfg, path)


def run(model, tmp_path, *extra):
    out = tmp_path / "eval.json"
    args = ["--model", str(model), "--episodes", "1", "--quality", "fast", "--json", str(out)]
    code = ev.main([*args, *extra])
    return code, (json.loads(out.read_text()) if out.is_file() else None)


@pytest.mark.parametrize("bad", ["fast", "0.3", "0.3,0,1", "nan,0", "0.3,x"])
def test_bad_command_is_one_line_exit_2(model, tmp_path, capsys, bad):
    code, figures = run(model, tmp_path, f"--command={bad}")
    err = capsys.readouterr().err
    assert code == 2 and figures is None
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: --command"), err


def test_out_of_range_command_is_clipped_with_one_warning(model, tmp_path, capsys):
    code, figures = run(model, tmp_path, "--obstacles", "0", "--command", "0.5,-0.2")
    err = capsys.readouterr().err
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "warning" in line.lower()]
    assert len(warnings) == 1 and "clipped to 0.3,-0.1" in warnings[0], err
    assert figures["command"] == [0.3, -0.1]
    assert figures["command_asked"] == [0.5, -0.2]
    row = figures["per_episode"][0]  # what the env ran, not only what the JSON says
    assert (row["command_mps"], row["command_yaw_radps"]) == pytest.approx((0.3, -0.1))
    for key in ("speed_error_mps", "yaw_rate_error_rps", "lateral_drift_per_m"):
        assert key in figures
    assert figures["lateral_drift_per_m"] is None  # a turn: no drift figure


@pytest.mark.parametrize(
    "flag, field",
    [("--heading-integral", "heading_integral_per_s2"),
     ("--heading-sonar-gate", "heading_integral_sonar_gate_m")],
)  # fmt: skip
def test_heading_hold_settings_are_the_policys_unless_asked(model, tmp_path, capsys, flag, field):
    """The hold's integral and its sonar gate run as trained; ``--heading-integral`` and
    ``--heading-sonar-gate`` change them for this evaluation only (what they do for a
    policy, without retraining it)."""
    trained = getattr(EnvConfig(), field)
    assert trained > 0
    code, figures = run(model, tmp_path, "--obstacles", "0", "--command", "0.2,0")
    assert code == 0 and figures[field] == trained
    code, figures = run(model, tmp_path, "--obstacles", "0", flag, "0")
    assert code == 0 and figures[field] == 0.0
    (tmp_path / "eval.json").unlink()
    capsys.readouterr()
    code, figures = run(model, tmp_path, flag, "-1")
    err = capsys.readouterr().err
    assert code == 2 and figures is None
    assert err.strip() == f"error: {field} must be >= 0", err


def test_in_range_command_runs_as_given_without_warning(model, tmp_path, capsys):
    code, figures = run(model, tmp_path, "--obstacles", "0", "--command", "0.2,0")
    err = capsys.readouterr().err
    assert code == 0 and "warning" not in err.lower(), err
    assert figures["command"] == figures["command_asked"] == [0.2, 0.0]
    assert figures["per_episode"][0]["command_mps"] == pytest.approx(0.2)
    assert figures["speed_error_mps"] is not None and figures["speed_error_mps"] >= 0.0
    assert figures["lateral_drift_per_m"] is not None


def test_default_command_is_the_full_trot_clipped_to_the_policy():
    command, note = ev.resolve_command(None, CommandRanges())
    assert note is None and tuple(command) == ev.DEFAULT_COMMAND == (SPEED_MAX_MPS, 0.0)
    command, note = ev.resolve_command(None, TRAINED_RANGES)
    assert list(command) == [0.3, 0.0] and "default command" in note


def test_stress_grid_gives_one_row_per_cell(model, tmp_path, capsys):
    code, figures = run(model, tmp_path, "--stress", "--command", "0.2,0")
    out = capsys.readouterr().out
    assert code == 0
    cells = figures["stress"]
    assert [c["cell"] for c in cells] == [label for label, _ in ev.STRESS_GRID]
    assert figures["obstacles"] > 0  # trained on the open floor, stressed among boxes
    by_label = {c["cell"]: c for c in cells}
    assert by_label["nominal"]["settings"] == {}
    assert by_label["servo torque x0.7"]["settings"] == {"servo_torque_scale": 0.7}
    assert by_label["latency 40 ms"]["settings"] == {"latency_s": pytest.approx(0.04)}
    assert by_label["friction 0.35"]["settings"] == {"friction_scale": pytest.approx(0.875)}
    for c in cells:
        assert {"falls", "collisions", "mean_forward_velocity_mps", "speed_error_mps"} <= set(c)
        assert any(line.strip().startswith(c["cell"]) for line in out.splitlines()), out


def test_stress_with_video_is_refused(model, tmp_path, capsys):
    code, _ = run(model, tmp_path, "--stress", "--video", str(tmp_path / "a.mp4"))
    assert code == 2 and capsys.readouterr().err.startswith("error:")


def row(**kw):
    base = {
        "return": 1.0, "length": 100, "mean_forward_velocity_mps": 0.3, "distance_m": 1.0,
        "lateral_m": 0.0, "fell": False, "collisions": 0, "foot_collisions": 0,
        "energy_j": 2.0, "command_mps": 0.3, "command_yaw_radps": 0.0,
        "speed_error_mps": 0.0, "yaw_rate_error_rps": 0.0,
    }  # fmt: skip
    return {**base, **kw}


def test_summarize_means_totals_and_drift():
    rows = [
        row(distance_m=2.0, lateral_m=0.2, speed_error_mps=0.1, fell=True, collisions=2),
        row(distance_m=1.0, lateral_m=-0.1, speed_error_mps=float("nan"), foot_collisions=1),
        row(mean_forward_velocity_mps=0.1, speed_error_mps=0.3, energy_j=4.0),
    ]
    rows[2]["distance_m"], rows[2]["lateral_m"] = 0.0, 0.0
    s = ev.summarize(rows)
    assert s["speed_error_mps"] == pytest.approx(0.2)  # NaN (too short to measure) left out
    assert s["yaw_rate_error_rps"] == 0.0
    assert s["lateral_drift_per_m"] == pytest.approx(0.3 / 3.0)  # |sideways| / forward, pooled
    assert s["mean_forward_velocity_mps"] == pytest.approx(0.7 / 3)
    assert (s["falls"], s["collisions"], s["foot_collisions"]) == (1, 2, 1)
    assert s["energy_j"] == pytest.approx(8.0 / 3)


def test_drift_only_on_straight_moving_commands():
    turning = [row(command_yaw_radps=0.15, lateral_m=0.5)]
    standing = [row(command_mps=0.0, distance_m=0.001, lateral_m=0.001)]
    assert ev.lateral_drift_per_m(turning) is None
    assert ev.lateral_drift_per_m(standing) is None
    mixed = turning + [row(distance_m=2.0, lateral_m=0.1)]
    assert ev.lateral_drift_per_m(mixed) == pytest.approx(0.05)
    assert ev.summarize([row(speed_error_mps=float("nan"))])["speed_error_mps"] is None
    assert np.isfinite(ev.summarize(mixed)["mean_return"])
