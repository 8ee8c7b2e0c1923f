"""PyTorch models as ``DeployPolicy``: imitation checkpoints and stage 3's PPO policy.

``.pth`` files load with ``torch.load(weights_only=True)`` (``neural_network.
load_checkpoint``): tensors and plain data only. A ``.zip`` is Stable-Baselines3's own
format, whose loader unpickles Python objects; it is only opened from a path the user
named on the command line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pidog_gaits.robot import specs
from pidog_gaits.runtime.base import StepContext, blend
from pidog_gaits.runtime.onnx_policy import ModelLoadError


class TorchImitationPolicy:
    """An imitation checkpoint through ``neural_network.PolicyController`` (state carried)."""

    kind = "imitation"
    engine = "torch"
    image = None
    signals: tuple[str, ...] = ()
    command_ranges = None
    heading_hold: dict[str, float] = {}
    image_size_px = (specs.CAMERA_WIDTH_PX, specs.CAMERA_HEIGHT_PX)

    def __init__(self, controller, arch: str, control_dt_s: float = specs.CONTROL_DT_S) -> None:
        self.controller = controller
        self.arch = arch
        self.control_dt_s = control_dt_s

    @classmethod
    def from_file(cls, path: str | Path) -> TorchImitationPolicy:
        from pidog_gaits.neural_network import PolicyController, load_checkpoint

        model, ckpt = load_checkpoint(path)
        step_s = float(ckpt.get("input_spec", {}).get("step_s", specs.CONTROL_DT_S))
        return cls(PolicyController(model), ckpt["arch"], step_s)

    def reset(self) -> None:
        self.controller.reset()

    def targets(self, gait_input: np.ndarray) -> np.ndarray:
        return self.controller(gait_input)

    def act(self, ctx: StepContext) -> np.ndarray:
        return blend(self.targets(ctx.gait_input), ctx)


def is_imitation_checkpoint(ckpt: object) -> bool:
    from pidog_gaits.neural_network import ARCHS

    return isinstance(ckpt, dict) and ckpt.get("arch") in ARCHS


def read_pth(path: str | Path) -> dict:
    """The checkpoint dict, loaded without executing code (``weights_only=True``)."""
    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelLoadError(f"{path} is not a pidog-gaits model file ({_why(exc)})") from None
    if not isinstance(ckpt, dict):
        raise ModelLoadError(f"{path} is not a pidog-gaits model file")
    return ckpt


def _why(exc: Exception) -> str:
    """The useful part of a failed ``weights_only`` load (which pickled object it met)."""
    from pidog_gaits.neural_network import torch_load_error

    return torch_load_error(exc)


def load_torch_policy(path: str | Path, pretrained: str | None = None):
    """An imitation ``.pth``, or stage 3's ``final_model.pth`` / ``.zip`` (``pretrained``:
    the PPO policy's imitation prior, if it moved)."""
    path = Path(path)
    if path.suffix.lower() == ".zip":
        from pidog_gaits.runtime.ppo_policy import TorchPpoPolicy

        return TorchPpoPolicy.from_zip(path, pretrained)
    ckpt = read_pth(path)
    if is_imitation_checkpoint(ckpt):
        try:
            return TorchImitationPolicy.from_file(path)
        except ValueError as exc:
            raise ModelLoadError(str(exc)) from None
    from pidog_gaits.runtime.ppo_policy import TorchPpoPolicy, is_ppo_checkpoint

    if is_ppo_checkpoint(ckpt):
        return TorchPpoPolicy.from_checkpoint(ckpt, path, pretrained)
    raise ModelLoadError(
        f"{path} is neither an imitation model nor a PPO policy (arch={ckpt.get('arch')!r})"
    )
