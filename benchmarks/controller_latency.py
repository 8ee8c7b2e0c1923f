"""Controller latency: one control step's inference with PyTorch and onnxruntime, per model.

For every imitation architecture (default sizes) and for the PPO policy (stage 3's default
128x128 actor-critic; without a camera, with the depth camera and the RGB camera; with an
imitation prior inside), times ``policy.act(ctx)``: observation assembly, the network(s),
the residual and the ramp, i.e. everything the control loop does per step between reading
the sensors and commanding the servos. Weights are random (latency does not depend on
them); both engines run on one CPU thread, interleaved in rounds so a busy machine slows
both alike. Goal: <= 1 ms per step (the control period is 20 ms).

    python benchmarks/controller_latency.py [--steps 2000] [--rounds 5] [--json PATH|-]
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import typer

from pidog_gaits.results import emit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _deploy_models import one_torch_thread, ppo_policy, save, untrained_imitation  # noqa: E402

from pidog_gaits.envs.config import EnvConfig  # noqa: E402
from pidog_gaits.export import export_onnx  # noqa: E402
from pidog_gaits.runtime import load_policy  # noqa: E402
from pidog_gaits.runtime.verify import random_contexts  # noqa: E402

DEFAULT_JSON = os.path.join(os.path.dirname(__file__), "results", "controller_latency.json")
GOAL_MS = 1.0
IMITATION = ("mlp", "large", "lstm", "simple_lstm")
PPO = {
    # name: (vision, prior, prior arch)
    "ppo_none_imitation": ("none", "imitation", "simple_lstm"),
    "ppo_depth_imitation": ("depth", "imitation", "simple_lstm"),
    "ppo_rgb_expert": ("rgb", "expert", None),
}


def build_models(root: Path) -> dict[str, Path]:
    """Every model type as a ``.pth`` under ``root``."""
    from _deploy_models import save_ppo_pth

    paths = {arch: save(untrained_imitation(arch), root / f"{arch}.pth") for arch in IMITATION}
    for name, (vision, prior, prior_arch) in PPO.items():
        config = EnvConfig(
            vision=vision, prior=prior, pretrained=str(paths[prior_arch]) if prior_arch else None
        )
        policy = ppo_policy(config, net=(128, 128))
        paths[name] = save_ppo_pth(policy, config, root / f"{name}.pth")
    return paths


def time_steps(policy, contexts) -> np.ndarray:
    """Seconds per ``act`` call over ``contexts`` (state carried, as in the loop)."""
    out = np.empty(len(contexts))
    policy.reset()
    for i, ctx in enumerate(contexts):
        t0 = time.perf_counter()
        policy.act(ctx)
        out[i] = time.perf_counter() - t0
    return out


def main(
    steps: int = typer.Option(2000, help="Timed steps per engine per round."),
    rounds: int = typer.Option(5, help="Interleaved rounds (torch, onnx, torch, ...)."),
    warmup: int = typer.Option(100, help="Untimed steps before each model's first round."),
    json_out: str = typer.Option(DEFAULT_JSON, "--json", help="JSON path, or - for stdout."),
) -> None:
    """Per-step controller latency for every model type, PyTorch vs onnxruntime."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp, one_torch_thread():
        root = Path(tmp)
        for name, pth in build_models(root).items():
            onnx_path = root / f"{name}.onnx"
            export_onnx(pth, onnx_path)
            engines = {"torch": load_policy(pth), "onnx": load_policy(onnx_path)}
            image = engines["onnx"].image
            size_px = engines["onnx"].image_size_px
            contexts = list(random_contexts(steps, 1, image, size_px))
            samples: dict[str, list[np.ndarray]] = {e: [] for e in engines}
            for policy in engines.values():
                time_steps(policy, contexts[:warmup])
            for _ in range(rounds):
                for engine, policy in engines.items():
                    samples[engine].append(time_steps(policy, contexts))
            for engine, parts in samples.items():
                ms = np.concatenate(parts) * 1e3
                rows.append(
                    {
                        "model": name,
                        "engine": engine,
                        "median_ms": float(np.median(ms)),
                        "mean_ms": float(np.mean(ms)),
                        "p99_ms": float(np.percentile(ms, 99)),
                        "max_ms": float(np.max(ms)),
                        "steps": int(ms.size),
                        "meets_goal": bool(np.median(ms) <= GOAL_MS),
                    }
                )
    header = f"{'model':<22}{'engine':<8}{'median ms':>10}{'mean ms':>10}{'p99 ms':>10}"
    lines = [header] + [
        f"{r['model']:<22}{r['engine']:<8}{r['median_ms']:>10.3f}{r['mean_ms']:>10.3f}"
        f"{r['p99_ms']:>10.3f}"
        for r in rows
    ]
    if json_out != "-":
        print("\n".join(lines))
    figures = {
        "goal_ms": GOAL_MS,
        "all_onnx_meet_goal": all(r["meets_goal"] for r in rows if r["engine"] == "onnx"),
        "all_meet_goal": all(r["meets_goal"] for r in rows),
        "torch_threads": 1,
        "onnxruntime_threads": 1,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "torch_version": torch.__version__,
        "rows": rows,
    }
    emit(figures, json_out, title="controller latency (per control step)")


if __name__ == "__main__":
    typer.run(main)
