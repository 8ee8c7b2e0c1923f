"""PiDog-v0: the simulated PiDog walking among boxes, for PPO (stage 3) and evaluation.

One episode: the robot starts in its stand at the origin (random heading), a velocity
command ``[speed (m/s), yaw rate (rad/s)]`` is drawn from ``EnvConfig.commands`` and drawn
anew every few seconds, boxes are scattered ahead, the domain parameters are drawn from
the training ranges (with pushes on the body now and then). The prior is the trot played
at the amplitude and turn that follow the command (``gaits.command.CommandFollower``: the
same code runs on the robot). Each step the action (12 values in
[-1, 1], plus ``steer`` with ``EnvConfig.steering``) becomes joint targets ``prior(steer)
+ scale * action[:12]`` (a bounded residual on the imitation model's or expert's targets,
played at the turn ``steer`` asks for, ``gaits.steering``; from scratch the prior is the
stand pose and the scale wide), the simulator advances 20 ms, and the reward terms of
``rewards.py`` are summed with the profile's weights. A fall ends the episode; 500 steps
truncate it. The goal heading turns at the commanded yaw rate, and the observed command's
yaw rate adds a correction towards it (``_update_command``), so after steering round a
box the policy is told which way is back on course.

Observation (a dict; the groups are declared in ``observations``): the policy group
``image`` (head camera, uint8 channels-first: RGB, or in simulation only depth and
floor-removed depth scaled 0..2 m to 0..255), ``imu``, ``sonar``, ``targets`` (the last
commanded joint targets, rad), ``command``, ``phase`` (and ``joints`` with
``joint_readings='measured'``), then the critic-only ``privileged`` vector. Only the
policy group reaches the deployed actor.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from pidog_gaits.envs import observations as obs_mod
from pidog_gaits.envs import reflex, rewards
from pidog_gaits.envs.config import EnvConfig
from pidog_gaits.envs.prior import PriorSequence, make_controller_factory
from pidog_gaits.envs.rewards import Reward, StepState
from pidog_gaits.gaits.command import CommandFollower
from pidog_gaits.gaits.library import GAITS
from pidog_gaits.robot import camera as robot_camera
from pidog_gaits.robot import specs
from pidog_gaits.sim import world
from pidog_gaits.sim.physics import PiDogSim, wrap_angle, yaw_of_quat
from pidog_gaits.sim.rollout import stand_targets
from pidog_gaits.sim.sensors import Sensors

FALL_UPRIGHT_COS = 0.5
"""A fall: the body tilted past 60 deg (or the body or head touching the floor)."""


TEACHER_DEPTH_PX = (32, 24)
"""Depth image size (width, height) the teacher reads: the reflex was tuned on it."""

PRIOR_GAIT = "trot_forward"
"""The gait a command-following prior plays (at the follower's amplitude and turn)."""
TRACKING_SETTLE_S = 1.0
"""Tracking errors leave out this long after each command change (the slew and the
body's own lag), so they measure the steady speed, not the transient."""
PUSH_S = 0.1
"""How long a push on the body lasts (s)."""
PUSH_EVERY_S = (2.0, 5.0)
"""Time between pushes (s, uniform), when ``DomainParams.push_force_n`` > 0."""

BODY_FRONT_M = 0.14
"""Body origin to the front of the head's collision geom (m), the robot's nose in the stand."""
_HALF_VIEW_TAN = math.tan(math.radians(robot_camera.CAMERA_HFOV_DEG) / 2.0)
"""Tangent of half the head camera's horizontal view (``box_in_view_m``)."""


PART_BOUNDS: dict[str, tuple[np.ndarray, np.ndarray]] = {
    "imu": (
        np.array([-200.0] * 3 + [-50.0] * 3 + [-math.pi] * 2),
        np.array([200.0] * 3 + [50.0] * 3 + [math.pi] * 2),
    ),
    "sonar": (np.array([specs.ULTRASONIC_NO_ECHO]), np.array([specs.ULTRASONIC_MAX_RANGE_M])),
    "joints": (
        np.array([-math.pi] * specs.NUM_JOINTS + [-100.0] * specs.NUM_JOINTS),
        np.array([math.pi] * specs.NUM_JOINTS + [100.0] * specs.NUM_JOINTS),
    ),
    "targets": (
        np.tile(specs.JOINT_RANGE_RAD[:, 0], obs_mod.TARGET_HISTORY),
        np.tile(specs.JOINT_RANGE_RAD[:, 1], obs_mod.TARGET_HISTORY),
    ),
    "command": (np.array([-2.0, -2.0, -2.0]), np.array([2.0, 2.0, 2.0])),
    "phase": (np.array([-1.0, -1.0]), np.array([1.0, 1.0])),
    "privileged": (
        np.full(obs_mod.PRIVILEGED_DIM, -1000.0),
        np.full(obs_mod.PRIVILEGED_DIM, 1000.0),
    ),
}
"""Bounds of each non-image part (accel m/s^2, gyro rad/s, angles rad, range m or -1,
joint rad and rad/s); readings are clipped to them (only a crash exceeds them)."""


def observation_space(config: EnvConfig) -> spaces.Dict:
    """The dict observation space for ``config``: the policy group (image first when there
    is one), then the critic's ``privileged`` vector."""
    parts: dict[str, spaces.Space] = {}
    if config.vision != "none":
        channels = 3 if config.vision == "rgb" else specs.DEPTH_CHANNELS
        shape = (channels, config.image_height_px, config.image_width_px)
        parts["image"] = spaces.Box(0, 255, shape, dtype=np.uint8)
    for key in [*obs_mod.policy_parts(config.joint_readings), "privileged"]:
        low, high = PART_BOUNDS[key]
        parts[key] = spaces.Box(low.astype(np.float32), high.astype(np.float32), dtype=np.float32)
    return spaces.Dict(parts)


class _TrackingErrors:
    """How far the forward speed and yaw rate stayed from the command, per command segment.

    Each segment (one command, ``TRACKING_SETTLE_S`` after its start left out) adds
    ``|mean actual - commanded|`` weighted by its length; ``errors()`` is the weighted mean.
    The mean over a segment, not per step: the trot's speed swings within each 0.24 s
    cycle, and that swing is not a tracking error. A segment that ended before it settled
    (a fall in the first second) counts all its steps.
    """

    def __init__(self) -> None:
        self.sums = np.zeros((2, 3))  # [all steps, settled steps] x [count, speed, yaw]
        self.command = np.zeros(2)
        self.weight = 0
        self.speed_error = 0.0
        self.yaw_error = 0.0

    def add(self, sim: PiDogSim, command: np.ndarray, settled: bool) -> None:
        row = (1.0, sim.forward_velocity_mps(), float(sim.body_ang_vel_body_radps[2]))
        self.sums[0] += row
        if settled:
            self.sums[1] += row
        self.command = command

    def close(self) -> None:
        """End the current segment (a command change or the episode's end)."""
        n, speed, yaw = self.sums[1] if self.sums[1, 0] else self.sums[0]
        if n:
            self.speed_error += abs(speed - n * float(self.command[0]))
            self.yaw_error += abs(yaw - n * float(self.command[1]))
            self.weight += int(n)
        self.sums[:] = 0.0

    def errors(self) -> dict[str, float]:
        """``speed_error_mps`` and ``yaw_rate_error_rps`` (0 before any step)."""
        w = max(self.weight, 1)
        return {"speed_error_mps": self.speed_error / w, "yaw_rate_error_rps": self.yaw_error / w}


class _WindowMean:
    """Mean of the last ``n`` values pushed (of all of them while fewer)."""

    def __init__(self, n: int) -> None:
        self.values = np.zeros(max(1, n))
        self.count = 0
        self.total = 0.0

    def push(self, value: float) -> float:
        """Add ``value``; return the mean of the window."""
        n = len(self.values)
        i = self.count % n
        self.total += value - self.values[i]  # the slot holds 0.0 until the window is full
        self.values[i] = value
        self.count += 1
        return self.total / min(self.count, n)


class PiDogEnv(gym.Env):
    """Gymnasium env of the simulated PiDog; see the module docstring.

    :param config: the env settings (``EnvConfig()`` when ``None``).
    :param render_mode: ``rgb_array`` for chase-camera frames from ``render()``.
    :param overrides: fields of ``EnvConfig`` to change (``gym.make("PiDog-v0", vision="none")``).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": int(specs.CONTROL_RATE_HZ)}

    def __init__(
        self, config: EnvConfig | None = None, render_mode: str | None = None, **overrides: Any
    ) -> None:
        super().__init__()
        config = (config or EnvConfig()).replace(**overrides) if overrides else config
        self.config = (config or EnvConfig()).validate()
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"unsupported render_mode {render_mode!r}")
        self.render_mode = render_mode
        cfg = self.config
        self.observation_space = observation_space(cfg)
        self.action_space = spaces.Box(-1.0, 1.0, (cfg.action_dim(),), dtype=np.float32)
        self.sim = PiDogSim(cfg.quality, seed=0, num_obstacles=cfg.num_obstacles)
        self.sensors = Sensors(self.sim, self.np_random)
        self.reward = Reward(cfg.weights(), floor=cfg.reward_floor)
        self.reward_names = list(self.reward.names)
        # path_obstacle reads the boxes in the path, yaw_rate_tracking those in view.
        self._wants_boxes = bool({"path_obstacle", "yaw_rate_tracking"} & set(self.reward_names))
        self._scale = cfg.action_scale_rad()
        self._controller_for = make_controller_factory(cfg.prior, cfg.pretrained)
        self._priors: dict[str, PriorSequence] = {}
        self._stand = stand_targets()
        self._layout = world.ObstacleLayout(lateral_m=tuple(cfg.obstacle_lateral_m))
        self._settle_steps = self._steps_after(TRACKING_SETTLE_S)
        self._amplitude, self._turn = 0.0, 0.0
        self._joint_low = self.sim.joint_low
        self._joint_high = self.sim.joint_high
        self._chase = None
        self._clip_bounds = [
            (k, self.observation_space[k].low, self.observation_space[k].high)
            for k in ("imu", "joints")
            if k in self.observation_space.spaces
        ]  # the parts noise or a crash can push out
        sim = self.sim
        self._floor = sim.floor_geom_id
        self._fall_ids = frozenset(sim.fall_geom_ids.tolist())
        self._obstacle_ids = frozenset(sim.obstacle_geom_ids.tolist())
        self._obstacle_array = np.asarray(sim.obstacle_geom_ids, dtype=np.intp)
        self._foot_ids = frozenset(sim.foot_geom_ids.tolist())
        self.params = self.sim.params
        self._step = 0
        self._episode_started = False

    # ------------------------------------------------------------------ episode
    def _prior_for(self, gait_name: str) -> PriorSequence:
        seq = self._priors.get(gait_name)
        if seq is None:
            gait = GAITS[gait_name]
            cfg = self.config
            # The knots always: the follower turns the prior even without a steer action.
            seq = PriorSequence(gait, self._controller_for, cfg.episode_steps, steering=True)
            self._priors[gait_name] = seq
        return seq

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start a fresh episode. ``options``: ``params`` (a ``DomainParams``, replaces the
        random draw), ``yaw_rad``, ``obstacles`` (list of
        ``(x, y, half_size_m, half_height_m)`` boxes in the start frame), ``appearance``
        (a ``CameraAppearance``, replaces the random draw), ``command`` (``[speed (m/s),
        yaw rate (rad/s)]`` held the whole episode instead of drawn and changed)."""
        super().reset(seed=seed)
        options = options or {}
        cfg, rng = self.config, self.np_random
        self.sensors.rng = rng
        self.params = options.get("params") or cfg.randomization.sample(rng)
        self.sim.apply_params(self.params)
        # The critic's domain part, fixed for the episode (``dataclasses.asdict`` per step
        # was 4% of a step with the camera on).
        self._domain = np.array(tuple(self.params.as_dict().values()), dtype=np.float32)
        self.sensors.noise_scale = self.params.sensor_noise_scale
        self.sensors.draw_imu_bias(self.params.imu_bias_scale)
        yaw = options.get("yaw_rad")
        if yaw is None:
            yaw = float(rng.uniform(-math.pi, math.pi)) if cfg.random_heading else 0.0
        fixed = options.get("command")
        self._command_fixed = fixed is not None
        if self._command_fixed:
            self.user_command = np.asarray(fixed, dtype=float).reshape(2).copy()
        else:
            self.user_command = cfg.commands.sample(rng)
        self._next_command_step = self._steps_after(cfg.commands.sample_hold_s(rng))
        self.command = self.user_command.astype(np.float32)
        self.follower = CommandFollower(specs.CONTROL_DT_S)
        self.prior = self._prior_for(PRIOR_GAIT)
        self.sim.reset(self.prior.targets[0], yaw_rad=yaw)
        self.sensors.reset_attitude()  # after the reset: the settled robot's attitude
        self.appearance = options.get("appearance") or cfg.appearance.sample(rng)
        self.sensors.reset_camera(self.appearance, t0_s=self.sim.time_s)
        self.goal_yaw_rad = float(yaw)
        self.heading_hold = cfg.heading_hold()
        self._last_sonar_m = specs.ULTRASONIC_NO_ECHO  # the hold's gate: nothing heard yet
        self._place_obstacles(options.get("obstacles"), yaw)
        self._push_force = np.zeros(3)
        self._push_steps_left = 0
        self._next_push_step = self._steps_after(rng.uniform(*PUSH_EVERY_S))
        self._tracking = _TrackingErrors()
        self._cycle_yaw = _WindowMean(round(rewards.YAW_RATE_WINDOW_S / specs.CONTROL_DT_S))
        self._segment_start_step = 0
        self._step = 0
        self._targets = self.prior.targets[0].copy()
        self._history = np.tile(self._targets, (obs_mod.TARGET_HISTORY, 1))
        self._action = np.zeros(cfg.action_dim())
        self._update_command()
        self.episode_terms = dict.fromkeys(self.reward_names, 0.0)
        self.episode_return = 0.0
        self.boxes_hit: set[int] = set()  # obstacle geoms the body or head touched
        self.boxes_footed: set[int] = set()  # obstacle geoms a foot touched
        self.episode_energy_j = 0.0
        self._episode_started = True
        return self._observe(), {"command": self.user_command.copy()}

    @staticmethod
    def _steps_after(seconds: float) -> int:
        return max(1, round(seconds / specs.CONTROL_DT_S))

    def _place_obstacles(self, boxes, yaw: float) -> None:
        sim = self.sim
        if boxes is None:
            count, p_open = self.config.num_obstacles, self.config.open_floor_prob
            if count and p_open > 0.0 and self.np_random.random() < p_open:
                count = 0
            world.place_obstacles(
                sim.model, sim.data, sim.obstacle_geom_ids, count,
                self.np_random, start_xy_m=(0.0, 0.0), start_yaw_rad=yaw,
                layout=self._layout,
            )  # fmt: skip
            return
        if len(boxes) > len(sim.obstacle_geom_ids):
            raise ValueError(f"{len(boxes)} boxes, {len(sim.obstacle_geom_ids)} reserved")
        world.place_obstacles(sim.model, sim.data, sim.obstacle_geom_ids, 0, self.np_random)
        c, s = math.cos(yaw), math.sin(yaw)
        for gid, (ahead, left, half, half_h) in zip(sim.obstacle_geom_ids, boxes, strict=False):
            center = [c * ahead - s * left, s * ahead + c * left, half_h]
            world.place_box(sim.model, sim.data, int(gid), center, [half, half, half_h])

    def set_command(self, command) -> None:
        """Hold ``[speed (m/s), yaw rate (rad/s)]`` from the next step on (no more random
        draws this episode): the runtime's ``GaitSchedule.set_command``."""
        self._tracking.close()
        self.user_command = np.asarray(command, dtype=float).reshape(2).copy()
        self._command_fixed = True
        self._segment_start_step = self._step + 1

    def _update_command(self) -> None:
        """This step's command: a new draw when its time has come (unless the episode's
        command is fixed), the heading hold, and the prior's amplitude and turn.

        Heading hold: the goal heading turns at the commanded yaw rate; the observed
        command's yaw rate adds a correction towards it (``EnvConfig.heading_hold``: a
        proportional gain and a clamped integral).
        Standing still there is no goal: it is the heading the robot has.
        """
        cfg, user = self.config, self.user_command
        if not self._command_fixed and self._step >= self._next_command_step:
            self._tracking.close()
            self.user_command = user = cfg.commands.sample(self.np_random)
            self._next_command_step = self._step + self._steps_after(
                cfg.commands.sample_hold_s(self.np_random)
            )
            self._segment_start_step = self._step
        heading = yaw_of_quat(self.sim.body_quat)
        if self._step > 0:
            self.goal_yaw_rad += float(user[1]) * specs.CONTROL_DT_S
        correction = 0.0
        if CommandFollower.is_still(user):
            self.goal_yaw_rad = heading
            self.heading_hold.reset()
        elif cfg.heading_gain_per_s > 0.0:
            error = wrap_angle(self.goal_yaw_rad - heading)
            # The last reading the policy saw, as the robot's ``GaitSchedule`` gates it.
            correction = self.heading_hold.correction(error, specs.CONTROL_DT_S, self._last_sonar_m)
        self.command[0] = user[0]
        self.command[1] = self.yaw_target_radps(float(user[1]) + correction)
        # Observed apart: the prior already plays the user's yaw rate, the correction is
        # mostly the policy's to make. Summed into one number, a policy that learned to
        # trim the prior's turns also "trimmed" the correction, and veered off for good.
        self._command_obs = np.array([user[0], user[1], correction], dtype=np.float32)
        self._amplitude, self._turn = self.follower.step(float(user[0]), float(user[1]), correction)

    def yaw_target_radps(self, asked_radps: float) -> float:
        """The yaw rate the reward tracks: the command's plus the heading hold's correction,
        clipped into the range commands are drawn from (``EnvConfig.commands.yaw_radps``).

        Unclipped, a robot behind its goal heading in a turn was asked for 0.15 + 0.5
        rad/s, beyond any trot (0.22 at most): ``yaw_rate_tracking`` then paid ~0 whether
        it turned or not, the other terms paid for walking straight, and PPO learned to
        cancel the prior's turns (seed 0, command 0.2,0.15: yaw-rate error 0.114 after
        PPO, 0.011-0.021 for the student before it).
        """
        low, high = self.config.commands.yaw_radps
        return min(high, max(low, asked_radps))

    def _observe(self) -> dict[str, np.ndarray]:
        k = min(self._step, len(self.prior) - 1)
        cfg = self.config
        obs = obs_mod.read_parts(
            self.sensors, self._history, self._command_obs.copy(), self.prior.phases[k],
            cfg.joint_readings,
        )  # fmt: skip
        for key, low, high in self._clip_bounds:
            np.minimum(np.maximum(obs[key], low, out=obs[key]), high, out=obs[key])
        self._last_sonar_m = float(obs["sonar"][0])
        if cfg.vision != "none":  # at the camera's frame rate and delay (``sim.camera``)
            obs["image"] = self.sensors.camera_observation(
                cfg.vision, self.sim.time_s, cfg.image_width_px, cfg.image_height_px
            ).copy()  # a held frame is one array; each observation owns its own
        obs["privileged"] = self.privileged()
        return obs

    def privileged(self) -> np.ndarray:
        """The critic's ``privileged`` vector (``observations.PRIVILEGED_TERMS``): the
        simulator's truth, never the actor's input."""
        sim = self.sim
        out = np.empty(obs_mod.PRIVILEGED_DIM, dtype=np.float32)
        at = obs_mod.PRIVILEGED_SLICES
        out[at["joint_pos_rad"]] = sim.joint_pos_rad
        out[at["joint_vel_radps"]] = sim.joint_vel_radps
        out[at["body_lin_vel_mps"]] = sim.body_rotation.T @ sim.body_lin_vel_world_mps
        out[at["body_ang_vel_radps"]] = sim.body_ang_vel_body_radps
        out[at["roll_pitch_rad"]] = self.sensors.true_roll_pitch_rad()
        out[at["body_height_m"]] = sim.body_height_m
        out[at["boxes_m"]] = self.boxes_body_frame().ravel()
        out[at["domain"]] = self._domain  # DomainParams field order
        # The range behind this step's sonar reading (``read_parts`` cast it just now).
        out[at["range_ahead_m"]] = self.sensors.last_true_range_m
        return out

    def teacher_action(self) -> np.ndarray:
        """The scripted teacher's action now: the obstacle reflex (``envs.reflex``) on a
        depth image from the head camera's pose, and the heading hold on the observed
        correction where the reflex leaves room. Privileged (PiDog has no depth camera):
        it labels the demonstrations the actor is cloned from (``envs.warm_start``), so
        the actor learns to act on what it sees (teacher-student distillation)."""
        return np.clip(self.teacher_view()[0], -1.0, 1.0)

    def teacher_view(self) -> tuple[np.ndarray, np.ndarray]:
        """``(teacher's label, the depth scan it acted on)``: the label is
        ``teacher_action()`` with the steer unclipped where the reflex is sure
        (``reflex.STEER_LABEL_LIMIT``); the scan's sectors (nearness of the closest box,
        left to right) label what the student's camera should see."""
        depth = self.sensors.depth_observation(*TEACHER_DEPTH_PX)
        correction = float(self._command_obs[2])
        return reflex.teacher_from_depth(depth, self.config.action_dim(), correction)

    def boxes_body_frame(self) -> np.ndarray:
        """``(PRIVILEGED_BOXES, 3)``: the nearest placed boxes' centres ahead and to the
        left of the body (m) and half sizes (m), nearest first; absent ones far ahead."""
        rows = np.zeros((obs_mod.PRIVILEGED_BOXES, 3))
        rows[:, 0] = obs_mod.FAR_BOX_M
        ids = self._obstacle_array
        if ids.size == 0:
            return rows
        m = self.sim.model
        pos = m.geom_pos[ids]
        placed = pos[:, 2] > 0.0  # unused boxes wait under the floor
        if not placed.any():
            return rows
        body = self.sim.data.xpos[self.sim.body_id]
        rel = (pos[placed] - body) @ self.sim.body_rotation  # world -> body axes
        order = np.argsort(np.hypot(rel[:, 0], rel[:, 1]))[: obs_mod.PRIVILEGED_BOXES]
        rows[: order.size, :2] = rel[order, :2]
        rows[: order.size, 2] = m.geom_size[ids[placed][order], 0]
        return rows

    def contacts(self) -> tuple[bool, int, int]:
        """(body or head on the floor, non-foot contacts with boxes, foot contacts with boxes).

        Only the body, head and feet have collision geoms in the PiDog model (the leg links
        are visual), so a leg or foot pushing into a box shows up as a foot contact. The
        boxes touched are added to ``boxes_hit`` / ``boxes_footed``.
        """
        d = self.sim.data
        fell, nonfoot, feet = False, 0, 0
        if d.ncon == 0:
            return fell, nonfoot, feet
        floor, fall_ids, obstacles = self._floor, self._fall_ids, self._obstacle_ids
        for g1, g2 in d.contact.geom[: d.ncon].tolist():
            if g1 == floor or g2 == floor:
                if g1 in fall_ids or g2 in fall_ids:
                    fell = True
            elif g1 in obstacles or g2 in obstacles:
                box, other = (g1, g2) if g1 in obstacles else (g2, g1)
                if other in self._foot_ids:
                    feet += 1
                    self.boxes_footed.add(box)
                elif other not in obstacles:
                    nonfoot += 1
                    self.boxes_hit.add(box)
        return fell, nonfoot, feet

    # ------------------------------------------------------------------ step
    def targets_for(self, action: np.ndarray) -> np.ndarray:
        """Joint targets (rad) the action asks for at the current step."""
        k = min(self._step, len(self.prior) - 1)
        a = np.minimum(np.maximum(action, -1.0), 1.0)
        n = specs.NUM_JOINTS
        turn = self._turn + float(a[n]) if a.size > n else self._turn
        trot = self.prior.at_turn(k, min(1.0, max(-1.0, turn)))
        prior = self._stand + self._amplitude * (trot - self._stand)
        targets = prior + self._scale * a[:n]
        return np.minimum(np.maximum(targets, self._joint_low), self._joint_high)

    def step(self, action: np.ndarray):
        if not self._episode_started:
            raise RuntimeError("call reset() before step()")
        action = np.asarray(action, dtype=float).reshape(self.action_space.shape)
        self._targets = self.targets_for(action)
        obs_mod.push_history(self._history, self._targets)
        self._push()
        self.sim.step(self._targets)
        self._step += 1
        settled = self._step - self._segment_start_step > self._settle_steps
        self._tracking.add(self.sim, self.user_command, settled)
        self._update_command()
        obs = self._observe()

        cycle_yaw = self._cycle_yaw.push(float(self.sim.body_ang_vel_body_radps[2]))
        state = self.measure(action, float(obs["privileged"][-1]), cycle_yaw)
        fell = state.fell
        reward, terms = self.reward(state)
        for name, value in terms.items():
            self.episode_terms[name] += value
        self.episode_return += reward
        self.episode_energy_j += state.power_w * specs.CONTROL_DT_S
        self._action = action

        terminated = bool(fell)
        truncated = self._step >= self.config.episode_steps and not terminated
        info: dict[str, Any] = {}  # kept small: SB3 deep-copies every step's infos
        if terminated or truncated:
            self._episode_started = False
            self._tracking.close()
            info["reward_terms"] = dict(self.episode_terms)
            info["episode_metrics"] = self.episode_metrics(fell)
        return obs, float(reward), terminated, truncated, info

    def _push(self) -> None:
        """Pushes: now and then a horizontal force on the body for ``PUSH_S``, of up to
        ``DomainParams.push_force_n`` (0: never), in a random direction."""
        force_n = self.params.push_force_n
        if force_n <= 0.0:
            return
        rng, xfrc = self.np_random, self.sim.data.xfrc_applied
        if self._push_steps_left == 0 and self._step >= self._next_push_step:
            angle = rng.uniform(-math.pi, math.pi)
            size = force_n * rng.uniform(0.5, 1.0)
            self._push_force = np.array([size * math.cos(angle), size * math.sin(angle), 0.0])
            self._push_steps_left = self._steps_after(PUSH_S)
            self._next_push_step = self._step + self._steps_after(rng.uniform(*PUSH_EVERY_S))
        if self._push_steps_left > 0:
            xfrc[self.sim.body_id, :3] = self._push_force
            self._push_steps_left -= 1
        else:
            xfrc[self.sim.body_id, :3] = 0.0

    def measure(
        self,
        action: np.ndarray,
        sonar_m: float | None = None,
        cycle_yaw_rate_radps: float | None = None,
    ) -> StepState:
        """The reward's view of the simulator now (``sonar_m``: the true range ahead, else
        measured anew; the reward uses the truth, not the robot's reading with its misses;
        ``cycle_yaw_rate_radps``: ``step``'s mean over the last gait cycle)."""
        sim = self.sim
        hit_before = len(self.boxes_hit)
        fell_contact, nonfoot, feet = self.contacts()
        upright_cos = sim.upright()
        rot = sim.body_rotation
        vel = sim.body_lin_vel_world_mps
        path_m, view_m = self.box_ranges_m() if self._wants_boxes else (math.inf, math.inf)
        return StepState(
            upright_cos=upright_cos,
            body_height_m=sim.body_height_m,
            ang_vel_body_radps=sim.body_ang_vel_body_radps.copy(),
            forward_velocity_mps=float(rot[0, 0] * vel[0] + rot[1, 0] * vel[1]),
            lateral_velocity_mps=float(rot[0, 1] * vel[0] + rot[1, 1] * vel[1]),
            command=self.command,
            sonar_m=self.sensors.ultrasonic_true_m() if sonar_m is None else sonar_m,
            obstacle_contacts=nonfoot,
            new_boxes_hit=len(self.boxes_hit) - hit_before,
            foot_obstacle_contacts=feet,
            power_w=float(np.abs(sim.data.actuator_force * sim.joint_vel_radps).sum()),
            action=np.asarray(action, dtype=float),
            last_action=self._action,
            fell=fell_contact or upright_cos < FALL_UPRIGHT_COS,
            path_obstacle_m=path_m,
            cycle_yaw_rate_radps=cycle_yaw_rate_radps,
            box_in_view=view_m < reflex.REACT_RANGE_M,
        )

    def path_obstacle_m(self) -> float:
        """Free distance (m) from the body's front to the nearest box in its path corridor
        (``rewards.PATH_HALF_WIDTH_M``); inf if none (``box_ranges_m``)."""
        return self.box_ranges_m()[0]

    def box_in_view_m(self) -> float:
        """Distance (m) from the head camera to the nearest box surface inside its
        horizontal view (``CAMERA_HFOV_DEG``), roughly what the teacher's depth scan
        reacts to; inf if none (``box_ranges_m``)."""
        return self.box_ranges_m()[1]

    def box_ranges_m(self) -> tuple[float, float]:
        """``(path_obstacle_m, box_in_view_m)`` in one pass over the boxes. True positions:
        for the reward only.

        Plain floats over the few boxes: numpy's per-call cost on 3-element arrays made
        this the largest Python item of a step; the same IEEE operations in the same
        order give the same figures bit for bit.
        """
        ids = self._obstacle_array
        if ids.size == 0:
            return math.inf, math.inf
        m = self.sim.model
        bx, by, _ = self.sim.data.xpos[self.sim.body_id].tolist()  # body_rotation's frame
        cx, sx, _ = (self.sim.body_rotation @ specs.FORWARD_AXIS_BODY).tolist()  # heading
        path = view = math.inf
        corridor = rewards.PATH_HALF_WIDTH_M
        for (px, py, pz), (half, _, _) in zip(
            m.geom_pos[ids].tolist(), m.geom_size[ids].tolist(), strict=True
        ):
            # Unused boxes wait under the floor; a box beside or behind the path is no threat.
            rel_x, rel_y = px - bx, py - by
            ahead = rel_x * cx + rel_y * sx
            if pz <= 0.0 or ahead <= 0.0:
                continue
            side = abs(rel_y * cx - rel_x * sx)
            if side < half + corridor:
                path = min(path, ahead - half - BODY_FRONT_M)  # square boxes
            ahead_cam = ahead - BODY_FRONT_M
            if ahead_cam > 0.0 and max(0.0, side - half) < ahead_cam * _HALF_VIEW_TAN:
                view = min(view, math.hypot(ahead_cam, side) - half)
        return (path if path == math.inf else max(0.0, path)), view

    def episode_metrics(self, fell: bool) -> dict[str, float]:
        """What the episode so far did, in SI units (the evaluation's per-episode row)."""
        forward_m, lateral_m = self.sim.start_frame_displacement_m()
        seconds = max(self._step, 1) * specs.CONTROL_DT_S
        return {
            "return": self.episode_return,
            "length": self._step,
            "distance_m": forward_m,
            "lateral_m": lateral_m,
            "mean_forward_velocity_mps": forward_m / seconds,
            "fell": bool(fell),
            "collisions": len(self.boxes_hit),
            "foot_collisions": len(self.boxes_footed - self.boxes_hit),
            "energy_j": self.episode_energy_j,
            "command_mps": float(self.user_command[0]),
            "command_yaw_radps": float(self.user_command[1]),
            **self._tracking.errors(),
        }

    # ------------------------------------------------------------------ render
    def render(self):
        if self.render_mode != "rgb_array":
            return None
        if self._chase is None:
            from pidog_gaits.sim.video import VideoRecorder

            self._chase = VideoRecorder(self.sim, "/dev/null", width=320, height=240)
        self._chase.frames.clear()
        self._chase.capture(force=True)
        return self._chase.frames[-1]

    def close(self) -> None:
        self.sensors.close()
        if self._chase is not None:
            self._chase.frames.clear()
            self._chase.close()  # no frames left: writes nothing
            self._chase = None
