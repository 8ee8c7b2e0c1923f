"""The ``ros2`` backend: the controller as a ROS 2 node around a robot backend.

``ros2 run pidog_gaits nn_controller --model final_model.onnx`` (the ament_python package
in ``ros2/pidog_gaits``) or ``python3 -m pidog_gaits.nn_controller --backend ros2``:

* subscribes ``cmd_vel`` (``geometry_msgs/Twist``): for a command-following policy
  (``command_ranges`` given) ``linear.x`` (m/s) and ``angular.z`` (rad/s) are its command
  as they are (``command_source``), clipped into its ranges with one warning per run;
  for a policy trained on named gaits they pick the nearest of those gaits
  (``gait_for_velocity``, ``gait_source``). The robot stands (command ``0,0``, or the
  ``stand`` gait) until the first message and again ``cmd_timeout_s`` after the last;
* publishes ``joint_states`` (``sensor_msgs/JointState``, rad, ``JOINT_NAMES``): on the
  real PiDog the commanded angles, the only joint positions there are; ``imu/data_raw``
  (``sensor_msgs/Imu``: roll/pitch orientation, yaw unobserved) and ``ultrasonic``
  (``sensor_msgs/Range``);
* drives an inner backend: the real robot (``--drive pidog``, default) or the simulator
  (``--drive sim``), through the same safety layer as without ROS.

rclpy and the message packages are imported here only, when the backend is built.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable

import numpy as np

from pidog_gaits.backends.base import Backend, BackendUnavailableError, Reading
from pidog_gaits.gaits.command import CommandClipper, CommandRanges
from pidog_gaits.gaits.library import GAITS, GaitSpec, gait_for_velocity
from pidog_gaits.robot import specs

NODE_NAME = "pidog_nn_controller"
MISSING_ROS = (
    "the ros2 backend needs ROS 2's rclpy, geometry_msgs and sensor_msgs: source your ROS 2 "
    "installation (e.g. source /opt/ros/jazzy/setup.bash) before running it"
)


def _import_ros():
    try:
        import rclpy
        from geometry_msgs.msg import Twist
        from sensor_msgs.msg import Imu, JointState, Range
    except ImportError as exc:
        raise BackendUnavailableError(MISSING_ROS) from exc
    return rclpy, Twist, JointState, Imu, Range


def _warn_stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def quaternion_from_roll_pitch(roll_rad: float, pitch_rad: float) -> tuple[float, ...]:
    """``(x, y, z, w)`` of ``Rz(0) Ry(pitch) Rx(roll)``."""
    cr, sr = math.cos(roll_rad / 2), math.sin(roll_rad / 2)
    cp, sp = math.cos(pitch_rad / 2), math.sin(pitch_rad / 2)
    return (sr * cp, cr * sp, -sr * sp, cr * cp)


class Ros2Backend:
    """A ROS 2 node wrapped around ``inner`` (see the module docstring).

    :param inner: the backend that moves the robot.
    :param cmd_timeout_s: a ``cmd_vel`` older than this counts as none (stand).
    :param node_name: the node's name (ROS remapping arguments still apply).
    :param command_ranges: a command-following policy's ranges (``command_source`` clips
        into them); ``None`` for other policies (``gait_source``).
    :param warn: where the one out-of-range warning goes (stderr).
    """

    name = "ros2"

    def __init__(
        self,
        inner: Backend,
        cmd_timeout_s: float = 0.5,
        node_name: str = NODE_NAME,
        command_ranges: CommandRanges | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        rclpy, Twist, JointState, Imu, Range = _import_ros()
        self.inner = inner
        self.realtime = True
        self.cmd_timeout_s = cmd_timeout_s
        self._rclpy = rclpy
        self._msgs = {"JointState": JointState, "Imu": Imu, "Range": Range}
        self._owns_context = not rclpy.ok()
        if self._owns_context:
            rclpy.init(args=sys.argv)
        self.node = rclpy.create_node(node_name)
        self.joint_pub = self.node.create_publisher(JointState, "joint_states", 10)
        self.imu_pub = self.node.create_publisher(Imu, "imu/data_raw", 10)
        self.range_pub = self.node.create_publisher(Range, "ultrasonic", 10)
        self.node.create_subscription(Twist, "cmd_vel", self._on_cmd_vel, 10)
        self._cmd: tuple[float, float] | None = None
        self._cmd_time_s = -math.inf
        self._last = inner.joint_pos_rad()
        self.command_ranges = command_ranges
        self._clip = CommandClipper(
            command_ranges or CommandRanges(), "cmd_vel", warn or _warn_stderr
        )
        self.messages_in = 0
        self.messages_out = 0

    # ------------------------------------------------------------------ ROS side
    def _on_cmd_vel(self, msg) -> None:
        self._cmd = (float(msg.linear.x), float(msg.angular.z))
        self._cmd_time_s = time.monotonic()
        self.messages_in += 1

    def _fresh_cmd(self) -> tuple[float, float] | None:
        """The latest ``cmd_vel`` after handling what arrived; ``None`` if none is fresh."""
        self._rclpy.spin_once(self.node, timeout_sec=0.0)
        if self._cmd is None or time.monotonic() - self._cmd_time_s > self.cmd_timeout_s:
            return None
        return self._cmd

    def gait_source(self) -> GaitSpec:
        """The gait the latest fresh ``cmd_vel`` asks for (polled once per control step)."""
        cmd = self._fresh_cmd()
        return GAITS["stand"] if cmd is None else gait_for_velocity(*cmd)

    def command_source(self) -> np.ndarray:
        """The command (``[speed, yaw rate]``) of the latest fresh ``cmd_vel``, clipped into
        ``command_ranges``; ``[0, 0]`` (stand) when none is fresh (polled once per step)."""
        cmd = self._fresh_cmd()
        return np.zeros(2) if cmd is None else self._clip(cmd)

    def _stamp(self):
        return self.node.get_clock().now().to_msg()

    def _publish_reading(self, reading: Reading) -> None:
        imu = self._msgs["Imu"]()
        imu.header.stamp = self._stamp()
        imu.header.frame_id = "imu_link"
        x, y, z, w = quaternion_from_roll_pitch(float(reading.imu[6]), float(reading.imu[7]))
        imu.orientation.x, imu.orientation.y, imu.orientation.z, imu.orientation.w = x, y, z, w
        imu.orientation_covariance[8] = 1e6  # no magnetometer: yaw is not observed
        a, g = reading.imu[0:3], reading.imu[3:6]
        imu.linear_acceleration.x, imu.linear_acceleration.y, imu.linear_acceleration.z = (
            float(a[0]), float(a[1]), float(a[2]),
        )  # fmt: skip
        imu.angular_velocity.x, imu.angular_velocity.y, imu.angular_velocity.z = (
            float(g[0]), float(g[1]), float(g[2]),
        )  # fmt: skip
        self.imu_pub.publish(imu)
        rng = self._msgs["Range"]()
        rng.header.stamp = imu.header.stamp
        rng.header.frame_id = "ultrasonic_link"
        rng.radiation_type = getattr(rng, "ULTRASOUND", 0)
        rng.field_of_view = 2 * specs.ULTRASONIC_HALF_ANGLE_RAD
        rng.min_range = specs.ULTRASONIC_MIN_RANGE_M
        rng.max_range = specs.ULTRASONIC_MAX_RANGE_M
        rng.range = float(reading.sonar_m)
        self.range_pub.publish(rng)
        self.messages_out += 2

    # ------------------------------------------------------------------ Backend
    def joint_pos_rad(self) -> np.ndarray:
        return self.inner.joint_pos_rad()

    def read(self) -> Reading:
        reading = self.inner.read()
        self._publish_reading(reading)
        return reading

    def command(self, targets_rad: np.ndarray) -> None:
        self.inner.command(targets_rad)
        targets = np.asarray(targets_rad, dtype=float)
        msg = self._msgs["JointState"]()
        msg.header.stamp = self._stamp()
        msg.name = list(specs.JOINT_NAMES)
        msg.position = targets.tolist()
        msg.velocity = ((targets - self._last) / specs.CONTROL_DT_S).tolist()
        self._last = targets.copy()
        self.joint_pub.publish(msg)
        self.messages_out += 1

    def fell(self) -> bool:
        return self.inner.fell()

    def lie_down(self) -> None:
        self.inner.lie_down()

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            self.node.destroy_node()
            if self._owns_context and self._rclpy.ok():
                self._rclpy.shutdown()

    def figures(self) -> dict:
        figures = dict(self.inner.figures())
        figures.update({"ros_messages_in": self.messages_in, "ros_messages_out": self.messages_out})
        return figures
