"""The production pipeline: ``./train_production_pipeline.sh NAME`` runs four stages into
``experiments/NAME_<timestamp>/`` (layout in DESIGN.md).

1. expert data       ``data_collector``   -> data/gait_data_enhanced_*.npz
2. imitation         ``train``            -> imitation_model/best_model.pth
3. reinforcement     ``train_rl_vision``  -> rl_model/final_model.zip, checkpoints/, tensorboard/
4. evaluate/package  ``evaluate``, ``package``, ``report`` -> rl_model/eval.json,
                     final_model/, report.html, SUMMARY.txt

Each step is the module's own command line, run as a child process whose output is shown
and tee'd into the stage's log, so any step can be re-run by hand with the command the log
shows. Progress is kept in ``logs/pipeline.json``: ``--resume DIR`` skips the steps that
finished and restarts stage 3 from its newest checkpoint. A failing step stops the run,
names the stage and its log, and keeps everything already written. A child dies with the
pipeline (even on SIGKILL), so a resumed run never races a leftover one.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import os
import re
import select
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from pidog_gaits.pipeline_config import (
    SETTINGS,
    ConfigError,
    PipelineConfig,
    config_from_env,
    config_from_file,
    write_config_txt,
)
from pidog_gaits.pipeline_stages import (
    STAGES,
    Stage,
    Step,
    command,
    load_state,
    newest,
    save_state,
    shell_line,
    step_done,
)

PIPELINE_LOG = "logs/pipeline.log"
HEARTBEAT_S = 5.0
"""How often the time spent in a running step is saved (a SIGKILL loses at most this)."""


# --------------------------------------------------------------------------- running a step
class Interrupted(Exception):  # noqa: N818 - a signal, not an error
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_interrupted(signum, frame):
    raise Interrupted(signum)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class LogWriter:
    """Appends a child's output to a log, keeping only the last state of ``\\r`` progress bars."""

    def __init__(self, path: Path) -> None:
        self.fh = open(path, "ab")  # noqa: SIM115 - closed in close()
        self.pending = b""

    def write(self, chunk: bytes) -> None:
        *lines, self.pending = (self.pending + chunk).split(b"\n")
        for line in lines:
            self.fh.write(line.rstrip(b"\r").rsplit(b"\r", 1)[-1] + b"\n")
        self.fh.flush()

    def note(self, text: str) -> None:
        self.write(text.encode() + b"\n")

    def close(self) -> None:
        if self.pending:
            self.write(b"\n")
        self.fh.close()


def say(root: Path, text: str, log: LogWriter | None = None) -> None:
    """Print a pipeline message and append it to logs/pipeline.log (and a stage log)."""
    print(text, flush=True)
    with open(root / PIPELINE_LOG, "a") as fh:
        fh.write(f"{datetime.now():%Y-%m-%d %H:%M:%S} {text}\n")
    if log is not None:
        log.note(text)


def run_step(root: Path, stage: Stage, step: Step, config: PipelineConfig, state: dict) -> int:
    """Run one step as a child process, tee its output into the stage log; its exit code."""
    argv = command(step, root, config)
    log = LogWriter(root / stage.log)
    entry = state["steps"].setdefault(step.name, {"seconds": 0.0, "attempts": 0})
    entry.update(
        status="running",
        attempts=entry["attempts"] + 1,
        command=shell_line(argv, step.env),
        started=datetime.now().isoformat(timespec="seconds"),
    )
    before = {p.name for p in (root / "data").glob("*.npz")}
    save_state(root, state)
    say(root, f"$ {shell_line(argv, step.env)}", log)
    env = dict(os.environ, PYTHONUNBUFFERED="1", TQDM_MININTERVAL="1", **dict(step.env))
    env.setdefault("MUJOCO_GL", "egl")
    start = last_beat = time.perf_counter()
    seconds_before = entry["seconds"]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, preexec_fn=_die_with_parent
    )
    fd = proc.stdout.fileno()
    interrupted: Interrupted | None = None
    try:
        while True:
            try:
                ready, _, _ = select.select([fd], [], [], HEARTBEAT_S)
                if ready:
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        break
                    sys.stdout.buffer.write(chunk)
                    sys.stdout.flush()
                    log.write(chunk)
                now = time.perf_counter()
                if now - last_beat >= HEARTBEAT_S:
                    entry["seconds"] = seconds_before + now - start
                    save_state(root, state)
                    last_beat = now
            except (Interrupted, KeyboardInterrupt) as exc:
                if interrupted is not None:  # a second Ctrl-C: stop the child now
                    proc.kill()
                    continue
                interrupted = exc if isinstance(exc, Interrupted) else Interrupted(signal.SIGINT)
                say(root, f"\n[pipeline] {interrupted} received: stopping {step.module} ...", log)
                _forward(proc, interrupted.signum)
        code = proc.wait()
    finally:
        entry["seconds"] = seconds_before + time.perf_counter() - start
        log.close()
    if interrupted is None and code == 0:
        entry["status"] = "done"
        if step.name == "collect":
            new = [p for p in (root / "data").glob("*.npz") if p.name not in before]
            found = newest(new)
            if found:
                entry["data_file"] = str(found.relative_to(root))
    else:
        entry["status"] = "interrupted" if interrupted else "failed"
        entry["exit_code"] = code
    save_state(root, state)
    if interrupted is not None:
        raise interrupted
    return code


def _forward(proc: subprocess.Popen, signum: int) -> None:
    """Give the child a moment (a terminal Ctrl-C reached it too), then signal it."""
    for sig, wait_s in ((None, 3.0), (signum, 20.0), (signal.SIGTERM, 10.0)):
        if sig is not None and proc.poll() is None:
            proc.send_signal(sig)
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue
    proc.kill()


# --------------------------------------------------------------------------- the run
def fmt_seconds(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def check_modules() -> None:
    """Every stage's module must be installed before any work starts."""
    import importlib.util

    for stage in STAGES:
        for step in stage.steps:
            if importlib.util.find_spec(f"pidog_gaits.{step.module}") is None:
                raise ConfigError(
                    f"stage {stage.number} needs pidog_gaits.{step.module}, "
                    "which this version of pidog-gaits does not have"
                )


def lock(root: Path) -> int:
    """Hold an exclusive lock on the experiment directory while this process lives."""
    fd = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(f"another pipeline is running on {root}") from None
    return fd


def print_plan(root: Path, config: PipelineConfig, state: dict) -> None:
    say(root, f"experiment: {root}")
    say(
        root,
        "settings: "
        + ", ".join(
            f"{s.env}={getattr(config, s.field):g}"
            if isinstance(getattr(config, s.field), float)
            else f"{s.env}={getattr(config, s.field)}"
            for s in SETTINGS
        )
        + f", PRESET={config.preset} (device {config.resolved_device})",
    )
    for stage in STAGES:
        done = all(step_done(root, s, state) for s in stage.steps)
        say(root, f"  stage {stage.number}/4 {stage.title:32s} {'done' if done else 'to run'}")


def run_stages(root: Path, config: PipelineConfig, state: dict) -> int:
    total_start = time.perf_counter()
    for stage in STAGES:
        if all(step_done(root, s, state) for s in stage.steps):
            continue
        log_path = root / stage.log
        banner = f"Stage {stage.number}/4: {stage.title}"
        say(root, "\n" + "=" * 78 + f"\n{banner}   (log: {log_path})\n" + "=" * 78)
        start = time.perf_counter()
        for step in stage.steps:
            if step_done(root, step, state):
                continue
            code = run_step(root, stage, step, config, state)
            missing = [p for p in step.outputs(root) if not p.is_file()]
            if code == 0 and missing:
                state["steps"][step.name]["status"] = "failed"
                save_state(root, state)
                code = 1
                say(
                    root,
                    f"[pipeline] {step.module} exited 0 but did not write "
                    f"{', '.join(str(p) for p in missing)}",
                )
            if code != 0:
                # The child's output is on the screen already; pipeline.log gets its end too.
                tail = (log_path.read_text(errors="replace").splitlines() or [""])[-15:]
                with open(root / PIPELINE_LOG, "a") as fh:
                    fh.write("\n".join(["[end of the stage log]", *tail, ""]))
                say(
                    root,
                    f"error: stage {stage.number} ({stage.title}) failed: {step.module} "
                    f"exited with status {code}. Its log: {log_path}\n"
                    f"Everything written so far is kept in {root}. After fixing the cause:\n"
                    f"  ./train_production_pipeline.sh --resume {root}",
                )
                return 1
        say(
            root,
            f"[pipeline] stage {stage.number} done in "
            f"{fmt_seconds(time.perf_counter() - start)} (this run); "
            f"elapsed {fmt_seconds(time.perf_counter() - total_start)}",
        )
    from pidog_gaits.package import write_summary

    write_summary(root)
    say(root, "\n" + (root / "SUMMARY.txt").read_text())
    return 0


def parse_args(argv: list[str], prog_name: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=prog_name,
        description="Run the four stages (expert data, imitation, PPO, evaluation and "
        "packaging) into EXPERIMENTS_DIR/NAME_<timestamp>/. Settings come from environment "
        "variables: " + ", ".join(["PRESET", *(s.env for s in SETTINGS)]) + " (see README).",
    )
    parser.add_argument("name", nargs="?", help="experiment name (letters, digits, - and _)")
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="EXPERIMENT_DIR",
        help="continue that experiment from its first unfinished stage",
    )
    parser.add_argument(
        "--experiments-dir",
        type=Path,
        default=Path("experiments"),
        help="where new experiments go (default: ./experiments)",
    )
    args = parser.parse_args(argv)
    if (args.name is None) == (args.resume is None):
        parser.error("give an experiment NAME, or --resume EXPERIMENT_DIR")
    if args.name is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", args.name):
        parser.error(f"NAME {args.name!r}: use letters, digits, '-', '_' and '.' (max 64)")
    return args


def prepare(args: argparse.Namespace) -> tuple[Path, PipelineConfig]:
    """Check the settings, then create (or reopen) the experiment directory."""
    if args.resume is not None:
        root = args.resume.resolve()
        if not root.is_dir():
            raise ConfigError(f"--resume {args.resume}: no such directory")
        config = config_from_file(root / "config.txt")
        check_modules()
        return root, config
    config, sources = config_from_env()
    check_modules()
    root = (args.experiments_dir / f"{args.name}_{datetime.now():%Y%m%d_%H%M%S}").resolve()
    root.mkdir(parents=True, exist_ok=False)
    for sub in ("data", "imitation_model", "rl_model", "logs", "final_model"):
        (root / sub).mkdir()
    commands = {
        f"{stage.number}.{step.name}": shell_line(command(step, root, config), step.env)
        for stage in STAGES
        for step in stage.steps
    }
    write_config_txt(root / "config.txt", config, sources, commands)
    return root, config


def main(argv: list[str] | None = None, prog_name: str = "pipeline") -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv), prog_name)
    try:
        root, config = prepare(args)
        lock_fd = lock(root)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    state = load_state(root)
    state.setdefault("steps", {})
    state.setdefault("runs", []).append(
        {"started": datetime.now().isoformat(timespec="seconds"), "resume": args.resume is not None}
    )
    save_state(root, state)
    if args.resume is not None:
        ignored = [s.env for s in SETTINGS if os.environ.get(s.env)]
        if ignored:
            say(
                root,
                f"[pipeline] resuming with the settings in config.txt; ignoring "
                f"{', '.join(ignored)} from the environment",
            )
    print_plan(root, config, state)
    old = {sig: signal.signal(sig, _raise_interrupted) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return run_stages(root, config, state)
    except (Interrupted, KeyboardInterrupt) as exc:
        name = exc if isinstance(exc, Interrupted) else "SIGINT"
        say(
            root,
            f"\n[pipeline] stopped by {name}. Everything written so far is kept; continue with:"
            f"\n  ./train_production_pipeline.sh --resume {root}",
        )
        return 130
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        os.close(lock_fd)


if __name__ == "__main__":
    raise SystemExit(main())
