"""Play SunFounder's own actions in the simulator with the library's own timing.

How the real robot plays a frame (sunfounder/pidog 1ef95a2, robot-hat 577142d): ``do_action``
appends the action's frames to a buffer; the legs thread hands them one at a time to
``robot_hat.Robot.servo_move(targets, speed)``, which

1. takes the largest joint move of the frame, truncated to whole degrees (``int``); if
   that is 0 it sleeps one step and returns *without* moving (sub-degree frames are
   dropped);
2. gives the frame ``1000 - 9.9 * speed`` ms, or longer if that would exceed
   ``max_dps`` (``Pidog.LEGS_DPS = 428`` deg/s): ``largest move / 428 * 1000`` ms;
3. splits it into ``int(total_ms / 10)`` steps of ``step_time = 10`` ms (the truncation
   makes a 29.8 ms frame at speed 98 take two steps, 20 ms), and every step writes all
   eight servos ``delta / steps`` further, then sleeps the rest of the 10 ms.

Frames follow each other with no pause. ``LibraryPlayer`` reproduces exactly that
schedule of writes; the simulator samples it once per control period (20 ms, the
servos' own 50 Hz PWM frame), taking the last write of the period as the servo target,
which ``PiDogSim.step`` slews to at the servo's speed limit.
"""

from __future__ import annotations

import collections
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from pidog_gaits.gaits import sunfounder
from pidog_gaits.gaits.library import POSE_PERIOD_S, GaitSpec
from pidog_gaits.robot import specs
from pidog_gaits.sim.randomization import DomainParams
from pidog_gaits.sim.rollout import run_gait

LEGS_MAX_DPS = 428.0
"""``Pidog.LEGS_DPS``: the library's cap on a frame's largest joint rate (deg/s)."""
STEP_S = 0.010
"""``robot_hat.Robot.servo_move``'s ``step_time``: one servo write every 10 ms."""
START_STAND_HEIGHT_MM = 80.0
"""Replays start in the 80 mm stand: the height (``Z_ORIGIN``) the library's walk and trot
play at and the model's ``stand`` keyframe, so a gait starts without a 15 mm drop."""


@dataclass(frozen=True)
class LibraryTiming:
    """How the library spreads frames over time; defaults are the library's own."""

    speed: int
    """``do_action``'s speed, 0-100."""
    max_dps: float = LEGS_MAX_DPS
    """Frame rate cap (deg/s)."""
    step_s: float = STEP_S
    """Time between servo writes (s)."""
    time_scale: float = 1.0
    """Stretches every frame (2 = played at half speed); 1 is the library."""

    def frame_steps(self, largest_move_deg: float) -> int:
        """Servo writes the library makes for a frame whose largest move is given (0: skip)."""
        max_delta = int(largest_move_deg)
        if max_delta == 0:
            return 0
        speed = min(100, max(0, self.speed))
        total_ms = 1000.0 - 9.9 * speed
        if max_delta / total_ms * 1000.0 > self.max_dps:
            total_ms = max_delta / self.max_dps * 1000.0
        return max(1, int(total_ms / (self.step_s * 1000.0)))


@dataclass
class LibraryPlayer:
    """The library's servo writes for an action, served as the command at any time.

    :param frames_deg: the action's frames, library servo degrees ``(N, 8)``.
    :param start_deg: where the servos are when the action is queued ``(8,)``.
    :param loop: repeat the frames forever (a held key) instead of holding the last.
    """

    frames_deg: np.ndarray
    start_deg: np.ndarray
    timing: LibraryTiming
    loop: bool = True
    positions_deg: np.ndarray = field(init=False)
    """The library's own ``servo_positions``: what it believes the servos are at."""
    frames_played: int = field(init=False, default=0)
    next_frame_s: float = field(init=False, default=0.0)
    """When the next frame starts (s); the end of everything queued so far."""
    _writes: collections.deque = field(init=False, default_factory=collections.deque)
    """Pending ``(time_s, degrees (8,))`` servo writes, oldest first."""
    _command_deg: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.frames_deg = np.asarray(self.frames_deg, dtype=float)
        self.positions_deg = np.asarray(self.start_deg, dtype=float).copy()
        self._command_deg = self.positions_deg.copy()

    def queue_frame(self) -> None:
        """Schedule the next frame's writes as ``servo_move`` would (after the last one)."""
        n = len(self.frames_deg)
        if not self.loop and self.frames_played >= n:
            self.next_frame_s = math.inf
            return
        target = self.frames_deg[self.frames_played % n]
        delta = target - self.positions_deg
        steps = self.timing.frame_steps(float(np.abs(delta).max()))
        dt = self.timing.step_s * self.timing.time_scale
        start = self.next_frame_s
        for i in range(1, steps + 1):
            self._writes.append((start + (i - 1) * dt, self.positions_deg + delta * (i / steps)))
        if steps:
            self.positions_deg = target.copy()
        self.next_frame_s = start + max(steps, 1) * dt
        self.frames_played += 1

    def command_at(self, time_s: float) -> np.ndarray:
        """Servo degrees ``(8,)`` of the last write at or before ``time_s``."""
        while self.next_frame_s <= time_s:
            self.queue_frame()
        while self._writes and self._writes[0][0] <= time_s:
            self._command_deg = self._writes.popleft()[1]
        return self._command_deg


def start_stand_deg() -> np.ndarray:
    """Library servo degrees of the 80 mm stand the model starts in."""
    coords = sunfounder.stand_coords(START_STAND_HEIGHT_MM)
    return sunfounder.library_leg_angles_deg(coords)[0]


def cycle_s(action: sunfounder.LibraryAction, timing: LibraryTiming) -> float:
    """Duration of one steady cycle of a looping action (one pass for a pose)."""
    frames = action.frames_deg
    start = frames[-1] if action.loop else start_stand_deg()
    player = LibraryPlayer(frames, start, timing, loop=False)
    while player.frames_played < len(frames):
        player.queue_frame()
    return player.next_frame_s


class LibraryController:
    """A ``rollout.GaitController`` that ignores the gait input and plays the library.

    ``run_gait`` calls it once per control period; the command is the library's last
    servo write before that period ends (head and tail held at 0, as in the examples).
    """

    def __init__(
        self,
        action: sunfounder.LibraryAction,
        timing: LibraryTiming,
        start_deg: np.ndarray | None = None,
    ) -> None:
        self.action = action
        self.timing = timing
        self.start_deg = start_stand_deg() if start_deg is None else np.asarray(start_deg)
        self.reset()

    def reset(self) -> None:
        self._player = LibraryPlayer(
            self.action.frames_deg, self.start_deg, self.timing, loop=self.action.loop
        )
        self._step = 0

    def __call__(self, gait_input: np.ndarray) -> np.ndarray:
        self._step += 1
        command = self._player.command_at(self._step * specs.CONTROL_DT_S - 1e-9)
        return np.concatenate([sunfounder.to_sim_rad(command), np.zeros(4)])


@dataclass
class LibraryReplayResult:
    """What a library action did in the simulator, beside what its frames imply."""

    action: str
    library_name: str
    speed: int
    time_scale: float
    seconds: float
    quality: str
    seed: int
    distance_m: float
    lateral_m: float
    heading_change_rad: float
    fell: bool
    fall_time_s: float | None
    mean_forward_velocity_mps: float
    mean_height_m: float
    cycle_s: float
    """One cycle with the library's timing (s)."""
    stride_m: float
    implied_speed_mps: float
    """Stride x cycle rate (signed): the issue's bound on the robot, foot stroke per cycle."""
    progress_ratio: float | None
    """Measured forward velocity over ``implied_speed_mps`` (None for poses)."""
    realtime_factor: float

    def as_dict(self) -> dict:
        return asdict(self)


def replay_library(
    name: str,
    seconds: float,
    quality: str = "production",
    seed: int = 0,
    params: DomainParams | None = None,
    timing: LibraryTiming | None = None,
    video=None,
    stop_on_fall: bool = True,
) -> LibraryReplayResult:
    """Play the library action ``name`` from the 80 mm stand for ``seconds``.

    :param timing: frame timing; the library's own at the action's example speed if None.
    """
    action = sunfounder.get_action(name)
    timing = timing or LibraryTiming(action.speed)
    cycle = cycle_s(action, timing)
    spec = GaitSpec(
        f"library_{name}",
        action.family,
        action.heading,
        float(-action.turn),
        cycle if action.loop else POSE_PERIOD_S,
    )
    controller = LibraryController(action, timing)
    run = run_gait(
        spec,
        seconds,
        quality=quality,
        seed=seed,
        controller=controller,
        params=params,
        video=video,
        stop_on_fall=stop_on_fall,
        ramp_s=0.0,
    )
    implied = action.heading * action.stride_m / cycle if action.loop else 0.0
    ratio = run.mean_forward_velocity_mps / implied if implied else None
    return LibraryReplayResult(
        action=name,
        library_name=action.library_name,
        speed=timing.speed,
        time_scale=timing.time_scale,
        seconds=run.seconds,
        quality=quality,
        seed=seed,
        distance_m=run.distance_m,
        lateral_m=run.lateral_m,
        heading_change_rad=run.yaw_rad,
        fell=run.fell,
        fall_time_s=run.seconds if run.fell else None,
        mean_forward_velocity_mps=run.mean_forward_velocity_mps,
        mean_height_m=run.mean_height_m,
        cycle_s=cycle,
        stride_m=action.stride_m,
        implied_speed_mps=implied,
        progress_ratio=ratio,
        realtime_factor=run.realtime_factor,
    )
