"""The four stages of the pipeline as data: each step's command line, the files that show
it finished, and the progress record (``logs/pipeline.json``) that resume reads.

A step is a module's own command line (``python3 -m pidog_gaits.<module> ...``); stages
talk only through files in the experiment directory (DESIGN.md), so any step can be
re-run by hand with the command its log shows.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pidog_gaits import results
from pidog_gaits.pipeline_config import (
    DATA_QUALITY,
    EVAL_QUALITY,
    INFERENCE_THREADS,
    PipelineConfig,
)

STATE_FILE = "logs/pipeline.json"


# --------------------------------------------------------------------------- the stages
@dataclass(frozen=True)
class Step:
    """One child process of a stage: its command and the files that show it finished."""

    name: str
    module: str
    argv: Callable[[Path, PipelineConfig], list[str]]
    """Arguments after ``python -m pidog_gaits.<module>`` for an experiment directory."""
    outputs: Callable[[Path], list[Path]]
    """Files that must exist once the step succeeded."""
    env: tuple[tuple[str, str], ...] = ()
    """Extra environment variables of the child (shown in its command line)."""


@dataclass(frozen=True)
class Stage:
    number: int
    key: str
    title: str
    log: str
    steps: tuple[Step, ...]


def newest(paths, key=None) -> Path | None:
    paths = list(paths)
    return max(paths, key=key or (lambda p: p.stat().st_mtime)) if paths else None


def data_file(root: Path) -> Path:
    """Stage 1's data set: the file its last successful run wrote (else the newest)."""
    state = load_state(root)
    recorded = state.get("steps", {}).get("collect", {}).get("data_file")
    if recorded and (root / recorded).is_file():
        return root / recorded
    found = newest((root / "data").glob("gait_data_enhanced_*.npz"))
    return found or root / "data" / "gait_data_enhanced_*.npz"  # train.py takes a glob


def _checkpoint_steps(path: Path) -> int:
    match = re.search(r"(\d+)_steps", path.name)
    return int(match.group(1)) if match else -1


def latest_checkpoint(rl_dir: Path) -> Path | None:
    """Newest whole PPO checkpoint in ``rl_dir/checkpoints``: a readable zip with its
    normalization statistics beside it (a file torn by a crash is skipped)."""
    candidates = sorted(
        (rl_dir / "checkpoints").glob("*.zip"),
        key=lambda p: (_checkpoint_steps(p), p.stat().st_mtime),
        reverse=True,
    )
    for path in candidates:
        try:
            with zipfile.ZipFile(path) as zf:
                if zf.testzip() is not None:
                    continue
        except (zipfile.BadZipFile, OSError):
            continue
        stats = path.with_name(path.name.replace("rl_model_", "rl_model_vecnormalize_", 1))
        stats = stats.with_suffix(".pkl")
        if stats.is_file() and stats.read_bytes()[-1:] == b".":  # a whole pickle ends in STOP
            return path
    return None


def options(**values: object) -> list[str]:
    """``--name value`` pairs from keywords (``batch_size`` -> ``--batch_size``, keys verbatim)."""
    return [word for key, value in values.items() for word in (f"--{key}", str(value))]


def _collect_argv(root: Path, c: PipelineConfig) -> list[str]:
    return options(
        duration=f"{c.data_collection_duration_s:g}",
        output=root / "data",
        quality=DATA_QUALITY,
        seed=c.seed,
    )


def _train_argv(root: Path, c: PipelineConfig) -> list[str]:
    return options(
        data=data_file(root),
        model=c.imitation_model,
        epochs=c.imitation_epochs,
        batch_size=c.imitation_batch_size,
        device=c.resolved_device,
        save_dir=root / "imitation_model",
        seed=c.seed,
    )


def _rl_argv(root: Path, c: PipelineConfig) -> list[str]:
    argv = options(
        pretrained=root / "imitation_model" / "best_model.pth",
        output=root / "rl_model",
        timesteps=c.rl_timesteps,
        envs=c.rl_parallel_envs,
        device=c.resolved_device,
        quality=c.physics_quality,
        vision=c.vision,
        seed=c.seed,
        **{
            "reward-profile": c.reward_profile,
            "checkpoint-every": c.rl_checkpoint_every,
            "warm-start-steps": c.rl_warm_start_steps,
        },
    )
    checkpoint = latest_checkpoint(root / "rl_model")
    if checkpoint is not None:
        argv += ["--resume", str(checkpoint)]
    return argv


def _eval_argv(root: Path, c: PipelineConfig) -> list[str]:
    rl = root / "rl_model"
    return options(
        model=rl / "final_model.zip",
        episodes=c.eval_episodes,
        quality=EVAL_QUALITY,
        seed=c.eval_seed,
        json=rl / "eval.json",
        video=rl / "eval.mp4",
    )


def _dir_argv(root: Path, c: PipelineConfig) -> list[str]:
    return [str(root)]


ONE_THREAD = (("OMP_NUM_THREADS", str(INFERENCE_THREADS)),)
"""Stage 4 runs one observation at a time (evaluation, the export's check): one torch
thread. Two threads on a busy 2-core CPU made those steps 4-15x slower (measured:
export 40 s -> 9 s, one evaluation episode 71 s -> 18 s)."""

STAGES: tuple[Stage, ...] = (
    Stage(
        1,
        "data_collection",
        "expert data",
        "logs/data_collection.log",
        (Step("collect", "data_collector", _collect_argv, lambda r: [data_file(r)]),),
    ),
    Stage(
        2,
        "imitation_training",
        "imitation learning",
        "logs/imitation_training.log",
        (
            Step(
                "train",
                "train",
                _train_argv,
                lambda r: [
                    r / "imitation_model" / n
                    for n in ("best_model.pth", "final_model.pth", "history.json")
                ],
            ),
        ),
    ),
    Stage(
        3,
        "rl_training",
        "reinforcement learning (PPO)",
        "logs/rl_training.log",
        (
            Step(
                "rl",
                "train_rl_vision",
                _rl_argv,
                lambda r: [r / "rl_model" / n for n in ("final_model.zip", "final_model.pth")],
            ),
        ),
    ),
    Stage(
        4,
        "packaging",
        "evaluation, packaging, report",
        "logs/packaging.log",
        (
            Step(
                "evaluate",
                "evaluate",
                _eval_argv,
                lambda r: [r / "rl_model" / "eval.json"],
                env=ONE_THREAD,
            ),
            Step(
                "package",
                "package",
                _dir_argv,
                lambda r: [
                    r / "final_model" / n
                    for n in ("final_model.pth", "final_model.zip", "final_model.onnx", "README.md")
                ],
                env=ONE_THREAD,
            ),
            Step("report", "report", _dir_argv, lambda r: [r / "report.html"]),
        ),
    ),
)


def command(step: Step, root: Path, config: PipelineConfig) -> list[str]:
    return [sys.executable, "-m", f"pidog_gaits.{step.module}", *step.argv(root, config)]


def shell_line(argv: list[str], env: tuple[tuple[str, str], ...] = ()) -> str:
    """A command as one would type it (``python3 -m ...``), for logs, README and SUMMARY."""
    words = ["python3" if a == sys.executable else shlex.quote(a) for a in argv]
    return " ".join([f"{k}={shlex.quote(v)}" for k, v in env] + words)


# --------------------------------------------------------------------------- state
def load_state(root: Path) -> dict:
    path = root / STATE_FILE
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {"steps": {}, "runs": []}


def save_state(root: Path, state: dict) -> None:
    results.write_json_atomic(root / STATE_FILE, state)


def step_done(root: Path, step: Step, state: dict) -> bool:
    entry = state.get("steps", {}).get(step.name, {})
    return entry.get("status") == "done" and all(p.is_file() for p in step.outputs(root))


def stage_seconds(stage: Stage, state: dict) -> float:
    return sum(state.get("steps", {}).get(s.name, {}).get("seconds", 0.0) for s in stage.steps)
