"""Do the expert gaits survive the corners of the training randomization?

Runs each gait for ``--seconds`` with every combination of the low and high ends of the
randomized friction, mass and servo torque and of 0 / 30 ms latency (16 settings), and
counts falls. The robot README quotes it for the model change of issue 13.

    python benchmarks/gait_corners.py [--gaits trot_forward,trot_left,walk_forward]
        [--quality medium] [--json PATH|-]
"""

from __future__ import annotations

import itertools
import os
from multiprocessing import Pool

os.environ.setdefault("MUJOCO_GL", "egl")

import typer  # noqa: E402

from pidog_gaits.gaits.library import GAITS  # noqa: E402
from pidog_gaits.results import emit  # noqa: E402
from pidog_gaits.sim.randomization import DomainParams, RandomizationRanges  # noqa: E402
from pidog_gaits.sim.rollout import run_gait  # noqa: E402


def corners() -> list[DomainParams]:
    """The 16 corner settings of the training ranges (latency at its ends, 0 and 30 ms)."""
    r = RandomizationRanges()
    axes = (r.friction_scale, r.mass_scale, r.servo_torque_scale, r.latency_s)
    return [
        DomainParams(friction_scale=f, mass_scale=m, servo_torque_scale=t, latency_s=lat)
        for f, m, t, lat in itertools.product(*axes)
    ]


def _run(job: tuple) -> dict:
    name, params, seconds, quality = job
    result = run_gait(GAITS[name], seconds, quality=quality, params=params)
    return {
        "gait": name,
        **params.as_dict(),
        "fell": result.fell,
        "distance_m": round(result.distance_m, 3),
        "yaw_rad": round(result.yaw_rad, 3),
    }


def main(
    gaits: str = typer.Option("trot_forward,trot_left,walk_forward", help="Comma-separated."),
    seconds: float = typer.Option(10.0, help="Simulated seconds per run."),
    quality: str = typer.Option("medium", help="Physics preset (stage 3 trains on medium)."),
    json_out: str | None = typer.Option(None, "--json", help="PATH, or - for stdout."),
) -> None:
    """Count falls of each gait over the randomization corners."""
    names = gaits.split(",")
    jobs = [(n, p, seconds, quality) for n in names for p in corners()]
    with Pool(2) as pool:
        runs = pool.map(_run, jobs)
    summary = {}
    for n in names:
        mine = [r for r in runs if r["gait"] == n]
        distances = [r["distance_m"] for r in mine]
        summary[n] = {
            "runs": len(mine),
            "falls": sum(r["fell"] for r in mine),
            "min_distance_m": min(distances),
            "max_distance_m": max(distances),
        }
        if json_out != "-":
            s = summary[n]
            print(
                f"{n:14s} falls {s['falls']}/{s['runs']}  distance "
                f"{s['min_distance_m']:+.2f}..{s['max_distance_m']:+.2f} m"
            )
    emit(
        {"quality": quality, "seconds": seconds, "summary": summary, "runs": runs},
        json_out,
        title="gait corners",
    )


if __name__ == "__main__":
    typer.run(main)
