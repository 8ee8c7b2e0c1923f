"""The imitation models, their checkpoint files and the closed-loop controller that runs them.

Every model learns ``gaits.library.expert_targets``: the 4-number gait input
``[gait_type, direction, turn, phase]`` to the 12 joint targets (rad, ``JOINT_NAMES``
order). The input is encoded the same way for all four models (``GaitInputEncoder``):

* ``gait_type`` one-hot over stand, sit, walk, trot (4), so no gait sits "between" two
  others;
* ``direction`` and ``turn`` as they are (2);
* ``phase`` as ``sin(2 pi k phase), cos(2 pi k phase)`` for k = 1..``phase_harmonics``
  (8 at the default 4): continuous across the wrap from 1 to 0, and the higher harmonics
  let a small net draw the walk's short swing sections (1/8 of a cycle).

These features are standardized with the training set's mean and std, and the outputs
de-standardized with the targets' (``normalization`` in the checkpoint), so
``model(inputs)`` maps raw inputs to radians.

Recurrent models (``lstm``, ``simple_lstm``) are trained on 50 Hz sequences of
consecutive samples and carry their state between control steps in closed loop
(``PolicyController``); call them once per 20 ms control step.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from pidog_gaits.gaits.library import GAIT_TYPES, INPUT_NAMES
from pidog_gaits.robot.specs import CONTROL_DT_S, JOINT_NAMES, NUM_JOINTS

State = tuple[Tensor, Tensor] | None
"""LSTM (h, c), or None for a fresh start / a feed-forward model."""

CHECKPOINT_KEYS = (
    "arch",
    "arch_kwargs",
    "state_dict",
    "input_spec",
    "joint_names",
    "normalization",
    "version",
)


class GaitInputEncoder(nn.Module):
    """Raw gait inputs (..., 4) to standardized features (..., 6 + 2 * phase_harmonics)."""

    def __init__(self, phase_harmonics: int = 4) -> None:
        super().__init__()
        self.phase_harmonics = phase_harmonics
        self.dim = len(GAIT_TYPES) + 2 + 2 * phase_harmonics
        self.register_buffer("harmonics", torch.arange(1, phase_harmonics + 1).float(), False)
        self.register_buffer("mean", torch.zeros(self.dim), persistent=False)
        self.register_buffer("std", torch.ones(self.dim), persistent=False)

    def feature_names(self) -> list[str]:
        names = [f"is_{g}" for g in GAIT_TYPES] + ["direction", "turn"]
        for k in range(1, self.phase_harmonics + 1):
            names += [f"sin_{k}x2pi_phase", f"cos_{k}x2pi_phase"]
        return names

    def raw_features(self, inputs: Tensor) -> Tensor:
        gait = torch.nn.functional.one_hot(inputs[..., 0].round().long(), len(GAIT_TYPES))
        angle = 2.0 * math.pi * inputs[..., 3:4] * self.harmonics
        return torch.cat(
            [gait.to(inputs.dtype), inputs[..., 1:3], torch.sin(angle), torch.cos(angle)], -1
        )

    def forward(self, inputs: Tensor) -> Tensor:
        return (self.raw_features(inputs) - self.mean) / self.std


class GaitModel(nn.Module):
    """Shared shell: encoder, a core net, de-standardized 12 outputs (rad).

    ``forward(inputs, state)`` takes ``(..., 4)`` for feed-forward models and
    ``(batch, time, 4)`` for recurrent ones, and returns ``(targets_rad, state)``.
    """

    arch: ClassVar[str] = ""
    recurrent: ClassVar[bool] = False

    def __init__(self, phase_harmonics: int = 4) -> None:
        super().__init__()
        self.encoder = GaitInputEncoder(phase_harmonics)
        self.register_buffer("target_mean", torch.zeros(NUM_JOINTS), persistent=False)
        self.register_buffer("target_std", torch.ones(NUM_JOINTS), persistent=False)
        self._kwargs: dict = {"phase_harmonics": phase_harmonics}

    @property
    def arch_kwargs(self) -> dict:
        return dict(self._kwargs)

    def core(self, features: Tensor, state: State) -> tuple[Tensor, State]:
        raise NotImplementedError

    def forward(self, inputs: Tensor, state: State = None) -> tuple[Tensor, State]:
        out, state = self.core(self.encoder(inputs), state)
        return self.target_mean + self.target_std * out, state

    # ------------------------------------------------------------------ normalization
    def fit_normalization(self, inputs: np.ndarray, targets: np.ndarray) -> None:
        """Standardize with the mean/std of (training) inputs and targets.

        A constant feature (a one-hot of an absent gait) gets std 1, so it is centred but
        never divided by ~0. A constant target (head and tail, held at 0 by every expert
        gait) gets std 0: the model outputs exactly that constant, not a learned ~0.
        """
        with torch.no_grad():
            raw = self.encoder.raw_features(torch.as_tensor(inputs, dtype=torch.float32))
            y = torch.as_tensor(targets, dtype=torch.float32)
            y_std = y.std(0, unbiased=False)
            self.set_normalization(
                {
                    "feature_mean": raw.mean(0).tolist(),
                    "feature_std": _safe_std(raw).tolist(),
                    "target_mean": y.mean(0).tolist(),
                    "target_std": torch.where(y_std < 1e-6, 0.0, y_std).tolist(),
                }
            )

    def normalization(self) -> dict[str, list[float]]:
        return {
            "feature_mean": self.encoder.mean.tolist(),
            "feature_std": self.encoder.std.tolist(),
            "target_mean": self.target_mean.tolist(),
            "target_std": self.target_std.tolist(),
        }

    def set_normalization(self, norm: dict) -> None:
        dims = {
            "feature_mean": self.encoder.dim,
            "feature_std": self.encoder.dim,
            "target_mean": NUM_JOINTS,
            "target_std": NUM_JOINTS,
        }
        buffers = {
            "feature_mean": self.encoder.mean,
            "feature_std": self.encoder.std,
            "target_mean": self.target_mean,
            "target_std": self.target_std,
        }
        for key, dim in dims.items():
            value = torch.as_tensor(norm.get(key, ()), dtype=torch.float32)
            if value.shape != (dim,) or not torch.isfinite(value).all():
                raise ValueError(f"normalization[{key!r}] must be {dim} finite numbers")
            if key == "feature_std" and (value <= 0).any():
                raise ValueError("normalization['feature_std'] must be > 0")
            if key == "target_std" and (value < 0).any():
                raise ValueError("normalization['target_std'] must be >= 0")
            buffers[key].copy_(value)

    def input_spec(self) -> dict:
        return {
            "names": list(INPUT_NAMES),
            "gait_types": dict(GAIT_TYPES),
            "phase": "in [0, 1) over exactly one gait cycle",
            "encoding": "one-hot(gait_type), direction, turn, sin/cos(2*pi*k*phase) "
            "for k = 1..phase_harmonics; standardized with feature_mean/std",
            "features": self.encoder.feature_names(),
            "recurrent": self.recurrent,
            "step_s": CONTROL_DT_S,
        }


def _safe_std(x: Tensor) -> Tensor:
    std = x.std(0, unbiased=False)
    return torch.where(std < 1e-6, torch.ones_like(std), std)


class GaitNet(GaitModel):
    """MLP: features -> 128 -> 128 -> 12, ReLU (the walk's kinks are piecewise)."""

    arch = "mlp"

    def __init__(self, phase_harmonics: int = 4, hidden: tuple[int, ...] = (128, 128)) -> None:
        super().__init__(phase_harmonics)
        self._kwargs["hidden"] = list(hidden)
        layers: list[nn.Module] = []
        width = self.encoder.dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, NUM_JOINTS))
        self.net = nn.Sequential(*layers)

    def core(self, features: Tensor, state: State) -> tuple[Tensor, State]:
        return self.net(features), None


class GaitNetLarge(GaitNet):
    """Deeper, wider MLP: features -> 256 x 4 -> 12."""

    arch = "large"

    def __init__(
        self, phase_harmonics: int = 4, hidden: tuple[int, ...] = (256, 256, 256, 256)
    ) -> None:
        super().__init__(phase_harmonics, hidden)


class GaitNetLSTM(GaitModel):
    """Stacked LSTM: features -> LSTM(128) x 2 -> 64 -> 12."""

    arch = "lstm"
    recurrent = True

    def __init__(self, phase_harmonics: int = 4, hidden: int = 128, layers: int = 2) -> None:
        super().__init__(phase_harmonics)
        self._kwargs.update(hidden=hidden, layers=layers)
        self.lstm = nn.LSTM(self.encoder.dim, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Sequential(nn.Linear(hidden, 64), nn.ReLU(), nn.Linear(64, NUM_JOINTS))

    def core(self, features: Tensor, state: State) -> tuple[Tensor, State]:
        out, state = self.lstm(features, state)
        return self.head(out), state


class GaitNetSimpleLSTM(GaitModel):
    """The seed pipeline's shape: input 4 (encoded as above) -> LSTM(64) -> Dense(32) ->
    Dense(12)."""

    arch = "simple_lstm"
    recurrent = True

    def __init__(self, phase_harmonics: int = 4, hidden: int = 64) -> None:
        super().__init__(phase_harmonics)
        self._kwargs["hidden"] = hidden
        self.lstm = nn.LSTM(self.encoder.dim, hidden, batch_first=True)
        self.head = nn.Sequential(nn.Linear(hidden, 32), nn.ReLU(), nn.Linear(32, NUM_JOINTS))

    def core(self, features: Tensor, state: State) -> tuple[Tensor, State]:
        out, state = self.lstm(features, state)
        return self.head(out), state


ARCHS: dict[str, type[GaitModel]] = {
    cls.arch: cls for cls in (GaitNet, GaitNetLarge, GaitNetLSTM, GaitNetSimpleLSTM)
}


def build_model(arch: str, **kwargs) -> GaitModel:
    """A fresh model; ``ValueError`` naming the valid architectures otherwise."""
    if arch not in ARCHS:
        raise ValueError(f"unknown model {arch!r}; choose one of {', '.join(ARCHS)}")
    return ARCHS[arch](**kwargs)


# ---------------------------------------------------------------------- checkpoints
def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pidog-gaits")
    except PackageNotFoundError:  # pragma: no cover - not installed
        return "unknown"


def checkpoint_dict(model: GaitModel, training: dict | None = None) -> dict:
    """The file contract (DESIGN.md): plain tensors, lists, strings, numbers; no modules."""
    ckpt = {
        "arch": model.arch,
        "arch_kwargs": model.arch_kwargs,
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "input_spec": model.input_spec(),
        "joint_names": list(JOINT_NAMES),
        "normalization": model.normalization(),
        "version": _package_version(),
    }
    if training is not None:
        ckpt["training"] = training
    return ckpt


def save_checkpoint(model: GaitModel, path: str | Path, training: dict | None = None) -> None:
    """Write through a temporary file and ``os.replace``: an interrupt leaves the old file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(checkpoint_dict(model, training), tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def torch_load_error(exc: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` refused a file, in a few words."""
    match = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
    if match:
        return f"it pickles the Python object {match.group(1)}, which is never loaded"
    return f"corrupt, truncated or not a PyTorch file: {type(exc).__name__}"


def load_checkpoint(path: str | Path) -> tuple[GaitModel, dict]:
    """``(model in eval mode on CPU, checkpoint dict)``.

    ``FileNotFoundError`` if there is no file; ``ValueError`` with one clear sentence for
    anything else wrong (not a torch file, a pickled module, missing keys, wrong shapes).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"{path} is not a pidog-gaits model file ({torch_load_error(exc)})"
        ) from None
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in CHECKPOINT_KEYS):
        raise ValueError(f"{path} is not a pidog-gaits model file (needs {CHECKPOINT_KEYS})")
    if ckpt["arch"] not in ARCHS:
        raise ValueError(
            f"{path} is not an imitation model (arch {ckpt['arch']!r}; "
            f"expected one of {', '.join(ARCHS)})"
        )
    if list(ckpt["joint_names"]) != list(JOINT_NAMES):
        raise ValueError(f"{path} was trained for another joint order")
    try:
        model = build_model(ckpt["arch"], **ckpt["arch_kwargs"])
        model.load_state_dict(ckpt["state_dict"])
        model.set_normalization(ckpt["normalization"])
    except (TypeError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{path}: bad model file: {first}") from None
    return model.eval(), ckpt


# ---------------------------------------------------------------------- closed loop
class PolicyController:
    """An imitation model as a ``GaitController``: gait input (4) -> 12 targets (rad).

    Recurrent models keep their (h, c) between calls, one call per control step, as they
    were trained; ``reset()`` starts a fresh episode.
    """

    def __init__(self, model: GaitModel) -> None:
        self.model = model.eval().cpu()
        self._state: State = None

    @classmethod
    def from_file(cls, path: str | Path) -> PolicyController:
        model, _ = load_checkpoint(path)
        return cls(model)

    def reset(self) -> None:
        self._state = None

    def __call__(self, gait_input: np.ndarray) -> np.ndarray:
        x = np.asarray(gait_input, dtype=np.float32).reshape(-1)
        if x.shape != (4,):
            raise ValueError(f"gait input must have 4 numbers, got {x.shape}")
        if int(round(float(x[0]))) not in GAIT_TYPES.values():
            raise ValueError(f"unknown gait_type {x[0]}")
        with torch.no_grad():
            t = torch.from_numpy(x)
            t = t.view(1, 1, 4) if self.model.recurrent else t.view(1, 4)
            out, self._state = self.model(t, self._state)
        return out.reshape(NUM_JOINTS).numpy().astype(np.float64)
