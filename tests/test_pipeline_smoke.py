"""PRESET=smoke end to end: the real four stages, the whole DESIGN.md layout, every model
file loads, SUMMARY.txt shows eval.json's figures, report.html stands alone."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from _pipeline_run import smoke_run

LAYOUT = [
    "config.txt",
    "SUMMARY.txt",
    "report.html",
    "imitation_model/best_model.pth",
    "imitation_model/final_model.pth",
    "imitation_model/training_history.png",
    "imitation_model/history.json",
    "rl_model/final_model.pth",
    "rl_model/final_model.zip",
    "rl_model/checkpoints/",
    "rl_model/tensorboard/",
    "rl_model/eval.json",
    "logs/data_collection.log",
    "logs/imitation_training.log",
    "logs/rl_training.log",
    "final_model/final_model.pth",
    "final_model/final_model.zip",
    "final_model/final_model.onnx",
    "final_model/README.md",
]
"""DESIGN.md's experiment directory (data/ is checked by pattern)."""


@pytest.fixture(scope="module")
def run():
    result = smoke_run()
    assert result.code == 0, result.output[-4000:]
    return result


def test_smoke_runs_the_four_stages(run):
    # No time limit here: a test must pass on a busy machine (the smoke run took 486 s
    # beside three trainings); its time goes in benchmarks/pipeline_time.sh.
    print(f"smoke pipeline took {run.wall_s:.0f} s")
    for n in range(1, 5):
        assert f"Stage {n}/4" in run.output


def test_every_file_of_the_layout_exists(run):
    missing = [p for p in LAYOUT if not (run.root / p).exists()]
    assert not missing, missing
    assert run.root.name.startswith("smoke_")
    assert re.fullmatch(r"smoke_\d{8}_\d{6}", run.root.name)
    data = list((run.root / "data").glob("gait_data_enhanced_*.npz"))
    assert len(data) == 1
    assert list((run.root / "rl_model" / "checkpoints").glob("*.zip"))
    assert list((run.root / "rl_model" / "tensorboard").rglob("events.out.tfevents.*"))
    for log in ("data_collection", "imitation_training", "rl_training"):
        text = (run.root / "logs" / f"{log}.log").read_text()
        assert "$ python3 -m pidog_gaits." in text, f"{log}.log lacks its command"


def test_every_model_file_loads(run):
    from stable_baselines3 import PPO

    for path in (
        "imitation_model/best_model.pth",
        "imitation_model/final_model.pth",
        "rl_model/final_model.pth",
        "final_model/final_model.pth",
    ):
        model = torch.load(run.root / path, weights_only=True)
        for key in ("arch", "arch_kwargs", "state_dict", "joint_names", "version"):
            assert key in model, f"{path} lacks {key}"
    for path in ("rl_model/final_model.zip", "final_model/final_model.zip"):
        ppo = PPO.load(run.root / path, device="cpu")
        assert ppo.num_timesteps >= 2048
    import onnx

    onnx.checker.check_model(str(run.root / "final_model/final_model.onnx"))


def test_packaged_onnx_walks_in_the_controller(run):
    """The deployment path: the packaged ONNX drives the simulated PiDog."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pidog_gaits.nn_controller",
            "--model",
            str(run.root / "final_model/final_model.onnx"),
            "--backend",
            "sim",
            "--seconds",
            "1",
            "--json",
            "-",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    figures = json.loads(proc.stdout)
    assert np.isfinite(figures["distance_m"])


def summary_section(text: str, title: str) -> dict[str, str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    out = {}
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            break
        key, _, value = line.strip().partition("  ")
        out[key] = value.strip()
    return out


def test_summary_figures_equal_eval_json(run):
    evaluation = json.loads((run.root / "rl_model/eval.json").read_text())
    summary = (run.root / "SUMMARY.txt").read_text()
    shown = summary_section(summary, "RL evaluation")
    numbers = {
        k: v
        for k, v in evaluation.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    for key in ("mean_forward_velocity_mps", "falls", "mean_episode_length", "mean_return"):
        assert key in numbers, f"eval.json lacks {key}"
    for key, value in numbers.items():
        assert key in shown, f"SUMMARY.txt lacks {key}"
        assert float(shown[key]) == pytest.approx(value, rel=1e-5, abs=1e-9), key
    assert evaluation["quality"] == "production"


def test_summary_has_config_times_data_and_loss(run):
    summary = (run.root / "SUMMARY.txt").read_text()
    config = summary_section(summary, "Configuration")
    assert config["PRESET"] == "smoke" and config["SEED"] == "3"
    times = summary_section(summary, "Time per stage")
    assert len(times) == 5 and all(float(v.split()[0]) > 0 for v in times.values())
    data = summary_section(summary, "Data")
    npz = np.load(next((run.root / "data").glob("*.npz")))
    assert int(data["samples"]) == len(npz["inputs"])
    history = json.loads((run.root / "imitation_model/history.json").read_text())
    loss = summary_section(summary, "Imitation")["best_val_loss"].split()[0]
    assert float(loss) == pytest.approx(min(history["val_loss"]), rel=1e-5)
    assert "./test_model_in_sim.sh" in summary and "--resume" in summary


def test_report_is_self_contained(run):
    html = (run.root / "report.html").read_text()
    assert "data:image/webp;base64," in html, "no animation of the policy"
    assert html.count("data:image/png;base64,") >= 2, "loss and reward curves missing"
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", html), "external reference"
    assert "mean_forward_velocity_mps" in html


def test_model_readme_has_figures_and_commands(run):
    readme = (run.root / "final_model/README.md").read_text()
    evaluation = json.loads((run.root / "rl_model/eval.json").read_text())
    assert f"{evaluation['mean_forward_velocity_mps']:.6g}" in readme
    assert "--backend pidog" in readme and "test_model_in_sim.sh" in readme


def test_model_in_sim_headless_writes_video_and_metrics(run, tmp_path):
    """./test_model_in_sim.sh MODEL.zip 1 no: an mp4 and the figures beside the model."""
    import shutil
    from pathlib import Path

    model = tmp_path / "final_model.zip"
    shutil.copy(run.root / "final_model/final_model.zip", model)
    script = Path(__file__).resolve().parent.parent / "test_model_in_sim.sh"
    proc = subprocess.run(
        [str(script), str(model), "1", "no"], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "mean_forward_velocity_mps" in proc.stdout
    assert (tmp_path / "final_model_test.mp4").stat().st_size > 10_000
    figures = json.loads((tmp_path / "final_model_test.json").read_text())
    assert figures["quality"] == "production" and figures["episodes"] == 1
    gazebo = script.with_name("test_model_in_gazebo.sh")
    usage = subprocess.run([str(gazebo)], capture_output=True, text=True, timeout=600)
    assert usage.returncode == 2 and "usage:" in usage.stderr


@pytest.mark.slow
def test_model_in_sim_viewer_with_a_display(run):
    """With a display (Xvfb here) the script opens MuJoCo's viewer and plays the episodes."""
    import shutil
    from pathlib import Path

    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run not installed (apt-get install xvfb)")
    script = Path(__file__).resolve().parent.parent / "test_model_in_sim.sh"
    proc = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1280x720x24", str(script),
         str(run.root / "final_model/final_model.zip"), "1"],
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "episode 0 (seed 1000)" in proc.stdout
    assert not list(run.root.glob("final_model/*_test.mp4")), "viewer mode records nothing"
