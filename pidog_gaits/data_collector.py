"""Stage 1: record the expert gaits in the simulator as imitation data.

    python -m pidog_gaits.data_collector --duration 120 --output DIR [--quality production]
        [--seed 0] [--workers N] [--log PATH]

Each named gait (``gaits.library.GAITS``) runs for ``duration`` simulated seconds, cut into
short episodes that differ in what the imitation nets and the RL policy must not overfit
to: start phase, start posture and heading, a jittered turn command on half of the walk
and trot episodes, and mildly randomized friction, masses, servo strength and latency.
Every episode starts in the stand and blends into the gait over ``RAMP_S``; those
transition steps are never recorded (a blend is neither gait). Episodes in which the robot
falls are dropped and counted.

Samples are recorded in bursts of ``burst_steps`` consecutive control steps (50 Hz), one
burst every ``burst_every_steps``: 50 of every 180 steps at the defaults, so 120 s per gait
gives ~13.5k samples (``--duration`` x 9 gaits x 50 Hz x 50/180, less the ramps), while
each burst stays a true 50 Hz sequence that the recurrent nets train on with the same
step as in closed loop.

Per sample: ``inputs`` (4) ``[gait_type, direction, turn, phase]``; ``targets`` (12, rad),
exactly ``expert_targets(inputs)``; ``observations`` (49), the RL policy's proprioceptive
vector read *before* that step's command (``envs.observations``); ``episode``, ``gait``
(index into the meta's gait list), ``step`` (control step in the episode), ``time_s``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import typer

from pidog_gaits.expert_episodes import EpisodeResult, EpisodeTask, run_episode
from pidog_gaits.gaits.library import GAIT_TYPES, GAITS, INPUT_NAMES
from pidog_gaits.robot import specs
from pidog_gaits.sim.randomization import RandomizationRanges

log = logging.getLogger("pidog_gaits.data_collector")  # not __name__: also under -m

MILD_RANGES = RandomizationRanges(
    friction_scale=(0.85, 1.15),
    mass_scale=(0.95, 1.05),
    servo_torque_scale=(0.95, 1.05),
    servo_speed_scale=(0.95, 1.05),
    latency_s=(0.005, 0.015),
    overrides={"sensor_noise_scale": 1.0},
)
"""Mild domain randomization: the expert must not fall, and sensor noise stays at the
seed pipeline's sigmas (joint positions 0.01 rad, velocities 0.1 rad/s)."""


MIN_SPLIT_EPISODE_S = 2.0
"""Shortest episode worth splitting a one-episode gait into (s)."""


@dataclass(frozen=True)
class CollectConfig:
    """Stage 1 settings; the CLI and the pipeline fill the same fields."""

    duration_s: float = 120.0
    """Simulated seconds recorded per gait, ramp-in included (s)."""
    output_dir: Path = Path("data")
    """Folder for ``gait_data_enhanced_<timestamp>.npz``."""
    quality: str = "production"
    """Physics preset (DESIGN.md: production is for data collection)."""
    seed: int = 0
    """Seed of every random choice; results do not depend on ``workers``."""
    workers: int = 0
    """Processes; 0 = one per available core."""
    gaits: tuple[str, ...] = tuple(GAITS)
    """Named gaits to record."""
    episode_s: float = 8.0
    """Length of one episode (s); the last episode of a gait takes what is left."""
    burst_steps: int = 50
    """Consecutive control steps recorded per burst (the recurrent nets' sequence)."""
    burst_every_steps: int = 180
    """A burst starts every this many control steps (at a random offset per episode)."""
    turn_jitter: float = 0.2
    """Half-width of the uniform jitter added to the turn command (walk and trot)."""
    jitter_fraction: float = 0.5
    """Share of walk and trot episodes with a jittered turn; the rest use the exact one."""
    start_joint_noise_rad: float = 0.03
    """Sigma of the perturbation of the start posture's leg joints (rad)."""
    ranges: RandomizationRanges = field(default_factory=lambda: MILD_RANGES)
    """Domain parameter ranges sampled per episode."""
    log_path: Path | None = None
    """Log file (the pipeline passes ``logs/data_collection.log``)."""


def resolve_workers(workers: int) -> int:
    if workers > 0:
        return workers
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def episode_lengths_s(config: CollectConfig) -> list[float]:
    """Episodes of ``episode_s``, the last one taking what is left; a duration shorter
    than two episodes still gives two (when each can record 1.4 s after the ramp), so
    training can hold one out for validation."""
    n = max(1, math.ceil(config.duration_s / config.episode_s - 1e-9))
    if n == 1 and config.duration_s >= 2 * MIN_SPLIT_EPISODE_S:
        return [config.duration_s / 2] * 2
    return [min(config.episode_s, config.duration_s - j * config.episode_s) for j in range(n)]


def plan_episodes(config: CollectConfig) -> list[EpisodeTask]:
    """Every episode's settings, from ``config.seed`` alone (so any worker count agrees)."""
    from pidog_gaits.sim.rollout import stand_targets

    tasks: list[EpisodeTask] = []
    stand = stand_targets()
    for gait_index, name in enumerate(config.gaits):
        gait = GAITS[name]
        for j, seconds in enumerate(episode_lengths_s(config)):
            episode = len(tasks)
            # Seeded by the gait's place in the library, not in config.gaits: a gait's
            # episodes are the same whichever other gaits are collected with it.
            rng = np.random.default_rng([config.seed, list(GAITS).index(name), j])
            turn = gait.turn
            jitter = gait.family in ("walk", "trot") and rng.random() < config.jitter_fraction
            if jitter:
                turn = float(np.clip(turn + rng.uniform(-1, 1) * config.turn_jitter, -1, 1))
            start = stand.copy()
            start[: specs.NUM_LEG_JOINTS] += rng.normal(
                0.0, config.start_joint_noise_rad, specs.NUM_LEG_JOINTS
            )
            tasks.append(
                EpisodeTask(
                    episode=episode,
                    gait=name,
                    gait_index=gait_index,
                    seconds=float(seconds),
                    quality=config.quality,
                    turn=float(turn),
                    start_phase=float(rng.random()),
                    start_yaw_rad=float(rng.uniform(-math.pi, math.pi)),
                    start_joints_rad=tuple(float(x) for x in start),
                    params=config.ranges.sample(rng),
                    record_offset_steps=int(rng.integers(config.burst_every_steps)),
                    burst_steps=config.burst_steps,
                    burst_every_steps=config.burst_every_steps,
                    seed=int(rng.integers(2**31)),
                )
            )
    return tasks


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pidog-gaits")
    except PackageNotFoundError:  # pragma: no cover - not installed
        return "unknown"


def build_meta(config: CollectConfig, results: list[EpisodeResult], wall_s: float) -> dict:
    from pidog_gaits.envs.observations import ROBOT_PARTS
    from pidog_gaits.sim.physics import get_preset

    preset = get_preset(config.quality)
    falls = {name: 0 for name in config.gaits}
    for r in results:
        falls[r.task.gait] += int(r.fell)
    return {
        "format": "pidog-gaits gait data 1",
        "gaits": [
            {
                "id": i,
                "name": name,
                "family": GAITS[name].family,
                "gait_type": GAITS[name].gait_type,
                "direction": GAITS[name].direction,
                "turn": GAITS[name].turn,
                "period_s": GAITS[name].period_s,
                "command": GAITS[name].command.tolist(),
            }
            for i, name in enumerate(config.gaits)
        ],
        "gait_types": GAIT_TYPES,
        "input_names": list(INPUT_NAMES),
        "joint_names": list(specs.JOINT_NAMES),
        "obs_parts": ROBOT_PARTS,
        "control_rate_hz": 1.0 / specs.CONTROL_DT_S,
        "sample_rate_hz": config.burst_steps / config.burst_every_steps / specs.CONTROL_DT_S,
        "burst_steps": config.burst_steps,
        "burst_every_steps": config.burst_every_steps,
        "noise_sigma": specs.NOISE_SIGMA,
        "physics_quality": config.quality,
        "physics_timestep_s": preset.timestep_s,
        "physics_iterations": preset.iterations,
        "seed": config.seed,
        "duration_s": config.duration_s,
        "episode_s": config.episode_s,
        "turn_jitter": config.turn_jitter,
        "start_joint_noise_rad": config.start_joint_noise_rad,
        "randomization": {
            k: v for k, v in dataclasses.asdict(config.ranges).items() if k != "enabled"
        },
        "package_version": _package_version(),
        "created": datetime.now().isoformat(timespec="seconds"),
        "wall_s": round(wall_s, 3),
        "falls": falls,
        "episodes": [
            {
                "episode": r.task.episode,
                "gait": r.task.gait,
                "turn": r.task.turn,
                "start_phase": r.task.start_phase,
                "start_yaw_rad": r.task.start_yaw_rad,
                "params": r.task.params.as_dict(),
                "fell": r.fell,
                "samples": int(r.arrays["inputs"].shape[0]) if r.arrays else 0,
            }
            for r in results
        ],
    }


def output_path(output_dir: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
    path = output_dir / f"gait_data_enhanced_{stamp}.npz"
    n = 1
    while path.exists():
        path = output_dir / f"gait_data_enhanced_{stamp}_{n}.npz"
        n += 1
    return path


def save_npz_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write through a temporary file in the same folder, so a crash leaves no half file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; data files are for everyone
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_config(config: CollectConfig) -> None:
    """Raise ``ValueError`` on any setting that cannot work, before any work starts."""
    from pidog_gaits.sim.physics import get_preset

    get_preset(config.quality)
    if not config.duration_s > 0:
        raise ValueError("--duration must be > 0")
    if config.workers < 0:
        raise ValueError("--workers must be >= 0 (0 = one per core)")
    for name in config.gaits:
        if name not in GAITS:
            raise ValueError(f"unknown gait {name!r}; choose from {', '.join(GAITS)}")
    if not 0 < config.burst_steps <= config.burst_every_steps:
        raise ValueError("need 0 < burst_steps <= burst_every_steps")
    if config.output_dir.exists() and not config.output_dir.is_dir():
        raise ValueError(f"--output {config.output_dir} is a file, not a folder")


def collect(config: CollectConfig) -> tuple[Path, dict]:
    """Run every episode (in parallel), drop falls, write the npz; returns (path, meta)."""
    from tqdm import tqdm

    check_config(config)
    tasks = plan_episodes(config)
    workers = min(resolve_workers(config.workers), len(tasks))
    log.info(
        "collecting %d gaits x %.0f s on %s physics: %d episodes, %d workers, seed %d",
        len(config.gaits),
        config.duration_s,
        config.quality,
        len(tasks),
        workers,
        config.seed,
    )
    start = time.perf_counter()
    results: list[EpisodeResult] = []
    bar = tqdm(total=len(tasks), unit="episode", desc="collect", mininterval=1.0)
    falls = 0
    if workers == 1:
        stream = map(run_episode, tasks)
        pool = None
    else:
        import multiprocessing

        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        stream = pool.map(run_episode, tasks, chunksize=1)
    try:
        for result in stream:
            results.append(result)
            falls += int(result.fell)
            n = result.arrays["inputs"].shape[0] if result.arrays else 0
            log.debug(
                "episode %d %s turn %+.2f: %s, %d samples",
                result.task.episode,
                result.task.gait,
                result.task.turn,
                "FELL (dropped)" if result.fell else "ok",
                n,
            )
            bar.update()
            bar.set_postfix(falls=falls, refresh=False)
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    wall_s = time.perf_counter() - start
    kept = [r for r in results if not r.fell]
    if not kept:
        raise RuntimeError("the robot fell in every episode; nothing to save")
    arrays = {k: np.concatenate([r.arrays[k] for r in kept]) for k in kept[0].arrays}
    meta = build_meta(config, results, wall_s)
    arrays["meta"] = np.array(json.dumps(meta))
    config.output_dir.mkdir(parents=True, exist_ok=True)
    path = output_path(config.output_dir)
    save_npz_atomic(path, arrays)
    n = arrays["inputs"].shape[0]
    for name, count in meta["falls"].items():
        if count:
            log.warning("%s: %d episode(s) fell and were dropped", name, count)
    log.info(
        "wrote %s: %d samples from %d episodes (%d fell, dropped) in %.1f s (%.0f samples/s)",
        path,
        n,
        len(kept),
        falls,
        wall_s,
        n / wall_s,
    )
    return path, meta


def configure_logging(log_path: Path | None) -> None:
    """Info to stdout; everything (debug included) to ``log_path`` when given."""
    root = logging.getLogger("pidog_gaits")
    root.setLevel(logging.DEBUG)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    console = logging.StreamHandler()
    console.setLevel(logging.INFO)
    console.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(console)
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)


app = typer.Typer(add_completion=False)


@app.command()
def cli(
    duration: float = typer.Option(120.0, help="Simulated seconds per gait (s)."),
    output: Path = typer.Option(Path("data"), help="Folder for the .npz."),
    quality: str = typer.Option("production", help="Physics preset: production, medium, fast."),
    seed: int = typer.Option(0, help="Seed of every random choice."),
    workers: int = typer.Option(0, help="Processes (0 = one per core)."),
    log_path: Path | None = typer.Option(None, "--log", help="Also log everything to PATH."),
) -> None:
    """Stage 1: record the expert gaits (inputs, joint targets, observations) to an .npz."""
    from pidog_gaits.cli import fail

    config = CollectConfig(
        duration_s=duration,
        output_dir=output,
        quality=quality,
        seed=seed,
        workers=workers,
        log_path=log_path,
    )
    try:
        check_config(config)
        if log_path is not None and log_path.is_dir():
            raise ValueError(f"--log {log_path} is a folder")
    except ValueError as exc:
        fail(str(exc))
    configure_logging(log_path)
    try:
        path, _ = collect(config)
    except RuntimeError as exc:
        fail(str(exc))
    print(path)


def main(argv: list[str] | None = None, prog_name: str = "python -m pidog_gaits.data_collector"):
    from pidog_gaits.cli import run_typer

    return run_typer(app, argv, prog_name)


if __name__ == "__main__":
    raise SystemExit(main())
