"""ament_python package ``pidog_gaits``: ``ros2 run pidog_gaits nn_controller --model M``.

The node is a thin entry point; the controller, the backends and the safety layer are the
``pidog_gaits`` Python package, which must be importable by the Python that runs ROS 2
(``pip install`` the repository, see README.md). Keeping one copy of that code means the
node runs exactly what ``python3 -m pidog_gaits.nn_controller`` runs.
"""

from glob import glob

from setuptools import setup

PACKAGE = "pidog_gaits"
"""The ROS package name (package.xml, ament index, ``lib/pidog_gaits``)."""
DISTRIBUTION = "pidog_gaits_ros"
"""The Python distribution's name: not ``pidog_gaits``, which pip normalises to the same
name as the ``pidog-gaits`` project itself; two distributions of one name on the path
would shadow each other's metadata (and the console script looks itself up by it)."""

setup(
    name=DISTRIBUTION,
    version="0.1.0",
    packages=["pidog_gaits_ros"],
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="pidog-gaits maintainers",
    maintainer_email="maintainers@pidog-gaits.invalid",
    description="pidog-gaits walking policies on a SunFounder PiDog as a ROS 2 node.",
    license="MIT",
    entry_points={
        "console_scripts": [
            "nn_controller = pidog_gaits_ros.nn_controller:main",
        ],
    },
)
