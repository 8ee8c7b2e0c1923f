"""Why does SunFounder's trot fall in the model? Sweep one uncertain parameter at a time.

Each row replays a library action (``sim.library_replay``) from the 80 mm stand for
``--seconds`` on the chosen physics preset with one thing changed from the model (centre
of mass, masses, foot, servo, timing) and reports when it fell and how far it went. The
evidence table in ``robot/README.md`` comes from this script.

    python benchmarks/library_replay_sweep.py [--action trot_forward] [--seconds 10]
        [--quality production] [--only NAME ...] [--json PATH|-]
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from multiprocessing import Pool

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
import typer  # noqa: E402

from pidog_gaits.gaits import sunfounder  # noqa: E402
from pidog_gaits.results import emit  # noqa: E402
from pidog_gaits.robot import specs  # noqa: E402
from pidog_gaits.sim.library_replay import (  # noqa: E402
    LibraryController,
    LibraryTiming,
    cycle_s,
)
from pidog_gaits.sim.physics import PiDogSim  # noqa: E402
from pidog_gaits.sim.randomization import DomainParams  # noqa: E402

DEFAULT_JSON = os.path.join(os.path.dirname(__file__), "results", "library_replay_sweep.json")


@dataclass(frozen=True)
class Variant:
    """One change from the model: domain parameters, a model edit, or the frame timing."""

    group: str
    label: str
    params: dict = field(default_factory=dict)
    edit: tuple = ()
    """``(kind, value)`` model edits applied after the simulator is built."""
    timing: dict = field(default_factory=dict)
    """``LibraryTiming`` fields other than the speed."""
    speed: int | None = None


def _edit_model(m: mujoco.MjModel, kind: str, value: float) -> None:
    """Change one uncertain quantity of the model in place."""
    body = m.body(specs.BODY_NAME).id
    feet = [m.geom(g).id for g in specs.FOOT_GEOMS]
    legs = slice(0, specs.NUM_LEG_JOINTS)
    if kind == "com_x_m":  # move the trunk's centre of mass forward (+) / back (-)
        m.body_ipos[body, 0] += value
    elif kind == "com_z_m":
        m.body_ipos[body, 2] += value
    elif kind == "head_mass_scale":
        head = m.body("head").id
        m.body_mass[head] *= value
        m.body_inertia[head] *= value
    elif kind == "foot_radius_m":
        m.geom_size[feet, 0] = value
    elif kind == "foot_friction":  # MuJoCo takes the larger of the two geoms' friction
        m.geom_friction[feet, 0] = value
        m.geom_friction[m.geom("floor").id, 0] = value
    elif kind == "foot_solref_s":
        m.geom_solref[feet, 0] = value
    elif kind == "servo_kp_nm_per_rad":
        m.actuator_gainprm[legs, 0] = value
        m.actuator_biasprm[legs, 1] = -value
    elif kind == "servo_kv_nms_per_rad":
        m.actuator_biasprm[legs, 2] = -value
    elif kind == "gear_friction_nm":  # dry friction of the gear train (frictionloss)
        for j in specs.JOINT_NAMES[: specs.NUM_LEG_JOINTS]:
            m.dof_frictionloss[m.joint(j).dofadr[0]] = value
    elif kind == "armature_kgm2":
        for j in specs.JOINT_NAMES[: specs.NUM_LEG_JOINTS]:
            m.dof_armature[m.joint(j).dofadr[0]] = value
    else:
        raise ValueError(kind)


VARIANTS: list[Variant] = [
    Variant("model", "as built"),
    Variant("timing", "frames x1.25 longer", timing={"time_scale": 1.25}),
    Variant("timing", "frames x1.5 longer", timing={"time_scale": 1.5}),
    Variant("timing", "frames x2 longer (half speed)", timing={"time_scale": 2.0}),
    Variant("timing", "20 ms steps (slow I2C)", timing={"step_s": 0.02}),
    Variant("timing", "speed 70", speed=70),
    Variant("timing", "cap 300 deg/s", timing={"max_dps": 300.0}),
    Variant("servo", "slew limit x0.5", params={"servo_speed_scale": 0.5}),
    Variant("servo", "slew limit x1.4 (600 deg/s)", params={"servo_speed_scale": 1.4}),
    Variant("servo", "torque x0.8", params={"servo_torque_scale": 0.8}),
    Variant("servo", "torque x2", params={"servo_torque_scale": 2.0}),
    Variant("servo", "torque x5", params={"servo_torque_scale": 5.0}),
    Variant("servo", "kp 1 N m/rad", edit=(("servo_kp_nm_per_rad", 1.0),)),
    Variant("servo", "kp 10 N m/rad", edit=(("servo_kp_nm_per_rad", 10.0),)),
    Variant("servo", "kv 0", edit=(("servo_kv_nms_per_rad", 0.0),)),
    Variant("servo", "kv 0.06", edit=(("servo_kv_nms_per_rad", 0.06),)),
    Variant("servo", "latency 0 ms", params={"latency_s": 0.0}),
    Variant("servo", "latency 30 ms", params={"latency_s": 0.03}),
    Variant("servo", "armature 5e-5", edit=(("armature_kgm2", 5e-5),)),
    Variant("servo", "armature 1e-3", edit=(("armature_kgm2", 1e-3),)),
    Variant("mass", "mass x0.8", params={"mass_scale": 0.8}),
    Variant("mass", "mass x1.26 (948 g)", params={"mass_scale": 1.26}),
    Variant("mass", "head mass x0.5", edit=(("head_mass_scale", 0.5),)),
    Variant("mass", "head mass x1.5", edit=(("head_mass_scale", 1.5),)),
    Variant("com", "CoM 20 mm back", edit=(("com_x_m", -0.020),)),
    Variant("com", "CoM 10 mm back", edit=(("com_x_m", -0.010),)),
    Variant("com", "CoM 10 mm forward", edit=(("com_x_m", 0.010),)),
    Variant("com", "CoM 20 mm forward", edit=(("com_x_m", 0.020),)),
    Variant("com", "CoM 10 mm lower", edit=(("com_z_m", -0.010),)),
    Variant("com", "CoM 10 mm higher", edit=(("com_z_m", 0.010),)),
    Variant("foot", "friction 0.3", edit=(("foot_friction", 0.3),)),
    Variant("foot", "friction 0.5", edit=(("foot_friction", 0.5),)),
    Variant("foot", "friction 1.5", edit=(("foot_friction", 1.5),)),
    Variant("foot", "radius 3 mm", edit=(("foot_radius_m", 0.003),)),
    Variant("foot", "radius 12 mm", edit=(("foot_radius_m", 0.012),)),
    Variant("foot", "soft contact (solref 20 ms)", edit=(("foot_solref_s", 0.02),)),
]


def run_variant(
    variant: Variant,
    action_name: str,
    seconds: float,
    quality: str,
    base: tuple = (),
    seed: int = 0,
) -> dict:
    """Replay ``action_name`` with one change on top of ``base`` edits; fall time, distance."""
    action = sunfounder.get_action(action_name)
    timing = LibraryTiming(variant.speed or action.speed, **variant.timing)
    sim = PiDogSim(quality, seed=seed, params=DomainParams(**variant.params))
    for kind, value in (*base, *variant.edit):
        _edit_model(sim.model, kind, value)
    sim.reset()
    controller = LibraryController(action, timing)
    sitting = action_name in ("sit", "lie")
    fell_at = None
    for _ in range(round(seconds / specs.CONTROL_DT_S)):
        sim.step(controller(np.zeros(4)))
        if sim.fallen(allow_body_contact=sitting):
            fell_at = round(sim.time_s, 3)
            break
    forward, lateral = sim.start_frame_displacement_m()
    cycle = cycle_s(action, timing)
    implied = action.heading * action.stride_m / cycle if action.loop else 0.0
    velocity = forward / max(sim.time_s, 1e-9)
    return {
        "group": variant.group,
        "variant": variant.label,
        "fell": fell_at is not None,
        "fall_time_s": fell_at,
        "distance_m": round(forward, 4),
        "lateral_m": round(lateral, 4),
        "heading_change_rad": round(sim.yaw_change_rad(), 4),
        "mean_forward_velocity_mps": round(velocity, 4),
        "cycle_s": round(cycle, 3),
        "progress_ratio": round(velocity / implied, 3) if implied else None,
    }


def _job(args: tuple) -> dict:
    return run_variant(*args)


def _with_latency(variant: Variant, latency_s: float) -> Variant:
    """``variant`` with the command latency set (the robustness spread)."""
    return Variant(
        variant.group,
        variant.label,
        {**variant.params, "latency_s": latency_s},
        variant.edit,
        variant.timing,
        variant.speed,
    )


def _summary(variant: Variant, runs: list[dict]) -> dict:
    """One row over the latency spread: how many runs fell, how far they went."""
    falls = [r["fall_time_s"] for r in runs if r["fell"]]
    distances = [r["distance_m"] for r in runs]
    return {
        "group": variant.group,
        "variant": variant.label,
        "runs": len(runs),
        "falls": len(falls),
        "first_fall_s": min(falls) if falls else None,
        "mean_distance_m": round(float(np.mean(distances)), 3),
        "min_distance_m": round(min(distances), 3),
        "max_distance_m": round(max(distances), 3),
    }


def main(
    action: str = typer.Option("trot_forward", help="Library action to replay."),
    seconds: float = typer.Option(10.0, help="Simulated seconds per run."),
    quality: str = typer.Option("production", help="Physics preset."),
    only: list[str] = typer.Option([], help="Only variants whose group is one of these."),
    workers: int = typer.Option(2, help="Processes (the project's CPU rule: at most 2)."),
    friction: float | None = typer.Option(
        None, help="Foot and floor friction under every variant (default: the model's)."
    ),
    latencies_ms: str | None = typer.Option(
        None,
        help="Comma-separated command latencies (ms): run every variant at each and count "
        "falls. The trot is chaotic, so one run per variant says little; the spread does.",
    ),
    json_out: str | None = typer.Option(DEFAULT_JSON, "--json", help="PATH, or - for stdout."),
) -> None:
    """Replay a library action under each variant and tabulate falls and distance."""
    variants = [v for v in VARIANTS if not only or v.group in only]
    started = time.perf_counter()
    base = (("foot_friction", friction),) if friction is not None else ()
    if latencies_ms:
        spread = [float(x) / 1000.0 for x in latencies_ms.split(",")]
        variants = [v for v in variants if "latency_s" not in v.params]
        jobs = [
            (_with_latency(v, lat), action, seconds, quality, base)
            for v in variants
            for lat in spread
        ]
    else:
        jobs = [(v, action, seconds, quality, base) for v in variants]
    with Pool(max(1, min(workers, 2))) as pool:
        runs = pool.map(_job, jobs)
    if latencies_ms:
        n = len(spread)
        rows = [_summary(v, runs[i * n : (i + 1) * n]) for i, v in enumerate(variants)]
        if json_out != "-":
            for r in rows:
                print(
                    f"{r['group']:7s} {r['variant']:32s} falls {r['falls']}/{r['runs']}  "
                    f"distance {r['mean_distance_m']:+.2f} m "
                    f"({r['min_distance_m']:+.2f}..{r['max_distance_m']:+.2f})"
                )
    else:
        rows = runs
        if json_out != "-":
            for r in rows:
                fell = f"fell at {r['fall_time_s']:.2f} s" if r["fell"] else "no fall"
                print(
                    f"{r['group']:7s} {r['variant']:32s} {fell:16s} "
                    f"{r['distance_m']:+.3f} m  heading {r['heading_change_rad']:+.2f} rad"
                )
    figures = {
        "action": action,
        "seconds": seconds,
        "quality": quality,
        "base_friction": friction,
        "latencies_ms": latencies_ms,
        "wall_s": round(time.perf_counter() - started, 1),
        "rows": rows,
    }
    emit(figures, json_out, title=f"library replay sweep: {action}")


if __name__ == "__main__":
    typer.run(main)
