"""OpenGL renderers that free themselves safely, even when nobody calls ``close()``.

A Gymnasium env is often dropped without ``close()``. MuJoCo's ``Renderer`` then frees
its GL context in ``__del__`` during the interpreter's shutdown, after MuJoCo's own
``atexit`` handler has terminated the EGL display, and every free fails with an
``EGLError`` traceback. ``renderer()`` keeps a weak reference to each renderer it makes
and closes the ones still alive from an ``atexit`` handler registered after the first GL
context exists: ``atexit`` runs handlers last-in first-out, so ours runs while the EGL
display is still up. A closed renderer's ``__del__`` has nothing left to free.
"""

from __future__ import annotations

import atexit
import contextlib
import weakref

import mujoco

_live: weakref.WeakSet[mujoco.Renderer] = weakref.WeakSet()
_registered = False


def renderer(model: mujoco.MjModel, height: int, width: int) -> mujoco.Renderer:
    """``mujoco.Renderer(model, height, width)``, closed at interpreter exit if still open."""
    global _registered
    made = mujoco.Renderer(model, height, width)
    _live.add(made)
    if not _registered:  # after the first context: MuJoCo's EGL atexit is already in place
        atexit.register(close_all)
        _registered = True
    return made


def close_all() -> None:
    """Close every renderer made here that is still open (the ``atexit`` handler)."""
    for live in list(_live):
        # A GL driver that is already going away may refuse; exiting quietly is the point.
        with contextlib.suppress(Exception):
            live.close()
    _live.clear()
