"""Top view of a policy's evaluation episodes: where it walked, where the boxes stood.

    python benchmarks/avoidance_paths.py --model experiments/NAME/final_model/final_model.zip \\
        [--episodes 6] [--seed 1000] [--png docs/avoidance_paths.png] [--json -]

Runs the episodes exactly as ``evaluate`` does (production physics, deterministic
actions, the same seeds and rooms), also the prior alone (zero residual) for comparison,
records the body's path in the start frame and draws one panel per episode. A path that
bends round a box it would otherwise walk into is avoidance; one that bends the same way
on every panel, box or no box, is a bias (LESSONS.md).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
import typer  # noqa: E402

from pidog_gaits.results import emit  # noqa: E402


def run_paths(model: Path, episodes: int, seed: int, zero_residual: bool) -> list[dict]:
    """Per episode: the body path and the boxes (start frame, m), and whether it fell."""
    from pidog_gaits.envs.pidog_env import PiDogEnv
    from pidog_gaits.evaluate import EvalConfig, prepare, reset_options, resolve_command

    cfg = EvalConfig(model=str(model), episodes=episodes, seed=seed, zero_residual=zero_residual)
    predict, env_cfg = prepare(cfg)
    options = reset_options(resolve_command(None, env_cfg.commands)[0])  # the full trot
    env = PiDogEnv(env_cfg)
    out = []
    try:
        for i in range(episodes):
            obs, _ = env.reset(seed=seed + i, options=options)
            sim = env.sim
            yaw0 = env.goal_yaw_rad
            c, s = math.cos(yaw0), math.sin(yaw0)
            origin = sim.body_pos_m[:2].copy()

            def local(xy, c=c, s=s, origin=origin):
                d = np.asarray(xy) - origin
                return [c * d[0] + s * d[1], -s * d[0] + c * d[1]]

            boxes = []
            ids = sim.obstacle_geom_ids
            for gid in ids:
                pos = sim.model.geom_pos[gid]
                if pos[2] > 0:
                    boxes.append([*local(pos[:2]), float(sim.model.geom_size[gid][0])])
            path = [local(sim.body_pos_m[:2])]
            zero = np.zeros(env.action_space.shape, dtype=np.float32)
            while True:
                action = zero if zero_residual else predict(obs)
                obs, _, terminated, truncated, info = env.step(action)
                path.append(local(sim.body_pos_m[:2]))
                if terminated or truncated:
                    break
            m = info["episode_metrics"]
            out.append(
                {"path_m": path, "boxes_m": boxes, "fell": m["fell"], "hits": m["collisions"]}
            )
    finally:
        env.close()
    return out


def main(
    model: Path = typer.Option(..., help="final_model.zip (or .pth) of stage 3."),
    episodes: int = typer.Option(6, help="Episodes (panels)."),
    seed: int = typer.Option(1000, help="Episode i is seeded SEED+i (evaluate's seeds)."),
    png: Path = typer.Option(Path("docs/avoidance_paths.png"), help="Where the figure goes."),
    json_out: str | None = typer.Option(None, "--json", help="Paths as JSON to PATH or -."),
) -> None:
    """Draw the policy's and the prior's paths among the boxes, one panel per episode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    policy = run_paths(model, episodes, seed, zero_residual=False)
    prior = run_paths(model, episodes, seed, zero_residual=True)
    cols = min(episodes, 3)
    rows = math.ceil(episodes / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.6 * rows), dpi=110)
    for i, ax in enumerate(np.atleast_1d(axes).ravel()):
        if i >= episodes:
            ax.axis("off")
            continue
        for x, y, half in policy[i]["boxes_m"]:
            ax.add_patch(Rectangle((y - half, x - half), 2 * half, 2 * half, color="tab:red"))
        for run, colour, label in (
            (prior[i], "0.6", "prior alone"),
            (policy[i], "tab:blue", "policy"),
        ):
            p = np.asarray(run["path_m"])
            mark = " (fell)" if run["fell"] else f" ({run['hits']} hit)" if run["hits"] else ""
            ax.plot(p[:, 1], p[:, 0], color=colour, lw=1.6, label=label + mark)
        side = max(1.0, *(abs(y) + 0.2 for r in (policy[i], prior[i]) for _, y in r["path_m"]))
        ax.set_xlim(side, -side)  # the robot's left drawn on the left
        ax.set_ylim(-0.2, max(4.5, *(x + 0.2 for x, _ in policy[i]["path_m"])))
        ax.set_aspect("equal")
        ax.set_title(f"episode seed {seed + i}", fontsize=9)
        ax.legend(fontsize=7, loc="lower left")
        ax.grid(alpha=0.3)
    fig.suptitle("top view, start frame (m): forward is up; boxes red", fontsize=10)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png)
    plt.close(fig)
    figures = {
        "png": str(png),
        "policy_falls": sum(r["fell"] for r in policy),
        "policy_hits": sum(r["hits"] for r in policy),
        "prior_falls": sum(r["fell"] for r in prior),
        "prior_hits": sum(r["hits"] for r in prior),
    }
    if json_out:
        emit({**figures, "policy": policy, "prior": prior}, json_out)
    else:
        emit(figures, None, title="avoidance paths")


if __name__ == "__main__":
    typer.run(main)
