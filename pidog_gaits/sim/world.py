"""The world around the robot: a flat floor and box obstacles placed ahead of it.

Obstacle geoms are reserved once when the model is built (so ids stay fixed) and moved
per episode with ``place_obstacles``; unused ones wait under the floor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mujoco
import numpy as np

from pidog_gaits.robot import specs

OBSTACLE_PREFIX = "obstacle_"
HIDDEN_Z_M = -1.0


@dataclass(frozen=True)
class ObstacleLayout:
    """Where random boxes go, in the robot's starting frame (x ahead, y left)."""

    ahead_m: tuple[float, float] = (1.0, 3.0)
    """Range of distances ahead of the start (m). Not nearer than 1 m: trotting at
    0.3 m/s and turning at most ~0.16 rad/s, the robot needs ~0.7 m of travel to side-step
    a box by 0.15 m, plus the 0.6 s ramp from the stand; a box nearer than that in its
    path cannot be steered round, only stopped at (the trot trots on). The trot covers
    ~3.4 m in a 10 s episode, so boxes up to 3 m ahead all come into play."""
    lateral_m: tuple[float, float] = (-0.35, 0.35)
    half_size_m: tuple[float, float] = (0.03, 0.08)
    """Range of box half-extents (m)."""
    half_height_m: tuple[float, float] = (0.04, 0.10)


def build_model(num_obstacles: int = 0) -> mujoco.MjModel:
    """Compile the scene with ``num_obstacles`` reserved box geoms."""
    if num_obstacles < 0:
        raise ValueError("num_obstacles must be >= 0")
    spec = mujoco.MjSpec.from_file(str(specs.SCENE_XML))
    for i in range(num_obstacles):
        spec.worldbody.add_geom(
            name=f"{OBSTACLE_PREFIX}{i}",
            type=mujoco.mjtGeom.mjGEOM_BOX,
            size=[0.05, 0.05, 0.06],
            pos=[0.0, 0.0, HIDDEN_Z_M],
            rgba=[0.85, 0.45, 0.15, 1.0],
            contype=1,
            conaffinity=1,
            group=specs.WORLD_GEOM_GROUP,
        )
    return spec.compile()


def obstacle_geom_ids(model: mujoco.MjModel) -> np.ndarray:
    ids = []
    for g in range(model.ngeom):
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g) or ""
        if name.startswith(OBSTACLE_PREFIX):
            ids.append(g)
    return np.array(ids, dtype=int)


def set_box(model: mujoco.MjModel, geom_id: int, center_m, half_size_m) -> None:
    """Move and resize a static box geom, keeping its bounding volumes consistent."""
    half = np.asarray(half_size_m, dtype=float)
    model.geom_pos[geom_id] = center_m
    model.geom_size[geom_id] = half
    model.geom_rbound[geom_id] = float(np.linalg.norm(half))
    model.geom_aabb[geom_id] = [0.0, 0.0, 0.0, *half]
    refresh_world_bvh(model)


def refresh_world_bvh(model: mujoco.MjModel) -> None:
    """Recompute the world body's bounding-volume tree after static geoms moved.

    MuJoCo's mid-phase collision prunes with ``bvh_aabb``, computed at compile time, when
    the boxes waited under the floor; without this, moved boxes only collide with the few
    geoms the mid-phase skips (the feet), and the body and head pass through them.
    """
    start, num = model.body_bvhadr[0], model.body_bvhnum[0]
    for node in range(start + num - 1, start - 1, -1):  # children follow their parents
        geom = model.bvh_nodeid[node]
        if geom >= 0:
            if model.geom_type[geom] != mujoco.mjtGeom.mjGEOM_PLANE:
                center = model.geom_pos[geom] + model.geom_aabb[geom, :3]
                model.bvh_aabb[node] = [*center, *model.geom_aabb[geom, 3:]]
            continue
        a, b = model.bvh_aabb[model.bvh_child[node]]
        low = np.minimum(a[:3] - a[3:], b[:3] - b[3:])
        high = np.maximum(a[:3] + a[3:], b[:3] + b[3:])
        model.bvh_aabb[node] = [*(low + high) / 2, *(high - low) / 2]


def place_obstacles(
    model: mujoco.MjModel,
    data: mujoco.MjData,
    geom_ids: np.ndarray,
    count: int,
    rng: np.random.Generator,
    start_xy_m=(0.0, 0.0),
    start_yaw_rad: float = 0.0,
    layout: ObstacleLayout | None = None,
) -> list[tuple[float, float, float]]:
    """Scatter ``count`` boxes ahead of the start; returns their (x, y, half_size) in world."""
    layout = layout or ObstacleLayout()
    if count > len(geom_ids):
        raise ValueError(f"{count} obstacles requested, {len(geom_ids)} reserved")
    c, s = math.cos(start_yaw_rad), math.sin(start_yaw_rad)
    placed = []
    for i, gid in enumerate(geom_ids):
        if i >= count:
            set_box(model, gid, [0.0, 0.0, HIDDEN_Z_M], [0.05, 0.05, 0.06])
            continue
        ahead = rng.uniform(*layout.ahead_m)
        lateral = rng.uniform(*layout.lateral_m)
        half = rng.uniform(*layout.half_size_m)
        height = rng.uniform(*layout.half_height_m)
        x = start_xy_m[0] + c * ahead - s * lateral
        y = start_xy_m[1] + s * ahead + c * lateral
        set_box(model, gid, [x, y, height], [half, half, height])
        placed.append((float(x), float(y), float(half)))
    mujoco.mj_forward(model, data)
    return placed


def place_box(model, data, geom_id: int, center_m, half_size_m) -> None:
    """Put one box at an exact place (tests, demos)."""
    set_box(model, geom_id, center_m, half_size_m)
    mujoco.mj_forward(model, data)
