"""The pipeline's settings: one frozen dataclass, filled from environment variables.

The variable names and defaults are the older PiDog pipeline's (``RL_TIMESTEPS=200000``
...), so its users' habits carry over. ``PRESET`` picks a set of defaults (``default``, or
``smoke`` for a whole run in under two minutes); any variable set explicitly wins over the
preset. Every value is checked before any work starts, and an error names the variable.

``config.txt`` records each setting with where it came from, the reward weights, the seeds,
the resolved device and the library versions; ``--resume`` reads the settings back from
it, so a resumed run always continues with the settings it started with.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import os
import platform
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

EVAL_QUALITY = "production"
"""The physics preset of the final evaluation that SUMMARY.txt reports (not configurable)."""

DATA_QUALITY = "production"
"""The physics preset of stage 1's expert data (DESIGN.md: data collection uses production)."""

INFERENCE_THREADS = 1
"""Torch threads (``OMP_NUM_THREADS``) of stage 4: evaluation and the export's check run one
observation at a time, where a second thread only adds contention on a 2-core CPU."""

EVAL_SEED_OFFSET = 1000
"""Evaluation episodes use ``SEED + EVAL_SEED_OFFSET``: starts never seen in training."""


class ConfigError(ValueError):
    """A bad setting; the message starts with its environment variable."""


@dataclass(frozen=True)
class PipelineConfig:
    """Everything that decides what a pipeline run does (units in the names or comments)."""

    preset: str = "default"
    """``default`` (the older pipeline's figures) or ``smoke`` (tiny, < 2 minutes)."""
    data_collection_duration_s: float = 120.0
    """Stage 1: simulated seconds recorded of each expert gait."""
    imitation_model: str = "simple_lstm"
    """Stage 2: network (``mlp``, ``large``, ``lstm``, ``simple_lstm``)."""
    imitation_epochs: int = 300
    imitation_batch_size: int = 1024
    rl_timesteps: int = 200_000
    """Stage 3: PPO environment steps in all (50 Hz control steps)."""
    rl_parallel_envs: int = 4
    rl_checkpoint_every: int = 25_000
    """Stage 3: steps between checkpoints (the most a crash loses; ``--resume`` starts there)."""
    rl_warm_start_steps: int = 40_000
    """Stage 3: teacher demonstrations cloned into the actor before PPO (0: none)."""
    vision: str = "rgb"
    """Head camera in the actor's observation: ``rgb`` (PiDog's colour camera), ``depth``
    (simulator only) or ``none``."""
    reward_profile: str = "balanced"
    """Stage 3 reward weights: a profile name in ``envs/reward_profiles.yaml`` or a YAML path."""
    physics_quality: str = "medium"
    """Physics preset of stage 3's training (evaluation always uses ``production``)."""
    eval_episodes: int = 20
    """Episodes of the final evaluation (production physics)."""
    device: str = "auto"
    """``auto`` (CUDA when present, else CPU), ``cpu`` or ``cuda``."""
    seed: int = 0
    """Seed of every stage; evaluation uses ``seed + 1000``."""

    @property
    def eval_seed(self) -> int:
        return self.seed + EVAL_SEED_OFFSET

    @property
    def resolved_device(self) -> str:
        """The device the stages are given: ``auto`` resolved to ``cuda`` or ``cpu``."""
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"


# --------------------------------------------------------------------------- parsing
def _number(kind: type, low: float, high: float | None = None) -> Callable[[str, str], object]:
    def parse(name: str, text: str):
        try:
            value = kind(text)
        except ValueError:
            raise ConfigError(
                f"{name}={text!r} is not {'an integer' if kind is int else 'a number'}"
            ) from None
        if value < low or (high is not None and value > high):
            bound = f">= {low}" if high is None else f"between {low} and {high}"
            raise ConfigError(f"{name}={text!r} must be {bound}")
        return value

    return parse


def _choice(*choices: str) -> Callable[[str, str], str]:
    def parse(name: str, text: str) -> str:
        if text not in choices:
            raise ConfigError(f"{name}={text!r}: choose one of {', '.join(choices)}")
        return text

    return parse


def _quality(name: str, text: str) -> str:
    from pidog_gaits.sim.physics import PRESETS

    return _choice(*PRESETS)(name, text)


def _device(name: str, text: str) -> str:
    _choice("auto", "cpu", "cuda")(name, text)
    if text == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"{name}=cuda but no CUDA device is available; use auto or cpu")
    return text


def _reward_profile(name: str, text: str) -> str:
    try:
        from pidog_gaits.envs import rewards
    except ImportError:  # stage 3 not installed: the stage check reports it
        return text
    try:
        rewards.load_profile(text)
    except (ValueError, FileNotFoundError) as exc:
        raise ConfigError(f"{name}={text!r}: {exc}") from None
    if Path(text).exists():
        return str(Path(text).resolve())  # stages run elsewhere; keep the file findable
    return text


def _imitation_model(name: str, text: str) -> str:
    return _choice("mlp", "large", "lstm", "simple_lstm")(name, text)


@dataclass(frozen=True)
class Setting:
    """One environment variable: the field it fills, how it is checked, what it means."""

    env: str
    field: str
    parse: Callable[[str, str], object]
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "DATA_COLLECTION_DURATION",
        "data_collection_duration_s",
        _number(float, 1.0),
        "[s] simulated time recorded per expert gait (stage 1)",
    ),
    Setting(
        "IMITATION_MODEL",
        "imitation_model",
        _imitation_model,
        "imitation network: mlp, large, lstm, simple_lstm (stage 2)",
    ),
    Setting("IMITATION_EPOCHS", "imitation_epochs", _number(int, 1), "epochs (stage 2)"),
    Setting(
        "IMITATION_BATCH_SIZE",
        "imitation_batch_size",
        _number(int, 1),
        "samples per batch (stage 2)",
    ),
    Setting(
        "RL_TIMESTEPS", "rl_timesteps", _number(int, 64), "PPO environment steps in all (stage 3)"
    ),
    Setting(
        "RL_PARALLEL_ENVS",
        "rl_parallel_envs",
        _number(int, 1, 64),
        "simulators stepped in parallel (stage 3)",
    ),
    Setting(
        "RL_CHECKPOINT_EVERY",
        "rl_checkpoint_every",
        _number(int, 64),
        "PPO steps between checkpoints: the most a crash loses (stage 3)",
    ),
    Setting(
        "RL_WARM_START_STEPS",
        "rl_warm_start_steps",
        _number(int, 0),
        "teacher demonstrations cloned into the actor before PPO, 0 for none (stage 3)",
    ),
    Setting(
        "VISION",
        "vision",
        _choice("rgb", "depth", "none"),
        "the policy's camera: rgb (PiDog's), depth (simulator only), none (stage 3)",
    ),
    Setting(
        "REWARD_PROFILE",
        "reward_profile",
        _reward_profile,
        "reward weights: balanced, speed, stable, obstacle or a YAML file (stage 3)",
    ),
    Setting(
        "PHYSICS_QUALITY",
        "physics_quality",
        _quality,
        "physics preset of RL training: fast, medium, production (stage 3)",
    ),
    Setting(
        "EVAL_EPISODES",
        "eval_episodes",
        _number(int, 1),
        f"episodes of the final evaluation, always on {EVAL_QUALITY} physics",
    ),
    Setting("DEVICE", "device", _device, "auto, cpu or cuda (stages 2 and 3)"),
    Setting(
        "SEED",
        "seed",
        _number(int, 0, 2**31 - 1),
        f"seed of every stage; evaluation uses SEED+{EVAL_SEED_OFFSET}",
    ),
)
"""Every environment variable the pipeline reads (besides ``PRESET``), in config.txt order."""

PRESETS: dict[str, dict[str, str]] = {
    "default": {},
    # Tiny budgets: every stage runs for real, end to end, in under two minutes.
    "smoke": {
        "DATA_COLLECTION_DURATION": "16",
        "IMITATION_EPOCHS": "3",
        "IMITATION_BATCH_SIZE": "256",
        "RL_TIMESTEPS": "2048",
        "RL_PARALLEL_ENVS": "2",
        "RL_CHECKPOINT_EVERY": "1024",
        "RL_WARM_START_STEPS": "1024",
        "PHYSICS_QUALITY": "fast",
        "EVAL_EPISODES": "2",
    },
}
"""``PRESET`` values: the variables each one changes from the defaults."""


def defaults_for(preset: str) -> dict[str, str]:
    """Environment-style defaults (``{VARIABLE: text}``) of ``preset``."""
    base = PipelineConfig()
    values = {s.env: _text(getattr(base, s.field)) for s in SETTINGS}
    values.update(PRESETS[preset])
    return values


def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def config_from_env(env: Mapping[str, str] | None = None) -> tuple[PipelineConfig, dict[str, str]]:
    """Read and check every setting; returns the config and where each value came from.

    Raises ``ConfigError`` naming the first bad variable. Empty variables count as unset.
    """
    env = dict(os.environ if env is None else env)
    preset = env.get("PRESET") or "default"
    if preset not in PRESETS:
        raise ConfigError(f"PRESET={preset!r}: choose one of {', '.join(PRESETS)}")
    defaults = defaults_for(preset)
    values: dict[str, object] = {"preset": preset}
    sources: dict[str, str] = {"PRESET": "environment" if env.get("PRESET") else "default"}
    for setting in SETTINGS:
        text = env.get(setting.env)
        if text is not None and text.strip() != "":
            sources[setting.env] = "environment"
        else:
            text = defaults[setting.env]
            sources[setting.env] = (
                f"preset {preset}" if setting.env in PRESETS[preset] else "default"
            )
        values[setting.field] = setting.parse(setting.env, text.strip())
    return PipelineConfig(**values), sources


def env_of(config: PipelineConfig) -> dict[str, str]:
    """The environment variables that reproduce ``config`` (inverse of ``config_from_env``)."""
    out = {"PRESET": config.preset}
    out.update({s.env: _text(getattr(config, s.field)) for s in SETTINGS})
    return out


# --------------------------------------------------------------------------- config.txt
def versions() -> dict[str, str]:
    """Python, package and library versions, and the git commit (``+dirty`` if changed)."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in (
        "pidog_gaits",
        "numpy",
        "mujoco",
        "torch",
        "stable_baselines3",
        "gymnasium",
        "onnx",
        "onnxruntime",
    ):
        if importlib.util.find_spec(name):
            module = importlib.import_module(name)
            out[name] = getattr(module, "__version__", None) or _dist_version(name)
    out["git_commit"] = git_commit()
    return out


def _dist_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name.replace("_", "-"))
    except metadata.PackageNotFoundError:
        return "unknown"


def git_commit() -> str:
    """HEAD, with ``+dirty`` when tracked files changed or package files are not committed
    (then the commit alone does not say what ran)."""
    repo = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, check=True, cwd=repo
        ).stdout.strip()

    try:
        head = git("rev-parse", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no")
        untracked = git("ls-files", "--others", "--exclude-standard", "--", "pidog_gaits")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + ("+dirty" if changed or untracked else "")


def reward_weights(profile: str) -> dict[str, float]:
    try:
        from pidog_gaits.envs import rewards
    except ImportError:
        return {}
    return rewards.load_profile(profile)


def write_config_txt(
    path: Path,
    config: PipelineConfig,
    sources: Mapping[str, str],
    commands: Mapping[str, str] | None = None,
) -> None:
    """Write ``config.txt``: the settings, seeds, device, reward weights, versions, commands."""
    width = max(len(s.env) for s in SETTINGS) + 1
    lines = [
        "# pidog-gaits: the configuration of this run, exactly as it ran.",
        "# --resume reads the [settings] section back; edit nothing here.",
        "",
        "[settings]",
        f"{'PRESET'.ljust(width)}= {config.preset}  # {sources.get('PRESET', 'default')}",
    ]
    for s in SETTINGS:
        value = _text(getattr(config, s.field))
        lines.append(f"{s.env.ljust(width)}= {value}  # {s.help}; {sources.get(s.env, 'default')}")
    lines += [
        "",
        "[derived]",
        f"device_resolved = {config.resolved_device}",
        f"data_collection_physics = {DATA_QUALITY}",
        f"training_physics = {config.physics_quality}",
        f"evaluation_physics = {EVAL_QUALITY}",
        f"evaluation_torch_threads = {INFERENCE_THREADS}",
        f"seed_data_collection = {config.seed}",
        f"seed_imitation = {config.seed}",
        f"seed_rl = {config.seed}",
        f"seed_evaluation = {config.eval_seed}",
        f"cpu_count = {os.cpu_count()}",
        "",
        f"[reward_weights {config.reward_profile}]",
    ]
    lines += [f"{k} = {v}" for k, v in reward_weights(config.reward_profile).items()]
    lines += ["", "[versions]"]
    lines += [f"{k} = {v}" for k, v in versions().items()]
    if commands:
        lines += ["", "[commands]"]
        lines += [f"{k} = {v}" for k, v in commands.items()]
    path.write_text("\n".join(lines) + "\n")


def read_config_txt(path: Path) -> dict[str, dict[str, str]]:
    """``config.txt`` as ``{section: {key: value}}`` (comments after ``  #`` dropped)."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        header = re.fullmatch(r"\[(.+)\]", line)
        if header:
            current = sections.setdefault(header.group(1), {})
            continue
        if current is None or "=" not in line:
            continue
        key, value = line.split("=", 1)
        current[key.strip()] = value.split("  #", 1)[0].strip()
    return sections


def config_from_file(path: Path) -> PipelineConfig:
    """The config an experiment ran with, re-checked (``ConfigError`` if it no longer holds)."""
    if not path.is_file():
        raise ConfigError(f"{path} not found: not an experiment directory of this pipeline")
    settings = read_config_txt(path).get("settings", {})
    missing = [s.env for s in SETTINGS if s.env not in settings] + (
        [] if "PRESET" in settings else ["PRESET"]
    )
    if missing:
        raise ConfigError(f"{path} lacks {', '.join(missing)}; was it written by this version?")
    config, _ = config_from_env(settings)
    return config


def replace(config: PipelineConfig, **changes) -> PipelineConfig:
    """A changed copy (the config is frozen)."""
    return dataclasses.replace(config, **changes)
