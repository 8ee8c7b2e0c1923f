"""Does a stage 3 policy steer where there is nothing to steer for?

    python benchmarks/steer_bias.py --model experiments/NAME/final_model/final_model.zip \\
        [--episodes 20] [--seed 1000] [--json -]

Runs the open-floor evaluation (``test_rl_model.py --obstacles 0 --command 0.3,0``: the
same seeds, so the same rooms) and at every step also asks the policy for its steer with
the heading-hold correction in its command set to zero. With no box in view and nothing to
correct, the teacher's steer is 0 (``reflex.teacher_steer``), so what the policy steers
there is a bias. A bias that differs from room to room comes from what the camera sees
(the floor's and the walls' colours, the light), and a heading hold as weak as the
teacher's (``reflex.HEADING_STEER_PER_RADPS``) leaves the robot off course by about
``bias / gain`` rad: that is the open floor's sideways drift.

Prints, per room, the mean bias and the sideways metres walked; then the spread of the
bias over the rooms and its correlation with the drift.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
import typer  # noqa: E402

from pidog_gaits.results import emit, write_json_atomic  # noqa: E402

COMMAND = (0.3, 0.0)
"""The open-floor bar's command (m/s, rad/s)."""


def run_rooms(predict, env_cfg, episodes: int, seed: int) -> list[dict]:
    """One row per episode: the policy's mean steer with the correction zeroed (its bias),
    its mean executed steer, and the episode's sideways and forward metres."""
    from pidog_gaits.envs.pidog_env import PiDogEnv
    from pidog_gaits.evaluate import reset_options
    from pidog_gaits.gaits.steering import STEER_INDEX

    env = PiDogEnv(env_cfg)
    rows = []
    try:
        for i in range(episodes):
            obs, _ = env.reset(seed=seed + i, options=reset_options(np.array(COMMAND)))
            bias, executed = [], []
            while True:
                action = predict(obs)
                blind = {k: np.array(v, copy=True) for k, v in obs.items()}
                blind["command"][2] = 0.0  # nothing to correct
                bias.append(float(predict(blind)[STEER_INDEX]))
                executed.append(float(np.clip(action[STEER_INDEX], -1.0, 1.0)))
                obs, _, terminated, truncated, info = env.step(action)
                if terminated or truncated:
                    break
            m = info["episode_metrics"]
            rows.append({"episode": i, "steer_bias": float(np.mean(bias)),
                         "steer_executed": float(np.mean(executed)),
                         **{k: m[k] for k in ("lateral_m", "distance_m", "fell", "command_mps",
                                              "command_yaw_radps")}})  # fmt: skip
    finally:
        env.close()
    return rows


def summarize(rows: list[dict]) -> dict:
    """Spread of the bias over the rooms, the drift (``evaluate.lateral_drift_per_m``, as
    ``test_rl_model.py`` reports it), and how far the one explains the other."""
    from pidog_gaits.evaluate import lateral_drift_per_m

    bias = np.array([r["steer_bias"] for r in rows])
    lateral = np.array([r["lateral_m"] for r in rows])
    corr = float(np.corrcoef(bias, lateral)[0, 1]) if len(rows) > 2 and bias.std() > 0 else None
    return {
        "steer_bias_mean": float(bias.mean()),
        "steer_bias_std": float(bias.std()),
        "steer_bias_abs_max": float(np.abs(bias).max()),
        "lateral_drift_per_m": lateral_drift_per_m(rows),
        "bias_lateral_correlation": corr,
    }


def main(
    model: Path = typer.Option(..., help="final_model.zip of a steering stage 3 policy."),
    episodes: int = typer.Option(20, help="Rooms (episodes) to run."),
    seed: int = typer.Option(1000, help="Episode i is seeded SEED+i (test_rl_model's)."),
    json_out: str | None = typer.Option(None, "--json", help="Write the figures to PATH or -."),
) -> None:
    from pidog_gaits.evaluate import EvalConfig, prepare

    if episodes < 1:
        raise typer.BadParameter("--episodes must be >= 1")
    config = EvalConfig(model=str(model), episodes=episodes, obstacles=0)
    try:
        predict, env_cfg = prepare(config)
    except (FileNotFoundError, ValueError) as err:
        raise typer.BadParameter(str(err)) from None
    if not env_cfg.steering:
        raise typer.BadParameter(f"{model}: not a steering policy; it has no steer to lean")
    rows = run_rooms(predict, env_cfg, episodes, seed)
    figures = {"model": str(model), "episodes": episodes, "seed": seed,
               "command": list(COMMAND), **summarize(rows), "per_episode": rows}  # fmt: skip
    if json_out == "-":
        emit(figures, "-")
        return
    for r in rows:
        print(f"  room {r['episode']:>2}: steer bias {r['steer_bias']:+.2f} (executed "
              f"{r['steer_executed']:+.2f}), {r['lateral_m']:+.2f} m sideways in "
              f"{r['distance_m']:.2f} m")  # fmt: skip
    corr = figures["bias_lateral_correlation"]
    print(
        f"steer bias over {episodes} rooms: mean {figures['steer_bias_mean']:+.3f}, "
        f"spread (std) {figures['steer_bias_std']:.3f}, largest {figures['steer_bias_abs_max']:.2f}"
        f"; drift {figures['lateral_drift_per_m']:.3f} m per m; correlation of bias and "
        f"sideways metres {'n/a' if corr is None else f'{corr:+.2f}'}"
    )
    if json_out:
        write_json_atomic(json_out, figures)


if __name__ == "__main__":
    typer.run(main)
