"""ROS 2 entry points of pidog-gaits (the code they run is the ``pidog_gaits`` package)."""
