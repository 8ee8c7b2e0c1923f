"""Watch a trained policy walk in MuJoCo's interactive viewer (needs a display).

    python3 -m pidog_gaits.watch --model final_model.zip [--episodes 10] [--quality production]

Runs the same episodes as ``pidog_gaits.evaluate`` (deterministic actions, the env rebuilt
from the settings stored in the model, no randomization, episode i seeded ``seed + i``) in
real time, and prints each episode's figures when it ends. ``./test_model_in_sim.sh``
calls this with a display and ``evaluate --video`` without one.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import typer

from pidog_gaits.robot import specs

app = typer.Typer(add_completion=False)


@app.command()
def watch(
    model: Path = typer.Option(..., help="final_model.zip (or final_model.pth)."),
    episodes: int = typer.Option(10, help="Episodes to play."),
    quality: str = typer.Option("production", help="Physics preset."),
    seed: int = typer.Option(1000, help="Episode i is seeded SEED+i."),
    speed: float = typer.Option(1.0, help="Playback speed (1 = real time)."),
) -> None:
    """Play the policy in the viewer; close the window to stop."""
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        typer.echo("error: no display (DISPLAY is not set); record a video instead:", err=True)
        typer.echo(f"  ./test_model_in_sim.sh {model} {episodes} no", err=True)
        raise typer.Exit(2)
    if episodes < 1 or speed <= 0:
        typer.echo("error: --episodes and --speed must be > 0", err=True)
        raise typer.Exit(2)
    import mujoco.viewer

    from pidog_gaits.envs.pidog_env import PiDogEnv
    from pidog_gaits.evaluate import EvalConfig, prepare

    try:
        predict, env_cfg = prepare(
            EvalConfig(model=str(model), episodes=episodes, quality=quality, seed=seed)
        )
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    env = PiDogEnv(env_cfg)
    obs, _ = env.reset(seed=seed)
    period_s = specs.CONTROL_DT_S / speed
    with mujoco.viewer.launch_passive(env.sim.model, env.sim.data) as viewer:
        episode = 0
        while viewer.is_running() and episode < episodes:
            start = time.perf_counter()
            obs, _, terminated, truncated, info = env.step(predict(obs))
            viewer.cam.lookat[:] = env.sim.body_pos_m
            viewer.sync()
            if terminated or truncated:
                m = info["episode_metrics"]
                typer.echo(
                    f"episode {episode} (seed {seed + episode}): "
                    f"{m['mean_forward_velocity_mps']:.3f} m/s, {m['distance_m']:.2f} m, "
                    f"{m['length']} steps, {'fell' if m['fell'] else 'did not fall'}"
                )
                episode += 1
                obs, _ = env.reset(seed=seed + episode)
            time.sleep(max(0.0, period_s - (time.perf_counter() - start)))
    env.close()


def main(argv: list[str] | None = None, prog_name: str = "pidog-gaits watch") -> int:
    from pidog_gaits.cli import run_typer

    return run_typer(app, list(sys.argv[1:] if argv is None else argv), prog_name)


if __name__ == "__main__":
    raise SystemExit(main())
