"""PiDog's head camera: its figures, and the ONE preprocessing from a frame to the policy's image.

This module runs on the robot (numpy only: no MuJoCo, torch or gymnasium). The simulator's
frames (``sim/camera.py``) and picamera2's frames (``backends/picamera.py``) both reach the
policy through ``preprocess_frame``, so a policy sees the same kind of tensor in training
and on the robot. Sources for every figure: ``robot/README.md`` ("Camera").

* Module: SunFounder's PiDog camera, an OV5647 5 MP module (2592x1944, 4:3), "view angle
  65 deg" (SunFounder PiDog docs, ``hardware/cpn_camera.rst``). The page does not name the
  axis. We read it as the **diagonal**: the OV5647 image area (2592 x 1944 pixels of
  1.4 um = 3.63 x 2.72 mm) behind the common 3.6 mm lens gives 53.5 deg horizontal, 41.4
  deg vertical (Raspberry Pi camera v1 specification) and 64.4 deg diagonal, which is the
  "65 deg" figure; a 65 deg *horizontal* view would need a 2.85 mm lens and be 77 deg on
  the diagonal. With a 4:3 picture, 65 deg diagonal = 54.0 deg horizontal x 41.8 deg
  vertical (``CAMERA_HFOV_DEG``, ``CAMERA_VFOV_DEG``). MuJoCo's ``fovy`` is the vertical one.
* Frame rate: picamera2's ``create_video_configuration`` fixes ``FrameDurationLimits`` at
  33333 us, i.e. 30 frames/s (picamera2 ``picamera2.py``).
* Delay: from the middle of a frame's exposure to the frame being ready, ~35 ms (see
  ``CAMERA_DELAY_S``), plus the wait for the next control step.
* Byte order: picamera2's ``"RGB888"`` arrays hold each pixel as B, G, R (picamera2
  ``request.py`` hands ``RGB888`` buffers to PIL and simplejpeg as ``"BGR"``; the
  picamera2 manual's appendix A says the same), hence ``CAMERA_CHANNEL_ORDER = "bgr"``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

# --------------------------------------------------------------------------- the module
CAMERA_SENSOR = "OV5647"
CAMERA_SENSOR_SIZE_PX = (2592, 1944)
"""Full sensor (width, height): 4:3."""
CAMERA_ASPECT = 4.0 / 3.0
"""Width over height of the sensor, of the capture and of the policy's image (32x24)."""
CAMERA_DIAGONAL_FOV_DEG = 65.0
"""SunFounder's "view angle: 65 deg", read as the diagonal (module docstring)."""
_HALF_DIAG_TAN = math.tan(math.radians(CAMERA_DIAGONAL_FOV_DEG) / 2)
CAMERA_HFOV_DEG = math.degrees(2 * math.atan(_HALF_DIAG_TAN * 4 / 5))
"""Horizontal field of view (deg): 54.0 for 65 deg diagonal at 4:3."""
CAMERA_VFOV_DEG = math.degrees(2 * math.atan(_HALF_DIAG_TAN * 3 / 5))
"""Vertical field of view (deg): 41.8; the simulated camera's ``fovy``."""

CAMERA_FORMAT = "RGB888"
"""picamera2 stream format: 3 bytes a pixel, no padding byte to strip."""
CAMERA_CHANNEL_ORDER = "bgr"
"""Memory order of ``CAMERA_FORMAT`` arrays from ``capture_array()`` (module docstring)."""
CAMERA_CAPTURE_SIZE_PX = (320, 240)
"""picamera2 ``main`` stream (width, height). 4:3, so libcamera picks a full-field-of-view
sensor mode (the 4x4-binned 640x480 or the 2x2-binned 1296x972 mode) and its ISP scales it
down; ``preprocess_frame`` then averages exact 10x10 blocks to 32x24. Small enough that
the average is cheap (230 k bytes a frame: 0.4-0.6 ms on the shared x86 workstation,
``benchmarks/camera_speed.py``; a Raspberry Pi 4 is several times slower, not measured),
large enough that most of the down-scaling is our own exact area average rather than
the ISP's filter, the same average the simulator's frames get."""

CAMERA_FRAME_RATE_HZ = 30.0
"""picamera2's video configuration: ``FrameDurationLimits = (33333, 33333)`` us."""
CAMERA_DELAY_S = 0.035
"""From the middle of a frame's exposure to the frame being ready for the policy (s).

An estimate from its parts, to be replaced by a measurement on the robot (the backend
reports ``camera_age_ms``: now minus picamera2's ``SensorTimestamp`` plus half the
exposure, taken when each frame is ready): half of an indoor exposure of up to one
frame (~5-16 ms; the timestamp marks the end of the first row's exposure, picamera2 issue
#821), the rolling readout of the whole frame (~11 ms in the 4x4-binned mode, which runs
up to 90 frames/s), the ISP and the hand-over to Python (~5-10 ms) and
``preprocess_frame`` (~1-2 ms on a Raspberry Pi 4, estimated): 22-38 ms. One user
measured ~20 ms from shot to arrival on a Raspberry Pi with the older camera stack
(``OTL/cv_camera`` pull request #19). The frame then waits for the control step that
reads it (0-20 ms at 50 Hz); ``CameraStream`` adds that wait by itself, as the real loop
does."""

CAMERA_MOUNT = "head front, on the head's forward axis, level at head pitch 0"
"""Where the module sits: in the head's front face looking along the head's forward axis,
so it pitches and yaws with the head servos (``pidog.xml`` ``head_camera``)."""

POLICY_IMAGE_SIZE_PX = (32, 24)
"""Default policy image (width, height): ``RLConfig.image_width_px/height_px``; 4:3."""

CHANNEL_ORDERS = ("rgb", "bgr")


class FrameError(ValueError):
    """A camera frame the policy must not see: wrong shape or type, too small, corrupt."""


def _as_hwc(frame: np.ndarray, width_px: int, height_px: int) -> np.ndarray:
    """The structural checks both sides need: ``(H, W, 3|4)``, a number type, big enough."""
    if not isinstance(frame, np.ndarray):
        raise FrameError(f"frame is a {type(frame).__name__}, not a numpy array")
    if frame.ndim != 3 or frame.shape[2] not in (3, 4):
        raise FrameError(f"frame shape {frame.shape}: expected (height, width, 3 or 4)")
    if frame.dtype != np.uint8 and not np.issubdtype(frame.dtype, np.floating):
        raise FrameError(f"frame dtype {frame.dtype}: expected uint8 or float")
    h, w = frame.shape[:2]
    if h < height_px or w < width_px:
        raise FrameError(f"frame {w}x{h} px is smaller than the policy's {width_px}x{height_px}")
    return frame[..., :3]


def check_frame(
    frame: np.ndarray,
    width_px: int = POLICY_IMAGE_SIZE_PX[0],
    height_px: int = POLICY_IMAGE_SIZE_PX[1],
    expected_shape: tuple[int, ...] | None = None,
) -> np.ndarray:
    """Raise ``FrameError`` for a frame the robot must not act on; return it otherwise.

    Catches what a camera that fails gives: a truncated or reshaped buffer (wrong ndim or
    shape, or not ``expected_shape`` when given), a wrong type, a frame smaller than the
    policy's image, NaN or inf, and an all-zero or all-constant picture (a dead sensor or
    a blank buffer: a real room never gives every pixel the same value).
    """
    if expected_shape is not None and getattr(frame, "shape", None) != tuple(expected_shape):
        raise FrameError(f"frame shape {getattr(frame, 'shape', None)}: expected {expected_shape}")
    rgb = _as_hwc(frame, width_px, height_px)
    if rgb.dtype != np.uint8 and not np.all(np.isfinite(rgb)):
        raise FrameError("frame has non-finite values")
    low, high = rgb.min(), rgb.max()
    if high == 0:
        raise FrameError("frame is all zeros")
    if low == high:
        raise FrameError(f"frame is one constant value ({low})")
    return frame


@lru_cache(maxsize=32)
def _area_weights(in_px: int, out_px: int) -> np.ndarray:
    """``(out_px, in_px)`` matrix: output pixel i is the mean of the input over its span.

    Output pixel i covers ``[i * s, (i + 1) * s)`` input pixels, ``s = in_px / out_px``;
    each input pixel's weight is its overlap with that span over ``s``, so rows sum to 1.
    """
    scale = in_px / out_px
    lo = np.arange(out_px)[:, None] * scale
    hi = lo + scale
    left = np.arange(in_px)[None, :]
    overlap = np.clip(np.minimum(hi, left + 1) - np.maximum(lo, left), 0.0, None)
    weights = overlap / scale
    weights.setflags(write=False)
    return weights


def area_resize(image: np.ndarray, width_px: int, height_px: int) -> np.ndarray:
    """Area-average an ``(H, W, C)`` image to ``(height_px, width_px, C)`` (float).

    Integer factors average exact blocks (uint8 summed in integers: exact, and ~10x
    faster than a float mean over two axes: 0.3 ms for 320x240 -> 32x24 here); other
    sizes weight each source pixel by its overlap with the output pixel (the
    area-resampling of OpenCV's ``INTER_AREA``), so a frame of any size becomes the mean
    light over each output pixel's patch of the view.
    """
    h, w, c = image.shape
    if h % height_px == 0 and w % width_px == 0:
        fh, fw = h // height_px, w // width_px
        blocks = image.reshape(height_px, fh, width_px, fw, c)
        acc = np.uint32 if image.dtype == np.uint8 else np.float64
        sums = blocks.sum(axis=1, dtype=acc).sum(axis=2, dtype=acc)
        return sums / float(fh * fw)
    wy = _area_weights(h, height_px).astype(np.float32)
    wx = _area_weights(w, width_px).astype(np.float32)
    rows = np.tensordot(wy, image.astype(np.float32), axes=(1, 0))  # (height_px, W, C)
    return np.einsum("xw,hwc->hxc", wx, rows, optimize=True)


def preprocess_frame(
    frame: np.ndarray, width_px: int, height_px: int, channel_order: str = "rgb"
) -> np.ndarray:
    """A camera frame -> the policy's image: ``(3, height_px, width_px)`` uint8, RGB.

    :param frame: ``(H, W, 3)`` (or ``(H, W, 4)``, the 4th byte dropped) uint8 or float
        in 0..255, ``H x W`` at least the output size, with the same 4:3 aspect.
    :param channel_order: the frame's memory order, ``"rgb"`` (the simulator) or ``"bgr"``
        (picamera2 ``RGB888``, ``CAMERA_CHANNEL_ORDER``).

    Area averaging (``area_resize``), then rounding to the nearest integer (ties to even),
    then channels first: what the policy's CNN takes. Both the simulator and the robot
    call this, so the policy cannot learn a difference between their pipelines.
    """
    if channel_order not in CHANNEL_ORDERS:
        raise ValueError(f"channel_order {channel_order!r}: expected one of {CHANNEL_ORDERS}")
    small = area_resize(_as_hwc(frame, width_px, height_px), width_px, height_px)
    if channel_order == "bgr":
        small = small[..., ::-1]  # after the average: 3 x 768 values, not the whole frame
    out = np.rint(np.clip(small, 0.0, 255.0)).astype(np.uint8)
    return np.ascontiguousarray(out.transpose(2, 0, 1))
