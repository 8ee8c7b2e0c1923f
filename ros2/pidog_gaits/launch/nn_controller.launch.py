"""``ros2 launch pidog_gaits nn_controller.launch.py model:=MODEL [drive:=sim]``."""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description() -> LaunchDescription:
    model = LaunchConfiguration("model")
    drive = LaunchConfiguration("drive")
    return LaunchDescription(
        [
            DeclareLaunchArgument("model", description="final_model.onnx, .pth or .zip"),
            DeclareLaunchArgument("drive", default_value="pidog", description="pidog or sim"),
            Node(
                package="pidog_gaits",
                executable="nn_controller",
                name="pidog_nn_controller",
                arguments=["--model", model, "--drive", drive],
                output="screen",
            ),
        ]
    )
