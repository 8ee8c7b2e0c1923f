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

    ``engine='onnx'`` on a ``.pth``/``.zip`` exports it to a temporary ONNX file first
    (the same graph the robot would run); ``engine='torch'`` on an ``.onnx`` is refused.
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
        return _via_onnx(path, pretrained)
    from pidog_gaits.runtime.torch_policy import load_torch_policy

    return load_torch_policy(path, pretrained)


def _via_onnx(path: Path, pretrained: str | None) -> DeployPolicy:
    import tempfile

    from pidog_gaits.export import export_onnx
    from pidog_gaits.runtime.onnx_policy import load_onnx_policy

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "model.onnx"
        export_onnx(path, out, pretrained)
        return load_onnx_policy(out)  # the session holds the graph in memory
