"""``pidog-gaits``: the command line. Each command is a thin shell over one module.

Errors a user can cause (unknown gait, bad preset, missing file) print one line and exit
with status 2; nothing else is written.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

from pathlib import Path  # noqa: E402

import typer  # noqa: E402

from pidog_gaits import results  # noqa: E402

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Train a SunFounder PiDog to walk: expert gaits, imitation learning, PPO in MuJoCo.",
)


def fail(message: str) -> None:
    """One clear line on stderr, exit status 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


@app.command()
def gait(
    name: str = typer.Argument(
        ..., help="walk_forward, walk_backward, trot_forward, turn_left, turn_right, stand, sit"
    ),
    seconds: float = typer.Option(10.0, help="Simulated time to run (s)."),
    quality: str = typer.Option("fast", help="Physics preset: fast, medium or production."),
    seed: int = typer.Option(0, help="Seed of every random source."),
    video: Path | None = typer.Option(None, help="Write an mp4 (or .gif) from a chase camera."),
    policy: Path | None = typer.Option(
        None, help="Drive with an imitation model (.pth) instead of the expert."
    ),
    json_out: str | None = typer.Option(
        None, "--json", help="Write the figures as JSON to PATH, or - for stdout."
    ),
) -> None:
    """Run an expert gait (or an imitation model) headless and report what it did."""
    from pidog_gaits.gaits.library import get_gait
    from pidog_gaits.sim.physics import get_preset
    from pidog_gaits.sim.rollout import run_gait

    try:
        spec = get_gait(name)
        get_preset(quality)
    except ValueError as exc:
        fail(str(exc))
    if seconds <= 0:
        fail("--seconds must be > 0")
    controller = None
    if policy is not None:
        try:
            from pidog_gaits.neural_network import PolicyController

            controller = PolicyController.from_file(policy)
        except (FileNotFoundError, ValueError) as exc:
            fail(str(exc))
    result = run_gait(spec, seconds, quality=quality, seed=seed, controller=controller, video=video)
    figures = result.as_dict()
    if policy is not None:
        figures["policy"] = str(policy)
    results.emit(figures, json_out, title=f"gait {name} ({quality})")
    if video is not None and json_out != "-":
        typer.echo(f"video: {video}")


@app.command("replay-library")
def replay_library(
    action: str = typer.Argument(
        ...,
        help="SunFounder action: stand, sit, lie, forward, backward, turn_left, turn_right, "
        "trot_forward, trot_backward, trot_left, trot_right",
    ),
    seconds: float = typer.Option(10.0, help="Simulated time to run (s)."),
    quality: str = typer.Option("production", help="Physics preset: fast, medium or production."),
    seed: int = typer.Option(0, help="Seed of every random source."),
    speed: int | None = typer.Option(
        None, help="The library's speed 0-100 (default: its examples', 98 gaits, 70 poses)."
    ),
    time_scale: float = typer.Option(1.0, help="Stretch every frame (2 = half speed)."),
    video: Path | None = typer.Option(None, help="Write an mp4 (or .gif) from a chase camera."),
    json_out: str | None = typer.Option(
        None, "--json", help="Write the figures as JSON to PATH, or - for stdout."
    ),
) -> None:
    """Play SunFounder's own frames with the library's timing from the 80 mm stand."""
    from pidog_gaits.gaits.sunfounder import get_action
    from pidog_gaits.sim.library_replay import LibraryTiming
    from pidog_gaits.sim.library_replay import replay_library as replay
    from pidog_gaits.sim.physics import get_preset

    try:
        library_action = get_action(action)
        get_preset(quality)
    except ValueError as exc:
        fail(str(exc))
    if seconds <= 0:
        fail("--seconds must be > 0")
    if time_scale <= 0:
        fail("--time-scale must be > 0")
    if speed is not None and not 0 <= speed <= 100:
        fail("--speed must be within 0-100")
    timing = LibraryTiming(library_action.speed if speed is None else speed, time_scale=time_scale)
    result = replay(action, seconds, quality=quality, seed=seed, timing=timing, video=video)
    results.emit(result.as_dict(), json_out, title=f"replay-library {action} ({quality})")
    if video is not None and json_out != "-":
        typer.echo(f"video: {video}")


@app.command()
def view(
    name: str = typer.Argument("trot_forward", help="Gait to play in the viewer."),
    quality: str = typer.Option("medium", help="Physics preset."),
) -> None:
    """Open MuJoCo's interactive viewer on an expert gait (needs a display)."""
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        fail(
            "no display found (DISPLAY is not set); the viewer needs a screen. "
            "Headless, record a video instead: pidog-gaits gait NAME --video out.mp4"
        )
    # The viewer needs a windowing backend; EGL (our headless default) crashes it at exit.
    os.environ["MUJOCO_GL"] = "glfw"
    from pidog_gaits.gaits.library import get_gait
    from pidog_gaits.sim.physics import get_preset

    try:
        spec = get_gait(name)
        get_preset(quality)
    except ValueError as exc:
        fail(str(exc))
    from pidog_gaits.sim.viewer import play_gait

    play_gait(spec, quality)


STAGE_COMMANDS = {
    # command: (module with main(argv), help)
    "collect": ("data_collector", "Stage 1: record expert gait data to an .npz."),
    "train": ("train", "Stage 2: train an imitation model on gait data."),
    "rl": ("train_rl_vision", "Stage 3: PPO from the imitation model."),
    "eval": ("evaluate", "Evaluate an RL policy over N episodes."),
    "export": ("export", "Export a model to ONNX."),
    "report": ("report", "Write report.html for an experiment."),
    "package": ("package", "Stage 4: package an experiment's final_model/ and SUMMARY.txt."),
    "watch": ("watch", "Watch a policy in the viewer, or record it headless."),
    "pipeline": ("pipeline", "Run the four stages into experiments/NAME_<timestamp>/."),
    "controller": ("nn_controller", "Run a trained model on sim, the real PiDog, or ROS 2."),
    "sweep": ("sweep", "Ray Tune sweeps over PPO, reward and randomization settings."),
    "bench": ("bench", "Run the speed benchmarks."),
}


def _forward(command: str, module: str):
    def run(ctx: typer.Context) -> None:
        import importlib

        try:
            mod = importlib.import_module(f"pidog_gaits.{module}")
        except ModuleNotFoundError as exc:
            if exc.name == f"pidog_gaits.{module}":
                fail(f"'{command}' is not built yet in this version of pidog-gaits")
            raise
        code = mod.main(list(ctx.args), prog_name=f"pidog-gaits {command}")
        raise typer.Exit(code or 0)

    return run


for _command, (_module, _help) in STAGE_COMMANDS.items():
    app.command(
        _command,
        help=_help + " (--help for its options)",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        add_help_option=False,
    )(_forward(_command, _module))


def run_typer(command_app: typer.Typer, argv: list[str] | None, prog_name: str) -> int:
    """Run a module's typer app on ``argv``; returns the exit code instead of exiting."""
    command = typer.main.get_command(command_app)
    try:
        # Without standalone mode click returns an Exit's code instead of exiting.
        code = command.main(args=argv, prog_name=prog_name, standalone_mode=False)
        if isinstance(code, int):
            return code
    except typer.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:  # pragma: no cover - click's own exits
        return int(exc.code or 0)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return 2
        if isinstance(exc, click.exceptions.Abort):
            typer.echo("aborted", err=True)
            return 130
        raise
    return 0


def main() -> None:
    app()


if __name__ == "__main__":
    main()
