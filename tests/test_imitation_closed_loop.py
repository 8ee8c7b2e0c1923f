"""Stages 1 + 2 end to end: a model trained quickly on a small data set walks like the expert.

Collect a few episodes per gait on the fast preset, train an MLP for a few seconds, then
drive the simulated PiDog with it in place of the expert (``run_gait`` and
``pidog-gaits gait NAME --policy``) and compare the figures with the expert's.
"""

import json
import subprocess
import sys

import pytest

from pidog_gaits import data_collector as dc
from pidog_gaits import train as tr
from pidog_gaits.gaits.library import get_gait
from pidog_gaits.neural_network import PolicyController
from pidog_gaits.sim.rollout import run_gait

SECONDS = 5.0
QUALITY = "fast"


QUICK = {
    # model: (epochs, batch_size); a few seconds each on one core.
    "mlp": (150, 128),
    "simple_lstm": (300, 500),
}


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    # Every post-ramp step recorded (burst == every): more samples for the same sim time.
    config = dc.CollectConfig(
        output_dir=tmp_path_factory.mktemp("data"),
        quality=QUALITY,
        duration_s=12.0,
        episode_s=4.0,
        burst_steps=50,
        burst_every_steps=50,
        workers=1,
    )
    data_path, meta = dc.collect(config)
    assert sum(meta["falls"].values()) == 0
    return data_path


@pytest.fixture(
    scope="module",
    params=["mlp", pytest.param("simple_lstm", marks=pytest.mark.slow)],
)
def trained(request, small_data, tmp_path_factory):
    epochs, batch_size = QUICK[request.param]
    save_dir = tmp_path_factory.mktemp(request.param)
    history = tr.train(
        tr.TrainConfig(
            data=str(small_data),
            model=request.param,
            epochs=epochs,
            batch_size=batch_size,
            save_dir=save_dir,
        )
    )
    return save_dir / "best_model.pth", history


def expert_and_policy(name, model_path):
    gait = get_gait(name)
    expert = run_gait(gait, SECONDS, quality=QUALITY, seed=0)
    policy = run_gait(
        gait, SECONDS, quality=QUALITY, seed=0, controller=PolicyController.from_file(model_path)
    )
    return expert, policy


def test_quick_model_learns_the_targets(trained):
    _, history = trained
    assert history["best_val_loss"] < 0.01  # rad^2, the bar


@pytest.mark.parametrize("name", ["trot_forward", "walk_forward", "walk_backward"])
def test_policy_walks_at_least_80_percent_of_the_expert(trained, name):
    expert, policy = expert_and_policy(name, trained[0])
    assert not expert.fell and not policy.fell
    assert abs(expert.distance_m) > 0.1
    assert policy.distance_m / expert.distance_m >= 0.8, (policy.distance_m, expert.distance_m)


@pytest.mark.parametrize("name", ["stand", "sit"])
def test_policy_holds_stand_and_sit(trained, name):
    expert, policy = expert_and_policy(name, trained[0])
    assert not policy.fell
    assert abs(policy.distance_m) < 0.02 + abs(expert.distance_m)
    assert abs(policy.yaw_rad) < 0.05
    assert policy.mean_height_m == pytest.approx(expert.mean_height_m, abs=0.005)


def test_gait_cli_with_policy_reports_the_same_figures(trained):
    expert = run_gait(get_gait("trot_forward"), 3.0, quality=QUALITY, seed=0)
    proc = subprocess.run(
        [sys.executable, "-m", "pidog_gaits.cli", "gait", "trot_forward"]
        + ["--policy", str(trained[0]), "--seconds", "3", "--json", "-"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout)
    assert figures["policy"] == str(trained[0])
    assert figures["fell"] is False
    assert figures["distance_m"] >= 0.8 * expert.distance_m


def test_gait_cli_with_a_bad_policy_file_is_one_line(tmp_path):
    bad = tmp_path / "best_model.pth"
    bad.write_bytes(b"nonsense")
    proc = subprocess.run(
        [sys.executable, "-m", "pidog_gaits.cli", "gait", "stand", "--policy", str(bad)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 2
    assert "not a pidog-gaits model file" in proc.stderr and "Traceback" not in proc.stderr
