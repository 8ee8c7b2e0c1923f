"""The real-robot path against a stand-in for SunFounder's ``pidog`` module.

The stand-in (injected through ``sys.modules``) records every call the backend makes, so
these tests check what the servos would be told: degrees and signs per joint, clamping,
the per-step rate limit, and the lie-down on tilt, Ctrl-C and overruns.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
import types

import numpy as np
import pytest

from pidog_gaits.backends import BackendUnavailableError
from pidog_gaits.backends.pidog import (
    PidogBackend,
    PidogConfig,
    from_library_deg,
    imu_to_body,
    roll_pitch_from_accel,
    sonar_m_from_cm,
    to_library_deg,
)
from pidog_gaits.backends.safety import SafetyConfig, SafetyMonitor
from pidog_gaits.gaits.library import get_gait
from pidog_gaits.robot import specs
from pidog_gaits.runtime.base import ExpertPolicy, blend, lie_targets, stand_targets
from pidog_gaits.runtime.loop import LoopConfig, run_controller

LEVEL_ACCEL = [-16384.0, 0.0, 0.0]  # the library calibrates the resting up axis to -1 g on x


class FakePidog:
    """Records calls like SunFounder's ``Pidog`` would receive them."""

    instances: list[FakePidog] = []

    def __init__(self, leg_pins=None, head_pins=None, tail_pin=None, **kwargs) -> None:
        self.pins = (leg_pins, head_pins, tail_pin)
        self.calls: list[tuple] = []
        self.accData = list(LEVEL_ACCEL)
        self.gyroData = [0.0, 0.0, 0.0]
        self.distance_cm = 57.0
        self.legs_action_buffer: list = []
        self.head_action_buffer: list = []
        self.legs = types.SimpleNamespace(offset=[1.0, -2.0, 0, 0, 0, 0, 0, 0])
        self.tick = 0
        self.tilt_at_tick: int | None = None
        FakePidog.instances.append(self)

    def legs_move(self, angles, immediately=True, speed=50):
        self.calls.append(("legs_move", [list(a) for a in angles], immediately, speed))
        self.tick += 1
        if self.tilt_at_tick is not None and self.tick >= self.tilt_at_tick:
            self.accData = [0.0, 0.0, -16384.0]  # on its side: gravity along the left axis

    def head_move_raw(self, angles, immediately=True, speed=50):
        self.calls.append(("head_move_raw", [list(a) for a in angles], immediately, speed))

    def tail_move(self, angles, immediately=True, speed=50):
        self.calls.append(("tail_move", [list(a) for a in angles], immediately, speed))

    def read_distance(self):
        return self.distance_cm

    def stop_and_lie(self, speed=85):
        self.calls.append(("stop_and_lie", speed))

    def close(self):
        self.calls.append(("close",))

    def legs_frames(self) -> np.ndarray:
        return np.array([c[1][0] for c in self.calls if c[0] == "legs_move"])


@pytest.fixture
def fake_pidog(monkeypatch):
    FakePidog.instances.clear()
    module = types.ModuleType("pidog")
    module.Pidog = FakePidog
    monkeypatch.setitem(sys.modules, "pidog", module)
    return FakePidog


class ConstantPolicy:
    """Always asks for the same targets (blended in from the stand like a real model)."""

    kind = "test"
    engine = "numpy"
    image = None
    image_size_px = (64, 48)
    control_dt_s = specs.CONTROL_DT_S

    def __init__(self, targets, delay_s: float = 0.0, on_step=None) -> None:
        self.targets = np.asarray(targets, dtype=float)
        self.delay_s = delay_s
        self.on_step = on_step
        self.calls = 0

    def reset(self) -> None:
        pass

    def act(self, ctx):
        self.calls += 1
        if self.on_step is not None:
            self.on_step(self.calls)
        if self.delay_s:
            time.sleep(self.delay_s)
        return self.targets.copy()


# ---------------------------------------------------------------------- conversions
def test_degrees_and_signs_per_joint():
    rad = np.radians([10, 20, 10, 20, -5, 30, -5, 30, 15, 12, -20, 40])
    legs, head, tail = to_library_deg(rad)
    # Right legs negated; left legs as they are.
    assert legs == pytest.approx([10, 20, -10, -20, -5, 30, 5, -30])
    # Head: yaw as is, roll negated, pitch + the 45 deg mounting offset.
    assert head == pytest.approx([15, -12, 25])
    assert tail == pytest.approx([40])
    assert from_library_deg(legs, head, tail[0]) == pytest.approx(rad)


def test_lie_pose_in_library_degrees_is_the_librarys_lie():
    legs, head, _ = to_library_deg(lie_targets())
    assert legs == pytest.approx([45, -45, -45, 45, 45, -45, -45, 45])
    assert head == pytest.approx([0, 0, specs.HEAD_PITCH_OFFSET_DEG])


def test_imu_counts_to_si_at_rest_and_tilted():
    axes = np.asarray(PidogConfig().imu_axes)
    level = imu_to_body(LEVEL_ACCEL, [0, 0, 164.0], axes)
    assert level[:3] == pytest.approx([0, 0, 9.80665])
    assert level[6:] == pytest.approx([0, 0], abs=1e-9)
    # 164 counts = 10 deg/s about the sensor z axis = -10 deg/s about the body's left axis.
    assert level[3:6] == pytest.approx([0, -math.radians(10.0), 0], rel=1e-3)
    # Roll/pitch follow Sensors.imu's convention: nose down (gravity towards +x) is +pitch.
    a = 9.81 * np.array([math.sin(0.3), 0.0, math.cos(0.3)])
    assert roll_pitch_from_accel(a) == pytest.approx((0.0, -0.3))
    a = 9.81 * np.array([0.0, math.sin(0.2), math.cos(0.2)])
    assert roll_pitch_from_accel(a) == pytest.approx((0.2, 0.0))


def test_roll_pitch_from_accel_matches_the_simulated_imu():
    """Gravity in body axes (what a resting accelerometer reads) gives ``Sensors.imu``'s
    roll and pitch, for orientations the simulator computes itself."""
    import mujoco

    from pidog_gaits.sim.physics import PiDogSim
    from pidog_gaits.sim.sensors import Sensors

    sim = PiDogSim("fast")
    sensors = Sensors(sim, np.random.default_rng(0), noise_scale=0.0)
    for roll, pitch in ((0.0, 0.0), (0.25, 0.0), (0.0, 0.3), (-0.2, -0.15)):
        sim.reset()
        quat = np.zeros(4)
        # R = Rz(yaw) Ry(pitch) Rx(roll): intrinsic z, y', x''.
        mujoco.mju_euler2Quat(quat, np.array([0.4, pitch, roll]), "zyx")
        sim.data.qpos[3:7] = quat
        mujoco.mj_kinematics(sim.model, sim.data)
        resting_accel = sim.body_rotation.T @ np.array([0.0, 0.0, 9.81])
        expected = sensors.true_roll_pitch_rad()
        assert roll_pitch_from_accel(resting_accel) == pytest.approx(tuple(expected), abs=1e-9)
        assert tuple(expected) == pytest.approx((roll, pitch), abs=1e-9)


def test_sonar_cm_to_m():
    assert sonar_m_from_cm(57.0) == pytest.approx(0.57)
    assert sonar_m_from_cm(-1.0) == specs.ULTRASONIC_NO_ECHO  # no echo: the policy sees -1
    assert sonar_m_from_cm(1.0) == specs.ULTRASONIC_MIN_RANGE_M
    assert sonar_m_from_cm(900.0) == specs.ULTRASONIC_MAX_RANGE_M


def test_camera_frames_are_block_averaged():
    from pidog_gaits.robot.camera import preprocess_frame

    img = np.zeros((8, 12, 3), dtype=np.uint8)
    img[:4, :4] = [200, 100, 0]
    out = preprocess_frame(img, 3, 2, "rgb")  # what the backend's camera reader calls
    assert out.shape == (3, 2, 3)
    assert out[:, 0, 0].tolist() == [200, 100, 0]
    assert out[:, 1, 2].tolist() == [0, 0, 0]


# ---------------------------------------------------------------------- backend calls
def test_backend_sends_degrees_and_reads_sensors(fake_pidog):
    backend = PidogBackend()
    dog = fake_pidog.instances[-1]
    assert dog.pins == (list(PidogConfig().leg_pins), [4, 6, 5], [9])
    # Starts where the library leaves the legs: the lie pose.
    assert backend.joint_pos_rad() == pytest.approx(lie_targets())
    target = stand_targets()
    backend.command(target)
    name, frames, immediately, speed = dog.calls[0]
    assert name == "legs_move" and speed == 100 and immediately is False
    assert frames[0] == pytest.approx(to_library_deg(target)[0])
    assert ("head_move_raw", [[0.0, 0.0, 45.0]], False, 100) in dog.calls
    backend.command(target)  # head and tail unchanged: not sent again
    assert sum(c[0] == "head_move_raw" for c in dog.calls) == 1
    reading = backend.read()
    assert reading.sonar_m == pytest.approx(0.57)
    assert reading.imu[:3] == pytest.approx([0, 0, 9.80665])
    # Commanded angles stand in for the encoders.
    assert reading.joint_pos_rad == pytest.approx(target)
    assert reading.joint_vel_radps == pytest.approx(np.zeros(12))
    assert backend.figures()["calibration_offsets_deg"]["legs"][:2] == [1.0, -2.0]


def test_backend_flushes_a_stale_queue(fake_pidog):
    backend = PidogBackend()
    dog = fake_pidog.instances[-1]
    dog.legs_action_buffer.extend([[0] * 8] * 3)
    dog.head_action_buffer.extend([[0] * 3])  # one pending head frame is no backlog
    backend.command(stand_targets())
    assert dog.calls[0][0] == "legs_move" and dog.calls[0][2] is True  # drops stale frames
    assert dog.calls[1][0] == "head_move_raw" and dog.calls[1][2] is False
    assert backend.figures()["frames_dropped"] == 1


def test_older_library_with_feet_names(monkeypatch):
    calls = []

    class OldPidog:
        def __init__(self, feet_pins, head_pins, tail_pin):
            self.accData, self.gyroData = list(LEVEL_ACCEL), [0, 0, 0]
            self.distance = types.SimpleNamespace(value=-1.0)

        def feet_move(self, angles, immediately=True, speed=50):
            calls.append(angles)

        def head_move_raw(self, *a, **k):
            pass

        def tail_move(self, *a, **k):
            pass

    monkeypatch.setitem(sys.modules, "pidog", types.SimpleNamespace(Pidog=OldPidog))
    backend = PidogBackend()
    backend.command(stand_targets())
    assert calls and calls[0][0] == pytest.approx(to_library_deg(stand_targets())[0])
    assert backend.read().sonar_m == specs.ULTRASONIC_NO_ECHO


def test_missing_library_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pidog", None)  # import pidog -> ImportError
    with pytest.raises(BackendUnavailableError, match="SunFounder's pidog library"):
        PidogBackend()


def test_depth_policy_refused_on_the_robot(fake_pidog):
    with pytest.raises(BackendUnavailableError, match="depth"):
        PidogBackend(image="depth")


def test_measured_joint_policy_refused_on_the_robot(fake_pidog):
    with pytest.raises(BackendUnavailableError, match="measured joint angles"):
        PidogBackend(signals=("imu", "sonar", "joints", "targets", "command", "phase"))
    with pytest.raises(BackendUnavailableError, match="privileged"):
        PidogBackend(signals=("imu", "privileged"))
    PidogBackend(signals=("imu", "sonar", "targets", "command", "phase"))  # the default actor


# ---------------------------------------------------------------------- safety in the loop
NO_OVERRUN_STOP = SafetyConfig(max_overruns=10_000)
"""These tests keep wall-clock time on a shared CPU: only the overrun test may stop on it."""


def _run(policy, seconds=0.4, safety=NO_OVERRUN_STOP, standup_s=0.1):
    backend = PidogBackend()
    figures = run_controller(
        policy,
        backend,
        get_gait("stand"),
        LoopConfig(seconds=seconds, dt_s=specs.CONTROL_DT_S, standup_s=standup_s),
        safety,
    )
    backend.close()
    return figures, FakePidog.instances[-1]


def test_clamps_to_joint_ranges(fake_pidog):
    wild = stand_targets()
    wild[0] = 3.0  # past the +90 deg end stop
    wild[2] = -3.0  # right front shoulder the other way
    figures, dog = _run(ConstantPolicy(wild), seconds=1.0)
    frames = dog.legs_frames()
    assert frames[:, 0].max() == pytest.approx(90.0)
    assert frames[:, 2].max() == pytest.approx(90.0)  # -(-90 deg): right legs negated
    assert np.abs(frames).max() <= 90.0 + 1e-9
    assert figures["clamped_steps"] > 0


def test_rate_limit_per_step(fake_pidog):
    far = stand_targets()
    far[1] += 1.0  # a 57 deg jump of the left front knee
    figures, dog = _run(ConstantPolicy(far), seconds=0.6)
    frames = dog.legs_frames()
    step_deg = math.degrees(SafetyConfig().max_step_rad)
    assert np.abs(np.diff(frames, axis=0)).max() <= step_deg + 1e-9
    # It still gets there, one limited step at a time.
    assert frames[-1][1] == pytest.approx(to_library_deg(far)[0][1])
    assert figures["rate_limited_steps"] >= 6


def test_tilt_lies_down_and_stops(fake_pidog):
    dog_ticks = {}

    def tilt_later(calls):
        dog = FakePidog.instances[-1]
        if calls == 5:
            dog.accData = [0.0, 0.0, -16384.0]  # rolled onto its side
            dog_ticks["at"] = sum(c[0] == "legs_move" for c in dog.calls)

    figures, dog = _run(ConstantPolicy(stand_targets(), on_step=tilt_later), seconds=2.0)
    assert figures["stop_reason"] == "tilt"
    names = [c[0] for c in dog.calls]
    lie = names.index("stop_and_lie")
    assert "legs_move" not in names[lie:]  # nothing moves after the lie-down
    # The low-pass filter trips within a few steps, not at once and not after seconds.
    assert 1 <= figures["steps"] - 5 <= 8
    assert figures["max_tilt_seen_rad"] > math.radians(45)


def test_ctrl_c_lies_down(fake_pidog):
    def interrupt(calls):
        if calls == 3:
            os.kill(os.getpid(), signal.SIGINT)

    figures, dog = _run(ConstantPolicy(stand_targets(), on_step=interrupt), seconds=2.0)
    assert figures["stop_reason"] == "interrupted"
    assert figures["steps"] <= 4
    assert ("stop_and_lie", PidogConfig().lie_speed) in dog.calls
    assert dog.calls[-1] == ("close",)


def test_overruns_stop_the_robot(fake_pidog):
    slow = ConstantPolicy(stand_targets(), delay_s=1.5 * specs.CONTROL_DT_S)
    figures, dog = _run(slow, seconds=2.0, safety=SafetyConfig(max_overruns=3))
    assert figures["stop_reason"] == "overrun"
    assert figures["steps"] == 3
    assert any(c[0] == "stop_and_lie" for c in dog.calls)


def test_normal_end_of_a_robot_run_lies_down(fake_pidog):
    figures, dog = _run(ExpertPolicy(), seconds=0.2)
    assert figures["stop_reason"] is None
    assert figures["steps"] == 10
    assert figures["standup_steps"] == 5
    assert dog.calls[-2] == ("stop_and_lie", PidogConfig().lie_speed)


def test_safety_monitor_holds_last_target_on_nan():
    monitor = SafetyMonitor(SafetyConfig(), specs.CONTROL_DT_S, stand_targets())
    bad = stand_targets()
    bad[3] = math.nan
    out = monitor.limit(bad)
    assert out[3] == stand_targets()[3]
    assert monitor.nonfinite_steps == 1


def test_blend_ramps_from_hold_pose():
    from pidog_gaits.runtime.base import GaitSchedule

    schedule = GaitSchedule(get_gait("trot_forward"), specs.CONTROL_DT_S, lie_targets())
    ctx = schedule.context(lie_targets(), None)
    assert blend(stand_targets(), ctx) == pytest.approx(lie_targets())


# ---------------------------------------------------------------------- the CLI
def test_cli_runs_the_expert_on_the_stand_in(fake_pidog, tmp_path):
    from pidog_gaits.nn_controller import main

    out = tmp_path / "robot.json"
    code = main(
        ["--model", "expert", "--backend", "pidog", "--gait", "stand", "--seconds", "0.2",
         "--standup-s", "0.1", "--max-overruns", "10000", "--json", str(out)]
    )  # fmt: skip
    assert code == 0
    figures = json.loads(out.read_text())
    assert figures["backend"] == "pidog" and figures["steps"] == 10
    assert figures["frames_sent"] == 15  # 5 to stand up, 10 gait steps


def test_cli_without_the_library_is_one_line(monkeypatch, capsys):
    from pidog_gaits.nn_controller import main

    monkeypatch.setitem(sys.modules, "pidog", None)
    code = main(["--model", "expert", "--backend", "pidog", "--seconds", "0.2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: the pidog backend needs")


def test_dry_run_moves_nothing_and_prints_what_it_would_send(fake_pidog, capsys):
    backend = PidogBackend(PidogConfig(dry_run=True, dry_run_print_every=5))
    figures = run_controller(
        ExpertPolicy(), backend, get_gait("trot_forward"),
        LoopConfig(seconds=0.2, dt_s=specs.CONTROL_DT_S, standup_s=0.1), NO_OVERRUN_STOP,
    )  # fmt: skip
    dog = FakePidog.instances[-1]
    assert not [c for c in dog.calls if c[0] in ("legs_move", "head_move_raw", "stop_and_lie")]
    lines = [line for line in capsys.readouterr().err.splitlines() if "[dry run]" in line]
    assert len(lines) == 3  # frames 0, 5, 10 of 15
    assert "legs [" in lines[0] and "pitch" in lines[1] and "sonar 0.57 m" in lines[1]
    assert figures["frames_sent"] == 15 and figures["dry_run"] is True


# ---------------------------------------------------------------------- the camera
class StandInPicamera2:
    """picamera2's ``Picamera2`` as the backend uses it, playing a script of frames.

    ``script`` items: an ``(H, W, 3)`` array (returned as the capture), or an exception
    instance (raised by the capture). After the script, ``after`` is played forever.
    """

    script: list = []
    after = None
    instances: list[StandInPicamera2] = []

    def __init__(self) -> None:
        self.config = None
        self.started = False
        self.captures = 0
        self._script = list(StandInPicamera2.script)
        StandInPicamera2.instances.append(self)

    def create_video_configuration(self, main=None, **kwargs):
        return {"main": dict(main or {}), **kwargs}

    def configure(self, config) -> None:
        self.config = config

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.started = False

    def capture_array(self, name: str = "main") -> np.ndarray:
        self.captures += 1
        item = self._script.pop(0) if self._script else StandInPicamera2.after
        if isinstance(item, Exception):
            raise item
        return item


def _bgr_frame(level: int) -> np.ndarray:
    """A 320x240 picamera2 RGB888 frame (B, G, R bytes): a gradient, red raised by ``level``."""
    from pidog_gaits.robot.camera import CAMERA_CAPTURE_SIZE_PX

    w, h = CAMERA_CAPTURE_SIZE_PX
    frame = np.zeros((h, w, 3), dtype=np.uint8)
    frame[..., 0] = np.linspace(0, 200, w, dtype=np.uint8)[None, :]  # blue
    frame[..., 2] = level  # red
    return frame


@pytest.fixture
def stand_in_camera(monkeypatch):
    StandInPicamera2.instances.clear()
    StandInPicamera2.script = []
    StandInPicamera2.after = None
    module = types.ModuleType("picamera2")
    module.Picamera2 = StandInPicamera2
    monkeypatch.setitem(sys.modules, "picamera2", module)
    return StandInPicamera2


def test_camera_is_configured_as_the_simulated_one(fake_pidog, stand_in_camera):
    from pidog_gaits.robot import camera as robot_camera

    stand_in_camera.script = [_bgr_frame(90)]
    backend = PidogBackend(PidogConfig(camera_thread=False), image="rgb", image_size_px=(32, 24))
    cam = stand_in_camera.instances[-1]
    assert cam.started
    assert cam.config["main"] == {"size": (320, 240), "format": "RGB888"}
    assert robot_camera.CAMERA_CHANNEL_ORDER == "bgr"  # picamera2's RGB888 is B, G, R
    image = backend.camera_reader.last_good
    assert image.shape == (3, 24, 32) and image.dtype == np.uint8
    assert (image[0] == 90).all()  # red came from the third byte
    assert image[2, 0, 0] < image[2, 0, -1]  # blue rises to the right
    backend.close()
    assert not cam.started


def test_bad_frames_hold_the_last_good_one_and_warn_once_per_streak(
    fake_pidog, stand_in_camera, caplog
):
    from pidog_gaits.backends.safety import SafetyStopError
    from pidog_gaits.robot.camera import CAMERA_CAPTURE_SIZE_PX

    w, h = CAMERA_CAPTURE_SIZE_PX
    good_a, good_b = _bgr_frame(50), _bgr_frame(150)
    stand_in_camera.script = [
        np.zeros_like(good_a),  # at start-up: waits for a good first frame
        good_a,
        np.zeros_like(good_a),  # all zeros
        good_a[: h // 2],  # truncated
        RuntimeError("dequeue failed"),  # the capture itself fails
        good_b,
        *[np.zeros((h, w), dtype=np.uint8)] * 5,  # wrong shape, 5 in a row: ridden out
        np.zeros_like(good_a),  # the 6th in a row: stop
    ]
    backend = PidogBackend(PidogConfig(camera_thread=False), image="rgb", image_size_px=(32, 24))
    reader = backend.camera_reader
    first = reader.last_good
    assert (first[0] == 50).all()
    with caplog.at_level("WARNING", logger="pidog_gaits.backends.picamera"):
        images = [backend.read().image for _ in range(3)]  # zeros, truncated, exception
        assert all(np.array_equal(im, first) for im in images)
        assert len([r for r in caplog.records if r.levelname == "WARNING"]) == 1
        second = backend.read().image
        assert (second[0] == 150).all()  # a good frame again
        held = [backend.read().image for _ in range(5)]
        assert all(np.array_equal(im, second) for im in held)
        assert len([r for r in caplog.records if r.levelname == "WARNING"]) == 2
        with pytest.raises(SafetyStopError) as stop:
            backend.read()
    assert stop.value.reason == "camera"
    assert backend.figures()["camera_bad_frames"] == 9


def test_six_bad_frames_in_a_row_lie_the_robot_down(fake_pidog, stand_in_camera):
    """The loop: 4 good gait steps, then the camera dies; the 6th bad frame stops it."""
    from pidog_gaits.backends.safety import SafetyStopError

    good = _bgr_frame(100)
    stand_in_camera.script = [good] * 5  # 1 at start-up, then 4 gait steps
    stand_in_camera.after = RuntimeError("camera unplugged")
    backend = PidogBackend(PidogConfig(camera_thread=False), image="rgb", image_size_px=(32, 24))
    policy = ConstantPolicy(stand_targets())
    try:
        figures = run_controller(
            policy, backend, get_gait("stand"),
            LoopConfig(seconds=2.0, dt_s=specs.CONTROL_DT_S, standup_s=0.1), NO_OVERRUN_STOP,
        )  # fmt: skip
        reason = figures["stop_reason"]
    except SafetyStopError as exc:  # a loop that does not catch SafetyStopError still lies down
        reason = exc.reason
    dog = FakePidog.instances[-1]
    assert reason == "camera"
    assert policy.calls == 4 + 5  # 4 good frames, then 5 steps on the last good one
    names = [c[0] for c in dog.calls]
    lie = names.index("stop_and_lie")
    assert "legs_move" not in names[lie:]
    backend.close()


def test_frame_age_is_measured_from_the_sensor_timestamp(fake_pidog, monkeypatch):
    """With ``capture_request`` (picamera2's), each frame's age goes into the figures."""
    import time as time_mod

    good = _bgr_frame(80)

    class Request:
        def make_array(self, name):
            return good

        def get_metadata(self):
            # Readout began 30 ms ago after a 20 ms exposure: light 40 ms old on average.
            return {"SensorTimestamp": time_mod.monotonic_ns() - 30_000_000, "ExposureTime": 20000}

        def release(self):
            pass

    class RequestCamera(StandInPicamera2):
        def capture_request(self):
            return Request()

    module = types.ModuleType("picamera2")
    module.Picamera2 = RequestCamera
    monkeypatch.setitem(sys.modules, "picamera2", module)
    backend = PidogBackend(PidogConfig(camera_thread=False), image="rgb", image_size_px=(32, 24))
    for _ in range(5):
        backend.read()
    figures = backend.figures()
    assert figures["camera_age_ms"] == pytest.approx(40.0, abs=5.0)
    assert figures["camera_bad_frames"] == 0


@pytest.fixture(scope="module")
def default_onnx(tmp_path_factory):
    """The default stage 3 policy's shape (colour camera, commanded joints, steering,
    privileged critic), random weights, exported to ONNX by the pipeline's exporter."""
    import onnx
    from _deploy_models import ppo_policy, save_ppo_pth

    from pidog_gaits.envs.config import EnvConfig
    from pidog_gaits.export import export_onnx

    tmp = tmp_path_factory.mktemp("default_onnx")
    env_config = EnvConfig(prior="expert", image_width_px=32, image_height_px=24)
    assert env_config.vision == "rgb" and env_config.joint_readings == "commanded"
    pth = save_ppo_pth(ppo_policy(env_config, action_gain=1.0), env_config, tmp / "p.pth")
    path = tmp / "final_model.onnx"
    export_onnx(pth, path)
    inputs = [i.name for i in onnx.load(str(path)).graph.input]
    assert "privileged" not in inputs and "joints" not in inputs  # robot inputs only
    return path


@pytest.mark.parametrize("gait", ["stand", "sit", "walk_forward", "trot_forward"])
def test_default_policy_runs_on_the_pidog_api(
    fake_pidog, stand_in_camera, default_onnx, tmp_path, gait
):
    """``nn_controller --backend pidog`` runs the default policy on stand-ins for
    SunFounder's ``pidog`` and ``picamera2``: no refusal, frames in the library's
    degrees within its servo ranges, a camera frame read every step."""
    from pidog_gaits.nn_controller import main

    stand_in_camera.after = _bgr_frame(120)
    out = tmp_path / "robot.json"
    code = main(
        ["--model", str(default_onnx), "--backend", "pidog", "--gait", gait,
         "--seconds", "0.2", "--standup-s", "0.1", "--max-overruns", "10000",
         "--json", str(out)]
    )  # fmt: skip
    assert code == 0
    figures = json.loads(out.read_text())
    assert figures["stop_reason"] is None and figures["steps"] == 10
    legs = fake_pidog.instances[-1].legs_frames()
    assert legs.shape == (15, 8)  # 5 to stand up from the lie pose, 10 policy steps
    assert np.all(np.abs(legs) <= 90.0)  # the library's servo range, degrees
    # The library negates the right legs: in the stand, left and right are mirrored.
    np.testing.assert_allclose(legs[4, [0, 4]], -legs[4, [2, 6]], atol=1e-6)
    assert stand_in_camera.instances[-1].captures >= 10


class PacedPicamera2(StandInPicamera2):
    """A camera at 30 frames/s: each capture takes a frame period; ``mode`` switches it
    between good frames, failing captures and a capture that never returns."""

    mode = "good"
    release = None

    def capture_array(self, name: str = "main") -> np.ndarray:
        if PacedPicamera2.mode == "hang":
            PacedPicamera2.release.wait(5.0)
        time.sleep(1 / 30)
        self.captures += 1
        if PacedPicamera2.mode == "fail":
            raise RuntimeError("camera unplugged")
        return _bgr_frame(100 + self.captures % 50)


@pytest.mark.parametrize("failure", ["fail", "hang"])
def test_background_capture_never_blocks_the_loop_and_stops_on_a_dead_camera(
    fake_pidog, monkeypatch, failure
):
    import threading

    from pidog_gaits.backends.safety import SafetyStopError

    PacedPicamera2.mode = "good"
    PacedPicamera2.release = threading.Event()
    module = types.ModuleType("picamera2")
    module.Picamera2 = PacedPicamera2
    monkeypatch.setitem(sys.modules, "picamera2", module)
    backend = PidogBackend(image="rgb", image_size_px=(32, 24))  # capture thread on
    reader = backend.camera_reader
    try:
        waits = []
        for _ in range(25):  # half a second of 50 Hz steps
            start = time.perf_counter()
            image = backend.read().image
            waits.append(time.perf_counter() - start)
            assert image.shape == (3, 24, 32)
            time.sleep(specs.CONTROL_DT_S)
        # The newest frame, at once. A blocking capture would wait 0-33 ms on 2 steps in
        # 5; a shared CPU may delay a few reads, not that many.
        assert np.median(waits) < 0.002
        assert sum(w > 0.015 for w in waits) <= 2
        assert reader.frames >= 8  # ~30 frames/s arrived meanwhile
        PacedPicamera2.mode = failure
        died = time.perf_counter()
        with pytest.raises(SafetyStopError) as stop:
            for _ in range(100):
                backend.read()
                time.sleep(specs.CONTROL_DT_S)
        assert stop.value.reason == "camera"
        # 6 frames' worth (200 ms) after the last good frame, give or take a shared CPU.
        assert time.perf_counter() - died < 1.0
    finally:
        PacedPicamera2.release.set()
        backend.close()
