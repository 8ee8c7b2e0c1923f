"""Why a stage 3 policy hits boxes: what it sees (its steer) or how it walks (its legs)?

    python benchmarks/hit_anatomy.py --model experiments/NAME/final_model/final_model.zip \\
        [--episodes 20] [--seed 1000] [--set servo_torque=0.7] [--json -]

Runs the evaluation's episodes (production physics, 3 boxes, the same seeds and rooms as
``test_rl_model.py``) four times, each with another source for the two halves of the
action, and counts the boxes hit and the falls:

- ``policy``: the policy's legs and steer (what ``test_rl_model.py`` measures);
- ``policy legs + teacher steer``: the policy's leg residuals, the privileged teacher's
  steer (``PiDogEnv.teacher_action``): perfect sight on the policy's gait;
- ``prior legs + policy steer``: no leg residuals, the policy's steer: its sight on the
  imitation gait;
- ``teacher``: no leg residuals, the teacher's steer (``test_rl_model.py --reflex``).

For each box the policy hit, it also prints where the box was (body frame) and the
policy's and the teacher's mean steer over the 0.8 s before: a student that steers the
teacher's way but less is shrunk (``reflex.STEER_LABEL_LIMIT``), one that steers the
other way misjudged the box.

The teacher is asked every step in every mode, and its depth view draws from the env's
noise stream, so the ``policy`` row is another sample of the evaluation, not the same run:
seed 1 of stop 23's defaults hit 4 boxes here and 3 in ``test_rl_model.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
import typer  # noqa: E402

from pidog_gaits.results import emit, write_json_atomic  # noqa: E402

MODES = {  # name: (legs from the policy, steer from the policy)
    "policy": (True, True),
    "policy legs + teacher steer": (True, False),
    "prior legs + policy steer": (False, True),
    "teacher": (False, False),
}
BEFORE_HIT_STEPS = 40
"""Steps (0.8 s at 50 Hz) before a hit over which the steers are averaged."""


def run_mode(predict, env_cfg, mode: str, episodes: int, seed: int) -> dict:
    """Boxes hit, falls and mean speed of ``episodes`` episodes in ``mode``, and one row
    per box hit (body-frame position, mean steers before it)."""
    from pidog_gaits.envs.pidog_env import PiDogEnv
    from pidog_gaits.evaluate import reset_options, resolve_command
    from pidog_gaits.robot import specs

    legs_from_policy, steer_from_policy = MODES[mode]
    options = reset_options(resolve_command(None, env_cfg.commands)[0])  # the full trot
    env = PiDogEnv(env_cfg)
    n = specs.NUM_JOINTS
    hits, falls, speeds, rows = 0, 0, [], []
    try:
        for i in range(episodes):
            obs, _ = env.reset(seed=seed + i, options=options)
            steers: list[tuple[float, float]] = []
            while True:
                policy, teacher = predict(obs), env.teacher_action()
                action = np.zeros_like(teacher)
                action[:n] = policy[:n] if legs_from_policy else 0.0
                action[n] = policy[n] if steer_from_policy else teacher[n]
                before = set(env.boxes_hit)
                obs, _, terminated, truncated, info = env.step(action)
                steers.append((float(np.clip(policy[n], -1, 1)), float(teacher[n])))
                for box in env.boxes_hit - before:
                    data = env.sim.data
                    rel = (data.geom_xpos[box] - data.xpos[env.sim.body_id]) @ env.sim.body_rotation
                    last = np.array(steers[-BEFORE_HIT_STEPS:])
                    rows.append({"episode": i, "step": len(steers),
                                 "box_ahead_m": float(rel[0]), "box_left_m": float(rel[1]),
                                 "policy_steer": float(last[:, 0].mean()),
                                 "teacher_steer": float(last[:, 1].mean())})  # fmt: skip
                if terminated or truncated:
                    break
            metrics = info["episode_metrics"]
            hits += metrics["collisions"]
            falls += int(metrics["fell"])
            speeds.append(metrics["mean_forward_velocity_mps"])
    finally:
        env.close()
    return {"boxes_hit": hits, "falls": falls, "mean_forward_velocity_mps": float(np.mean(speeds)),
            "hits": rows}  # fmt: skip


def main(
    model: Path = typer.Option(..., help="final_model.zip of a steering stage 3 policy."),
    episodes: int = typer.Option(20, help="Episodes per mode."),
    seed: int = typer.Option(1000, help="Episode i is seeded SEED+i (test_rl_model's)."),
    setting: list[str] = typer.Option([], "--set", help="Domain setting KEY=VALUE."),
    json_out: str | None = typer.Option(None, "--json", help="Write the figures to PATH or -."),
) -> None:
    from tqdm import tqdm

    from pidog_gaits.evaluate import EvalConfig, prepare

    if episodes < 1:
        raise typer.BadParameter("--episodes must be >= 1")
    predict, env_cfg = prepare(EvalConfig(model=str(model), episodes=episodes, overrides=setting))
    if not env_cfg.steering:
        raise typer.BadParameter(f"{model}: not a steering policy; nothing to split")
    figures: dict = {"model": str(model), "episodes": episodes, "seed": seed, "set": setting}
    for mode in tqdm(MODES, desc="modes", unit="mode"):
        figures[mode] = run_mode(predict, env_cfg, mode, episodes, seed)
    if json_out == "-":
        emit(figures, "-")
        return
    for hit in figures["policy"]["hits"]:
        print(f"  hit: episode {hit['episode']:>2} step {hit['step']:>3}, box "
              f"{hit['box_ahead_m']:+.2f} m ahead {hit['box_left_m']:+.2f} m left; steer "
              f"over the 0.8 s before: policy {hit['policy_steer']:+.2f}, "
              f"teacher {hit['teacher_steer']:+.2f}")  # fmt: skip
    print(f"boxes hit per action source ({episodes} episodes, 3 boxes each)")
    for m in MODES:
        f = figures[m]
        print(
            f"  {m:<28} {f['boxes_hit']:>3} hit, {f['falls']} falls, "
            f"{f['mean_forward_velocity_mps']:.2f} m/s"
        )
    if json_out:
        write_json_atomic(json_out, figures)


if __name__ == "__main__":
    typer.run(main)
