"""Stages 1 and 2 at their defaults: collection speed, training time and quality per model.

Runs the two stage commands exactly as the pipeline does (separate processes, so start-up
and imports count), then drives the simulated PiDog with each trained model in place of
the expert and compares distances:

1. ``python -m pidog_gaits.data_collector --duration 120 --output TMP`` (production physics);
2. ``python -m pidog_gaits.train --data TMP --model M --epochs 300 --batch_size 1024
   --device cpu`` for M in simple_lstm (the pipeline's default), mlp, large, lstm;
3. for each model and gait, ``run_gait`` for ``--closed-loop-s`` on production physics
   with ``PolicyController`` against the expert, same seed.

Goal (issue 4): stage 1 + stage 2 (simple_lstm) at the defaults in <= 180 s on the
2-core CPU. The machine is shared, so the load average at the start is recorded too.

    python benchmarks/imitation_speed.py [--duration 120] [--epochs 300]
        [--models simple_lstm,mlp,large,lstm] [--closed-loop-s 10] [--json PATH|-]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import typer

from pidog_gaits.results import emit

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "imitation_speed.json"
GOAL_S = 180.0
CLOSED_LOOP_GAITS = ("trot_forward", "walk_forward", "walk_backward", "stand", "sit")


def timed(args: list[str]) -> float:
    """Wall seconds of a stage command; stops the benchmark if the command fails."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start


def closed_loop(models: dict[str, Path], seconds: float, quality: str) -> dict:
    """Distance of each model vs the expert on each gait (same physics, same seed)."""
    from pidog_gaits.gaits.library import get_gait
    from pidog_gaits.neural_network import PolicyController
    from pidog_gaits.sim.rollout import run_gait

    out: dict = {}
    for name in CLOSED_LOOP_GAITS:
        gait = get_gait(name)
        expert = run_gait(gait, seconds, quality=quality, seed=0)
        out[name] = {"expert_distance_m": expert.distance_m, "expert_fell": expert.fell}
        for model, path in models.items():
            r = run_gait(
                gait, seconds, quality, seed=0, controller=PolicyController.from_file(path)
            )
            moving = abs(expert.distance_m) > 0.1
            out[name][model] = {
                "distance_m": r.distance_m,
                "distance_ratio": r.distance_m / expert.distance_m if moving else None,
                "yaw_rad": r.yaw_rad,
                "fell": r.fell,
                "mean_height_m": r.mean_height_m,
            }
    return out


def main(
    duration: float = typer.Option(120.0, help="Collection seconds per gait (the default)."),
    epochs: int = typer.Option(300, help="Training epochs (the default)."),
    batch_size: int = typer.Option(1024, help="Training batch size (the default)."),
    models: str = typer.Option("simple_lstm,mlp,large,lstm", help="Comma-separated models."),
    closed_loop_s: float = typer.Option(10.0, help="Closed-loop run per gait (s); 0 = skip."),
    quality: str = typer.Option("production", help="Physics for collection and closed loop."),
    json_out: str | None = typer.Option(
        str(DEFAULT_JSON), "--json", help="Write the figures as JSON to PATH, or - for stdout."
    ),
) -> None:
    names = [m.strip() for m in models.split(",") if m.strip()]
    load_1min = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        collect_s = timed(
            ["pidog_gaits.data_collector", "--duration", str(duration)]
            + ["--output", str(root / "data"), "--quality", quality]
        )
        data = next((root / "data").glob("*.npz"))
        import numpy as np

        with np.load(data) as npz:
            samples = int(npz["inputs"].shape[0])
            meta = json.loads(str(npz["meta"]))
        per_model: dict = {}
        paths: dict[str, Path] = {}
        for model in names:
            save_dir = root / model
            seconds = timed(
                ["pidog_gaits.train", "--data", str(data), "--model", model]
                + ["--epochs", str(epochs), "--batch_size", str(batch_size)]
                + ["--device", "cpu", "--save_dir", str(save_dir)]
            )
            history = json.loads((save_dir / "history.json").read_text())
            per_model[model] = {
                "best_val_mse_rad2": history["best_val_loss"],
                "best_val_rmse_rad": history["best_val_loss"] ** 0.5,
                "best_epoch": history["best_epoch"],
                "train_command_s": seconds,
                "training_loop_s": history["seconds"],
                "s_per_epoch": sum(history["epoch_s"]) / len(history["epoch_s"]),
                "meets_0.01_rad2": history["best_val_loss"] < 0.01,
            }
            paths[model] = save_dir / "best_model.pth"
        loop = closed_loop(paths, closed_loop_s, quality) if closed_loop_s > 0 else {}

    print(f"{'model':12s} {'val MSE rad^2':>14s} {'train s':>8s} {'s/epoch':>8s}", end="")
    walking = [g for g in CLOSED_LOOP_GAITS if g not in ("stand", "sit")]
    print("".join(f" {g[:13]:>13s}" for g in walking) if loop else "")
    for model, m in per_model.items():
        row = f"{model:12s} {m['best_val_mse_rad2']:14.2e} {m['train_command_s']:8.1f}"
        row += f" {m['s_per_epoch']:8.3f}"
        for g in walking if loop else ():
            r = loop[g][model]
            row += f" {r['distance_ratio']:12.0%}{'F' if r['fell'] else ' '}"
        print(row)
    if loop:
        print("(closed loop: distance as a share of the expert's; F = fell)")
    first = names[0] if names else None
    figures = {
        "quality": quality,
        "duration_s": duration,
        "epochs": epochs,
        "batch_size": batch_size,
        "cpu_cores": os.cpu_count(),
        "load_avg_1min_at_start": load_1min,
        "collect_s": collect_s,
        "samples": samples,
        "falls": sum(meta["falls"].values()),
        "samples_per_s": samples / collect_s,
        "sim_s_per_wall_s": duration * len(meta["gaits"]) / collect_s,
        "stage2_model": first,
        "stage2_s": per_model[first]["train_command_s"] if first else None,
        "stages_1_2_s": collect_s + per_model[first]["train_command_s"] if first else None,
        "goal_s": GOAL_S,
        "models": per_model,
        "closed_loop_s": closed_loop_s,
        "closed_loop": loop,
    }
    figures["meets_goal"] = (
        figures["stages_1_2_s"] is not None and figures["stages_1_2_s"] <= GOAL_S
    )
    for model, m in per_model.items():
        figures[f"{model}_val_mse_rad2"] = m["best_val_mse_rad2"]
        figures[f"{model}_train_s"] = m["train_command_s"]
    emit(figures, json_out, title="imitation (stages 1-2) at the defaults")


if __name__ == "__main__":
    typer.run(main)
