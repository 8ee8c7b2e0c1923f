"""Does the cloned student see, or memorize? Its steer against the teacher's on held-out episodes.

Records teacher demonstrations in stage 3's training envs (``envs.warm_start``), once for
fitting and once more, from other seeds, as held-out episodes; then clones a fresh actor
under each design and prints the correlation and mean squared error of its steer with the
teacher's, on its own training episodes and on the held-out ones. Each design runs twice:
with every input the actor has, and with the camera alone (commanded targets, phase and
IMU zeroed), since the targets and the gyro tell a student the teacher's last steer (the
copycat problem) and so hide whether it sees the boxes at all.

Designs, cumulative: ``before`` (the coarse CNN, plain MSE), ``+scan head`` (the
auxiliary depth-scan head), ``+colour shuffle``, ``+finer CNN``, ``+mirror`` (each
sample shown left-right mirrored half the time, ``envs.symmetry``: not a default, since
the teacher breaks ties to the left and a centred box's two labels then cancel).
``--design NAME`` (repeatable) runs only those.

    python benchmarks/clone_generalization.py --pretrained IMITATION.pth \\
        [--steps 20000] [--val-steps 8000] [--epochs 20] [--design +mirror] \\
        [--json benchmarks/results/clone_generalization.json|-]
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import typer  # noqa: E402
from gymnasium import spaces  # noqa: E402
from tqdm import tqdm  # noqa: E402

from pidog_gaits.envs import features  # noqa: E402
from pidog_gaits.envs.asymmetric import PiDogActorCriticPolicy  # noqa: E402
from pidog_gaits.envs.pidog_env import observation_space  # noqa: E402
from pidog_gaits.envs.warm_start import (  # noqa: E402
    actor_means,
    clone_into_policy,
    record_demonstrations,
)
from pidog_gaits.results import emit  # noqa: E402
from pidog_gaits.robot import specs  # noqa: E402
from pidog_gaits.train_rl_vision import RLConfig, validate  # noqa: E402

COARSE_CNN = ((5, 2), (3, 2), (3, 2))
"""The camera CNN before ``features.CNN_LAYERS`` kept a finer grid."""
DESIGNS = [  # (name, scan head, colour shuffle, CNN layers, mirror probability)
    ("before", False, False, COARSE_CNN, 0.0),
    ("+scan head", True, False, COARSE_CNN, 0.0),
    ("+colour shuffle", True, True, COARSE_CNN, 0.0),
    ("+finer CNN (defaults)", True, True, features.CNN_LAYERS, 0.0),
    ("+mirror", True, True, features.CNN_LAYERS, 0.5),
]
HISTORY_PARTS = ("targets", "phase", "imu")
"""Zeroed for the camera-alone runs."""


def _actor(env_cfg, net: list[int], layers, seed: int) -> PiDogActorCriticPolicy:
    saved, features.CNN_LAYERS = features.CNN_LAYERS, layers
    try:
        torch.manual_seed(seed)
        return PiDogActorCriticPolicy(
            observation_space(env_cfg),
            spaces.Box(-1.0, 1.0, (env_cfg.action_dim(),), dtype=np.float32),
            lr_schedule=lambda _: 0.0,
            net_arch={"pi": net, "vf": net},
            log_std_init=-2.0,
        )
    finally:
        features.CNN_LAYERS = saved


def _steer(policy, observations: dict[str, np.ndarray]) -> np.ndarray:
    return actor_means(policy, observations, 1000)[:, specs.NUM_JOINTS]


def _blind(observations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: (np.zeros_like(v) if k in HISTORY_PARTS else v) for k, v in observations.items()}


def _agreement(steer: np.ndarray, teacher: np.ndarray) -> dict[str, float]:
    return {
        "corr": float(np.corrcoef(steer, teacher)[0, 1]),
        "mse": float(np.mean((steer - teacher) ** 2)),
    }


def main(
    pretrained: str = typer.Option(..., help="Stage 2's imitation model (best_model.pth)."),
    steps: int = typer.Option(20_000, help="Teacher steps to clone from."),
    val_steps: int = typer.Option(8_000, help="Held-out teacher steps (other seeds)."),
    epochs: int = typer.Option(20, help="Clone epochs."),
    envs: int = typer.Option(4, help="Envs recording the demonstrations."),
    seed: int = typer.Option(0, help="Seed of the recordings and the fits."),
    design: list[str] | None = typer.Option(None, help="Only these designs (by name)."),
    json_out: str | None = typer.Option(None, "--json", help="Write the figures to PATH or -."),
) -> None:
    torch.set_num_threads(1)
    designs = [d for d in DESIGNS if not design or d[0] in design]
    if not designs:
        raise typer.BadParameter(f"no design among {design}; known: {[d[0] for d in DESIGNS]}")
    cfg = RLConfig(pretrained=pretrained, seed=seed)
    env_cfg = validate(cfg)
    t0 = time.perf_counter()
    train_obs, train_act, train_scan = record_demonstrations(env_cfg, steps, envs, seed + 11)
    val_obs, val_act, _ = record_demonstrations(env_cfg, val_steps, envs, seed + 22)
    record_s = time.perf_counter() - t0
    n = specs.NUM_JOINTS
    check = slice(0, min(len(train_act), val_steps))  # training episodes, same count
    rows = []
    runs = [(d, blind) for d in designs for blind in (False, True)]
    for (name, scan_head, shuffle, layers, mirror), blind in tqdm(runs, desc="fits", unit="fit"):
        fit_obs = _blind(train_obs) if blind else train_obs
        policy = _actor(env_cfg, list(cfg.net_arch), layers, seed)
        clone_into_policy(
            policy, fit_obs, train_act, epochs=epochs, seed=seed,
            scans=train_scan if scan_head else None, shuffle_colours=shuffle,
            mirror_prob=mirror,
        )  # fmt: skip
        seen = {k: v[check] for k, v in fit_obs.items()}
        rows.append(
            {
                "design": name,
                "inputs": "camera alone" if blind else "all",
                "train": _agreement(_steer(policy, seen), train_act[check, n]),
                "held_out": _agreement(
                    _steer(policy, _blind(val_obs) if blind else val_obs), val_act[:, n]
                ),
            }
        )
    print(f"{steps} teacher steps to clone, {val_steps} held out, {epochs} epochs "
          f"(recorded in {record_s:.0f} s); steer correlation with the teacher:")  # fmt: skip
    print(f"{'design':24s} {'inputs':13s} {'train':>7s} {'held out':>9s} {'held-out MSE':>13s}")
    for r in rows:
        print(f"{r['design']:24s} {r['inputs']:13s} {r['train']['corr']:7.2f} "
              f"{r['held_out']['corr']:9.2f} {r['held_out']['mse']:13.3f}")  # fmt: skip
    emit(
        {
            "steps": steps, "val_steps": val_steps, "epochs": epochs, "seed": seed,
            "teacher_steer_variance": float(val_act[:, n].var()), "record_s": record_s,
            "rows": rows,
        },
        json_out,
    )  # fmt: skip


if __name__ == "__main__":
    typer.run(main)
