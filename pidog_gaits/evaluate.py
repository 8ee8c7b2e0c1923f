"""Evaluate a stage 3 policy over N episodes of PiDog-v0 with deterministic actions.

    python3 -m pidog_gaits.evaluate --model DIR/final_model.zip --episodes 10 \\
        [--quality production] [--obstacles N] [--set friction=0.5 --set latency_ms=30 ...] \\
        [--command SPEED,YAW_RATE] [--stress] [--video out.mp4] [--json PATH|-]

The env is rebuilt from the settings stored in the model (vision, camera size, prior,
imitation model), on ``--quality`` physics (production by default), with domain
randomization off: the physics is nominal except what ``--set`` changes, so a figure names
exactly the conditions it was measured in. What the camera sees (room colours, light,
exposure, pixel noise, camera pitch) is still drawn per episode, from seeds held out from
training: no one knows the user's room. The policy runs as the robot will run it: its own
commanded targets for joint readings, sensor noise, sonar misses, servo latency, camera
delay. Episode i is seeded ``seed + i``.

Every episode follows one fixed user command, ``--command SPEED,YAW_RATE`` (m/s, rad/s),
by default ``DEFAULT_COMMAND`` (the full trot, straight ahead: the figures stay comparable
with those measured before commands). A command outside the ranges the policy was trained
on (``EnvConfig.commands``) is clipped into them, with one warning; the JSON's ``command``
is the one that ran, ``command_asked`` the one given.

Reports per-episode and mean ``mean_return``, ``mean_forward_velocity_mps``,
``mean_episode_length``, ``speed_error_mps`` and ``yaw_rate_error_rps`` (|commanded -
actual| forward speed and yaw rate, the env's per-episode figures averaged over episodes),
``lateral_drift_per_m`` (sideways metres per metre walked, both in the start frame, over the
episodes with a straight moving command, ``None`` for a turn or stand-still command: on the
open floor a heading bias; among boxes it also holds the detours), ``falls``,
``collisions`` (boxes the body or head touched, per episode, summed), ``foot_collisions``
(boxes only a foot touched), ``energy_j`` (servo mechanical energy per episode).

``--stress`` runs ``STRESS_GRID`` instead: the nominal cell, then each shifted setting
alone (on top of any ``--set``), ``--episodes`` each, with boxes, and prints a table
(falls, boxes hit, mean speed, speed error per cell); the JSON holds it under ``stress``.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import math  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import typer  # noqa: E402

from pidog_gaits.envs.config import EnvConfig  # noqa: E402
from pidog_gaits.gaits.command import (  # noqa: E402
    SPEED_MAX_MPS,
    STILL_MPS,
    STILL_RADPS,
    CommandClipper,
    CommandRanges,
    parse_command,
)
from pidog_gaits.sim.randomization import RandomizationRanges, parse_overrides  # noqa: E402
from pidog_gaits.sim.world import ObstacleLayout  # noqa: E402

EVAL_OBSTACLES = 3
"""Boxes per evaluation episode (``--obstacles`` changes it), in the corridor ahead."""
DEFAULT_COMMAND = (SPEED_MAX_MPS, 0.0)
"""Command of every episode without ``--command``: the full trot straight ahead, what the
policies were evaluated on before they took commands."""

STRESS_GRID: list[tuple[str, tuple[str, ...]]] = [
    ("nominal", ()),
    ("servo torque x0.7", ("servo_torque=0.7",)),
    ("latency 40 ms", ("latency_ms=40",)),
    ("mass x1.25", ("mass=1.25",)),
    ("friction 0.35", ("friction_coef=0.35",)),
]
"""``--stress`` cells: (label, ``--set`` overrides), one shifted setting at a time from
nominal (issue 14's bars). Append a row to add a cell."""


@dataclass
class EvalConfig:
    """One evaluation."""

    model: str
    """``final_model.zip`` (SB3) or ``final_model.pth`` (policy weights)."""
    episodes: int = 10
    quality: str = "production"
    """Physics preset (final evaluation: production)."""
    obstacles: int | None = None
    """Boxes per episode; ``None``: ``EVAL_OBSTACLES``."""
    overrides: list[str] = field(default_factory=list)
    """``KEY=VALUE`` domain settings (``friction``, ``servo_torque_scale``, ``latency_ms``...)."""
    seed: int = 1000
    """Episode i uses ``seed + i`` (held out from training seeds 0..envs-1)."""
    video: str | None = None
    """mp4/gif of the first episode from a chase camera."""
    pretrained: str | None = None
    """Replace the imitation model path stored in the policy (if it moved)."""
    zero_residual: bool = False
    """Run the prior alone (action 0): the imitation model or expert without PPO."""
    reflex: bool = False
    """Run the prior steered by the privileged teacher (the obstacle reflex on a depth
    image, ``PiDogEnv.teacher_action``) and no PPO: what the warm start clones."""
    command: tuple[float, float] | None = None
    """``(speed m/s, yaw rate rad/s)`` of every episode; ``None``: ``DEFAULT_COMMAND``."""
    heading_integral: float | None = None
    """The heading hold's integral gain to run with (``EnvConfig.heading_integral_per_s2``);
    ``None``: the one the policy trained with. To ask what the integral does for a policy
    without retraining it."""
    heading_sonar_gate: float | None = None
    """The integral's sonar gate to run with (m; ``EnvConfig.heading_integral_sonar_gate_m``;
    0: none); ``None``: the policy's own."""
    stress: bool = False
    """Run ``STRESS_GRID`` (``stress``) instead of one evaluation."""
    progress: bool | None = None
    """Progress bar on stderr; ``None``: when stderr is a terminal."""


def load_any(path: Path):
    """``(predict(obs) -> action, EnvConfig)`` from a .zip or .pth."""
    if path.suffix == ".pth":
        from pidog_gaits.envs.policy_file import load_policy

        policy, env_cfg = load_policy(path)
        return (lambda obs: policy.predict(obs, deterministic=True)[0]), env_cfg
    if not path.is_file():
        raise FileNotFoundError(f"model not found: {path}")
    if path.suffix.lower() == ".onnx":
        raise ValueError(f"{path}: evaluate runs a stage 3 .zip or .pth (an .onnx: nn_controller)")
    from stable_baselines3 import PPO

    try:
        model = PPO.load(path, device="cpu")
    except Exception as exc:  # noqa: BLE001 - an unreadable file is the user's error
        why = (str(exc).strip().splitlines() or [""])[0]
        raise ValueError(f"{path}: not a stage 3 model ({type(exc).__name__}: {why})") from None
    stored = getattr(model, "pidog_env_config", None)
    if stored is None:
        raise ValueError(f"{path}: no PiDog env settings inside (not from train_rl_vision)")
    return (lambda obs: model.predict(obs, deterministic=True)[0]), EnvConfig.from_dict(stored)


def eval_env_config(trained: EnvConfig, cfg: EvalConfig) -> EnvConfig:
    """The training env's settings on the evaluation's physics, world and domain."""
    changes = {
        "quality": cfg.quality,
        "open_floor_prob": 0.0,  # every episode has the boxes asked for
        "randomization": RandomizationRanges(
            enabled=False, overrides=parse_overrides(cfg.overrides)
        ),
    }
    # The benchmark's boxes whatever the training's field: EVAL_OBSTACLES (or --obstacles)
    # in the corridor ahead (``sim.world.ObstacleLayout``).
    changes["num_obstacles"] = EVAL_OBSTACLES if cfg.obstacles is None else cfg.obstacles
    changes["obstacle_lateral_m"] = ObstacleLayout().lateral_m
    if cfg.pretrained is not None:
        changes["pretrained"] = str(Path(cfg.pretrained).resolve())
    if cfg.heading_integral is not None:
        changes["heading_integral_per_s2"] = cfg.heading_integral
    if cfg.heading_sonar_gate is not None:
        changes["heading_integral_sonar_gate_m"] = cfg.heading_sonar_gate
    return trained.replace(**changes).validate()


def prepare(cfg: EvalConfig):
    """Everything that can fail on the user's input: ``(predict, env config)``."""
    if cfg.episodes < 1:
        raise ValueError("--episodes must be >= 1")
    if cfg.obstacles is not None and cfg.obstacles < 0:
        raise ValueError("--obstacles must be >= 0")
    if cfg.reflex and cfg.zero_residual:
        raise ValueError("--reflex and --zero-residual are two different baselines; pick one")
    if cfg.stress and cfg.video:
        raise ValueError("--video records one evaluation; drop it or --stress")
    predict, trained = load_any(Path(cfg.model))
    env_cfg = eval_env_config(trained, cfg)
    if cfg.reflex and not env_cfg.steering:
        raise ValueError("--reflex needs a steering policy (the teacher sets its steer)")
    return predict, env_cfg


def resolve_command(
    asked: tuple[float, float] | None, ranges: CommandRanges
) -> tuple[np.ndarray, str | None]:
    """``(command that runs, warning or None)``: ``asked`` (or ``DEFAULT_COMMAND``) clipped
    into the ranges the policy was trained on; the warning says what was clipped."""
    notes: list[str] = []
    what = "--command" if asked is not None else "the default command"
    command = CommandClipper(ranges, what, notes.append)(
        DEFAULT_COMMAND if asked is None else asked
    )
    return command, (notes[0] if notes else None)


def reset_options(command: np.ndarray) -> dict:
    """``PiDogEnv.reset`` options that hold ``command`` (from ``resolve_command``) all
    episode: what every evaluation episode, and the benchmarks that replay them, run."""
    return {"command": (float(command[0]), float(command[1]))}


def _progress(cfg: EvalConfig, total: int, desc: str):
    from tqdm import tqdm

    show = sys.stderr.isatty() if cfg.progress is None else cfg.progress
    return tqdm(total=total, desc=desc, unit="episode", disable=not show, file=sys.stderr)


EPISODE_KEYS = (
    "return", "length", "mean_forward_velocity_mps", "distance_m", "lateral_m", "fell",
    "collisions", "foot_collisions", "energy_j", "command_mps", "command_yaw_radps",
    "speed_error_mps", "yaw_rate_error_rps",
)  # fmt: skip
"""What each per-episode row copies from the env's ``episode_metrics``."""


def run_episodes(
    cfg: EvalConfig, predict, env_cfg: EnvConfig, command: np.ndarray, bar=None
) -> tuple[list[dict], str | None]:
    """``cfg.episodes`` episodes at the fixed ``command``: ``(per-episode rows, video)``."""
    from pidog_gaits.envs.pidog_env import PiDogEnv

    env = PiDogEnv(env_cfg)
    recorder = None
    rows = []
    options = reset_options(command)
    try:
        for i in range(cfg.episodes):
            obs, _ = env.reset(seed=cfg.seed + i, options=options)
            if cfg.video and i == 0:
                from pidog_gaits.sim.video import VideoRecorder

                recorder = VideoRecorder(env.sim, cfg.video)
                recorder.capture(force=True)
            zero = np.zeros(env.action_space.shape, dtype=np.float32)
            while True:
                if cfg.reflex:
                    action = env.teacher_action()
                else:
                    action = zero if cfg.zero_residual else predict(obs)
                obs, _, terminated, truncated, info = env.step(action)
                if recorder is not None and i == 0:
                    recorder.capture()
                if terminated or truncated:
                    break
            m = info["episode_metrics"]
            rows.append(
                {
                    "episode": i,
                    "seed": cfg.seed + i,
                    **{key: m[key] for key in EPISODE_KEYS},
                }
            )
            if bar is not None:
                bar.update(1)
    finally:
        env.close()
        video_path = recorder.close() if recorder is not None else None
    return rows, (str(video_path) if video_path else None)


def _finite_mean(values) -> float | None:
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(np.mean(finite)) if finite else None


def lateral_drift_per_m(rows: list[dict]) -> float | None:
    """Sideways metres per metre walked (start frame), pooled over the episodes whose
    command is straight and moving; ``None`` when there are none or they did not move."""
    straight = [
        r
        for r in rows
        if abs(r["command_yaw_radps"]) < STILL_RADPS and r["command_mps"] >= STILL_MPS
    ]
    walked = sum(abs(r["distance_m"]) for r in straight)
    if not straight or walked <= 1e-9:
        return None
    return float(sum(abs(r["lateral_m"]) for r in straight) / walked)


def summarize(rows: list[dict]) -> dict:
    """The means and totals over per-episode rows (``run_episodes``)."""

    def mean(key):
        return float(np.mean([r[key] for r in rows]))

    return {
        "mean_return": mean("return"),
        "mean_forward_velocity_mps": mean("mean_forward_velocity_mps"),
        "mean_distance_m": mean("distance_m"),
        "mean_episode_length": mean("length"),
        "speed_error_mps": _finite_mean(r["speed_error_mps"] for r in rows),
        "yaw_rate_error_rps": _finite_mean(r["yaw_rate_error_rps"] for r in rows),
        "lateral_drift_per_m": lateral_drift_per_m(rows),
        "falls": int(sum(r["fell"] for r in rows)),
        "collisions": int(sum(r["collisions"] for r in rows)),
        "foot_collisions": int(sum(r["foot_collisions"] for r in rows)),
        "energy_j": mean("energy_j"),
    }


def _common(cfg: EvalConfig, env_cfg: EnvConfig, command: np.ndarray) -> dict:
    given = DEFAULT_COMMAND if cfg.command is None else cfg.command
    return {
        "model": str(cfg.model),
        "episodes": cfg.episodes,
        "quality": cfg.quality,
        "obstacles": env_cfg.num_obstacles,
        "settings": env_cfg.randomization.overrides,
        "prior": env_cfg.prior
        + (" alone (zero residual)" if cfg.zero_residual else "")
        + (" + scripted obstacle reflex" if cfg.reflex else ""),
        "vision": env_cfg.vision,
        "command": [float(command[0]), float(command[1])],
        "command_asked": [float(given[0]), float(given[1])],
        "heading_integral_per_s2": env_cfg.heading_integral_per_s2,
        "heading_integral_sonar_gate_m": env_cfg.heading_integral_sonar_gate_m,
    }


def evaluate(cfg: EvalConfig, prepared=None, warn: Callable[[str], None] | None = None) -> dict:
    """Run the episodes; returns the means, the per-episode rows and the settings.

    With ``cfg.stress`` this is ``stress``. ``warn`` receives the one warning about a
    clipped command (default: ``warnings.warn``).
    """
    predict, env_cfg = prepared or prepare(cfg)
    command, note = resolve_command(cfg.command, env_cfg.commands)
    if note:
        (warn or warnings.warn)(note)
    if cfg.stress:
        return stress(cfg, predict, env_cfg, command)
    with _progress(cfg, cfg.episodes, "evaluate") as bar:
        rows, video = run_episodes(cfg, predict, env_cfg, command, bar)
    return {
        **_common(cfg, env_cfg, command),
        **summarize(rows),
        "video": video,
        "per_episode": rows,
    }


def stress(cfg: EvalConfig, predict, env_cfg: EnvConfig, command: np.ndarray) -> dict:
    """``STRESS_GRID``: each cell's overrides on top of ``--set``, ``cfg.episodes`` each.

    Boxes: ``--obstacles``, else ``EVAL_OBSTACLES`` (``eval_env_config``).
    """
    base = env_cfg.randomization.overrides
    cells = []
    with _progress(cfg, cfg.episodes * len(STRESS_GRID), "stress") as bar:
        for label, overrides in STRESS_GRID:
            settings = {**base, **parse_overrides(list(overrides))}
            cell_cfg = env_cfg.replace(
                randomization=RandomizationRanges(enabled=False, overrides=settings)
            ).validate()
            bar.set_postfix_str(label)
            rows, _ = run_episodes(cfg, predict, cell_cfg, command, bar)
            cells.append({"cell": label, "settings": settings, **summarize(rows)})
    return {**_common(cfg, env_cfg, command), "stress": cells}


def stress_table(cells: list[dict]) -> str:
    """One line per ``--stress`` cell: falls, boxes hit, mean speed, speed error."""
    width = max(len("cell"), *(len(c["cell"]) for c in cells))
    lines = [f"  {'cell':<{width}}  {'falls':>5}  {'boxes hit':>9}  {'speed m/s':>9}  "
             f"{'speed err':>9}"]  # fmt: skip
    for c in cells:
        err = c["speed_error_mps"]
        lines.append(
            f"  {c['cell']:<{width}}  {c['falls']:>5}  {c['collisions']:>9}  "
            f"{c['mean_forward_velocity_mps']:>9.3f}  "
            + (f"{err:>9.3f}" if err is not None else f"{'-':>9}")
        )
    return "\n".join(lines)


def episode_table(rows: list[dict]) -> str:
    cols = ("episode", "return", "length", "mean_forward_velocity_mps", "speed_error_mps",
            "fell", "collisions", "foot_collisions", "energy_j")  # fmt: skip
    heads = ("ep", "return", "length", "speed m/s", "speed err", "fell", "coll", "foot coll",
             "energy J")  # fmt: skip
    lines = ["  " + "  ".join(f"{h:>10}" for h in heads)]
    for r in rows:
        cells = []
        for c in cols:
            v = r[c]
            cells.append(f"{v:>10.3f}" if isinstance(v, float) else f"{v!s:>10}")
        lines.append("  " + "  ".join(cells))
    return "\n".join(lines)


app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])

EXAMPLES = (
    "Examples: --command 0.3,0 (0.3 m/s straight ahead; 0.2,0.15 turns left at 0.15 rad/s). "
    "--command 0.3,0 --obstacles 0 --episodes 20: speed error and lateral drift on the open "
    "floor. --stress --episodes 10: falls and speed per shifted setting, with boxes (five "
    "cells: five times as long)."
)


@app.command(epilog=EXAMPLES)
def cli(
    model: Path = typer.Option(..., help="final_model.zip (or final_model.pth)."),
    episodes: int = typer.Option(10, help="Episodes to run."),
    quality: str = typer.Option("production", help="Physics preset."),
    obstacles: int | None = typer.Option(
        None, help=f"Boxes per episode in the corridor ahead (default: {EVAL_OBSTACLES})."
    ),
    set_: list[str] = typer.Option(
        [], "--set", help="Domain setting KEY=VALUE, repeatable (friction=0.5, latency_ms=30)."
    ),
    seed: int = typer.Option(1000, help="Episode i is seeded SEED+i."),
    video: Path | None = typer.Option(None, help="Record the first episode to mp4/gif."),
    pretrained: Path | None = typer.Option(None, help="Imitation model, if it moved."),
    zero_residual: bool = typer.Option(False, help="Run the prior alone (no PPO residual)."),
    reflex: bool = typer.Option(False, help="Run the prior steered by the scripted reflex."),
    command: str | None = typer.Option(
        None,
        help="SPEED,YAW_RATE (m/s,rad/s) every episode follows, e.g. 0.3,0 or 0.2,0.15; "
        "clipped (one warning) to the policy's trained ranges. Default: the full trot, "
        f"{DEFAULT_COMMAND[0]:g},0.",
    ),
    stress: bool = typer.Option(
        False,
        help="Run the stress grid instead: nominal, servo torque x0.7, latency 40 ms, "
        "mass x1.25, friction 0.35, one at a time, --episodes each, with boxes; prints "
        "falls, boxes hit, speed and speed error per cell (JSON: 'stress').",
    ),
    heading_integral: float | None = typer.Option(
        None,
        help="Run with this heading-hold integral gain (1/s^2; 0: proportional only). "
        "Default: the policy's own.",
    ),
    heading_sonar_gate: float | None = typer.Option(
        None,
        help="Run with this sonar gate on the hold's integral (m; 0: none). "
        "Default: the policy's own.",
    ),
    progress: bool | None = typer.Option(
        None, "--progress/--no-progress", help="Progress bar (default: on a terminal)."
    ),
    json_out: str | None = typer.Option(None, "--json", help="Write the figures to PATH or -."),
) -> None:
    """Evaluate a stage 3 policy: deterministic actions, per-episode and mean figures."""
    from pidog_gaits.cli import fail
    from pidog_gaits.results import emit
    from pidog_gaits.sim.physics import get_preset

    cfg = EvalConfig(
        model=str(model), episodes=episodes, quality=quality, obstacles=obstacles,
        overrides=list(set_), seed=seed, video=str(video) if video else None,
        pretrained=str(pretrained) if pretrained else None,
        zero_residual=zero_residual,
        reflex=reflex, stress=stress, progress=progress, heading_integral=heading_integral,
        heading_sonar_gate=heading_sonar_gate,
    )  # fmt: skip
    try:
        if command is not None:
            cfg.command = tuple(float(v) for v in parse_command(command))
        get_preset(quality)
        prepared = prepare(cfg)
    except (ValueError, FileNotFoundError) as exc:
        fail(str(exc))
    figures = evaluate(cfg, prepared, warn=lambda note: typer.echo(f"warning: {note}", err=True))
    ran = "command {:g} m/s, {:g} rad/s".format(*figures["command"])
    if stress:
        if json_out != "-":
            typer.echo(stress_table(figures["stress"]))
        title = f"stress grid ({quality} physics, {episodes} episodes per cell, {ran})"
    else:
        if json_out != "-":
            typer.echo(episode_table(figures["per_episode"]))
        title = f"evaluation ({quality} physics, {episodes} episodes, {ran})"
    emit(figures, json_out, title=title)


def main(argv: list[str] | None = None, prog_name: str = "evaluate") -> int:
    from pidog_gaits.cli import run_typer

    return run_typer(app, argv, prog_name)


if __name__ == "__main__":
    raise SystemExit(main())
