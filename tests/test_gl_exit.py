"""An env with OpenGL renderers that nobody closes still exits cleanly (``sim/gl.py``).

Gymnasium users often drop an env without ``close()``; MuJoCo's renderers then used to
free their EGL contexts during interpreter shutdown, after the EGL display was gone, and
printed ``EGLError`` tracebacks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

UNCLOSED = textwrap.dedent(
    """
    from pidog_gaits.envs.pidog_env import PiDogEnv

    camera = PiDogEnv(vision="rgb")  # the head camera (ray cast: no GL of its own)
    camera.reset(seed=0)
    for _ in range(3):
        obs, *_ = camera.step(camera.action_space.sample())
    assert obs["image"].any()
    chase = PiDogEnv(render_mode="rgb_array")  # render(): the chase camera
    chase.reset(seed=0)
    chase.step(chase.action_space.sample())
    assert chase.render().shape == (240, 320, 3)
    closed = PiDogEnv(vision="rgb")  # closed by hand, then again at exit: harmless
    closed.reset(seed=0)
    closed.close()
    print("done")  # and exit without closing the first two
    """
)


def test_unclosed_renderers_exit_cleanly():
    proc = subprocess.run(
        [sys.executable, "-c", UNCLOSED],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(REPO), "MUJOCO_GL": "egl"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "done"
    assert "Traceback" not in proc.stderr and "Error" not in proc.stderr, proc.stderr
