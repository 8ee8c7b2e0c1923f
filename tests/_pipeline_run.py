"""Run the real pipeline for the pipeline tests, once per test session.

``smoke_run()`` runs ``./train_production_pipeline.sh`` with ``PRESET=smoke`` (and a few
non-default settings, so that "config.txt equals what ran" is tested on values that differ
from the defaults) into a temporary directory, and caches the result for every test file
of the session that asks for it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "train_production_pipeline.sh"

SMOKE_ENV = {
    "PRESET": "smoke",
    "SEED": "3",
    "REWARD_PROFILE": "speed",
    "IMITATION_EPOCHS": "4",
}
"""The smoke run's settings: the preset plus values that differ from both the defaults and
the preset, so a setting lost on the way to a stage shows up."""


@dataclass
class Run:
    root: Path
    """The experiment directory."""
    code: int
    output: str
    wall_s: float


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any pipeline setting of the caller's shell."""
    from pidog_gaits.pipeline_config import SETTINGS

    env = {k: v for k, v in os.environ.items() if k not in {s.env for s in SETTINGS}}
    env.pop("PRESET", None)
    env.update(extra)
    return env


def run_pipeline(args: list[str], env: dict[str, str], timeout_s: float = 1800) -> Run:
    """Run the shell entry point; the experiment directory is read from its output.

    ``timeout_s`` only catches a hang: the smoke pipeline takes ~2-3 min on an idle 2-core
    machine and ran past 600 s on one shared with two PPO trainings (a failed test, no bug)."""
    start = time.perf_counter()
    proc = subprocess.run(
        [str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    wall_s = time.perf_counter() - start
    output = proc.stdout + proc.stderr
    root = next(
        (
            Path(line.split(": ", 1)[1])
            for line in output.splitlines()
            if line.startswith("experiment: ")
        ),
        Path("/nonexistent"),
    )
    return Run(root, proc.returncode, output, wall_s)


_SMOKE: Run | None = None


def scratch_dir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def smoke_run() -> Run:
    """The session's one PRESET=smoke pipeline run (run on first use)."""
    global _SMOKE
    if _SMOKE is None:
        experiments = scratch_dir("pidog_smoke_")
        _SMOKE = run_pipeline(
            ["smoke", "--experiments-dir", str(experiments)], clean_env(**SMOKE_ENV)
        )
    return _SMOKE
