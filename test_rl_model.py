#!/usr/bin/env python3
"""Evaluate a stage 3 policy over N episodes (thin wrapper of ``pidog_gaits.evaluate``).

    python3 test_rl_model.py --model final_model.zip --episodes 10 [--obstacles N] \\
        [--set KEY=VALUE ...] [--video out.mp4] [--json PATH|-]
"""

import sys

from pidog_gaits.evaluate import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:], prog_name="test_rl_model.py"))
