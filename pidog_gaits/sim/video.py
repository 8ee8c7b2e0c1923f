"""Headless video of the simulated robot from a camera that follows it."""

from __future__ import annotations

from pathlib import Path

import imageio.v2 as imageio
import mujoco
import numpy as np

from pidog_gaits.sim import gl
from pidog_gaits.sim.physics import PiDogSim


class VideoRecorder:
    """Collects frames from a chase camera and writes an mp4 (or gif) on ``close``.

    :param sim: the simulator to film.
    :param path: output file; the suffix picks the format (``.mp4``, ``.gif``).
    :param fps: frames per second of the video; frames are taken at that sim-time rate.
    """

    def __init__(
        self,
        sim: PiDogSim,
        path: str | Path,
        fps: int = 25,
        width: int = 640,
        height: int = 480,
        distance_m: float = 0.55,
        azimuth_deg: float = 135.0,
        elevation_deg: float = -20.0,
    ) -> None:
        self.sim = sim
        self.path = Path(path)
        self.fps = fps
        self._renderer = gl.renderer(sim.model, height, width)
        self._camera = mujoco.MjvCamera()
        self._camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        self._camera.distance = distance_m
        self._camera.azimuth = azimuth_deg
        self._camera.elevation = elevation_deg
        self._next_t = 0.0
        self.frames: list[np.ndarray] = []

    def capture(self, force: bool = False) -> None:
        """Grab a frame if one is due at the video's frame rate."""
        if not force and self.sim.time_s + 1e-9 < self._next_t:
            return
        self._next_t += 1.0 / self.fps
        self._camera.lookat[:] = self.sim.body_pos_m
        self._camera.lookat[2] = 0.06
        self._renderer.update_scene(self.sim.data, self._camera)
        self.frames.append(self._renderer.render().copy())

    def close(self) -> Path | None:
        """Write the file (if any frame was taken) and free the renderer."""
        self._renderer.close()
        if not self.frames:
            return None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.suffix.lower() == ".gif":
            imageio.mimsave(self.path, self.frames, duration=1000 / self.fps, loop=0)
        else:
            imageio.mimsave(self.path, self.frames, fps=self.fps, macro_block_size=8)
        return self.path
