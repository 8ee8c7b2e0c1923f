"""Stage 1: the expert gait data, its contract (DESIGN.md) and the collector's CLI."""

import dataclasses
import json
import math
import subprocess
import sys
from importlib.metadata import version

import numpy as np
import pytest

from pidog_gaits import data_collector as dc
from pidog_gaits import expert_episodes as ee
from pidog_gaits.envs.observations import PROPRIO_DIM, ROBOT_PARTS
from pidog_gaits.gaits.library import GAITS, expert_targets
from pidog_gaits.robot import specs
from pidog_gaits.sim.rollout import RAMP_S

SMALL = dict(quality="fast", duration_s=3.0, episode_s=1.5, burst_steps=10, burst_every_steps=20)


def _slice(part):
    start = 0
    for name, size in ROBOT_PARTS.items():
        if name == part:
            return slice(start, start + size)
        start += size
    raise KeyError(part)


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("data")
    path, meta = dc.collect(dc.CollectConfig(output_dir=out, workers=1, **SMALL))
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return path, arrays, meta


def test_file_has_the_design_fields_and_shapes(small_data):
    path, a, _ = small_data
    assert path.name.startswith("gait_data_enhanced_") and path.suffix == ".npz"
    n = a["inputs"].shape[0]
    assert n > 100
    assert a["inputs"].shape == (n, 4) and a["inputs"].dtype == np.float32
    assert a["targets"].shape == (n, 12) and a["targets"].dtype == np.float32
    assert a["observations"].shape == (n, PROPRIO_DIM) == (n, 50)  # 8+1+36+3+2
    for key in ("episode", "time_s", "gait", "step"):
        assert a[key].shape == (n,)
    meta = json.loads(str(a["meta"]))
    assert [g["name"] for g in meta["gaits"]] == list(GAITS)
    assert meta["control_rate_hz"] == pytest.approx(50.0)
    assert meta["sample_rate_hz"] == pytest.approx(25.0)
    assert meta["noise_sigma"]["joint_pos_rad"] == 0.01
    assert meta["noise_sigma"]["joint_vel_radps"] == 0.1
    assert meta["physics_quality"] == "fast"
    assert meta["seed"] == 0
    assert meta["package_version"] == version("pidog-gaits")


def test_targets_are_exactly_the_expert_function(small_data):
    _, a, _ = small_data
    np.testing.assert_allclose(a["targets"], expert_targets(a["inputs"]), atol=1e-6)


def test_ramp_in_is_never_recorded_and_time_matches_step(small_data):
    _, a, _ = small_data
    assert a["time_s"].min() >= RAMP_S - 1e-9
    np.testing.assert_allclose(a["time_s"], a["step"] * specs.CONTROL_DT_S, atol=1e-9)


def test_each_episode_is_one_gait_with_phase_over_one_cycle(small_data):
    _, a, meta = small_data
    for e in np.unique(a["episode"]):
        rows = a["episode"] == e
        gait = meta["gaits"][int(a["gait"][rows][0])]
        x = a["inputs"][rows]
        assert (x[:, 0] == gait["gait_type"]).all()
        assert (x[:, 1] == gait["direction"]).all()
        assert np.unique(x[:, 2]).size == 1  # one turn command per episode
        assert ((x[:, 3] >= 0) & (x[:, 3] < 1)).all()
        consecutive = np.diff(a["step"][rows]) == 1
        dphase = np.mod(np.diff(x[:, 3]), 1.0)[consecutive]
        np.testing.assert_allclose(dphase, specs.CONTROL_DT_S / gait["period_s"], atol=1e-5)


def test_observations_are_the_rl_vector(small_data):
    _, a, meta = small_data
    obs = a["observations"]
    phase = 2 * np.pi * a["inputs"][:, 3]
    np.testing.assert_allclose(obs[:, _slice("phase")][:, 0], np.sin(phase), atol=1e-5)
    np.testing.assert_allclose(obs[:, _slice("phase")][:, 1], np.cos(phase), atol=1e-5)
    commands = np.array([g["command"] for g in meta["gaits"]])[a["gait"]]
    np.testing.assert_allclose(obs[:, _slice("command")][:, :2], commands, atol=1e-6)
    assert not obs[:, _slice("command")][:, 2].any()  # no heading-hold correction
    # Within a burst, the newest commanded target is the previous sample's (ramp is over).
    same = (np.diff(a["episode"]) == 0) & (np.diff(a["step"]) == 1)
    np.testing.assert_allclose(
        obs[1:][same][:, _slice("targets")][:, :12], a["targets"][:-1][same], atol=1e-6
    )
    sonar = obs[:, _slice("sonar")]
    assert (((sonar >= 0.02) & (sonar <= 4.0)) | (sonar == -1.0)).all()
    roll_pitch = obs[:, _slice("imu")][:, 6:8]
    sitting = a["gait"] == list(GAITS).index("sit")
    assert np.abs(roll_pitch[~sitting]).max() < 0.3  # the expert stays level
    assert roll_pitch[sitting, 1].mean() < -0.5  # sitting pitches the nose up


def test_plan_spreads_commands_and_start_states():
    tasks = dc.plan_episodes(dc.CollectConfig())
    walks = [t for t in tasks if t.gait == "walk_forward"]
    jittered = [t for t in walks if t.turn != 0.0]
    assert 0.2 < len(jittered) / len(walks) < 0.8
    assert max(abs(t.turn) for t in jittered) <= 0.2
    assert all(t.turn == 0.0 for t in tasks if t.gait in ("stand", "sit"))
    phases = np.array([t.start_phase for t in tasks])
    assert phases.std() > 0.2
    frictions = np.array([t.params.friction_scale for t in tasks])
    assert 0.85 <= frictions.min() < frictions.max() <= 1.15
    assert len({t.seed for t in tasks}) == len(tasks)
    assert tasks == dc.plan_episodes(dc.CollectConfig())  # from the seed alone


def test_default_duration_gives_10_to_15k_samples():
    tasks = dc.plan_episodes(dc.CollectConfig())
    n = sum(ee.recorded_steps(t).size for t in tasks)
    assert 10_000 <= n <= 15_000
    assert sum(t.seconds for t in tasks) == pytest.approx(120.0 * len(GAITS))


def test_short_durations_still_give_two_episodes_per_gait():
    assert dc.episode_lengths_s(dc.CollectConfig(duration_s=8.0)) == [4.0, 4.0]
    assert dc.episode_lengths_s(dc.CollectConfig(duration_s=20.0)) == [8.0, 8.0, 4.0]
    assert dc.episode_lengths_s(dc.CollectConfig(duration_s=1.0)) == [1.0]


def test_a_fall_drops_the_episode():
    task = dc.plan_episodes(dc.CollectConfig(quality="fast", duration_s=2.0, episode_s=2.0))[0]
    weak = dataclasses.replace(task, params=task.params.replace(servo_torque_scale=0.05))
    result = ee.run_episode(weak)
    assert result.fell is True
    assert result.arrays == {}
    assert ee.run_episode(task).fell is False


def test_every_episode_falling_writes_nothing(tmp_path):
    ranges = dataclasses.replace(dc.MILD_RANGES, overrides={"servo_torque_scale": 0.05})
    config = dc.CollectConfig(
        output_dir=tmp_path, workers=1, gaits=("stand",), ranges=ranges, **SMALL
    )
    with pytest.raises(RuntimeError, match="fell in every episode"):
        dc.collect(config)
    assert list(tmp_path.iterdir()) == []


def test_worker_count_does_not_change_the_data(tmp_path, small_data):
    _, a, _ = small_data
    config = dc.CollectConfig(output_dir=tmp_path, workers=2, gaits=("trot_forward",), **SMALL)
    path, meta = dc.collect(config)
    with np.load(path) as npz:
        rows = a["gait"] == list(GAITS).index("trot_forward")
        np.testing.assert_array_equal(npz["targets"], a["targets"][rows])
        np.testing.assert_array_equal(npz["observations"], a["observations"][rows])
    assert meta["falls"] == {"trot_forward": 0}


def run(*args, module="pidog_gaits.data_collector"):
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=600
    )


def test_cli_writes_npz_and_log(tmp_path):
    log = tmp_path / "logs" / "data_collection.log"
    proc = run(
        *("--duration", "1", "--quality", "fast", "--workers", "1"),
        *("--output", str(tmp_path / "data"), "--log", str(log)),
    )
    assert proc.returncode == 0, proc.stderr
    files = list((tmp_path / "data").glob("gait_data_enhanced_*.npz"))
    assert len(files) == 1 and proc.stdout.strip() == str(files[0])
    text = log.read_text()
    assert "wrote" in text and "samples" in text
    assert "episode 0 walk_forward" in text


@pytest.mark.parametrize(
    "args, message",
    [
        (("--quality", "ultra"), "unknown physics quality"),
        (("--duration", "0"), "--duration must be > 0"),
        (("--workers", "-1"), "--workers"),
    ],
)
def test_cli_bad_settings_one_line_exit_2(tmp_path, args, message):
    proc = run(*args, "--output", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert message in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_cli_output_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "data"
    target.write_text("keep me")
    proc = run("collect", "--output", str(target), module="pidog_gaits.cli")
    assert proc.returncode == 2, proc.stderr
    assert "is a file" in proc.stderr and "Traceback" not in proc.stderr
    assert target.read_text() == "keep me"


def test_sample_rate_documented_matches_recording():
    tasks = dc.plan_episodes(dc.CollectConfig())
    samples = sum(ee.recorded_steps(t).size for t in tasks)
    first = math.ceil(RAMP_S / specs.CONTROL_DT_S) * specs.CONTROL_DT_S
    post_ramp_s = sum(t.seconds - first for t in tasks)
    assert samples / post_ramp_s == pytest.approx(50 * 50 / 180, rel=0.05)  # module docstring
