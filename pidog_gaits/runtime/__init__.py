"""Deployed policies: any model file -> a ``DeployPolicy`` the control loop can run.

``load_policy(path)`` picks the loader from the file: ``.onnx`` (onnxruntime, no PyTorch:
the robot's path), ``.pth`` (``torch.load(weights_only=True)``: tensors and plain data
only, never code), ``.zip`` (Stable-Baselines3's format, which unpickles Python objects:
it can run code, so only load one from a path you chose and trust), or ``expert``.
"""

from __future__ import annotations

from pathlib import Path

from pidog_gaits.runtime.base import DeployPolicy, ExpertPolicy
from pidog_gaits.runtime.onnx_policy import ModelLoadError

ENGINES = ("auto", "torch", "onnx")

__all__ = ["ENGINES", "DeployPolicy", "ModelLoadError", "load_policy"]


def load_policy(
    model: str | Path, engine: str = "auto", pretrained: str | None = None
) -> DeployPolicy:
    """Load ``model`` (a path, or ``expert``) to run with ``engine``.

    ``pretrained`` points a PPO policy at its imitation prior if that file moved.

    ``engine='onnx'`` needs an ``.onnx`` file: ``export.load_exported`` exports a
    ``.pth``/``.zip`` first (``export`` sits above ``runtime``, which never imports it);
    ``engine='torch'`` on an ``.onnx`` is refused.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if str(model) == "expert":
        return ExpertPolicy()
    path = Path(model)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        if engine == "torch":
            raise ValueError("an .onnx model runs with onnxruntime only (--engine onnx or auto)")
        from pidog_gaits.runtime.onnx_policy import load_onnx_policy

        return load_onnx_policy(path)
    if suffix not in (".pth", ".pt", ".zip"):
        raise ValueError(f"unsupported model file {path.name}: expected .pth, .zip or .onnx")
    if engine == "onnx":
        raise ValueError(
            f"{path.name} is not ONNX: export it first (pidog-gaits export), "
            "or load it with pidog_gaits.export.load_exported"
        )
    from pidog_gaits.runtime.torch_policy import load_torch_policy

    return load_torch_policy(path, pretrained)
