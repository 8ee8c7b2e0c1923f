"""Stage 4: package the trained policy into ``final_model/`` and write ``SUMMARY.txt``.

``python3 -m pidog_gaits.package EXPERIMENT_DIR`` copies stage 3's ``final_model.pth``
and ``final_model.zip``, exports the deployable ``final_model.onnx`` with
``pidog_gaits.export``, writes ``final_model/README.md`` (what the model is, its
evaluation figures, the commands to test it and run it on the robot) and ``SUMMARY.txt``
(settings, time per stage, data size, best imitation loss, evaluation figures, paths,
next steps). It reads only files, so it can be re-run alone at any time.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from pidog_gaits.experiment import Experiment, fmt_value, load
from pidog_gaits.pipeline_config import EVAL_QUALITY

FINAL_FILES = ("final_model.pth", "final_model.zip")


def rel(exp: Experiment, path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def robot_caveat(exp: Experiment) -> str:
    """Why this model may not run on the real robot as it is, or ''."""
    from pidog_gaits.envs.observations import runs_on_pidog

    vision = exp.policy_vision or exp.settings.get("VISION", "rgb")
    why = runs_on_pidog(vision, exp.policy_joint_readings or "commanded")
    if why:
        return (
            f". NOTE: this policy will be refused on PiDog: {why}; for the robot, train"
            " with the defaults (VISION=rgb, commanded joints)"
        )
    return ""


def robot_signals(exp: Experiment) -> list[str]:
    """One line per input the deployed actor reads (what the robot must supply)."""
    from pidog_gaits.envs.observations import policy_inputs

    if exp.policy_vision is None:
        return ["(no rl_model/rl_config.json)"]
    rows = policy_inputs(exp.policy_vision, exp.policy_joint_readings or "commanded")
    width = max(len(k) for k, _ in rows)
    return [f"{k.ljust(width)}  {what}" for k, what in rows]


def next_commands(exp: Experiment) -> list[tuple[str, str]]:
    """(what, command) a user runs next from the repository root, with this experiment's
    paths; the robot's command runs on the robot, with the .onnx copied there."""
    final = exp.root / "final_model"
    eps = exp.settings.get("EVAL_EPISODES", "10")
    return [
        (
            "watch it walk (viewer with a display; else an mp4 beside the model)",
            f"./test_model_in_sim.sh {rel(exp, final / 'final_model.zip')} {eps}",
        ),
        (
            "evaluate it again on production physics (figures as JSON)",
            f".venv/bin/python test_rl_model.py --model {rel(exp, final / 'final_model.zip')} "
            f"--episodes {eps} --quality {EVAL_QUALITY} --json -",
        ),
        (
            "run the deployable ONNX policy in the simulator",
            ".venv/bin/python -m pidog_gaits.nn_controller --model "
            f"{rel(exp, final / 'final_model.onnx')} "
            "--backend sim --seconds 10",
        ),
        (
            "on the real PiDog (SunFounder's pidog library installed): a dry run moves nothing;"
            " then drop --dry-run" + robot_caveat(exp),
            "python3 -m pidog_gaits.nn_controller --model final_model.onnx --backend pidog"
            " --dry-run --seconds 5",
        ),
        (
            "watch the training curves",
            f".venv/bin/tensorboard --logdir {rel(exp, exp.root / 'rl_model' / 'tensorboard')}",
        ),
        (
            "continue this experiment if a stage stopped",
            f"./train_production_pipeline.sh --resume {rel(exp, exp.root)}",
        ),
    ]


def summary_text(exp: Experiment) -> str:
    s = exp.settings
    lines = [
        f"pidog-gaits experiment {exp.name}",
        f"written {datetime.now():%Y-%m-%d %H:%M:%S}; directory {exp.root}",
        "",
        "Configuration (config.txt holds the full record: seeds, reward weights, versions)",
    ]
    width = max((len(k) for k in s), default=0)
    lines += [f"  {k.ljust(width)}  {v}" for k, v in s.items()]
    if exp.derived:
        lines.append(
            f"  {'device'.ljust(width)}  {exp.derived.get('device_resolved', '?')}; "
            f"git {exp.versions.get('git_commit', '?')}"
        )
    lines += ["", "Time per stage (wall clock)"]
    for title, seconds in exp.stage_times_s.items():
        attempts = exp.stage_attempts.get(title, 0)
        note = f"  ({attempts} attempts: resumed)" if attempts > 1 else ""
        lines.append(f"  {title:34s} {seconds:8.1f} s{note}")
    lines.append(f"  {'total':34s} {sum(exp.stage_times_s.values()):8.1f} s")
    lines += ["", "Data (stage 1)"]
    if exp.data_path is not None:
        lines.append(f"  file      {exp.data_path.name}")
        lines.append(f"  samples   {exp.data_samples}")
        lines.append(f"  episodes  {exp.data_episodes}")
        lines.append(f"  size      {exp.data_bytes / 1e6:.2f} MB")
    else:
        lines.append("  (no data set found)")
    lines += ["", "Imitation (stage 2)"]
    best = exp.best_val_loss
    if best is not None:
        lines.append(
            f"  best_val_loss  {fmt_value(best[0])}  ({exp.history_units or 'MSE'}; epoch "
            f"{best[1]} of {len(exp.history.get('val_loss', []))})"
        )
    else:
        lines.append("  (no imitation_model/history.json)")
    lines += ["", "Robot signals the deployed policy reads (final_model.onnx's inputs)"]
    lines += [f"  {row}" for row in robot_signals(exp)]
    caveat = robot_caveat(exp)
    if caveat:
        lines.append(f"  {caveat[2:]}")
    lines += ["", f"RL evaluation (rl_model/eval.json, {EVAL_QUALITY} physics)"]
    scalars = exp.eval_scalars()
    if scalars:
        width = max(len(k) for k in scalars)
        lines += [f"  {k.ljust(width)}  {fmt_value(v)}" for k, v in scalars.items()]
    else:
        lines.append("  (no rl_model/eval.json)")
    lines += ["", "Paths"]
    for what, path in (
        ("deployable policy (ONNX)", "final_model/final_model.onnx"),
        ("policy weights (.pth)", "final_model/final_model.pth"),
        ("PPO model (SB3 .zip)", "final_model/final_model.zip"),
        ("model README", "final_model/README.md"),
        ("report", "report.html"),
        ("imitation model", "imitation_model/best_model.pth"),
        ("TensorBoard logs", "rl_model/tensorboard/"),
        ("evaluation video", "rl_model/eval.mp4"),
        ("logs", "logs/"),
    ):
        lines.append(f"  {what:26s} {exp.root / path}")
    lines += ["", "Next steps"]
    for what, cmd in next_commands(exp):
        lines += [f"  # {what}", f"  {cmd}"]
    return "\n".join(lines) + "\n"


def write_summary(root: str | Path) -> Path:
    """(Re)write ``SUMMARY.txt`` from the experiment's files."""
    exp = load(root)
    path = exp.root / "SUMMARY.txt"
    path.write_text(summary_text(exp))
    return path


def model_readme(exp: Experiment) -> str:
    s = exp.settings
    scalars = exp.eval_scalars()
    figures = "\n".join(f"| {k} | {fmt_value(v)} |" for k, v in scalars.items()) or "| - | - |"
    best = exp.best_val_loss
    commands = "\n\n".join(f"{what}:\n\n```bash\n{cmd}\n```" for what, cmd in next_commands(exp))
    signals = "\n".join(robot_signals(exp))
    caveat = f"\n**Not for the robot**: {robot_caveat(exp)[8:]}.\n" if robot_caveat(exp) else ""
    return f"""# PiDog walking policy: {exp.name}

A PPO policy (Stable-Baselines3) for the SunFounder PiDog, trained in MuJoCo by
pidog-gaits. Each 20 ms (50 Hz) it reads the robot's own signals (below) and outputs 12
joint targets in radians, in the PiDog library's joint order: a bounded residual on the
imitation model's gait, which a 13th output, `steer`, bends left or right round obstacles
(the ONNX graph applies it: its `prior_targets_rad` output is already steered). During
training a critic also saw the simulator's truth (joint states, body velocity, where the
boxes were); it is not in these files' deployable graph, which takes only the robot's
signals.

## Robot signals it reads

```
{signals}
```
{caveat}

How it was made: {s.get("DATA_COLLECTION_DURATION", "?")} s of each expert gait recorded
(stage 1), a `{s.get("IMITATION_MODEL", "?")}` imitation network trained
{s.get("IMITATION_EPOCHS", "?")} epochs (best validation loss
{fmt_value(best[0]) if best else "?"}; stage 2), then {s.get("RL_TIMESTEPS", "?")} PPO steps
on {s.get("RL_PARALLEL_ENVS", "?")} simulators with `{s.get("PHYSICS_QUALITY", "?")}`
physics and the `{s.get("REWARD_PROFILE", "?")}` reward profile (stage 3), seed
{s.get("SEED", "?")}. The full record is `../config.txt`.

## Files

| file | what | loads with |
|---|---|---|
| `final_model.onnx` | the deployable policy (deterministic) | onnxruntime, no PyTorch |
| `final_model.pth` | policy weights (DESIGN.md dict) | `torch.load(p, weights_only=True)` |
| `final_model.zip` | the whole PPO model | `stable_baselines3.PPO.load(path)` |

Load a `.zip` only from a source you trust: Stable-Baselines3 zips can hold pickled
Python objects. The `.pth` and `.onnx` files never execute code when loaded.

## Evaluation

`rl_model/eval.json`: {s.get("EVAL_EPISODES", "?")} episodes, `{EVAL_QUALITY}` physics
(1 ms timestep, 300 solver iterations), deterministic actions, seeds held out from training.

| figure | value |
|---|---|
{figures}

## Test it and run it

{commands}

On the robot, the controller converts radians to the library's degrees and signs, clamps
every target to the servo ranges, limits the change per step and lies down when the body
tilts too far or on Ctrl-C.
"""


def export_onnx(source: Path, out: Path) -> None:
    """Export with ``pidog_gaits.export`` (its own command line, output shown)."""
    argv = [sys.executable, "-m", "pidog_gaits.export", str(source), "--onnx", str(out)]
    print("$ " + " ".join(["python3", *argv[1:]]), flush=True)
    code = subprocess.call(argv)
    if code != 0:
        raise RuntimeError(f"ONNX export of {source} failed (pidog_gaits.export exit {code})")


def package(root: str | Path) -> Path:
    """Fill ``final_model/`` from stage 3's files; returns the directory."""
    root = Path(root).resolve()
    rl_dir, final = root / "rl_model", root / "final_model"
    missing = [name for name in FINAL_FILES if not (rl_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(f"stage 3 output missing in {rl_dir}: {', '.join(missing)}")
    final.mkdir(exist_ok=True)
    for name in FINAL_FILES:
        shutil.copy2(rl_dir / name, final / name)
        print(f"copied {rl_dir / name} -> {final / name}")
    export_onnx(final / "final_model.pth", final / "final_model.onnx")
    exp = load(root)
    (final / "README.md").write_text(model_readme(exp))
    print(f"wrote {final / 'README.md'}")
    write_summary(root)
    print(f"wrote {root / 'SUMMARY.txt'}")
    return final


def main(argv: list[str] | None = None, prog_name: str = "pidog-gaits package") -> int:
    parser = argparse.ArgumentParser(prog=prog_name, description=__doc__.splitlines()[0])
    parser.add_argument("experiment", type=Path, help="experiment directory")
    args = parser.parse_args(argv)
    try:
        package(args.experiment)
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
