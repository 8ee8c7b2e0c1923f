"""The control loop: read sensors, run the policy, pass the safety layer, command the robot.

One loop for every backend. On the robot it keeps wall-clock time at the model's control
rate; in simulation it runs as fast as it can (or in real time). It starts by moving the
robot from whatever pose it holds (the library's lie pose on the real PiDog) to the stand
over ``standup_s``, then ramps from the stand into the gait like ``run_gait``, so on a
simulator that starts in the stand it reproduces ``pidog-gaits gait`` step for step.
"""

from __future__ import annotations

import itertools
import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pidog_gaits.backends import Backend
from pidog_gaits.backends.safety import (
    FELL_STOP,
    INTERRUPT_STOP,
    SafetyConfig,
    SafetyMonitor,
    SafetyStopError,
)
from pidog_gaits.gaits.library import GaitSpec
from pidog_gaits.runtime.base import DeployPolicy, GaitSchedule, stand_targets
from pidog_gaits.runtime.observation import TARGET_HISTORY

STAND_TOLERANCE_RAD = 1e-3


@dataclass(frozen=True)
class LoopConfig:
    """How long and how fast the loop runs."""

    seconds: float
    """Run time after standing up (s); ``math.inf`` runs until stopped (ROS 2)."""
    dt_s: float
    """Control period (s): the model's own unless overridden with ``--rate``."""
    standup_s: float = 1.0
    """Time to move from the start pose to the stand (s); skipped when already standing."""
    stop_on_fall: bool = True


class _StopRequest:
    """Turns SIGINT/SIGTERM into a flag the loop checks between steps.

    A ``KeyboardInterrupt`` raised in the middle of a command could leave the servo
    library with half a frame; a flag lets the step finish and the dog lie down.
    """

    def __init__(self) -> None:
        self.requested = False
        self._old: dict[int, object] = {}

    def __enter__(self) -> _StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = True

    def __exit__(self, *exc) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def _percentile_ms(values: list[float], q: float) -> float:
    return float(np.percentile(values, q) * 1e3) if values else math.nan


def run_controller(
    policy: DeployPolicy,
    backend: Backend,
    gait: GaitSpec,
    config: LoopConfig,
    safety: SafetyConfig | None = None,
    gait_source: Callable[[], GaitSpec | None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
    command: np.ndarray | None = None,
    command_source: Callable[[], np.ndarray | None] | None = None,
) -> dict:
    """Run ``policy`` on ``backend`` and return the figures (backend's first).

    :param gait_source: polled each step; a different gait than the running one switches
        to it (ROS ``cmd_vel`` for a policy trained on named gaits). ``None`` runs
        ``gait`` throughout.
    :param command: ``[speed (m/s), yaw rate (rad/s)]``, already clipped to the policy's
        ranges: play the trot at the amplitude and turn the command asks for
        (``GaitSchedule.for_command``, as the env does) instead of ``gait``.
    :param command_source: command mode, polled each step; a command it returns replaces
        the running one (ROS ``cmd_vel`` for a command-following policy), ``None`` keeps
        it. Without ``command`` the run starts standing (``[0, 0]``).
    """
    if gait_source is not None and (command is not None or command_source is not None):
        raise ValueError("a run follows either a gait source or a command, not both")
    if command is None and command_source is not None:
        command = np.zeros(2)
    dt = config.dt_s
    start = backend.joint_pos_rad()
    monitor = SafetyMonitor(safety or SafetyConfig(), dt, start)
    stand = stand_targets()
    infer_s: list[float] = []
    step_s: list[float] = []
    steps = 0
    standup_steps = 0
    t_start = clock()

    def wait_for(tick_s: float) -> None:
        if backend.realtime:
            ahead = tick_s - clock()
            if ahead > 0:
                sleep(ahead)

    with _StopRequest() as stop:
        try:
            # ---- stand up from the start pose (lie on the robot)
            if np.max(np.abs(start - stand)) > STAND_TOLERANCE_RAD:
                standup_steps = max(1, math.ceil(config.standup_s / dt))
                for k in range(1, standup_steps + 1):
                    if stop.requested:
                        monitor.stop(INTERRUPT_STOP)
                        break
                    backend.command(monitor.limit(start + (stand - start) * k / standup_steps))
                    wait_for(t_start + k * dt)
            else:  # already standing (the simulator's keyframe): start from the exact stand
                monitor.last_rad = stand.copy()
            # ---- the gait
            last = monitor.last_rad.copy()
            history = np.tile(last, (TARGET_HISTORY, 1))  # as PiDogEnv.reset starts it
            if command is None:
                schedule = GaitSchedule(gait, dt, last)
                monitor.sitting = gait.family == "sit"
            else:
                hold = getattr(policy, "heading_hold", {})
                schedule = GaitSchedule.for_command(command, dt, last, **hold)
            policy.reset()
            t_gait = clock()
            forever = math.isinf(config.seconds)
            planned = itertools.count() if forever else range(round(config.seconds / dt))
            for i in planned:
                if monitor.stopped:
                    break
                if stop.requested:
                    monitor.stop(INTERRUPT_STOP)
                    break
                tick = t_gait + i * dt
                t0 = clock()
                try:
                    reading = backend.read()
                except SafetyStopError as exc:  # a sensor that keeps failing (the camera)
                    monitor.stop(exc.reason)
                    break
                if monitor.check_tilt(reading.imu[:3]):
                    break
                if gait_source is not None:
                    wanted = gait_source()
                    if wanted is not None and wanted != schedule.gait:
                        schedule.switch(wanted, last)
                        monitor.sitting = wanted.family == "sit"
                        policy.reset()
                if command_source is not None:
                    wanted_command = command_source()
                    if wanted_command is not None:
                        schedule.set_command(wanted_command)
                ctx = schedule.context(last, reading, history)
                t1 = clock()
                raw = policy.act(ctx)
                infer_s.append(clock() - t1)
                last = monitor.limit(raw)
                history[1:] = history[:-1]  # what was sent, newest first
                history[0] = last
                backend.command(last)
                schedule.advance()
                steps += 1
                # On the robot a step is late if it ends past its period from its tick;
                # in simulation only the controller's own compute counts.
                took = clock() - (tick if backend.realtime else t0)
                step_s.append(took)
                if monitor.check_step_time(took):
                    break
                if backend.fell():
                    monitor.stop(FELL_STOP)
                    if config.stop_on_fall:
                        break
                wait_for(tick + dt)
        except KeyboardInterrupt:  # a second Ctrl-C outside the handler's reach
            monitor.stop(INTERRUPT_STOP)
        finally:
            if backend.realtime or monitor.stopped:
                backend.lie_down()
    figures = dict(backend.figures())
    figures.update(
        {
            "policy_kind": policy.kind,
            "engine": policy.engine,
            "backend": backend.name,
            "control_rate_hz": 1.0 / dt,
            "steps": steps,
            "standup_steps": standup_steps,
            "mean_inference_ms": float(np.mean(infer_s) * 1e3) if infer_s else math.nan,
            "p99_inference_ms": _percentile_ms(infer_s, 99),
            "max_inference_ms": float(np.max(infer_s) * 1e3) if infer_s else math.nan,
            "max_step_ms": float(np.max(step_s) * 1e3) if step_s else math.nan,
        }
    )
    figures.update(monitor.figures())
    return figures
