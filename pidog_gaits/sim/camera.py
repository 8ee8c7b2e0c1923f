"""The head camera without OpenGL: colour images by ray casting, their appearance, their timing.

``RayCamera`` casts one ray per pixel with ``mujoco.mj_multiRay`` along MuJoCo's own camera
model (``cam_fovy`` vertical, rays through pixel centres, row 0 at the top), so it sees
what ``mujoco.Renderer`` sees pixel for pixel (``tests/test_camera.py``: >= 90% of pixels
hit the same geom), and colours each hit by the geom's colour under the scene's own lights
(ambient + Lambert from the headlight and the directional lights). On a CPU it is faster
than EGL's software rasteriser at the sizes a policy uses (``benchmarks/camera_speed.py``).

Only world geoms (``specs.WORLD_GEOM_GROUP``: floor and boxes) are cast against, as for
the depth image. The robot's own parts are not in the camera's view anyway: the
ultrasonic transducers' top front edge is 8 mm below and 4 mm ahead of the lens (63 deg
below its axis; the view's half-height is 21 deg), and the legs and body are behind the
head. Measured with ``mujoco.Renderer``'s segmentation at 320x240 over the head's range
(pitch -45..30 deg x yaw -90..90 deg, standing): 0 robot pixels; ``tests/test_camera.py``
checks the standing view.

``CameraAppearance`` is what a room and a camera change (floor, box and wall colours,
light, exposure, noise, a few degrees of camera pitch); ``AppearanceRanges.sample`` draws
one per episode. ``CameraStream`` gives a policy the frames a 30 frames/s camera with
~35 ms delay would give at its control steps (``robot/camera.py``).
"""

from __future__ import annotations

import colorsys
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import mujoco
import numpy as np

from pidog_gaits.robot import camera as robot_camera
from pidog_gaits.robot import specs

NATIVE_SCALE = 2
"""The ray camera renders at this multiple of the policy's size (64x48 for 32x24), and
``preprocess_frame`` averages 2x2 blocks: each policy pixel is the mean of 4 rays."""
NOISE_POOL_SIZE = 1 << 18
"""Standard normals a camera draws once and takes each frame's pixel noise from (1 MiB)."""
WALL_RGB = (0.78, 0.80, 0.84)
"""Colour of a ray that hits nothing (the room's far walls): the sky gradient's mid tone."""


# ---------------------------------------------------------------------- appearance
@dataclass(frozen=True)
class CameraAppearance:
    """What the room and the camera look like for one episode (colours 0..1, linear).

    ``None`` colours keep the model's own (the floor texture's mean, each box's rgba).
    """

    floor_rgb: tuple[float, float, float] | None = None
    box_rgbs: tuple[tuple[float, float, float], ...] | None = None
    """One colour per obstacle geom (in ``sim.obstacle_geom_ids`` order); a shorter tuple
    is repeated."""
    wall_rgb: tuple[float, float, float] = WALL_RGB
    """Colour of rays that hit nothing."""
    brightness_gain: float = 1.0
    """Multiplies the room's light (lit surfaces; not the walls, which stand for far,
    independently lit surfaces)."""
    exposure_gain: float = 1.0
    """Multiplies the whole picture before clipping to 255 (the camera's exposure x gain)."""
    pixel_noise_sigma: float = 2.0
    """Gaussian noise per native pixel and channel, in 0..255 units."""
    camera_pitch_offset_rad: float = 0.0
    """Mounting error of the camera about its left axis; positive looks down."""


def _hsv(rng: np.random.Generator, s_range, v_range) -> tuple[float, float, float]:
    h = float(rng.uniform(0.0, 1.0))
    s = float(rng.uniform(*s_range))
    v = float(rng.uniform(*v_range))
    return tuple(float(c) for c in colorsys.hsv_to_rgb(h, s, v))


@dataclass(frozen=True)
class AppearanceRanges:
    """Per-episode ranges of ``CameraAppearance``; ``sample(rng)`` draws one.

    Floors are drawn dull (saturation <= 0.35: tiles, wood, carpet, concrete); boxes any
    hue and much of the saturation range, so that no one box colour can be relied on. A
    box must still be visible: its colour is redrawn until it is at least
    ``min_box_floor_distance`` from the floor's (Euclidean RGB, 0..1); below that a box
    differs from the floor only by shading, which a person would also struggle with.
    """

    enabled: bool = True
    floor_saturation: tuple[float, float] = (0.0, 0.35)
    floor_value: tuple[float, float] = (0.25, 0.8)
    box_saturation: tuple[float, float] = (0.2, 1.0)
    box_value: tuple[float, float] = (0.2, 1.0)
    wall_saturation: tuple[float, float] = (0.0, 0.3)
    wall_value: tuple[float, float] = (0.5, 1.0)
    min_box_floor_distance: float = 0.25
    brightness_gain: tuple[float, float] = (0.6, 1.4)
    """Room light from dim to bright (x0.6..x1.4 of the model's lights)."""
    exposure_gain: tuple[float, float] = (0.8, 1.25)
    """Auto-exposure settling off target by about -/+ 1/3 stop."""
    pixel_noise_sigma: tuple[float, float] = (0.0, 6.0)
    """0..6 grey levels (0..255) per native pixel: a small sensor's noise in indoor light."""
    camera_pitch_offset_rad: tuple[float, float] = (-math.radians(3.0), math.radians(3.0))
    """The module's mounting tolerance in the head shell and the head servo's trim."""
    num_boxes: int = 8
    """Box colours drawn (one per reserved obstacle geom; extra ones are ignored)."""

    def sample(self, rng: np.random.Generator) -> CameraAppearance:
        """One episode's appearance, from ``rng`` only (nominal when not ``enabled``)."""
        if not self.enabled:
            return CameraAppearance()
        floor = _hsv(rng, self.floor_saturation, self.floor_value)
        boxes = []
        for _ in range(self.num_boxes):
            for _attempt in range(100):
                box = _hsv(rng, self.box_saturation, self.box_value)
                if np.linalg.norm(np.subtract(box, floor)) >= self.min_box_floor_distance:
                    break
            boxes.append(box)
        return CameraAppearance(
            floor_rgb=floor,
            box_rgbs=tuple(boxes),
            wall_rgb=_hsv(rng, self.wall_saturation, self.wall_value),
            brightness_gain=float(rng.uniform(*self.brightness_gain)),
            exposure_gain=float(rng.uniform(*self.exposure_gain)),
            pixel_noise_sigma=float(rng.uniform(*self.pixel_noise_sigma)),
            camera_pitch_offset_rad=float(rng.uniform(*self.camera_pitch_offset_rad)),
        )


# ---------------------------------------------------------------------- the ray camera
def camera_ray_directions(width_px: int, height_px: int, fovy_deg: float) -> np.ndarray:
    """Unit ray directions ``(H*W, 3)`` in MuJoCo's camera frame (x right, y up, -z ahead).

    MuJoCo's camera: ``fovy`` spans the image height, the width follows from the aspect,
    and each ray passes through its pixel's centre; rows run from the top of the image.
    """
    half_h = math.tan(math.radians(fovy_deg) / 2)
    half_w = half_h * width_px / height_px
    xs = ((np.arange(width_px) + 0.5) / width_px * 2 - 1) * half_w
    ys = (1 - (np.arange(height_px) + 0.5) / height_px * 2) * half_h
    gx, gy = np.meshgrid(xs, ys)
    dirs = np.stack([gx, gy, -np.ones_like(gx)], axis=-1).reshape(-1, 3)
    return dirs / np.linalg.norm(dirs, axis=1, keepdims=True)


def _material_rgb(model: mujoco.MjModel, geom_id: int) -> np.ndarray:
    """A geom's base colour: its rgba, or its material's rgba times its texture's mean."""
    mat = model.geom_matid[geom_id]
    if mat < 0:
        return model.geom_rgba[geom_id, :3].astype(float)
    rgb = model.mat_rgba[mat, :3].astype(float)
    texids = np.atleast_1d(model.mat_texid[mat])
    tex = next((int(t) for t in texids if t >= 0), -1)
    if tex >= 0:
        adr, n = model.tex_adr[tex], model.tex_nchannel[tex]
        size = model.tex_width[tex] * model.tex_height[tex] * n
        texels = model.tex_data[adr : adr + size].reshape(-1, n)[:, :3]
        rgb = rgb * texels.mean(axis=0) / 255.0
    return rgb


class RayCamera:
    """Colour images of one MuJoCo camera by ray casting, no OpenGL.

    :param model: the compiled scene.
    :param camera_id: the camera to look through (``specs.HEAD_CAMERA``'s id).
    :param width_px, height_px: the native image it renders.
    :param floor_geom_id: the geom ``CameraAppearance.floor_rgb`` recolours.
    :param box_geom_ids: the geoms ``CameraAppearance.box_rgbs`` recolour, in order.
    :param geom_group: the only geom group rays can hit (the world's).
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        camera_id: int,
        width_px: int,
        height_px: int,
        floor_geom_id: int = -1,
        box_geom_ids=(),
        geom_group: int = specs.WORLD_GEOM_GROUP,
    ) -> None:
        self.model = model
        self.camera_id = camera_id
        self.width_px, self.height_px = width_px, height_px
        self.floor_geom_id = floor_geom_id
        self.box_geom_ids = np.asarray(box_geom_ids, dtype=int)
        n = width_px * height_px
        self._base_dirs = camera_ray_directions(width_px, height_px, model.cam_fovy[camera_id])
        self._dirs_cam = self._base_dirs
        self._pitch_rad = 0.0
        self._geomgroup = np.zeros(mujoco.mjNGROUP, dtype=np.uint8)
        self._geomgroup[geom_group] = 1
        self.geom_id = np.full(n, -1, dtype=np.int32)
        """Geom hit by each pixel's ray in the last render (-1: none), row-major."""
        self.dist_m = np.zeros(n)
        """Distance along each ray (m) in the last render; -1 where nothing was hit."""
        self.normal = np.zeros((n, 3))
        """World surface normal at each ray's hit in the last render (undefined at misses)."""
        self._noise_pool: np.ndarray | None = None
        self.max_dist_m = float(model.vis.map.zfar * model.stat.extent)
        """Rays end where ``mujoco.Renderer``'s far clipping plane is."""
        self._base_rgb = np.array([_material_rgb(model, g) for g in range(model.ngeom)])
        self._brightness = 1.0
        self._exposure = 1.0
        self._noise = 0.0
        self._lights = [i for i in range(model.nlight) if self._directional(i)]
        self._light_diffuse = model.light_diffuse[self._lights, 0].astype(float)
        self._ambient = float(model.vis.headlight.ambient[0])
        self._headlight_diffuse = float(model.vis.headlight.diffuse[0])
        self.set_appearance(CameraAppearance())

    def _directional(self, light: int) -> bool:
        m = self.model
        if hasattr(m, "light_type"):
            return int(m.light_type[light]) == int(mujoco.mjtLightType.mjLIGHT_DIRECTIONAL)
        return bool(m.light_directional[light])

    def set_appearance(self, appearance: CameraAppearance) -> None:
        """Recolour the floor and boxes, set light, exposure and noise, tilt the camera."""
        rgb = self._base_rgb.copy()
        if appearance.floor_rgb is not None and self.floor_geom_id >= 0:
            rgb[self.floor_geom_id] = appearance.floor_rgb
        if appearance.box_rgbs and self.box_geom_ids.size:
            colours = appearance.box_rgbs
            for k, gid in enumerate(self.box_geom_ids):
                rgb[gid] = colours[k % len(colours)]
        self._colour_table = np.vstack([rgb, appearance.wall_rgb])  # row -1: rays that miss
        self._brightness = appearance.brightness_gain
        self._exposure = appearance.exposure_gain
        self._noise = appearance.pixel_noise_sigma
        if appearance.camera_pitch_offset_rad != self._pitch_rad:
            a = -appearance.camera_pitch_offset_rad  # about the camera's x (right) axis
            c, s = math.cos(a), math.sin(a)
            rot = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
            self._dirs_cam = self._base_dirs @ rot.T
            self._pitch_rad = appearance.camera_pitch_offset_rad

    def cast(self, data: mujoco.MjData, normals: bool = False) -> np.ndarray:
        """Cast every pixel's ray; fills ``geom_id`` and ``dist_m`` (and ``normal`` when
        ``normals``: MuJoCo's own surface normals of the hit faces); returns the rays'
        world directions ``(H*W, 3)``."""
        m, cam = self.model, self.camera_id
        rot = data.cam_xmat[cam].reshape(3, 3)
        dirs = self._dirs_cam @ rot.T
        mujoco.mj_multiRay(
            m, data, data.cam_xpos[cam], dirs.ravel(), self._geomgroup, 1, -1,
            self.geom_id, self.dist_m, self.normal.ravel() if normals else None, len(dirs),
            self.max_dist_m,
        )  # fmt: skip
        return dirs

    def render(
        self, data: mujoco.MjData, rng: np.random.Generator | None = None, noise_scale=1.0
    ) -> np.ndarray:
        """A colour frame ``(height_px, width_px, 3)`` uint8, RGB, row 0 at the top.

        Shading follows MuJoCo's lights: the headlight's ambient, plus each directional
        light's and the headlight's diffuse term ``max(0, n . l)`` (``n``: the normal
        ``mj_multiRay`` returns), times the appearance's brightness; then exposure, noise
        (``pixel_noise_sigma x noise_scale``, from ``rng``; none without one), clipping.
        Everything is whole-image array work (no per-geom loop, no masked copies): a ray
        that hits nothing indexes the colour table's last row, the wall, and gets light 1.
        """
        dirs = self.cast(data, normals=True)
        n = self.normal
        light = np.clip(np.einsum("ij,ij->i", n, dirs), None, 0.0)
        light *= -self._headlight_diffuse
        light += self._ambient
        if self._lights:
            to_lights = -data.light_xdir[self._lights]  # (n_lights, 3)
            light += np.clip(n @ to_lights.T, 0.0, None) @ self._light_diffuse
        light *= self._brightness
        np.minimum(light, 1.0, out=light)
        light[self.geom_id < 0] = 1.0
        image = self._colour_table[self.geom_id]  # row -1: the wall
        image *= light[:, None]
        sigma = self._noise * noise_scale
        if rng is not None and sigma > 0.0:
            image += self._noise_field(rng) * (sigma / (255.0 * self._exposure))
        image *= 255.0 * self._exposure
        np.clip(image, 0.0, 255.0, out=image)
        return np.rint(image).astype(np.uint8).reshape(self.height_px, self.width_px, 3)

    def _noise_field(self, rng: np.random.Generator) -> np.ndarray:
        """One frame's standard normal pixel noise ``(H*W, 3)``: a window at a random
        offset into a pool of ``NOISE_POOL_SIZE`` normals drawn once from ``rng``.

        Drawing 9,216 fresh normals a frame was a quarter of the 64x48 frame's cost; a
        window of a 2^18 pool costs one random integer. Successive frames' windows start
        at independent offsets, so no two frames share a noise pattern in place.
        """
        n = self.normal.size
        if self._noise_pool is None or self._noise_pool.size < n + 1:
            size = max(NOISE_POOL_SIZE, 2 * n)
            self._noise_pool = rng.standard_normal(size, dtype=np.float32)
        start = int(rng.integers(0, self._noise_pool.size - n))
        return self._noise_pool[start : start + n].reshape(-1, 3)

    def observation(
        self, data: mujoco.MjData, width_px: int, height_px: int, rng=None, noise_scale=1.0
    ) -> np.ndarray:
        """The policy's image ``(3, height_px, width_px)`` uint8: a native frame through
        ``robot.camera.preprocess_frame``, the function the robot's frames go through."""
        frame = self.render(data, rng, noise_scale)
        return robot_camera.preprocess_frame(frame, width_px, height_px, "rgb")


# ---------------------------------------------------------------------- timing
@dataclass
class _Capture:
    time_s: float
    image: np.ndarray


@dataclass
class CameraStream:
    """Frames at a camera's rate and delay, sampled at the control steps.

    A capture is due every ``1 / frame_rate_hz`` from a per-episode phase; physics states
    exist only at control steps, so a capture is rendered at the control step nearest its
    time. ``frame(t_s)`` returns the newest capture whose time + ``delay_s`` <= ``t_s``
    and holds it until a newer one is that old: at 50 Hz control and 30 frames/s the
    renderer runs on 60% of the steps.

    :param render: makes one image of the simulator's current state (any array: colour
        ``(3, H, W)`` or depth ``(2, H, W)``).
    """

    render: Callable[[], np.ndarray]
    frame_rate_hz: float = robot_camera.CAMERA_FRAME_RATE_HZ
    delay_s: float = robot_camera.CAMERA_DELAY_S
    control_dt_s: float = specs.CONTROL_DT_S
    renders: int = field(default=0, init=False)
    """Images rendered since construction (for tests and benchmarks)."""
    _captures: deque = field(default_factory=deque, init=False, repr=False)
    _next_capture_s: float = field(default=0.0, init=False)
    _t0_s: float = field(default=0.0, init=False)
    _last_t_s: float = field(default=-math.inf, init=False)

    def reset(self, t0_s: float = 0.0, phase_s: float = 0.0) -> None:
        """Start an episode at ``t0_s``; the first capture is due at ``t0_s + phase_s``.

        Draw ``phase_s`` in ``[0, 1 / frame_rate_hz)``: the camera's clock does not know
        the controller's. The robot stood still before the episode, so until the first
        capture's delay has passed the policy sees the state at ``t0_s`` (rendered at the
        first ``frame`` call) as if captured ``delay_s`` earlier.
        """
        self._captures.clear()
        self._t0_s = t0_s
        self._next_capture_s = t0_s + phase_s
        self._last_t_s = -math.inf

    def frame(self, t_s: float) -> np.ndarray:
        """The frame a policy acting at ``t_s`` has (call once per control step, in order)."""
        if t_s < self._last_t_s - 1e-9:
            raise ValueError(
                f"camera time went back from {self._last_t_s} s to {t_s} s: "
                "call reset (Sensors.reset_camera) when an episode starts"
            )
        self._last_t_s = t_s
        period = 1.0 / self.frame_rate_hz
        horizon = t_s + 0.5 * self.control_dt_s + 1e-9  # captures due by this step's end
        image = None
        if not self._captures:
            image = self._render()
            self._captures.append(_Capture(self._t0_s - self.delay_s, image))
        due = self._next_capture_s
        if due <= horizon:
            image = self._render() if image is None else image
            while due + period <= horizon:  # several due in one step: keep the last
                due += period
            self._captures.append(_Capture(due, image))
            self._next_capture_s = due + period
        # Drop captures that a newer available one replaces.
        while len(self._captures) > 1 and self._captures[1].time_s + self.delay_s <= t_s + 1e-9:
            self._captures.popleft()
        return self._captures[0].image

    def _render(self) -> np.ndarray:
        self.renders += 1
        return self.render()
