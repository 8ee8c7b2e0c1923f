"""Simulator speed: our control loop against a bare ``mj_step`` loop on the same motion.

For each physics preset and for the robot standing and walking, it runs the expert gait
through ``PiDogSim`` (servo model, latency, fall check, gait table) and then replays the
exact same actuator commands with nothing but ``mujoco.mj_step`` from the same start state
(the limit). Same trajectory, so the ratio is our overhead. Single thread, best of
``--repeats`` interleaved runs. Also times the head camera: RGB and depth frames per
second, both ray cast (``benchmarks/camera_speed.py`` compares the RGB camera with EGL).

    python benchmarks/sim_speed.py [--seconds 10] [--repeats 3] [--json PATH|-]
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
import typer  # noqa: E402

from pidog_gaits.gaits.library import GAITS  # noqa: E402
from pidog_gaits.results import emit  # noqa: E402
from pidog_gaits.robot import specs  # noqa: E402
from pidog_gaits.sim.physics import PRESETS, PiDogSim  # noqa: E402
from pidog_gaits.sim.rollout import ExpertController, ramp_weight, stand_targets  # noqa: E402
from pidog_gaits.sim.sensors import Sensors  # noqa: E402

DEFAULT_JSON = os.path.join(os.path.dirname(__file__), "results", "sim_speed.json")


def ours(
    quality: str, gait_name: str, seconds: float
) -> tuple[float, list, np.ndarray, np.ndarray]:
    """Wall seconds of our loop, plus the (ctrl, nstep) chunks it issued and its start state."""
    sim = PiDogSim(quality)
    gait = GAITS[gait_name]
    controller = ExpertController(gait)
    stand = stand_targets()
    qpos0, act0 = sim.data.qpos.copy(), sim.data.act.copy()
    chunks: list[tuple[np.ndarray, int]] = []
    real_step = mujoco.mj_step

    def recording_step(m, d, nstep=1):
        chunks.append((d.ctrl.copy(), nstep))
        real_step(m, d, nstep=nstep)

    steps = round(seconds / specs.CONTROL_DT_S)
    dphase = specs.CONTROL_DT_S / gait.period_s
    # Record the commands on a first pass, then time a second, identical pass.
    for record in (True, False):
        sim.reset()
        mujoco.mj_step = recording_step if record else real_step
        phase = 0.0
        start = time.perf_counter()
        for _ in range(steps):
            targets = controller(gait.inputs(phase)[0])
            w = ramp_weight(sim.time_s)
            if w < 1.0:
                targets = w * targets + (1.0 - w) * stand
            sim.step(targets)
            sim.fallen()
            phase = (phase + dphase) % 1.0
        elapsed = time.perf_counter() - start
    mujoco.mj_step = real_step
    return elapsed, chunks, qpos0, act0


def bare(quality: str, chunks, qpos0, act0) -> float:
    """Wall seconds to replay the same commands with ``mj_step`` alone."""
    sim = PiDogSim(quality)
    m, d = sim.model, sim.data
    sim.reset()
    d.qpos[:], d.act[:] = qpos0, act0
    mujoco.mj_forward(m, d)
    step = mujoco.mj_step
    start = time.perf_counter()
    for ctrl, nstep in chunks:
        d.ctrl[:] = ctrl
        step(m, d, nstep=nstep)
    return time.perf_counter() - start


def camera_fps(frames: int = 300) -> dict[str, float]:
    sim = PiDogSim("fast")
    sensors = Sensors(sim, np.random.default_rng(0))
    out = {}
    try:
        sensors.rgb_image()
        start = time.perf_counter()
        for _ in range(frames):
            sensors.rgb_image()
        out["rgb_64x48_fps"] = frames / (time.perf_counter() - start)
    finally:
        sensors.close()
    sensors.depth_image()
    start = time.perf_counter()
    for _ in range(frames):
        sensors.depth_image()
    out["depth_64x48_fps"] = frames / (time.perf_counter() - start)
    return out


def main(
    seconds: float = typer.Option(10.0, help="Simulated seconds per run."),
    repeats: int = typer.Option(3, help="Interleaved repeats; the best is kept."),
    json_out: str = typer.Option(DEFAULT_JSON, "--json", help="JSON path, or - for stdout."),
) -> None:
    rows = []
    for quality, preset in PRESETS.items():
        for label, gait in (
            ("standing", "stand"),
            ("walking", "walk_forward"),
            ("trotting", "trot_forward"),
        ):
            ours_s, bare_s = [], []
            for _ in range(repeats):
                elapsed, chunks, qpos0, act0 = ours(quality, gait, seconds)
                ours_s.append(elapsed)
                bare_s.append(bare(quality, chunks, qpos0, act0))
            physics_steps = round(seconds / preset.timestep_s)
            best_ours, best_bare = min(ours_s), min(bare_s)
            rows.append(
                {
                    "preset": quality,
                    "motion": label,
                    "timestep_s": preset.timestep_s,
                    "steps_per_s": physics_steps / best_ours,
                    "realtime_factor": seconds / best_ours,
                    "bare_steps_per_s": physics_steps / best_bare,
                    "bare_realtime_factor": seconds / best_bare,
                    "cost_vs_bare": best_ours / best_bare,
                }
            )
    figures = {
        "rows": rows,
        **camera_fps(),
        "seconds": seconds,
        "repeats": repeats,
        "mujoco": mujoco.__version__,
    }
    if json_out != "-":
        header = f"{'preset':<11}{'motion':<10}{'steps/s':>10}{'x real':>9}{'bare x':>9}{'cost':>7}"
        print(header)
        for r in rows:
            print(
                f"{r['preset']:<11}{r['motion']:<10}{r['steps_per_s']:>10.0f}"
                f"{r['realtime_factor']:>9.0f}{r['bare_realtime_factor']:>9.0f}{r['cost_vs_bare']:>7.2f}"
            )
    emit(
        {k: v for k, v in figures.items() if k != "rows"} | {"rows": rows}, json_out, title="camera"
    )


if __name__ == "__main__":
    typer.run(main)
