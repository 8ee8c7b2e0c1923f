"""Run a trained model on the simulated PiDog, the real PiDog, or through ROS 2.

``python3 -m pidog_gaits.nn_controller --model MODEL --backend sim|pidog|ros2
[--command SPEED,YAW_RATE | --gait trot_forward --direction 1 --turn 0] [--rate HZ]
[--seconds S] [--json PATH|-]`` (also ``pidog-gaits controller ...``).

``--command 0.2,0`` (m/s, rad/s) plays the trot at the amplitude and turn that command
asks for (``gaits.command``), as a command-following PPO policy was trained: such a
policy runs on a command always (``--gait NAME`` becomes that gait's command; ``sit``,
which it never learned, stands), and a command outside its trained ranges is clipped with
one warning. ``expert`` and imitation models take ``--command`` too (full default ranges:
``--model expert --command 0.2,0`` brings a robot up at a slow trot).

MODEL: an imitation ``.pth``, stage 3's ``final_model.pth`` or ``final_model.zip``, an
``.onnx`` from ``pidog-gaits export``, or ``expert`` (the scripted gaits, for checking the
robot's wiring before a learned model runs on it). ``.onnx`` and ``expert`` need neither
PyTorch nor MuJoCo: that is the robot's path. Loading never executes code from a model
file (``torch.load(weights_only=True)``, ONNX), except a ``.zip`` (Stable-Baselines3
pickles into it): load one only from a source you trust.

Every target passes the safety layer (``backends.safety``): clamped to the joint ranges,
rate-limited per step; tilt, Ctrl-C, or repeated overruns make the dog lie down and stop.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import typer

from pidog_gaits import results
from pidog_gaits.backends import BACKENDS, BackendUnavailableError
from pidog_gaits.backends.safety import SafetyConfig
from pidog_gaits.gaits.library import GaitSpec
from pidog_gaits.robot import specs

app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])


def _load(model: str, engine: str, pretrained: str | None):
    """``runtime.load_policy``; ``--engine onnx`` on a ``.pth``/``.zip`` exports it first
    (``export`` needs PyTorch, so it is imported only then)."""
    from pidog_gaits.runtime import load_policy

    if engine == "onnx" and Path(model).suffix.lower() in (".pth", ".pt", ".zip"):
        from pidog_gaits.export import load_exported

        return load_exported(model, pretrained)
    return load_policy(model, engine, pretrained)


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


@app.command()
def controller(
    model: str = typer.Option(
        ..., help="Imitation .pth, RL final_model.pth/.zip, .onnx, or 'expert'."
    ),
    backend: str = typer.Option("sim", help="sim, pidog (the real robot) or ros2."),
    gait: str = typer.Option("trot_forward", help="Gait to run (ros2: cmd_vel picks it)."),
    command: str | None = typer.Option(
        None, help="SPEED,YAW_RATE (m/s,rad/s) to follow instead of a gait (ros2: cmd_vel)."
    ),
    direction: float | None = typer.Option(None, help="Gait input direction (+1 fwd, -1 back)."),
    turn: float | None = typer.Option(None, help="Gait input turn in [-1, 1] (+ = left)."),
    rate: float | None = typer.Option(None, help="Control rate (Hz); default: the model's."),
    seconds: float = typer.Option(10.0, help="Run time after standing up (s); inf: until Ctrl-C."),
    engine: str = typer.Option("auto", help="auto, torch or onnx (a .pth exported on the fly)."),
    pretrained: Path | None = typer.Option(
        None, help="PPO: the imitation prior (.pth), if it moved since training."
    ),
    quality: str = typer.Option("fast", help="sim: physics preset."),
    seed: int = typer.Option(0, help="sim: seed of the simulator and sensor noise."),
    realtime: bool = typer.Option(False, help="sim: keep pace with the wall clock."),
    joints: str = typer.Option(
        "measured", help="sim: joint readings 'measured', or 'commanded' as on the robot."
    ),
    video: Path | None = typer.Option(None, help="sim: write an mp4 (or .gif)."),
    drive: str = typer.Option("pidog", help="ros2: what the node drives, pidog or sim."),
    dry_run: bool = typer.Option(False, help="pidog: compute and print commands, move nothing."),
    max_tilt_deg: float = typer.Option(45.0, help="Lie down past this body tilt (deg)."),
    max_step_deg: float = typer.Option(
        math.degrees(SafetyConfig().max_step_rad), help="Rate limit per step (deg)."
    ),
    max_overruns: int = typer.Option(5, help="Stop after this many late steps in a row."),
    standup_s: float = typer.Option(1.0, help="Time to stand up from the start pose (s)."),
    json_out: str | None = typer.Option(
        None, "--json", help="Write the figures as JSON to PATH, or - for stdout."
    ),
) -> None:
    """Run MODEL on a backend and report what it did."""
    from pidog_gaits.gaits.command import parse_command
    from pidog_gaits.gaits.library import get_gait
    from pidog_gaits.runtime import ModelLoadError
    from pidog_gaits.runtime.base import gait_with
    from pidog_gaits.runtime.loop import LoopConfig, run_controller

    if backend not in BACKENDS:
        _fail(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if seconds <= 0:
        _fail("--seconds must be > 0")
    try:
        wanted = None if command is None else parse_command(command)
        if wanted is not None and (direction is not None or turn is not None):
            raise ValueError("--direction and --turn set a named gait's input, not --command")
        if wanted is not None and backend == "ros2":
            raise ValueError("under ros2 the command comes from cmd_vel; drop --command")
        spec = gait_with(get_gait(gait), direction, turn)
        safety = SafetyConfig(
            max_step_rad=math.radians(max_step_deg),
            max_tilt_rad=math.radians(max_tilt_deg),
            max_overruns=max_overruns,
        ).validate()
        policy = _load(model, engine, str(pretrained) if pretrained else None)
    except (ValueError, FileNotFoundError, ModelLoadError) as exc:
        _fail(str(exc))
    if rate is not None and rate <= 0:
        _fail("--rate must be > 0")
    dt = policy.control_dt_s if rate is None else 1.0 / rate
    uses_sim = backend == "sim" or (backend == "ros2" and drive == "sim")
    if uses_sim and not math.isclose(dt, specs.CONTROL_DT_S):
        _fail(f"the simulator steps at {1 / specs.CONTROL_DT_S:g} Hz; drop --rate")
    if not math.isclose(dt, policy.control_dt_s, rel_tol=1e-6):
        typer.echo(
            f"warning: running at {1 / dt:g} Hz; the model was trained at "
            f"{1 / policy.control_dt_s:g} Hz",
            err=True,
        )
    try:
        spec, start_command = _command_plan(policy, spec, wanted, backend, direction, turn)
    except ValueError as exc:
        _fail(str(exc))
    if policy.engine == "torch":
        import torch

        # One step of these small nets is fastest on one thread; more threads only wait
        # on each other (and on the robot's other processes).
        torch.set_num_threads(1)
    sim_kwargs = {
        "seconds": seconds,
        "quality": quality,
        "seed": seed,
        "realtime": realtime,
        "image": policy.image,
        "image_size_px": policy.image_size_px,
        "joint_source": joints,
        "allow_body_contact": spec.family == "sit",
        "gait_name": spec.name,
        "video": video,
    }
    try:
        if uses_sim:
            from pidog_gaits.sim.physics import get_preset

            get_preset(quality)
        robot = _make_backend(backend, drive, sim_kwargs, policy, dry_run)
    except (ValueError, BackendUnavailableError) as exc:
        _fail(str(exc))
    gait_source = command_source = None
    if getattr(policy, "command_ranges", None) is not None:  # ros2: cmd_vel is the command
        command_source = getattr(robot, "command_source", None)
    else:
        gait_source = getattr(robot, "gait_source", None)
    try:
        figures = run_controller(
            policy,
            robot,
            spec,
            LoopConfig(seconds=seconds, dt_s=dt, standup_s=standup_s),
            safety,
            gait_source=gait_source,
            command=start_command,
            command_source=command_source,
        )
    finally:
        robot.close()
    figures["model"] = str(model)
    if start_command is not None and command_source is None:
        figures["command"] = [float(v) for v in start_command]
    results.emit(
        figures, json_out, title=f"controller {policy.kind} ({policy.engine}) on {backend}"
    )
    if figures.get("stop_reason") not in (None, "fell"):
        typer.echo(f"stopped: {figures['stop_reason']}", err=True)


def _warn(message: str) -> None:
    typer.echo(message, err=True)


def _command_plan(
    policy, spec: GaitSpec, wanted: np.ndarray | None, backend: str, direction, turn
) -> tuple[GaitSpec, np.ndarray | None]:
    """``(gait, command)`` to run: ``command`` (clipped into the policy's ranges, with one
    warning) for command mode, else ``None`` and the named gait.

    A command-following policy always runs on a command (its prior is the trot at the
    follower's amplitude and turn; it has never seen a named gait's prior), so ``--gait``
    becomes that gait's command. Imitation models and the expert take ``--command`` with
    the default ranges (the trot played at that amplitude and turn).
    """
    from pidog_gaits.gaits.command import CommandClipper, CommandRanges, format_command
    from pidog_gaits.gaits.library import GAITS

    ranges = getattr(policy, "command_ranges", None)
    if ranges is None and wanted is None:
        return spec, None
    if wanted is None:  # a command-following policy given a gait
        if direction is not None or turn is not None:
            raise ValueError(
                "--direction and --turn do not apply to a command-following policy; "
                "give --command SPEED,YAW_RATE"
            )
        if backend == "ros2":
            return GAITS["trot_forward"], np.zeros(2)  # stands until cmd_vel says otherwise
        if spec.family == "sit":
            _warn("warning: a command-following policy has no sit; it stands instead")
            return GAITS["stand"], np.zeros(2)
        wanted = spec.command
        clipped = ranges.clip(wanted)
        _warn(
            f"note: a command-following policy runs --gait {spec.name} as --command "
            f"{format_command(clipped)}"
        )
        return GAITS["trot_forward"], clipped
    clip = CommandClipper(ranges or CommandRanges(), "--command", lambda m: _warn(f"warning: {m}"))
    return GAITS["trot_forward"], clip(wanted)


def _make_backend(backend: str, drive: str, sim_kwargs: dict, policy, dry_run: bool):
    from pidog_gaits.backends import make_backend

    if backend == "sim":
        return make_backend("sim", **sim_kwargs)
    if backend == "pidog":
        return make_backend("pidog", **_pidog_kwargs(policy, dry_run))
    if drive not in ("pidog", "sim"):
        raise ValueError(f"unknown --drive {drive!r}; choose pidog or sim")
    inner = (
        make_backend("sim", **sim_kwargs)
        if drive == "sim"
        else make_backend("pidog", **_pidog_kwargs(policy, dry_run))
    )
    return make_backend("ros2", inner=inner, command_ranges=getattr(policy, "command_ranges", None))


def _pidog_kwargs(policy, dry_run: bool) -> dict:
    from pidog_gaits.backends.pidog import PidogConfig

    return {
        "config": PidogConfig(dry_run=dry_run),
        "image": policy.image,
        "image_size_px": policy.image_size_px,
        "signals": tuple(getattr(policy, "signals", ())),
    }


def main(argv: list[str] | None = None, prog_name: str | None = None) -> int:
    from pidog_gaits.cli import run_typer

    if argv is None:
        argv = sys.argv[1:]
    return run_typer(app, argv, prog_name or "python3 -m pidog_gaits.nn_controller")


if __name__ == "__main__":
    raise SystemExit(main())
