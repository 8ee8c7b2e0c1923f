"""The one simulator core: the PiDog model, its servos, the physics presets and the control step.

Every stage (expert data, imitation checks, RL, evaluation, the ``sim`` controller backend)
steps a ``PiDogSim``, so a figure measured in one stage means the same in the next.

Servo model: each actuator's activation is the servo's internal set-point. Once per
control chunk the set-point is slewed towards the commanded target at no more than
``SERVO_MAX_SPEED_RADPS`` (MuJoCo integrates it inside ``mj_step``), and a torque-limited
PD loop tracks it. Commands reach the servos ``latency_s`` after they are issued.
"""

from __future__ import annotations

import collections
import math
import os
from dataclasses import dataclass

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from pidog_gaits.robot import specs  # noqa: E402
from pidog_gaits.sim import world as world_mod  # noqa: E402
from pidog_gaits.sim.randomization import DomainParams  # noqa: E402


@dataclass(frozen=True)
class PhysicsPreset:
    """A physics quality setting (DESIGN.md table)."""

    name: str
    timestep_s: float
    """Physics step (s)."""
    iterations: int
    """Constraint solver iteration cap."""
    use: str


PRESETS: dict[str, PhysicsPreset] = {
    "production": PhysicsPreset("production", 0.001, 300, "final evaluation, data collection"),
    "medium": PhysicsPreset("medium", 0.002, 150, "RL training (the pipeline's default)"),
    "fast": PhysicsPreset("fast", 0.005, 50, "quick experiments, CI"),
}


def get_preset(name: str) -> PhysicsPreset:
    """The preset called ``name``; ``ValueError`` naming the valid ones otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown physics quality {name!r}; choose one of {', '.join(PRESETS)}"
        ) from None


def yaw_of_quat(quat_wxyz: np.ndarray) -> float:
    """Heading (rad) of a body whose orientation is ``quat_wxyz``."""
    w, x, y, z = quat_wxyz
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def wrap_angle(angle_rad: float) -> float:
    """Angle wrapped to [-pi, pi)."""
    return (angle_rad + math.pi) % (2.0 * math.pi) - math.pi


class PiDogSim:
    """A simulated PiDog on a floor with optional box obstacles.

    :param quality: physics preset name (``production``, ``medium``, ``fast``).
    :param seed: seed of the simulator's own random source (obstacle placement).
    :param num_obstacles: box obstacles reserved in the world (0 for an open floor).
    :param params: domain parameters (friction, masses, servo strength, latency).
    """

    def __init__(
        self,
        quality: str = "fast",
        seed: int = 0,
        num_obstacles: int = 0,
        params: DomainParams | None = None,
    ) -> None:
        self.preset = get_preset(quality)
        self.model = world_mod.build_model(num_obstacles)
        self.model.opt.timestep = self.preset.timestep_s
        self.model.opt.iterations = self.preset.iterations
        self.data = mujoco.MjData(self.model)
        self.rng = np.random.default_rng(seed)
        self.num_obstacles = num_obstacles
        self.substeps = round(specs.CONTROL_DT_S / self.preset.timestep_s)
        if not math.isclose(self.substeps * self.preset.timestep_s, specs.CONTROL_DT_S):
            raise ValueError("control period must be a whole number of physics steps")
        self._resolve_ids()
        self._nominal = {
            "geom_friction": self.model.geom_friction.copy(),
            "body_mass": self.model.body_mass.copy(),
            "body_inertia": self.model.body_inertia.copy(),
            "actuator_forcerange": self.model.actuator_forcerange.copy(),
            "actuator_gainprm": self.model.actuator_gainprm.copy(),
            "actuator_biasprm": self.model.actuator_biasprm.copy(),
            "actuator_ctrlrange": self.model.actuator_ctrlrange.copy(),
            "body_ipos": self.model.body_ipos.copy(),
        }
        self.params = params or DomainParams()
        self.apply_params(self.params)
        self.reset()

    # ------------------------------------------------------------------ set-up
    def _resolve_ids(self) -> None:
        m = self.model
        name2id = mujoco.mj_name2id
        self.body_id = name2id(m, mujoco.mjtObj.mjOBJ_BODY, specs.BODY_NAME)
        jids = [name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n) for n in specs.JOINT_NAMES]
        self.qpos_adr = np.array([m.jnt_qposadr[j] for j in jids])
        self.dof_adr = np.array([m.jnt_dofadr[j] for j in jids])
        self.act_ids = np.array(
            [name2id(m, mujoco.mjtObj.mjOBJ_ACTUATOR, n) for n in specs.ACTUATOR_NAMES]
        )
        if not np.array_equal(self.act_ids, np.arange(specs.NUM_JOINTS)):
            raise RuntimeError("actuators must be declared in JOINT_NAMES order")
        self.foot_geom_ids = np.array(
            [name2id(m, mujoco.mjtObj.mjOBJ_GEOM, n) for n in specs.FOOT_GEOMS]
        )
        self.fall_geom_ids = np.array(
            [name2id(m, mujoco.mjtObj.mjOBJ_GEOM, n) for n in specs.FALL_GEOMS]
        )
        self.floor_geom_id = name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "floor")
        self.obstacle_geom_ids = world_mod.obstacle_geom_ids(m)
        robot_bodies = [b for b in range(m.nbody) if m.body_rootid[b] == self.body_id]
        self.robot_geom_mask = np.isin(m.geom_bodyid, robot_bodies)
        self.foot_geom_mask = np.zeros(m.ngeom, dtype=bool)
        self.foot_geom_mask[self.foot_geom_ids] = True
        self._fall_ids = frozenset(self.fall_geom_ids.tolist())
        self._fall_ids_sitting = frozenset(self.fall_geom_ids[1:].tolist())  # body may rest
        self._obstacle_ids = frozenset(self.obstacle_geom_ids.tolist())
        self._robot_nonfoot_ids = frozenset(
            np.flatnonzero(self.robot_geom_mask & ~self.foot_geom_mask).tolist()
        )
        self.key_stand = name2id(m, mujoco.mjtObj.mjOBJ_KEY, specs.STAND_KEYFRAME)
        self.joint_low = specs.JOINT_RANGE_RAD[:, 0].copy()
        self.joint_high = specs.JOINT_RANGE_RAD[:, 1].copy()
        self.imu_site_id = name2id(m, mujoco.mjtObj.mjOBJ_SITE, specs.IMU_SITE)

    def apply_params(self, params: DomainParams) -> None:
        """Set friction, masses and the body's centre of mass, servo strength and latency
        from ``params`` (pushes and the IMU bias are the env's and the sensors').

        Takes effect at once for physics; call ``reset`` after changing the latency.
        """
        m, nominal = self.model, self._nominal
        m.geom_friction[:] = nominal["geom_friction"]
        m.geom_friction[self.floor_geom_id, 0] *= params.friction_scale
        m.geom_friction[self.foot_geom_ids, 0] *= params.friction_scale
        m.body_mass[:] = nominal["body_mass"] * params.mass_scale
        m.body_inertia[:] = nominal["body_inertia"] * params.mass_scale
        m.body_ipos[:] = nominal["body_ipos"]
        m.body_ipos[self.body_id] += params.com_offset_m * specs.FORWARD_AXIS_BODY
        s = params.servo_torque_scale
        m.actuator_forcerange[:] = nominal["actuator_forcerange"] * s
        m.actuator_gainprm[:] = nominal["actuator_gainprm"]
        m.actuator_biasprm[:] = nominal["actuator_biasprm"]
        m.actuator_gainprm[:, 0] *= s
        m.actuator_biasprm[:, 1:3] *= s
        m.actuator_ctrlrange[:] = nominal["actuator_ctrlrange"] * params.servo_speed_scale
        self.params = params
        # Latency in physics steps = whole control periods + a remainder within one.
        latency_steps = max(0, round(params.latency_s / m.opt.timestep))
        whole, self._first_steps = divmod(latency_steps, self.substeps)
        self._second_steps = self.substeps - self._first_steps
        self._history_len = whole + 2
        self._inv_first_s = 1.0 / (max(self._first_steps, 1) * m.opt.timestep)
        self._inv_second_s = 1.0 / (self._second_steps * m.opt.timestep)

    # ------------------------------------------------------------------ state
    def reset(
        self,
        joint_targets_rad: np.ndarray | None = None,
        yaw_rad: float = 0.0,
        settle_s: float = 0.0,
    ) -> None:
        """Put the robot in its stand keyframe at the origin, facing ``yaw_rad``.

        ``joint_targets_rad`` (12) replaces the stand's joint angles (the body height is
        kept); ``settle_s`` then holds those targets that long so feet meet the floor.
        """
        m, d = self.model, self.data
        mujoco.mj_resetDataKeyframe(m, d, self.key_stand)
        if joint_targets_rad is not None:
            q = np.clip(joint_targets_rad, self.joint_low, self.joint_high)
            d.qpos[self.qpos_adr] = q
            d.act[self.act_ids] = q
        if yaw_rad:
            d.qpos[3:7] = [math.cos(yaw_rad / 2), 0.0, 0.0, math.sin(yaw_rad / 2)]
        d.ctrl[:] = 0.0
        hold = d.act[self.act_ids].copy()
        self._history = collections.deque([hold] * self._history_len, maxlen=self._history_len)
        mujoco.mj_forward(m, d)
        if settle_s > 0:
            for _ in range(round(settle_s / specs.CONTROL_DT_S)):
                self.step(hold)
        self.start_pos_m = d.qpos[0:3].copy()
        self.start_yaw_rad = yaw_of_quat(d.qpos[3:7])
        self.start_time_s = d.time

    def step(self, joint_targets_rad: np.ndarray) -> None:
        """Advance one control period with ``joint_targets_rad`` (12, rad) commanded now.

        A command issued at control step k reaches the servos ``latency_s`` later, so a
        control period runs up to two chunks: the tail of an older command, then the one
        due now. Per chunk the servo set-points are slewed to reach their command by the
        chunk's end; MuJoCo clamps that rate to ``ctrlrange`` (the speed limit) and the
        set-point to ``actrange`` (the joint range), so no clipping is needed here.
        """
        m, d = self.model, self.data
        history = self._history
        history.append(np.asarray(joint_targets_rad, dtype=float))
        if self._first_steps:
            d.ctrl[:] = (history[0] - d.act) * self._inv_first_s
            mujoco.mj_step(m, d, nstep=self._first_steps)
        d.ctrl[:] = (history[1] - d.act) * self._inv_second_s
        mujoco.mj_step(m, d, nstep=self._second_steps)

    # ------------------------------------------------------------------ readings
    @property
    def time_s(self) -> float:
        return self.data.time - self.start_time_s

    @property
    def body_pos_m(self) -> np.ndarray:
        return self.data.qpos[0:3]

    @property
    def body_quat(self) -> np.ndarray:
        return self.data.qpos[3:7]

    @property
    def body_rotation(self) -> np.ndarray:
        """Body-to-world rotation matrix (3x3)."""
        return self.data.xmat[self.body_id].reshape(3, 3)

    @property
    def body_height_m(self) -> float:
        return float(self.data.qpos[2])

    @property
    def joint_pos_rad(self) -> np.ndarray:
        return self.data.qpos[self.qpos_adr]

    @property
    def joint_vel_radps(self) -> np.ndarray:
        return self.data.qvel[self.dof_adr]

    @property
    def servo_setpoint_rad(self) -> np.ndarray:
        return self.data.act[self.act_ids]

    @property
    def body_lin_vel_world_mps(self) -> np.ndarray:
        return self.data.qvel[0:3]

    @property
    def body_ang_vel_body_radps(self) -> np.ndarray:
        """Free-joint angular velocity, expressed in the body frame (rad/s)."""
        return self.data.qvel[3:6]

    def start_frame_displacement_m(self) -> tuple[float, float]:
        """Body displacement since reset along (forward, left) of the starting heading."""
        delta = self.body_pos_m[:2] - self.start_pos_m[:2]
        c, s = math.cos(self.start_yaw_rad), math.sin(self.start_yaw_rad)
        return float(c * delta[0] + s * delta[1]), float(-s * delta[0] + c * delta[1])

    def yaw_change_rad(self) -> float:
        """Heading change since reset (rad, positive = turned left), wrapped to [-pi, pi)."""
        return wrap_angle(yaw_of_quat(self.body_quat) - self.start_yaw_rad)

    def forward_velocity_mps(self) -> float:
        """Body velocity along its current forward axis (m/s)."""
        fwd = self.body_rotation @ specs.FORWARD_AXIS_BODY
        return float(fwd[0] * self.data.qvel[0] + fwd[1] * self.data.qvel[1])

    def upright(self) -> float:
        """Cosine of the body's tilt: 1 upright, 0 on its side, -1 upside down."""
        return float(self.data.xmat[self.body_id][8])

    def bad_contacts(self, allow_body_contact: bool = False) -> tuple[bool, int]:
        """(fall-geom touching the floor, count of non-foot robot contacts with obstacles).

        ``allow_body_contact`` ignores the body on the floor (a sitting dog rests on it).
        """
        d = self.data
        if d.ncon == 0:
            return False, 0
        # Python over a handful of contacts beats numpy's per-call overhead here.
        fall_ids = self._fall_ids_sitting if allow_body_contact else self._fall_ids
        floor = self.floor_geom_id
        fell = False
        collisions = 0
        for g1, g2 in d.contact.geom[: d.ncon].tolist():
            if (g1 == floor and g2 in fall_ids) or (g2 == floor and g1 in fall_ids):
                fell = True
            elif self.num_obstacles and (g1 in self._obstacle_ids or g2 in self._obstacle_ids):
                other = g2 if g1 in self._obstacle_ids else g1
                if other in self._robot_nonfoot_ids:
                    collisions += 1
        return fell, collisions

    def fallen(self, min_upright: float = 0.5, allow_body_contact: bool = False) -> bool:
        """Tilted past 60 deg, or body or head on the floor."""
        return self.upright() < min_upright or self.bad_contacts(allow_body_contact)[0]
