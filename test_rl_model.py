#!/usr/bin/env python3
"""Evaluate a stage 3 policy over N episodes (thin wrapper of ``pidog_gaits.evaluate``).

    python3 test_rl_model.py --model final_model.zip --episodes 10 [--obstacles N] \\
        [--set KEY=VALUE ...] [--command SPEED,YAW_RATE] [--stress] [--video out.mp4] \\
        [--json PATH|-]

``--command 0.3,0``: every episode follows 0.3 m/s straight ahead (default: the full trot,
0.44,0); the JSON gains ``speed_error_mps``, ``yaw_rate_error_rps`` and
``lateral_drift_per_m``. ``--stress``: nominal, servo torque x0.7, latency 40 ms, mass
x1.25 and friction 0.35, one at a time, ``--episodes`` each with boxes; a table of falls,
boxes hit, speed and speed error per cell. ``--help`` lists every option.
"""

import sys

from pidog_gaits.evaluate import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:], prog_name="test_rl_model.py"))
