"""The production pipeline: ``./train_production_pipeline.sh NAME`` runs the stages into
``experiments/NAME_<timestamp>/``.

This version runs what exists: it records the expert gaits (a video and a JSON of their
figures) and says plainly which training stages are not built yet.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

ENV_DEFAULTS = {
    "DATA_COLLECTION_DURATION": "120",
    "IMITATION_EPOCHS": "300",
    "IMITATION_BATCH_SIZE": "1024",
    "RL_TIMESTEPS": "200000",
    "RL_PARALLEL_ENVS": "4",
    "DEVICE": "auto",
    "PHYSICS_QUALITY": "medium",
    "SEED": "0",
}

STAGES = (
    ("Stage 1: expert data", "data_collector"),
    ("Stage 2: imitation learning", "train"),
    ("Stage 3: reinforcement learning", "train_rl_vision"),
    ("Stage 4: packaging", "package"),
)


class ConfigError(ValueError):
    """A bad setting, named after its environment variable."""


@dataclass(frozen=True)
class PipelineConfig:
    """The pipeline's settings, filled from environment variables (names as the seed's)."""

    data_collection_duration_s: float
    imitation_epochs: int
    imitation_batch_size: int
    rl_timesteps: int
    rl_parallel_envs: int
    device: str
    physics_quality: str
    seed: int


def _positive(name: str, value: str, kind=int):
    try:
        number = kind(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a {kind.__name__}") from None
    if number <= 0:
        raise ConfigError(f"{name}={value!r} must be > 0")
    return number


def config_from_env(env: dict[str, str] | None = None) -> PipelineConfig:
    """Read and validate every setting before any work starts."""
    env = dict(os.environ if env is None else env)
    get = {k: env.get(k, v) for k, v in ENV_DEFAULTS.items()}
    from pidog_gaits.sim.physics import PRESETS

    if get["PHYSICS_QUALITY"] not in PRESETS:
        raise ConfigError(
            f"PHYSICS_QUALITY={get['PHYSICS_QUALITY']!r}: choose one of {', '.join(PRESETS)}"
        )
    if get["DEVICE"] not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"DEVICE={get['DEVICE']!r}: choose auto, cpu or cuda")
    try:
        seed = int(get["SEED"])
    except ValueError:
        raise ConfigError(f"SEED={get['SEED']!r} is not an int") from None
    return PipelineConfig(
        data_collection_duration_s=_positive(
            "DATA_COLLECTION_DURATION", get["DATA_COLLECTION_DURATION"], float
        ),
        imitation_epochs=_positive("IMITATION_EPOCHS", get["IMITATION_EPOCHS"]),
        imitation_batch_size=_positive("IMITATION_BATCH_SIZE", get["IMITATION_BATCH_SIZE"]),
        rl_timesteps=_positive("RL_TIMESTEPS", get["RL_TIMESTEPS"]),
        rl_parallel_envs=_positive("RL_PARALLEL_ENVS", get["RL_PARALLEL_ENVS"]),
        device=get["DEVICE"],
        physics_quality=get["PHYSICS_QUALITY"],
        seed=seed,
    )


def versions() -> dict[str, str]:
    import mujoco
    import numpy

    out = {
        "python": platform.python_version(),
        "mujoco": mujoco.__version__,
        "numpy": numpy.__version__,
    }
    for name in ("torch", "stable_baselines3", "gymnasium"):
        if importlib.util.find_spec(name):
            out[name] = importlib.import_module(name).__version__
    try:
        out["git_commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        out["git_commit"] = "unknown"
    return out


def write_config(path: Path, config: PipelineConfig) -> None:
    lines = ["# pidog-gaits run configuration (what ran)"]
    lines += [f"{k} = {v}" for k, v in asdict(config).items()]
    lines += [f"version.{k} = {v}" for k, v in versions().items()]
    path.write_text("\n".join(lines) + "\n")


def showcase_expert_gaits(out_dir: Path, quality: str, seed: int) -> dict:
    """Run every expert gait for 10 s: figures as JSON, the trot as a video."""
    from pidog_gaits.gaits.library import GAITS
    from pidog_gaits.sim.rollout import run_gait

    figures = {}
    for name, gait in GAITS.items():
        video = out_dir / "trot_forward.mp4" if name == "trot_forward" else None
        result = run_gait(gait, 10.0, quality=quality, seed=seed, video=video)
        figures[name] = result.as_dict()
        print(
            f"  {name:14s} distance {result.distance_m:+.2f} m  yaw "
            f"{result.yaw_rad:+.2f} rad  fell {result.fell}  ({result.realtime_factor:.0f}x)"
        )
    (out_dir / "expert_gaits.json").write_text(json.dumps(figures, indent=2) + "\n")
    return figures


def main(argv: list[str] | None = None, prog_name: str = "pipeline") -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 1 or argv[0].startswith("-"):
        print(f"usage: {prog_name} NAME", file=sys.stderr)
        return 2
    name = argv[0]
    try:
        config = config_from_env()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    root = Path.cwd() / "experiments" / f"{name}_{datetime.now():%Y%m%d_%H%M%S}"
    root.mkdir(parents=True, exist_ok=False)
    write_config(root / "config.txt", config)
    print(f"experiment: {root}")
    start = time.perf_counter()
    print("== Expert gaits (production physics) ==")
    showcase_expert_gaits(root, "production", config.seed)
    for title, module in STAGES:
        built = importlib.util.find_spec(f"pidog_gaits.{module}") is not None
        print(f"== {title}: {'built' if built else 'not built yet'} ==")
    print(f"done in {time.perf_counter() - start:.0f} s; see {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
