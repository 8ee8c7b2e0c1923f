"""The speed and yaw rate the trot reaches at each amplitude and turn: ``gaits.command``'s tables.

Plays the scripted trot through ``GaitPlayer``s of its steering knots (``trot_forward``,
``trot_left``, ``trot_right``, blended at each turn in ``TURN_KNOTS`` as
``gaits.steering.blend_knots`` does) at each amplitude ``a`` in ``AMPLITUDE_KNOTS``, as
targets = stand + ramp * a * (trot - stand), the ramp going 0 -> 1 over the first 0.6 s
(what the env's prior plays), on the production preset with nominal physics, and averages
from 1 s to the end the body's speed along its heading and its body-frame yaw rate. The
figures are printed beside ``SPEED_MPS`` and ``YAW_RATE_RADPS``; the JSON also holds the
heading's change per second (``heading_rate_radps``), which differs from the mean yaw rate
where the trot rocks the body (by 0.024 rad/s at amplitude 0.5, full turn).

    python benchmarks/command_prior.py [--seconds 10] \\
        [--json benchmarks/results/command_prior.json|-]
"""

from __future__ import annotations

import math
import os

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
import typer  # noqa: E402

from pidog_gaits.gaits import command  # noqa: E402
from pidog_gaits.gaits.library import GAITS, GaitPlayer  # noqa: E402
from pidog_gaits.gaits.steering import blend_knots  # noqa: E402
from pidog_gaits.results import emit  # noqa: E402
from pidog_gaits.robot import specs  # noqa: E402
from pidog_gaits.sim.physics import PiDogSim  # noqa: E402
from pidog_gaits.sim.rollout import ramp_weight, stand_targets  # noqa: E402

SETTLE_S = 1.0
"""Averages start after this long (s): the ramp from the stand is over."""
KNOT_GAITS = ("trot_right", "trot_forward", "trot_left")
"""The trot at ``gaits.steering.TURN_KNOTS`` (-1, 0, +1)."""


def measure(amplitude: float, turn: float, seconds: float, quality: str) -> dict:
    """Mean speed along the heading (m/s), yaw rate and heading rate (rad/s) of the trot at
    ``amplitude`` and ``turn``."""
    players = [GaitPlayer(GAITS[name]) for name in KNOT_GAITS]
    sim = PiDogSim(quality, seed=0)
    sim.reset()
    stand = stand_targets()
    n = specs.NUM_LEG_JOINTS
    speeds: list[float] = []
    yaw_rates: list[float] = []
    heading, last = 0.0, sim.yaw_change_rad()
    start: tuple[float, float] | None = None
    fell = False
    for _ in range(round(seconds / specs.CONTROL_DT_S)):
        trot = stand.copy()
        trot[:n] = blend_knots(np.stack([p.targets()[:n] for p in players]), turn)
        sim.step(stand + ramp_weight(sim.time_s) * amplitude * (trot - stand))
        for p in players:
            p.advance()
        yaw = sim.yaw_change_rad()
        heading += (yaw - last + math.pi) % (2.0 * math.pi) - math.pi
        last = yaw
        if sim.time_s >= SETTLE_S:
            speeds.append(sim.forward_velocity_mps())
            yaw_rates.append(float(sim.body_ang_vel_body_radps[2]))
            if start is None:
                start = (heading, sim.time_s)
        if sim.fallen():
            fell = True
            break
    elapsed = sim.time_s - start[1] if start else 0.0
    return {
        "speed_mps": float(np.mean(speeds)) if speeds else math.nan,
        "yaw_rate_radps": float(np.mean(yaw_rates)) if yaw_rates else math.nan,
        "heading_rate_radps": (heading - start[0]) / elapsed if elapsed > 0 else math.nan,
        "fell": fell,
    }


def main(
    seconds: float = typer.Option(10.0, help="Simulated seconds per amplitude and turn."),
    quality: str = typer.Option("production", help="Physics preset."),
    json_out: str | None = typer.Option(None, "--json", help="PATH, or - for stdout."),
) -> None:
    """Measure the trot at every amplitude and turn knot, beside gaits.command's tables."""
    rows = []
    for i, amp in enumerate(command.AMPLITUDE_KNOTS):
        for j, turn in enumerate(command.TURN_KNOTS):
            m = measure(float(amp), float(turn), seconds, quality)
            rows.append(
                {
                    "amplitude": float(amp),
                    "turn": float(turn),
                    "speed_mps": round(m["speed_mps"], 4),
                    "table_speed_mps": float(command.SPEED_MPS[i, j]),
                    "yaw_rate_radps": round(m["yaw_rate_radps"], 4),
                    "table_yaw_rate_radps": float(command.YAW_RATE_RADPS[i, j]),
                    "heading_rate_radps": round(m["heading_rate_radps"], 4),
                    "fell": m["fell"],
                }
            )
    speed_diff = max(abs(r["speed_mps"] - r["table_speed_mps"]) for r in rows)
    yaw_diff = max(abs(r["yaw_rate_radps"] - r["table_yaw_rate_radps"]) for r in rows)
    if json_out != "-":
        head = ("amp", "turn", "speed m/s", "table", "yaw rad/s", "table")
        print("{:>5} {:>5}  {:>9} {:>6}  {:>9} {:>6}".format(*head))
        for r in rows:
            print(
                f"{r['amplitude']:5.2f} {r['turn']:5.2f}  {r['speed_mps']:9.3f}"
                f" {r['table_speed_mps']:6.3f}  {r['yaw_rate_radps']:9.3f}"
                f" {r['table_yaw_rate_radps']:6.3f}" + ("  FELL" if r["fell"] else "")
            )
    figures = {
        "seconds": seconds,
        "quality": quality,
        "settle_s": SETTLE_S,
        "max_speed_diff_mps": round(speed_diff, 4),
        "max_yaw_rate_diff_radps": round(yaw_diff, 4),
        "rows": rows,
    }
    emit(figures, json_out, title="trot amplitude x turn vs gaits.command tables")


if __name__ == "__main__":
    typer.run(main)
