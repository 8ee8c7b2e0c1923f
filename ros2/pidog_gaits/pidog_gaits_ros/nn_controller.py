"""``ros2 run pidog_gaits nn_controller --model MODEL [controller options]``.

Runs ``pidog_gaits.nn_controller`` with ``--backend ros2`` and, unless given, ``--seconds
inf`` (until Ctrl-C). ROS arguments (``--ros-args -r __node:=dog1 ...``) go to rclpy;
everything else to the controller (``--drive sim`` runs the simulator instead of the
robot; ``--help`` lists the rest).
"""

from __future__ import annotations

import sys


def controller_argv(argv: list[str]) -> list[str]:
    """The controller's arguments: ROS's removed, ROS defaults added."""
    try:
        from rclpy.utilities import remove_ros_args

        args = remove_ros_args(args=argv)[1:]
    except ImportError:  # without ROS the backend reports what is missing
        args = argv[1:]
    if "--backend" not in args:
        args += ["--backend", "ros2"]
    if "--seconds" not in args:
        args += ["--seconds", "inf"]
    return args


def main() -> int:
    try:
        from pidog_gaits.nn_controller import main as run_controller
    except ImportError:
        print(
            "error: the pidog_gaits Python package is not installed for this Python; "
            "pip install it (see the repository's README, 'ROS 2')",
            file=sys.stderr,
        )
        return 2
    return run_controller(
        controller_argv(list(sys.argv)), prog_name="ros2 run pidog_gaits nn_controller"
    )


if __name__ == "__main__":
    raise SystemExit(main())
