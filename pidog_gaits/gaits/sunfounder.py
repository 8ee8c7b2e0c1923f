"""SunFounder's own leg actions, re-derived: the frames the PiDog library sends its servos.

The maker's gaits are the one piece of ground truth about the real robot available here
(DESIGN.md): the simulator should walk them. This module rebuilds, from the published
algorithm and constants, the frame lists that the library's ``do_action`` queues:

* ``walk_coords`` / ``trot_coords``: foot coordinates per frame, as the library's
  ``Walk.get_coords`` / ``Trot.get_coords`` (``pidog/walk.py``, ``pidog/trot.py``,
  sunfounder/pidog at 1ef95a2) lay them out;
* ``library_leg_angles_deg``: those coordinates through the library's leg IK
  (``Pidog.legs_angle_calculation``: ``coord2polar``, knee ``beta - 90``, right legs
  negated), which is our ``kinematics.leg_ik`` once the axes are converted;
* the static poses (``actions_dictionary.py``: ``stand``, ``sit``, ``lie``).

Library coordinates are millimetres, per leg ``[y, z]``: y from the hip towards the
*rear* (the library's front hips sit at ``-BODY_LENGTH / 2``), z down from the hip.
Angles here are the library's servo degrees (right legs negated); ``to_sim_rad`` turns
them into the simulator's joint angles.

Turn constants: the library's ``LEFT = -1`` selects ``LEG_STEP_SCALES_LEFT``, which
shortens the *left* legs' strides, so ``lr = -1`` turns left (its docstring says the
opposite; the tables decide).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pidog_gaits.gaits.kinematics import leg_ik
from pidog_gaits.robot import specs

FORWARD, BACKWARD = 1, -1
LEFT, STRAIGHT, RIGHT = -1, 0, 1
"""The library's ``fb`` and ``lr`` codes (``Walk.FORWARD``, ``Walk.LEFT``...)."""

# --------------------------------------------------------------------------- walk
WALK_SECTIONS = 8
"""``Walk.SECTION_COUNT``: one leg lifts in every other section."""
WALK_STEPS_PER_SECTION = 6
"""``Walk.STEP_COUNT``: frames per section."""
WALK_LEG_ORDER = (1, 0, 4, 0, 2, 0, 3, 0)
"""``Walk.LEG_ORDER``: leg raised in each section (1-based; 0 = all four down)."""
WALK_STEP_HEIGHT_MM = 20.0
WALK_STRIDE_MM = 80.0
"""``Walk.LEG_STEP_WIDTH``: each foot's stroke."""
WALK_CENTER_OF_GRAVITY_MM = -15.0
"""``Walk.CENTER_OF_GRAVIRTY``: strokes shifted 15 mm towards the head."""
WALK_LEG_OFFSETS_MM = (-10.0, -10.0, 20.0, 20.0)
"""``Walk.LEG_POSITION_OFFSETS``: per-leg stroke centre, rear-positive."""
WALK_Z_MM = 80.0
"""``Walk.Z_ORIGIN``: hip height over the feet while walking."""
WALK_TURNING_RATE = 0.3
WALK_START_SECTIONS = (0, 2, 3, 1)
"""``Walk.LEG_ORIGINAL_Y_TABLE``: where each foot starts along its stroke."""

# --------------------------------------------------------------------------- trot
TROT_SECTIONS = 2
TROT_STEPS_PER_SECTION = 3
TROT_RAISE_ORDER = ((1, 4), (2, 3))
"""``Trot.LEG_RAISE_ORDER``: the diagonal pairs (1-based legs)."""
TROT_STEP_HEIGHT_MM = 20.0
TROT_STRIDE_MM = 100.0
"""``Trot.LEG_STEP_WIDTH``."""
TROT_CENTER_OF_GRAVITY_MM = -17.0
"""``Trot.CENTER_OF_GRAVITY``."""
TROT_STAND_OFFSET_MM = 5.0
TROT_STAND_OFFSET_DIRS = (-1.0, -1.0, 1.0, 1.0)
"""Front feet 5 mm further forward, hind feet 5 mm further back (``LEG_STAND_OFFSET``)."""
TROT_Z_MM = 80.0
TROT_TURNING_RATE = 0.5
TROT_START_SECTIONS = (0, 1, 1, 0)
"""``Trot.LEG_ORIGINAL_Y_TABLE``."""
TROT_Y_OFFSET_MM = {
    # (fb, turning): extra body offset added to the centre of gravity (``Trot.__init__``)
    (FORWARD, False): 0.0,
    (FORWARD, True): -2.0,
    (BACKWARD, False): 8.0,
    (BACKWARD, True): 1.0,
}

# --------------------------------------------------------------------------- poses
STAND_BARYCENTER_MM = -15.0
"""``ActionDict.barycenter``: stand feet 15 mm towards the head."""
STAND_HEIGHT_MM = 95.0
"""``ActionDict.height`` in the current library (1.3.x); older versions stood at 80 mm."""
STAND_HIND_OFFSET_MM = (20.0, -5.0)
"""Hind feet 20 mm further back and 5 mm higher than the front feet (``stand``)."""
SIT_DEG = (30.0, 60.0, -30.0, -60.0, 80.0, -45.0, -80.0, 45.0)
"""``ActionDict.sit``: library servo degrees."""
LIE_DEG = (45.0, -45.0, -45.0, 45.0, 45.0, -45.0, -45.0, 45.0)
"""``ActionDict.lie``: also the legs' power-on angles (``Pidog.__init__``)."""

LEG_SIGN = specs.HARDWARE_SIGN[: specs.NUM_LEG_JOINTS]


def _step_scales(lr: int, turning_rate: float) -> np.ndarray:
    """Per-leg stride scale: ``LEG_STEP_SCALES[lr + 1]`` (left legs shortened when lr=-1)."""
    if lr == LEFT:
        return np.array([turning_rate, 1.0, turning_rate, 1.0])
    if lr == RIGHT:
        return np.array([1.0, turning_rate, 1.0, turning_rate])
    return np.ones(4)


def _swing_y(origin: np.ndarray, width: np.ndarray, fb: int, step: int, steps: int) -> np.ndarray:
    """The library's cosine swing (``step_y_func``): origin to origin - width going forward."""
    theta = step * math.pi / (steps - 1)
    return origin + width * (math.cos(theta) - fb) / 2.0 * fb


def walk_coords(fb: int = FORWARD, lr: int = STRAIGHT) -> np.ndarray:
    """Foot coordinates ``(49, 4, 2)`` mm of one walk cycle, as ``Walk.get_coords``.

    8 sections of 6 frames; in sections 0, 2, 4, 6 one leg swings (order 1, 4, 2, 3,
    reversed walking backwards) while every foot on the ground slides ``stride / 42`` per
    frame towards the rear (the front when backing). The swing foot rises linearly to
    20 mm and is put down at the next frame. A 49th frame returns to the start.
    """
    scales = _step_scales(lr, WALK_TURNING_RATE)
    width = WALK_STRIDE_MM * scales
    section_mm = width / (WALK_SECTIONS - 1)
    slide_mm = section_mm / WALK_STEPS_PER_SECTION
    origin = width / 2 + WALK_CENTER_OF_GRAVITY_MM + np.array(WALK_LEG_OFFSETS_MM) * scales
    start = np.stack(
        [origin - np.array(WALK_START_SECTIONS) * 2 * section_mm, np.full(4, WALK_Z_MM)], axis=-1
    )
    feet = start.copy()
    frames = []
    for section in range(WALK_SECTIONS):
        order_index = section if fb == FORWARD else WALK_SECTIONS - section - 1
        raised = WALK_LEG_ORDER[order_index] - 1
        for step in range(WALK_STEPS_PER_SECTION):
            feet = feet.copy()
            feet[:, 0] += slide_mm * fb
            feet[:, 1] = WALK_Z_MM
            if raised >= 0:
                feet[raised, 0] = _swing_y(origin, width, fb, step, WALK_STEPS_PER_SECTION)[raised]
                feet[raised, 1] = WALK_Z_MM - WALK_STEP_HEIGHT_MM * step / (
                    WALK_STEPS_PER_SECTION - 1
                )
            frames.append(feet)
    frames.append(start)
    return np.array(frames)


def trot_coords(fb: int = FORWARD, lr: int = STRAIGHT) -> np.ndarray:
    """Foot coordinates ``(6, 4, 2)`` mm of one trot cycle, as ``Trot.get_coords``.

    2 sections of 3 frames: a diagonal pair swings 100 mm in two moves (staying on the
    ground for the first frame, reaching its 20 mm top at the front), while the other
    pair slides 33 mm towards the rear per frame; the lifted pair lands on the next
    section's first frame.
    """
    scales = _step_scales(lr, TROT_TURNING_RATE)
    width = TROT_STRIDE_MM * scales
    section_mm = width / (TROT_SECTIONS - 1)
    slide_mm = section_mm / TROT_STEPS_PER_SECTION
    y_offset = TROT_CENTER_OF_GRAVITY_MM + TROT_Y_OFFSET_MM[(fb, lr != STRAIGHT)]
    leg_offset = TROT_STAND_OFFSET_MM * np.array(TROT_STAND_OFFSET_DIRS)
    origin = width / 2 + y_offset + leg_offset * scales
    feet = np.stack(
        [origin - np.array(TROT_START_SECTIONS) * section_mm, np.full(4, TROT_Z_MM)], axis=-1
    )
    frames = []
    for section in range(TROT_SECTIONS):
        order_index = section if fb == FORWARD else TROT_SECTIONS - section - 1
        raised = [leg - 1 for leg in TROT_RAISE_ORDER[order_index]]
        for step in range(TROT_STEPS_PER_SECTION):
            nxt = feet.copy()
            nxt[:, 0] = feet[:, 0] + slide_mm * fb
            nxt[:, 1] = TROT_Z_MM
            swing_y = _swing_y(origin, width, fb, step, TROT_STEPS_PER_SECTION)
            for leg in raised:
                nxt[leg, 0] = swing_y[leg]
                nxt[leg, 1] = TROT_Z_MM - TROT_STEP_HEIGHT_MM * step / (TROT_STEPS_PER_SECTION - 1)
            feet = nxt
            frames.append(feet)
    return np.array(frames)


def stand_coords(height_mm: float = STAND_HEIGHT_MM) -> np.ndarray:
    """Foot coordinates ``(1, 4, 2)`` of the library's ``stand`` at ``height_mm``."""
    x = STAND_BARYCENTER_MM
    dx, dz = STAND_HIND_OFFSET_MM
    front, hind = [x, height_mm], [x + dx, height_mm + dz]
    return np.array([[front, front, hind, hind]], dtype=float)


def library_leg_angles_deg(coords_mm: np.ndarray) -> np.ndarray:
    """Servo degrees ``(N, 8)`` for foot coordinates ``(N, 4, 2)`` (``legs_angle_calculation``).

    The library's ``coord2polar`` is the same two-link solution as ``kinematics.leg_ik``
    (thigh from straight down, rear-positive; knee = interior angle - 90 deg) once its
    rear-positive y and down-positive z become our forward x and up z; it clamps
    unreachable targets as ``strict=False`` does. Right legs are negated.
    """
    coords = np.asarray(coords_mm, dtype=float)
    shoulder, knee = leg_ik(-coords[..., 0] / 1000.0, -coords[..., 1] / 1000.0, strict=False)
    sim_rad = np.stack([shoulder, knee], axis=-1).reshape(*coords.shape[:-2], 8)
    return np.degrees(sim_rad) * LEG_SIGN


def to_sim_rad(angles_deg: np.ndarray) -> np.ndarray:
    """The simulator's leg joint angles (rad) for library servo degrees ``(..., 8)``.

    The library writes ``angle + offset`` clamped to +-90 deg (``robot_hat.Servo.angle``);
    offsets are per-robot calibration, zero here.
    """
    clamped = np.clip(np.asarray(angles_deg, dtype=float), -90.0, 90.0)
    return np.radians(clamped) * LEG_SIGN


@dataclass(frozen=True)
class LibraryAction:
    """One of the library's leg actions: its frames and how the examples play it."""

    name: str
    library_name: str
    """``do_action`` name in ``actions_dictionary.py`` (or the ``Trot`` call for unshipped ones)."""
    family: str
    """The project's gait family: stand, sit (also lie: the body may rest), walk or trot."""
    frames_deg: np.ndarray
    """Servo degrees ``(N, 8)`` in library order and signs."""
    speed: int
    """The ``speed`` (0-100) SunFounder's examples pass to ``do_action``."""
    loop: bool
    """Gaits repeat their frames (``step_count`` / held key); poses play once and hold."""
    stride_m: float = 0.0
    """Foot stroke per cycle along the body (0 for poses)."""
    heading: float = 0.0
    """+1 forward, -1 backward, 0 in place."""
    turn: int = STRAIGHT
    """The library's ``lr``: -1 left, 0 straight, +1 right."""


def _walk(name: str, fb: int, lr: int) -> LibraryAction:
    # Speed 98: every example that walks or trots (11_keyboard_control.py, 12_app_control.py,
    # action_flow.py, 13_ball_track.py).
    frames = library_leg_angles_deg(walk_coords(fb, lr))
    return LibraryAction(
        name, name, "walk", frames, 98, True, WALK_STRIDE_MM / 1000.0, float(fb), lr
    )


def _trot(name: str, library_name: str, fb: int, lr: int) -> LibraryAction:
    frames = library_leg_angles_deg(trot_coords(fb, lr))
    return LibraryAction(
        name, library_name, "trot", frames, 98, True, TROT_STRIDE_MM / 1000.0, float(fb), lr
    )


def library_actions() -> dict[str, LibraryAction]:
    """Every replayable action by name (fresh arrays on each call).

    The library ships ``forward``, ``backward``, ``turn_left``, ``turn_right`` and ``trot``
    (forward only) as actions; the trot backward and turning are its ``Trot`` class with
    other ``fb``/``lr``, which no shipped action or example plays.
    """
    stand = library_leg_angles_deg(stand_coords())
    actions = [
        # Speed 70: the stand and sit keys of the keyboard and app examples; lie at 85 as
        # ``stop_and_lie``.
        LibraryAction("stand", "stand", "stand", stand, 70, False),
        LibraryAction("sit", "sit", "sit", np.array([SIT_DEG]), 70, False),
        LibraryAction("lie", "lie", "sit", np.array([LIE_DEG]), 85, False),
        _walk("forward", FORWARD, STRAIGHT),
        _walk("backward", BACKWARD, STRAIGHT),
        _walk("turn_left", FORWARD, LEFT),
        _walk("turn_right", FORWARD, RIGHT),
        _trot("trot_forward", "trot", FORWARD, STRAIGHT),
        _trot("trot_backward", "Trot(BACKWARD, STRAIGHT)", BACKWARD, STRAIGHT),
        _trot("trot_left", "Trot(FORWARD, LEFT)", FORWARD, LEFT),
        _trot("trot_right", "Trot(FORWARD, RIGHT)", FORWARD, RIGHT),
    ]
    return {a.name: a for a in actions}


ACTION_NAMES = tuple(library_actions())


def get_action(name: str) -> LibraryAction:
    """The action called ``name``; ``ValueError`` naming the known ones otherwise."""
    actions = library_actions()
    try:
        return actions[name]
    except KeyError:
        raise ValueError(
            f"unknown library action {name!r}; choose one of {', '.join(actions)}"
        ) from None
