"""What is each part of stage 3 worth? Same budget and seed for every variant.

Trains PPO in each variant for ``--timesteps``: ``imitation`` (the defaults: residual on
the stage 2 model, colour camera, privileged critic, actor cloned from the privileged
teacher first), ``symmetric_critic`` (the critic sees only what the actor sees),
``imitation_no_warm_start`` (no teacher), ``depth`` (the actor sees a depth image:
simulator only), ``none`` (from scratch: wide action around the stand, no warm start) and
optionally ``expert``. Then evaluates every final policy, the imitation prior alone and
the prior steered by the privileged teacher on production physics: open floor, the
training obstacles, and domains outside the training ranges (``--conditions``).
Writes ``benchmarks/results/rl_compare.json`` and the reward curves to
``benchmarks/results/rl_reward_curve.png``.

    python benchmarks/rl_compare.py --pretrained imitation_model/best_model.pth \\
        [--timesteps 200000] [--runs imitation,imitation_no_warm_start,none] \\
        [--out /tmp/rl_compare] [--json benchmarks/results/rl_compare.json]
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import typer  # noqa: E402

from pidog_gaits.results import emit, write_json_atomic  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
LABELS = {
    "imitation": "defaults: privileged critic + teacher warm start",
    "symmetric_critic": "critic sees only the robot's signals",
    "depth": "depth camera (simulator only)",
    "imitation_no_warm_start": "no teacher warm start",
    "none": "from scratch",
    "expert": "from the expert",
}
SHIFTED = ["friction=0.6", "servo_torque_scale=0.8", "latency_ms=40", "mass=1.2"]
"""Each just outside its training range (friction 0.7-1.3, torque 0.85-1.15, latency
0-30 ms, mass 0.85-1.15)."""
CONDITIONS = {
    "open_floor": {"obstacles": 0, "overrides": []},
    "obstacles": {"obstacles": None, "overrides": []},
    "shifted_all": {"obstacles": 0, "overrides": SHIFTED},
    **{f"shifted_{s.split('=')[0]}": {"obstacles": 0, "overrides": [s]} for s in SHIFTED},
}


VARIANTS = {
    "imitation": {"prior": "imitation"},
    "imitation_no_warm_start": {"prior": "imitation", "warm_start_steps": 0},
    "symmetric_critic": {"prior": "imitation", "critic": "symmetric"},
    "depth": {"prior": "imitation", "vision": "depth"},
    "none": {"prior": "none", "warm_start_steps": 0},
    "expert": {"prior": "expert"},
}
"""Training runs by name: ``RLConfig`` fields that differ from the defaults."""


def evaluate_all(
    model: Path, episodes: int, conditions: list[str] | None = None, **baseline: bool
) -> dict:
    """Each condition for ``model``; ``baseline``: ``zero_residual`` or ``reflex``."""
    from pidog_gaits.evaluate import EvalConfig, evaluate

    out = {}
    for name, cond in CONDITIONS.items():
        if conditions is not None and name not in conditions:
            continue
        if baseline.get("reflex") and cond["obstacles"] == 0:
            continue  # the reflex only acts on boxes: on an open floor it is the prior
        cfg = EvalConfig(model=str(model), episodes=episodes, obstacles=cond["obstacles"],
                         overrides=cond["overrides"], **baseline)  # fmt: skip
        figures = evaluate(cfg)
        out[name] = {k: v for k, v in figures.items() if k != "per_episode"}
    return out


def plot_curves(runs: dict[str, Path], png: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pidog_gaits.envs.training_log import read_scalar

    fig, ax = plt.subplots(figsize=(6.5, 3.8), dpi=120)
    for label, out in runs.items():
        steps, values = read_scalar(out / "tensorboard", "rollout/ep_rew_mean")
        ax.plot(steps, values, lw=1.5, label=LABELS.get(label, label))
    ax.set_xlabel("environment steps")
    ax.set_ylabel("mean episode return (100 episodes)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png)
    plt.close(fig)


def main(
    pretrained: Path = typer.Option(..., help="Stage 2 imitation model (.pth)."),
    timesteps: int = typer.Option(200_000, help="PPO steps per run."),
    variants: str = typer.Option(
        "imitation,imitation_no_warm_start,none", "--runs", help=f"Comma list of {list(VARIANTS)}."
    ),
    out: Path = typer.Option(Path("/tmp/rl_compare"), help="Where the runs go."),
    episodes: int = typer.Option(20, help="Evaluation episodes per condition."),
    conditions: str = typer.Option(
        ",".join(CONDITIONS), help=f"Comma list of evaluation conditions: {list(CONDITIONS)}."
    ),
    seed: int = typer.Option(0, help="Training seed (the same for every run)."),
    learning_rate: float = typer.Option(1e-4, help="PPO learning rate (every run)."),
    train: bool = typer.Option(True, help="Train; --no-train re-evaluates existing runs."),
    json_out: str = typer.Option(str(RESULTS / "rl_compare.json"), "--json"),
    png: Path = typer.Option(RESULTS / "rl_reward_curve.png", help="Reward curves PNG."),
) -> None:
    """Train each prior with the same budget, evaluate, write JSON and the curves."""
    from pidog_gaits.train_rl_vision import RLConfig
    from pidog_gaits.train_rl_vision import train as train_rl

    wanted = conditions.split(",")
    for name in wanted:
        if name not in CONDITIONS:
            raise typer.BadParameter(f"unknown condition {name!r}; choose from {list(CONDITIONS)}")

    runs: dict[str, Path] = {}
    figures: dict = {"timesteps": timesteps, "seed": seed, "learning_rate": learning_rate,
                     "shifted_domain": SHIFTED}  # fmt: skip
    for name in variants.split(","):
        if name not in VARIANTS:
            raise typer.BadParameter(f"unknown run {name!r}; choose from {list(VARIANTS)}")
        run_dir = out / name
        runs[name] = run_dir
        if train:
            changes = VARIANTS[name]
            cfg = RLConfig(output=str(run_dir), timesteps=timesteps, seed=seed,
                           pretrained=str(pretrained) if changes["prior"] == "imitation" else None,
                           learning_rate=learning_rate, progress_bar=False,
                           **changes)  # fmt: skip
            figures[f"{name}_training"] = train_rl(cfg)
        figures[name] = evaluate_all(run_dir / "final_model.zip", episodes, wanted)
    if "imitation" in runs:
        model = runs["imitation"] / "final_model.zip"
        figures["imitation_prior_alone"] = evaluate_all(model, episodes, wanted, zero_residual=True)
        figures["imitation_prior_with_teacher"] = evaluate_all(model, episodes, wanted, reflex=True)
    title = "PPO on PiDog-v0, " + f"{timesteps // 1000}k steps (lr {learning_rate:g})"
    plot_curves(runs, png, title)
    figures["reward_curve_png"] = str(png)
    rows = {}
    for name in [*runs, "imitation_prior_alone", "imitation_prior_with_teacher"]:
        if name not in figures:
            continue
        for cond, f in figures[name].items():
            rows[f"{name}/{cond}"] = (
                f"v {f['mean_forward_velocity_mps']:.3f} m/s, len {f['mean_episode_length']:.0f},"
                f" falls {f['falls']}, collisions {f['collisions']}, return {f['mean_return']:.0f}"
            )
    emit(rows, None, title=f"stage 3 variants, {timesteps} steps each")
    if json_out == "-":
        emit(figures, "-")
    else:
        write_json_atomic(json_out, figures)
        print(f"wrote {json_out} and {png}")


if __name__ == "__main__":
    typer.run(main)
