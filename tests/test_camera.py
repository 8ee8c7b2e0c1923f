"""The head camera: ray-cast colour against MuJoCo's renderer, the one preprocessing, timing.

(a) ``RayCamera`` hits the same geoms as ``mujoco.Renderer``'s segmentation and gives
    boxes their shaded colour; (b) ``preprocess_frame`` is an exact area average;
(c) one picture gives the same tensor through the simulator's path and picamera2's;
(d) ``check_frame`` rejects broken frames; (e) ``CameraStream`` holds frames and delays
them; (f) appearance randomization is seeded and changes the picture.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest

from pidog_gaits.robot import camera as robot_camera
from pidog_gaits.robot import specs
from pidog_gaits.robot.camera import FrameError, area_resize, check_frame, preprocess_frame
from pidog_gaits.sim import world
from pidog_gaits.sim.camera import (
    AppearanceRanges,
    CameraAppearance,
    CameraStream,
    RayCamera,
    camera_ray_directions,
)
from pidog_gaits.sim.physics import PiDogSim
from pidog_gaits.sim.sensors import Sensors

BOXES_AHEAD_M = ((0.5, 0.0), (0.7, 0.25), (0.9, -0.3))
"""Three boxes in the head camera's view: (ahead, left) of the lens (m)."""


def _scene_with_boxes() -> tuple[PiDogSim, Sensors]:
    sim = PiDogSim("fast", num_obstacles=3)
    sensors = Sensors(sim, np.random.default_rng(0), noise_scale=0.0)
    lens = sim.data.cam(specs.HEAD_CAMERA).xpos
    for gid, (ahead, left) in zip(sim.obstacle_geom_ids, BOXES_AHEAD_M, strict=True):
        centre = [lens[0] + ahead, lens[1] + left, 0.06]
        world.place_box(sim.model, sim.data, int(gid), centre, [0.05, 0.05, 0.06])
    return sim, sensors


def _renderer(model, height_px, width_px) -> mujoco.Renderer:
    try:
        return mujoco.Renderer(model, height_px, width_px)
    except Exception as exc:  # no EGL/OSMesa on this machine: nothing to compare with
        pytest.skip(f"mujoco.Renderer unavailable: {exc}")


# ---------------------------------------------------------------------- (a) same scene
def test_ray_camera_sees_what_mujocos_renderer_sees():
    sim, sensors = _scene_with_boxes()
    cam = sensors.ray_camera(64, 48)
    image = cam.render(sim.data)
    ray_ids = cam.geom_id.reshape(48, 64)
    renderer = _renderer(sim.model, 48, 64)
    try:
        renderer.enable_segmentation_rendering()
        renderer.update_scene(sim.data, camera=specs.HEAD_CAMERA)  # every geom group
        seg = renderer.render()
        renderer.disable_segmentation_rendering()
        renderer.update_scene(sim.data, camera=specs.HEAD_CAMERA)
        reference = renderer.render()
    finally:
        renderer.close()
    is_geom = seg[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM)
    seg_ids = np.where(is_geom, seg[..., 0], -1)
    agreement = float((seg_ids == ray_ids).mean())
    print(f"ray camera vs mujoco.Renderer segmentation, 64x48, 3 boxes: {agreement:.4f}")
    assert agreement >= 0.90
    # All three boxes are in view, and the robot's own parts are not.
    for gid in sim.obstacle_geom_ids:
        assert (ray_ids == gid).sum() >= 20
    seen = np.unique(seg_ids[seg_ids >= 0])
    assert set(seen.tolist()) <= {sim.floor_geom_id, *sim.obstacle_geom_ids.tolist()}
    # Coarse colour: each box's mean colour within 10% (of 255) of the renderer's and of
    # its rgba under the model's lights; the floor within 15% (texture mean vs texels).
    for gid in sim.obstacle_geom_ids:
        mask = ray_ids == gid
        ours, theirs = image[mask].mean(axis=0), reference[mask].mean(axis=0)
        assert np.abs(ours - theirs).max() < 0.10 * 255, (gid, ours, theirs)
        rgba = sim.model.geom_rgba[gid, :3] * 255
        hue = ours / ours.max()
        assert np.abs(hue - rgba / rgba.max()).max() < 0.05
    floor = ray_ids == sim.floor_geom_id
    ours, theirs = image[floor].mean(axis=0), reference[floor].mean(axis=0)
    assert np.abs(ours - theirs).max() < 0.15 * 255


def test_ray_camera_agrees_on_random_layouts_and_poses():
    """Boxes scattered 0.3-1.5 m ahead, any heading, the robot pushed off its stand."""
    sim = PiDogSim("fast", num_obstacles=5)
    sensors = Sensors(sim, np.random.default_rng(0), noise_scale=0.0)
    cam = sensors.ray_camera(64, 48)
    rng = np.random.default_rng(1)
    layout = world.ObstacleLayout(ahead_m=(0.3, 1.5))
    renderer = _renderer(sim.model, 48, 64)
    agreements = []
    try:
        renderer.enable_segmentation_rendering()
        for _ in range(5):
            yaw = float(rng.uniform(-math.pi, math.pi))
            sim.reset(yaw_rad=yaw)
            world.place_obstacles(
                sim.model, sim.data, sim.obstacle_geom_ids, 5, rng, start_yaw_rad=yaw, layout=layout
            )
            for _ in range(int(rng.integers(5, 40))):
                sim.step(sim.servo_setpoint_rad + rng.normal(0.0, 0.05, specs.NUM_JOINTS))
            cam.cast(sim.data)
            renderer.update_scene(sim.data, camera=specs.HEAD_CAMERA)
            seg = renderer.render()
            is_geom = seg[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM)
            seg_ids = np.where(is_geom, seg[..., 0], -1)
            agreements.append(float((seg_ids == cam.geom_id.reshape(48, 64)).mean()))
    finally:
        renderer.close()
    print(f"ray camera vs mujoco.Renderer, 5 random scenes: min {min(agreements):.4f}")
    assert min(agreements) >= 0.90


def test_ray_directions_are_mujocos_camera_model():
    dirs = camera_ray_directions(4, 3, 90.0).reshape(3, 4, 3)
    # fovy spans the height: the top row's centre ray is at (1 - 1/3) * tan(45 deg) up.
    top = dirs[0, :, 1] / -dirs[0, :, 2]
    assert top == pytest.approx(np.full(4, 2 / 3))
    # The width follows from the aspect; pixel centres, left to right.
    assert dirs[1, :, 0] / -dirs[1, :, 2] == pytest.approx(
        np.array([-0.75, -0.25, 0.25, 0.75]) * 4 / 3
    )


def test_head_camera_field_of_view_is_the_modules():
    sim = PiDogSim("fast")
    cam = mujoco.mj_name2id(sim.model, mujoco.mjtObj.mjOBJ_CAMERA, specs.HEAD_CAMERA)
    assert sim.model.cam_fovy[cam] == pytest.approx(specs.CAMERA_FOVY_DEG, abs=0.01)
    half_diag = math.hypot(
        math.tan(math.radians(robot_camera.CAMERA_HFOV_DEG) / 2),
        math.tan(math.radians(robot_camera.CAMERA_VFOV_DEG) / 2),
    )
    assert 2 * math.degrees(math.atan(half_diag)) == pytest.approx(65.0)
    w, h = robot_camera.CAMERA_CAPTURE_SIZE_PX
    assert w / h == pytest.approx(robot_camera.CAMERA_ASPECT)
    pw, ph = robot_camera.POLICY_IMAGE_SIZE_PX
    assert pw / ph == pytest.approx(robot_camera.CAMERA_ASPECT)


# ---------------------------------------------------------------------- (b) preprocessing
def _synthetic_picture(height_px: int = 480, width_px: int = 640, seed: int = 3) -> np.ndarray:
    """Gradients plus noise plus a bright square: every block mean differs."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height_px, 0:width_px]
    img = np.stack([x * 255 // width_px, y * 255 // height_px, (x + y) % 256], axis=-1)
    img = img + rng.integers(0, 20, img.shape)
    img[100:180, 300:420] = [250, 30, 200]
    return np.clip(img, 0, 255).astype(np.uint8)


def test_preprocess_is_the_block_mean():
    picture = _synthetic_picture()
    out = preprocess_frame(picture, 32, 24)
    assert out.shape == (3, 24, 32) and out.dtype == np.uint8
    expected = np.empty((3, 24, 32))
    for i in range(24):
        for j in range(32):
            block = picture[20 * i : 20 * (i + 1), 20 * j : 20 * (j + 1)].astype(float)
            expected[:, i, j] = block.reshape(-1, 3).mean(axis=0)
    assert np.abs(out - expected).max() <= 0.5 + 1e-4  # rounded to the nearest level
    assert np.array_equal(out, np.rint(expected).astype(np.uint8))


def test_preprocess_bgr_flips_the_channels():
    picture = _synthetic_picture()
    rgb = preprocess_frame(picture, 32, 24, "rgb")
    bgr = preprocess_frame(np.ascontiguousarray(picture[..., ::-1]), 32, 24, "bgr")
    assert np.array_equal(rgb, bgr)
    assert np.array_equal(preprocess_frame(picture, 32, 24, "bgr"), rgb[::-1])
    with pytest.raises(ValueError):
        preprocess_frame(picture, 32, 24, "grb")


def test_area_resize_of_non_integer_factors_keeps_the_mean_and_edges():
    picture = _synthetic_picture(100, 130).astype(np.float32)
    small = area_resize(picture, 32, 24)
    assert small.shape == (24, 32, 3)
    # Every source pixel counts by its area: the means agree.
    assert small.mean(axis=(0, 1)) == pytest.approx(picture.mean(axis=(0, 1)), rel=1e-4)
    # A half-and-half picture: pixels straddling the edge get the weighted mean.
    halves = np.zeros((3, 5, 1), dtype=np.float32)
    halves[:, 2:] = 100.0  # columns 2..4 bright; output 2 pixels of 2.5 columns each
    assert area_resize(halves, 2, 1)[0, :, 0] == pytest.approx([20.0, 100.0])


# ---------------------------------------------------------------------- (d) check_frame
def test_check_frame_rejects_broken_frames():
    good = _synthetic_picture(240, 320)
    assert check_frame(good) is good
    with pytest.raises(FrameError, match="zeros"):
        check_frame(np.zeros_like(good))
    with pytest.raises(FrameError, match="constant"):
        check_frame(np.full_like(good, 77))
    with pytest.raises(FrameError, match="shape"):
        check_frame(good.reshape(-1))  # a flat, truncated buffer
    with pytest.raises(FrameError, match="shape"):
        check_frame(good[..., :2])
    with pytest.raises(FrameError, match="expected"):
        check_frame(good[:200], expected_shape=good.shape)  # truncated rows
    with pytest.raises(FrameError, match="smaller"):
        check_frame(good[:10, :10])
    with pytest.raises(FrameError, match="dtype"):
        check_frame(good.astype(np.int64))
    bad = good.astype(np.float32)
    bad[3, 4, 0] = np.nan
    with pytest.raises(FrameError, match="non-finite"):
        check_frame(bad)
    with pytest.raises(FrameError):
        check_frame(None)


# ---------------------------------------------------------------------- (e) timing
class _Counter:
    """A render callback returning the number of the render (1, 2, ...)."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> np.ndarray:
        self.n += 1
        return np.array([self.n])


def test_stream_holds_frames_and_respects_the_delay():
    counter = _Counter()
    stream = CameraStream(counter, frame_rate_hz=30.0, delay_s=0.05, control_dt_s=0.02)
    stream.reset(0.0, phase_s=0.0)
    dt, steps = 0.02, 150
    seen = [int(stream.frame(k * dt)[0]) for k in range(steps)]
    # ~30 captures a second at 50 Hz: the renderer runs on ~60% of the steps.
    assert stream.renders == pytest.approx(steps * 30 / 50, abs=2)
    # The pre-episode frame (the state at t=0) is held until the first capture's
    # delay has passed: capture at 0 s, available from 0.05 s, i.e. step 3 (0.06 s).
    assert seen[:3] == [1, 1, 1]
    # Frames only move forward and each is held for 1 or 2 steps (33 ms at 20 ms steps).
    assert all(b >= a for a, b in zip(seen, seen[1:], strict=False))
    runs = np.diff(np.flatnonzero(np.diff(seen)))
    assert set(runs[1:].tolist()) <= {1, 2}
    # Every frame shown is at least delay_s old: render n is capture n - 1 (render 1 is
    # both the pre-episode frame and the capture at 0 s: the same state), made at the
    # step nearest its capture time, and shown once its capture time + 50 ms has passed.
    capture_step = {}
    for k, n in enumerate(seen):
        capture_step.setdefault(n, k)
    for n, first_shown in capture_step.items():
        if n == 1:
            continue
        capture_s = (n - 1) / 30.0
        assert first_shown * dt + 1e-9 >= capture_s + 0.05
        assert first_shown * dt < capture_s + 0.05 + dt + 1e-9  # shown as soon as it may be


def test_sensors_stream_renders_rgb_and_depth_at_the_camera_rate():
    sim, sensors = _scene_with_boxes()
    sensors.reset_camera(CameraAppearance(pixel_noise_sigma=0.0), t0_s=0.0)
    rgb0 = sensors.camera_observation("rgb", 0.0, 32, 24)
    depth0 = sensors.camera_observation("depth", 0.0, 32, 24)
    assert rgb0.shape == (3, 24, 32) and rgb0.dtype == np.uint8
    assert depth0.shape == (specs.DEPTH_CHANNELS, 24, 32) and depth0.dtype == np.uint8
    assert np.array_equal(rgb0, sensors.rgb_observation(32, 24))
    for k in range(1, 50):
        sensors.camera_observation("rgb", k * specs.CONTROL_DT_S, 32, 24)
    stream = sensors._streams[("rgb", 32, 24)]
    assert 28 <= stream.renders <= 32  # 1 s of 50 Hz steps, 30 frames/s
    with pytest.raises(ValueError, match="camera kind"):
        sensors.camera_observation("infrared", 0.0)
    with pytest.raises(ValueError, match="reset"):  # a new episode without reset_camera
        sensors.camera_observation("rgb", 0.0, 32, 24)
    sensors.reset_camera(None, t0_s=0.0)
    assert sensors.camera_observation("rgb", 0.0, 32, 24).shape == (3, 24, 32)


# ---------------------------------------------------------------------- (f) appearance
def test_appearance_is_seeded_and_changes_the_picture():
    ranges = AppearanceRanges()
    a1, a2 = ranges.sample(np.random.default_rng(7)), ranges.sample(np.random.default_rng(7))
    assert a1 == a2
    b = ranges.sample(np.random.default_rng(8))
    assert b != a1
    assert AppearanceRanges(enabled=False).sample(np.random.default_rng(7)) == CameraAppearance()
    sim, _ = _scene_with_boxes()
    images = []
    for appearance, seed in ((a1, 1), (a2, 1), (b, 1)):
        sensors = Sensors(sim, np.random.default_rng(seed))
        sensors.reset_camera(appearance)
        images.append(sensors.rgb_observation(32, 24).astype(int))
    assert np.array_equal(images[0], images[1])
    assert np.abs(images[0] - images[2]).mean() > 5.0
    # Boxes stay distinguishable from the floor in every draw.
    rng = np.random.default_rng(0)
    for _ in range(200):
        draw = ranges.sample(rng)
        for box in draw.box_rgbs:
            assert np.linalg.norm(np.subtract(box, draw.floor_rgb)) >= ranges.min_box_floor_distance
        assert abs(draw.camera_pitch_offset_rad) <= math.radians(3.0)


def test_pixel_noise_has_its_sigma_and_changes_every_frame():
    """The noise pool gives each frame a fresh pattern with the appearance's sigma."""
    sim, sensors = _scene_with_boxes()
    cam = RayCamera(sim.model, sensors._cam_id, 64, 48, sim.floor_geom_id, sim.obstacle_geom_ids)
    cam.set_appearance(CameraAppearance(pixel_noise_sigma=0.0, brightness_gain=0.7))
    clean = cam.render(sim.data).astype(float)
    cam.set_appearance(CameraAppearance(pixel_noise_sigma=5.0, brightness_gain=0.7))
    rng = np.random.default_rng(0)
    noise = [cam.render(sim.data, rng).astype(float) - clean for _ in range(3)]
    unclipped = (clean > 20) & (clean < 235)
    for frame in noise:
        assert abs(frame[unclipped].std() - 5.0) < 0.5
        assert abs(frame[unclipped].mean()) < 0.3
    assert np.corrcoef(noise[0][unclipped], noise[1][unclipped])[0, 1] < 0.1
    twin = RayCamera(sim.model, sensors._cam_id, 64, 48, sim.floor_geom_id, sim.obstacle_geom_ids)
    twin.set_appearance(CameraAppearance(pixel_noise_sigma=5.0, brightness_gain=0.7))
    seeded = twin.render(sim.data, np.random.default_rng(0)) - clean
    assert np.array_equal(seeded, noise[0])


def test_pitch_offset_tilts_the_view_down():
    sim, sensors = _scene_with_boxes()
    cam = RayCamera(sim.model, sensors._cam_id, 64, 48, sim.floor_geom_id, sim.obstacle_geom_ids)
    cam.cast(sim.data)
    level_sky = int((cam.geom_id < 0).sum())
    cam.set_appearance(CameraAppearance(camera_pitch_offset_rad=math.radians(3.0)))
    cam.cast(sim.data)
    assert int((cam.geom_id < 0).sum()) < level_sky  # looking down: less wall, more floor


# ---------------------------------------------------------------------- (c) both paths
def test_one_picture_through_sim_and_robot_paths_gives_one_tensor(monkeypatch):
    """A picture fed as the simulator's native frame and as picamera2's capture."""
    picture_rgb = _synthetic_picture(*reversed(robot_camera.CAMERA_CAPTURE_SIZE_PX))
    # (i) the simulator's path: RayCamera.observation with the picture as its frame.
    sim = PiDogSim("fast")
    cam = RayCamera(sim.model, 0, *robot_camera.CAMERA_CAPTURE_SIZE_PX)
    monkeypatch.setattr(cam, "render", lambda data, rng=None, noise_scale=1.0: picture_rgb)
    sim_tensor = cam.observation(sim.data, 32, 24)
    # (ii) the robot's path: picamera2 gives the same picture as RGB888, i.e. B, G, R.
    from pidog_gaits.backends import picamera

    class StandInPicamera2:
        def capture_array(self, name: str = "main") -> np.ndarray:
            return np.ascontiguousarray(picture_rgb[..., ::-1])

    robot_tensor = picamera.frame_to_policy(StandInPicamera2().capture_array(), (32, 24))
    assert robot_tensor.dtype == sim_tensor.dtype == np.uint8
    assert np.array_equal(sim_tensor, robot_tensor)


def test_one_scene_through_sensors_and_the_pidog_backend_gives_one_tensor(monkeypatch):
    """End to end: ``Sensors.rgb_observation`` (the simulator's 64x48 native frame) and
    ``PidogBackend.read`` (stand-in ``pidog`` and ``picamera2``, a 320x240 RGB888 frame)
    on one synthetic scene, each at its own resolution (the 320x240 frame is the 64x48
    one with every pixel repeated 5x5), give the identical policy tensor."""
    import sys
    import types

    from pidog_gaits.backends.pidog import PidogBackend, PidogConfig

    native = _synthetic_picture(48, 64, seed=5)
    capture = np.repeat(np.repeat(native, 5, axis=0), 5, axis=1)
    assert capture.shape[1::-1] == robot_camera.CAMERA_CAPTURE_SIZE_PX
    # (i) the simulator's sensor path, its ray camera's frame replaced by the scene.
    sim = PiDogSim("fast")
    sensors = Sensors(sim, np.random.default_rng(0))
    cam = sensors.ray_camera(64, 48)
    monkeypatch.setattr(cam, "render", lambda data, rng=None, noise_scale=1.0: native)
    sim_tensor = sensors.rgb_observation(32, 24)

    # (ii) the robot's path, through the backend's camera reader.
    class StandInPidog:
        def __init__(self, **kwargs) -> None:
            self.accData, self.gyroData = [-16384.0, 0.0, 0.0], [0.0, 0.0, 0.0]

        def legs_move(self, *args, **kwargs) -> None:
            pass

        def read_distance(self) -> float:
            return 50.0

        def close(self) -> None:
            pass

    class StandInPicamera2:
        def create_video_configuration(self, main=None, **kwargs):
            assert main == {"size": (320, 240), "format": "RGB888"}
            return {"main": main}

        def configure(self, config) -> None:
            pass

        def start(self) -> None:
            pass

        def stop(self) -> None:
            pass

        def capture_array(self, name: str = "main") -> np.ndarray:
            return np.ascontiguousarray(capture[..., ::-1])  # RGB888 is B, G, R

    monkeypatch.setitem(sys.modules, "pidog", types.SimpleNamespace(Pidog=StandInPidog))
    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=StandInPicamera2))
    backend = PidogBackend(PidogConfig(camera_thread=False), image="rgb", image_size_px=(32, 24))
    try:
        robot_tensor = backend.read().image
    finally:
        backend.close()
    assert robot_tensor.shape == sim_tensor.shape == (3, 24, 32)
    assert np.array_equal(sim_tensor, robot_tensor)
