"""Read the facts of an experiment directory (DESIGN.md layout) for SUMMARY.txt and the report.

Everything here reads files the stages wrote; nothing is recomputed, so SUMMARY.txt,
report.html and final_model/README.md show the very figures of ``rl_model/eval.json``,
``imitation_model/history.json`` and ``logs/pipeline.json``.
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pidog_gaits.pipeline_config import SETTINGS, read_config_txt
from pidog_gaits.pipeline_stages import STAGES, data_file, load_state, stage_seconds

EVAL_KEYS_FIRST = (
    "mean_forward_velocity_mps",
    "mean_return",
    "mean_episode_length",
    "falls",
    "collisions",
    "distance_m",
    "energy_j",
)
"""Evaluation figures shown first (the rest of eval.json's scalars follow in file order)."""


def fmt_value(value: Any) -> str:
    """One figure as SUMMARY.txt and the report print it (floats to 6 significant digits)."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return "nan" if not math.isfinite(value) else f"{value:.6g}"
    return str(value)


@dataclass
class Experiment:
    """What one experiment directory holds, read once."""

    root: Path
    settings: dict[str, str] = field(default_factory=dict)
    derived: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    reward_weights: dict[str, str] = field(default_factory=dict)
    stage_times_s: dict[str, float] = field(default_factory=dict)
    stage_attempts: dict[str, int] = field(default_factory=dict)
    data_path: Path | None = None
    data_samples: int | None = None
    data_episodes: int | None = None
    data_bytes: int | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    history_units: str = ""
    """What the imitation losses measure (history.json's ``loss_units``)."""
    evaluation: dict[str, Any] = field(default_factory=dict)
    policy_vision: str | None = None
    """The deployed actor's camera (``rl_model/rl_config.json``): rgb, depth or none."""
    policy_joint_readings: str | None = None
    """What the actor reads for its joints: commanded (PiDog) or measured."""

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def best_val_loss(self) -> tuple[float, int] | None:
        """(lowest validation loss, its epoch counted from 1)."""
        val = [v for v in self.history.get("val_loss", []) if v is not None]
        if not val:
            return None
        best = min(range(len(val)), key=val.__getitem__)
        return float(val[best]), best + 1

    def eval_scalars(self) -> dict[str, Any]:
        """eval.json's top-level numbers and flags, the key figures first."""
        scalars = {
            k: v
            for k, v in self.evaluation.items()
            if isinstance(v, int | float | bool) or v is None
        }
        first = {k: scalars[k] for k in EVAL_KEYS_FIRST if k in scalars}
        return first | {k: v for k, v in scalars.items() if k not in first}

    def eval_episodes(self) -> list[dict[str, Any]]:
        for key in ("per_episode", "episodes"):
            episodes = self.evaluation.get(key)
            if isinstance(episodes, list):
                return [e for e in episodes if isinstance(e, dict)]
        return []


def _scalar_lists(data: dict) -> dict[str, list[float]]:
    return {
        k: [float(x) if x is not None else math.nan for x in v]
        for k, v in data.items()
        if isinstance(v, list) and all(isinstance(x, int | float) or x is None for x in v)
    }


def load(root: str | Path) -> Experiment:
    """Read everything there is; missing files leave their fields empty."""
    root = Path(root).resolve()
    exp = Experiment(root)
    config_txt = root / "config.txt"
    if config_txt.is_file():
        sections = read_config_txt(config_txt)
        exp.settings = sections.get("settings", {})
        exp.derived = sections.get("derived", {})
        exp.versions = sections.get("versions", {})
        exp.reward_weights = next(
            (v for k, v in sections.items() if k.startswith("reward_weights")), {}
        )
    state = load_state(root)
    for stage in STAGES:
        exp.stage_times_s[stage.title] = stage_seconds(stage, state)
        exp.stage_attempts[stage.title] = max(
            (state.get("steps", {}).get(s.name, {}).get("attempts", 0) for s in stage.steps),
            default=0,
        )
    data = data_file(root)
    if data.is_file():
        exp.data_path = data
        exp.data_bytes = data.stat().st_size
        try:
            import numpy as np

            with np.load(data, allow_pickle=False) as npz:
                exp.data_samples = int(npz["inputs"].shape[0])
                if "episode" in npz.files:
                    exp.data_episodes = int(len(np.unique(npz["episode"])))
        except (OSError, ValueError, KeyError):
            pass
    history = root / "imitation_model" / "history.json"
    if history.is_file():
        raw = json.loads(history.read_text())
        exp.history = _scalar_lists(raw)
        exp.history_units = str(raw.get("loss_units", ""))
    rl_config = root / "rl_model" / "rl_config.json"
    if rl_config.is_file():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            env = json.loads(rl_config.read_text())["env"]
            exp.policy_vision = str(env.get("vision", "none"))
            exp.policy_joint_readings = str(env.get("joint_readings", "measured"))
    evaluation = root / "rl_model" / "eval.json"
    if evaluation.is_file():
        exp.evaluation = json.loads(evaluation.read_text())
    return exp


def settings_table(exp: Experiment) -> list[tuple[str, str, str]]:
    """(variable, value, meaning) for config.txt's settings."""
    helps = {s.env: s.help for s in SETTINGS}
    helps["PRESET"] = "set of defaults: default or smoke"
    return [(k, v, helps.get(k, "")) for k, v in exp.settings.items()]
