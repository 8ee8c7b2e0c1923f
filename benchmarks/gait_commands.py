"""The speed and yaw rate each expert gait reaches: the source of ``GaitSpec`` commands.

Runs every moving gait for ``--seconds`` on the production preset and averages, after the
first second (the 0.6 s ramp from the stand), the body's speed along its own heading and its
yaw rate: what the rewards compare with the command (``envs/rewards.py``).

    python benchmarks/gait_commands.py [--seconds 10] [--json PATH|-]
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
import typer  # noqa: E402

from pidog_gaits.gaits.library import GAITS  # noqa: E402
from pidog_gaits.results import emit  # noqa: E402
from pidog_gaits.sim.rollout import run_gait  # noqa: E402

SETTLE_S = 1.0
"""Averages start after this long (s): the ramp from the stand is over."""


def measure(name: str, seconds: float, quality: str) -> dict:
    """Mean speed along the heading (m/s) and yaw rate (rad/s) of gait ``name``."""
    speeds: list[float] = []
    yaw_rates: list[float] = []

    def record(sim, gait_input, targets) -> None:
        if sim.time_s >= SETTLE_S:
            speeds.append(sim.forward_velocity_mps())
            yaw_rates.append(float(sim.body_ang_vel_body_radps[2]))

    result = run_gait(GAITS[name], seconds, quality=quality, on_step=record)
    return {
        "gait": name,
        "fell": result.fell,
        "speed_mps": round(float(np.mean(speeds)), 4),
        "yaw_rate_radps": round(float(np.mean(yaw_rates)), 4),
        "command_mps": GAITS[name].command_mps,
        "command_yaw_radps": GAITS[name].command_yaw_radps,
    }


def main(
    seconds: float = typer.Option(10.0, help="Simulated seconds per gait."),
    quality: str = typer.Option("production", help="Physics preset."),
    json_out: str | None = typer.Option(None, "--json", help="PATH, or - for stdout."),
) -> None:
    """Measure every moving expert gait and print it beside its command."""
    rows = [measure(n, seconds, quality) for n, g in GAITS.items() if g.family in ("walk", "trot")]
    if json_out != "-":
        for r in rows:
            print(
                f"{r['gait']:14s} {r['speed_mps']:+.3f} m/s {r['yaw_rate_radps']:+.3f} rad/s"
                f"   command {r['command_mps']:+.3f} m/s {r['command_yaw_radps']:+.3f} rad/s"
            )
    emit({"seconds": seconds, "quality": quality, "rows": rows}, json_out, title="gait commands")


if __name__ == "__main__":
    typer.run(main)
