"""Evaluate a stage 3 policy over N episodes of PiDog-v0 with deterministic actions.

    python3 -m pidog_gaits.evaluate --model DIR/final_model.zip --episodes 10 \\
        [--quality production] [--obstacles N] [--set friction=0.5 --set latency_ms=30 ...] \\
        [--video out.mp4] [--json PATH|-]

The env is rebuilt from the settings stored in the model (vision, camera size, prior,
imitation model), on ``--quality`` physics (production by default), with domain
randomization off: the physics is nominal except what ``--set`` changes, so a figure names
exactly the conditions it was measured in. What the camera sees (room colours, light,
exposure, pixel noise, camera pitch) is still drawn per episode, from seeds held out from
training: no one knows the user's room. The policy runs as the robot will run it: its own
commanded targets for joint readings, sensor noise, sonar misses, servo latency, camera
delay. Episode i is seeded ``seed + i``. Reports per-episode and mean ``mean_return``,
``mean_forward_velocity_mps``, ``mean_episode_length``, ``lateral_drift_per_m``
(sideways metres per metre walked, both in the start frame: a heading bias shows here even
when every box is avoided), ``falls``, ``collisions`` (boxes the body or head touched, per
episode, summed), ``foot_collisions`` (boxes only a foot touched), ``energy_j`` (servo
mechanical energy per episode).
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import typer  # noqa: E402

from pidog_gaits.envs.config import EnvConfig  # noqa: E402
from pidog_gaits.sim.randomization import RandomizationRanges, parse_overrides  # noqa: E402


@dataclass
class EvalConfig:
    """One evaluation."""

    model: str
    """``final_model.zip`` (SB3) or ``final_model.pth`` (policy weights)."""
    episodes: int = 10
    quality: str = "production"
    """Physics preset (final evaluation: production)."""
    obstacles: int | None = None
    """Boxes per episode; ``None`` keeps the training setting."""
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
        "randomization": RandomizationRanges(
            enabled=False, overrides=parse_overrides(cfg.overrides)
        ),
    }
    if cfg.obstacles is not None:
        changes["num_obstacles"] = cfg.obstacles
    if cfg.pretrained is not None:
        changes["pretrained"] = str(Path(cfg.pretrained).resolve())
    return trained.replace(**changes).validate()


def prepare(cfg: EvalConfig):
    """Everything that can fail on the user's input: ``(predict, env config)``."""
    if cfg.episodes < 1:
        raise ValueError("--episodes must be >= 1")
    if cfg.obstacles is not None and cfg.obstacles < 0:
        raise ValueError("--obstacles must be >= 0")
    if cfg.reflex and cfg.zero_residual:
        raise ValueError("--reflex and --zero-residual are two different baselines; pick one")
    predict, trained = load_any(Path(cfg.model))
    env_cfg = eval_env_config(trained, cfg)
    if cfg.reflex:
        from pidog_gaits.envs.warm_start import can_warm_start

        if not can_warm_start(env_cfg):
            raise ValueError("--reflex needs a steering policy with a camera and boxes")
    return predict, env_cfg


def evaluate(cfg: EvalConfig, prepared=None) -> dict:
    """Run the episodes; returns the means, the per-episode rows and the settings."""
    from pidog_gaits.envs.pidog_env import PiDogEnv

    predict, env_cfg = prepared or prepare(cfg)
    env = PiDogEnv(env_cfg)
    recorder = None
    rows = []
    try:
        for i in range(cfg.episodes):
            obs, _ = env.reset(seed=cfg.seed + i)
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
                    "return": m["return"],
                    "length": m["length"],
                    "mean_forward_velocity_mps": m["mean_forward_velocity_mps"],
                    "distance_m": m["distance_m"],
                    "lateral_m": m["lateral_m"],
                    "fell": m["fell"],
                    "collisions": m["collisions"],
                    "foot_collisions": m["foot_collisions"],
                    "energy_j": m["energy_j"],
                }
            )
    finally:
        env.close()
        video_path = recorder.close() if recorder is not None else None

    def mean(key):
        return float(np.mean([r[key] for r in rows]))

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
        "mean_return": mean("return"),
        "mean_forward_velocity_mps": mean("mean_forward_velocity_mps"),
        "mean_distance_m": mean("distance_m"),
        "mean_episode_length": mean("length"),
        "lateral_drift_per_m": float(
            np.sum([abs(r["lateral_m"]) for r in rows])
            / max(np.sum([abs(r["distance_m"]) for r in rows]), 1e-9)
        ),
        "falls": int(sum(r["fell"] for r in rows)),
        "collisions": int(sum(r["collisions"] for r in rows)),
        "foot_collisions": int(sum(r["foot_collisions"] for r in rows)),
        "energy_j": mean("energy_j"),
        "video": str(video_path) if video_path else None,
        "per_episode": rows,
    }


def episode_table(rows: list[dict]) -> str:
    cols = ("episode", "return", "length", "mean_forward_velocity_mps", "fell", "collisions",
            "foot_collisions", "energy_j")  # fmt: skip
    heads = ("ep", "return", "length", "speed m/s", "fell", "coll", "foot coll", "energy J")
    lines = ["  " + "  ".join(f"{h:>10}" for h in heads)]
    for r in rows:
        cells = []
        for c in cols:
            v = r[c]
            cells.append(f"{v:>10.3f}" if isinstance(v, float) else f"{v!s:>10}")
        lines.append("  " + "  ".join(cells))
    return "\n".join(lines)


app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])


@app.command()
def cli(
    model: Path = typer.Option(..., help="final_model.zip (or final_model.pth)."),
    episodes: int = typer.Option(10, help="Episodes to run."),
    quality: str = typer.Option("production", help="Physics preset."),
    obstacles: int | None = typer.Option(None, help="Boxes per episode (default: as trained)."),
    set_: list[str] = typer.Option(
        [], "--set", help="Domain setting KEY=VALUE, repeatable (friction=0.5, latency_ms=30)."
    ),
    seed: int = typer.Option(1000, help="Episode i is seeded SEED+i."),
    video: Path | None = typer.Option(None, help="Record the first episode to mp4/gif."),
    pretrained: Path | None = typer.Option(None, help="Imitation model, if it moved."),
    zero_residual: bool = typer.Option(False, help="Run the prior alone (no PPO residual)."),
    reflex: bool = typer.Option(False, help="Run the prior steered by the scripted reflex."),
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
        reflex=reflex,
    )  # fmt: skip
    try:
        get_preset(quality)
        prepared = prepare(cfg)
    except (ValueError, FileNotFoundError) as exc:
        fail(str(exc))
    figures = evaluate(cfg, prepared)
    if json_out != "-":
        typer.echo(episode_table(figures["per_episode"]))
    emit(figures, json_out, title=f"evaluation ({quality} physics, {episodes} episodes)")


def main(argv: list[str] | None = None, prog_name: str = "evaluate") -> int:
    from pidog_gaits.cli import run_typer

    return run_typer(app, argv, prog_name)


if __name__ == "__main__":
    raise SystemExit(main())
