"""Head camera speed on a CPU: MuJoCo's OpenGL renderer (EGL) against the ray-cast camera.

Both draw the same scene (the PiDog standing, three boxes ahead) through the head camera
at 32x24, 64x48 and 640x480, alone and followed by ``preprocess_frame`` down to the
policy's 32x24. Also timed: the policy's colour observation as training gets it
(``Sensors.rgb_observation``: rays at 64x48, averaged to 32x24), the same through the
30 frames/s ``CameraStream`` per 50 Hz control step, and ``preprocess_frame`` alone on a
robot-sized 320x240 frame. Frames per second, best of ``--repeats``; single thread; the
load average is recorded because the machine is shared.

Pick (from ``results/camera_speed.json``): the ray camera. On this machine EGL renders in
software (llvmpipe), and at policy sizes its fixed cost per frame (scene update, the
rasteriser's set-up, the read-back) dwarfs the few thousand rays ``mj_multiRay`` casts
against a floor and a few boxes. At 640x480 the rasteriser wins, but no policy here looks
at 640x480. So training and evaluation use ``RayCamera``; ``mujoco.Renderer`` stays only
as the reference the tests compare it with. Three runs on 2 shared cores at load average
5.6-7.5 gave, in frames/s: 64x48 EGL 61-78, rays 250-344; 32x24 EGL 87-98, rays 680-760;
640x480 EGL 24-41, rays 2-4; the policy's 32x24 observation (rays at 64x48 + average)
280-502; through the 30 frames/s stream 429-530 control steps/s (renders on 60% of
them); ``preprocess_frame`` on a 320x240 frame 1720-2400. Since the shading takes
MuJoCo's own normals from ``mj_multiRay`` and the pixel noise comes from a pool (same
pictures; idle machine, same run for both): 64x48 rays 940 -> 1630, the policy's
observation 516 -> 796, the stream 804 -> 1315 control steps/s.

    python benchmarks/camera_speed.py [--repeats 3] [--seconds 1.0] [--json PATH|-]
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
import typer  # noqa: E402

from pidog_gaits.results import emit  # noqa: E402
from pidog_gaits.robot import specs  # noqa: E402
from pidog_gaits.robot.camera import preprocess_frame  # noqa: E402
from pidog_gaits.sim import world  # noqa: E402
from pidog_gaits.sim.camera import AppearanceRanges, RayCamera  # noqa: E402
from pidog_gaits.sim.physics import PiDogSim  # noqa: E402
from pidog_gaits.sim.sensors import Sensors  # noqa: E402

DEFAULT_JSON = os.path.join(os.path.dirname(__file__), "results", "camera_speed.json")
SIZES_PX = ((32, 24), (64, 48), (640, 480))
POLICY_PX = (32, 24)
BOXES_AHEAD_M = ((0.5, 0.0), (0.7, 0.25), (0.9, -0.3))


def _loadavg() -> list[float]:
    try:
        with open("/proc/loadavg") as fh:
            return [float(v) for v in fh.read().split()[:3]]
    except OSError:
        return []


def _scene() -> PiDogSim:
    sim = PiDogSim("fast", num_obstacles=3)
    lens = sim.data.cam(specs.HEAD_CAMERA).xpos
    for gid, (ahead, left) in zip(sim.obstacle_geom_ids, BOXES_AHEAD_M, strict=True):
        centre = [lens[0] + ahead, lens[1] + left, 0.06]
        world.place_box(sim.model, sim.data, int(gid), centre, [0.05, 0.05, 0.06])
    return sim


def _fps(frame, seconds: float, repeats: int) -> float:
    """Frames per second of ``frame()``: best of ``repeats`` runs of ~``seconds`` each."""
    frame()  # warm up (allocations, caches)
    best = 0.0
    for _ in range(repeats):
        n, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            frame()
            n += 1
        best = max(best, n / elapsed)
    return best


def _size_row(sim, cam_id, size_px, appearance, rng, seconds: float, repeats: int) -> dict:
    """EGL and ray-camera frames/s at one size, alone and followed by ``preprocess_frame``."""
    w, h = size_px
    pw, ph = POLICY_PX
    renderer = mujoco.Renderer(sim.model, h, w)
    ray = RayCamera(sim.model, cam_id, w, h, sim.floor_geom_id, sim.obstacle_geom_ids)
    ray.set_appearance(appearance)

    def egl() -> np.ndarray:
        renderer.update_scene(sim.data, camera=cam_id)
        return renderer.render()

    def rays() -> np.ndarray:
        return ray.render(sim.data, rng)

    try:
        row = {
            "size_px": f"{w}x{h}",
            "egl_fps": _fps(egl, seconds, repeats),
            "ray_fps": _fps(rays, seconds, repeats),
            "egl_to_32x24_fps": _fps(lambda: preprocess_frame(egl(), pw, ph), seconds, repeats),
            "ray_to_32x24_fps": _fps(lambda: preprocess_frame(rays(), pw, ph), seconds, repeats),
        }
    finally:
        renderer.close()
    row["faster"] = "ray" if row["ray_to_32x24_fps"] > row["egl_to_32x24_fps"] else "egl"
    return row


def main(
    repeats: int = typer.Option(3, help="Runs per figure; the best is kept."),
    seconds: float = typer.Option(1.0, help="Length of one run (s)."),
    json_out: str = typer.Option(DEFAULT_JSON, "--json", help="JSON path, or - for stdout."),
) -> None:
    load_before = _loadavg()
    sim = _scene()
    cam_id = mujoco.mj_name2id(sim.model, mujoco.mjtObj.mjOBJ_CAMERA, specs.HEAD_CAMERA)
    rng = np.random.default_rng(0)
    appearance = AppearanceRanges().sample(rng)
    pw, ph = POLICY_PX
    rows = [_size_row(sim, cam_id, size, appearance, rng, seconds, repeats) for size in SIZES_PX]
    sensors = Sensors(sim, np.random.default_rng(1))
    sensors.reset_camera(appearance)
    observation_fps = _fps(lambda: sensors.rgb_observation(pw, ph), seconds, repeats)
    step = {"k": 0}

    def streamed() -> np.ndarray:
        step["k"] += 1
        return sensors.camera_observation("rgb", step["k"] * specs.CONTROL_DT_S, pw, ph)

    stream_steps_per_s = _fps(streamed, seconds, repeats)
    stream = sensors._streams[("rgb", pw, ph)]
    robot_frame = np.random.default_rng(2).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    figures = {
        "policy_observation_32x24_fps": observation_fps,
        "policy_stream_steps_per_s": stream_steps_per_s,
        "stream_render_fraction": stream.renders / max(step["k"], 1),
        "preprocess_320x240_to_32x24_fps": _fps(
            lambda: preprocess_frame(robot_frame, pw, ph, "bgr"), seconds, repeats
        ),
        "policy_path": "ray",
        "repeats": repeats,
        "seconds_per_run": seconds,
        "loadavg_before": load_before,
        "loadavg_after": _loadavg(),
        "cpu_count": os.cpu_count(),
        "mujoco": mujoco.__version__,
        "mujoco_gl": os.environ.get("MUJOCO_GL"),
        "rows": rows,
    }
    if json_out != "-":
        print(f"{'size':<9}{'EGL fps':>10}{'ray fps':>10}{'EGL->32x24':>12}{'ray->32x24':>12}")
        for r in rows:
            print(
                f"{r['size_px']:<9}{r['egl_fps']:>10.0f}{r['ray_fps']:>10.0f}"
                f"{r['egl_to_32x24_fps']:>12.0f}{r['ray_to_32x24_fps']:>12.0f}"
            )
    emit(figures, json_out, title="head camera speed (frames/s)")


if __name__ == "__main__":
    typer.run(main)
