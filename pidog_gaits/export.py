"""``pidog-gaits export MODEL --onnx OUT``: a model as one self-contained ONNX file.

The robot then runs it with onnxruntime alone (``nn_controller --model OUT``), no PyTorch.

* Imitation models (``.pth``): input ``gait_input`` (1, 4) -> ``joint_targets_rad``
  (1, 12), the input encoding and normalisation inside the graph. Recurrent models take
  their LSTM state as explicit inputs ``h_in``, ``c_in`` (zeros at the start) and return
  ``h_out``, ``c_out`` for the next step.
* The PPO policy (stage 3's ``final_model.pth`` or ``.zip``): one input per observation
  part -> ``action``, the deterministic (mean) action, clipped to [-1, 1]; with an
  imitation prior the same graph holds the prior too (``gait_input`` ->
  ``prior_targets_rad``, state as above).

How to drive the graph (kind, state pairs, observation bounds, action scale, control
period) is written into the file's metadata (``pidog_gaits``, JSON). After writing, the
export runs both PyTorch and onnxruntime on the same inputs (a 200-step closed-loop
sequence for recurrent models) and reports the largest difference; ``--tolerance`` turns
a larger one into an error.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
import typer
from torch import nn

from pidog_gaits import results
from pidog_gaits.robot import specs
from pidog_gaits.runtime.onnx_policy import FORMAT_VERSION, METADATA_KEY, ModelLoadError

OPSET = 17
VERIFY_STEPS = 200

app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])


# ---------------------------------------------------------------------- imitation
class _FeedForward(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, gait_input: torch.Tensor) -> torch.Tensor:
        return self.model(gait_input)[0]


class _Recurrent(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, gait_input, h_in, c_in):
        out, (h_out, c_out) = self.model(gait_input.view(1, 1, 4), (h_in, c_in))
        return out.view(1, specs.NUM_JOINTS), h_out, c_out


def lstm_state_shape(model: nn.Module, batch: int = 1) -> list[int]:
    lstm = model.lstm
    return [lstm.num_layers, batch, lstm.hidden_size]


def imitation_state_spec(model: nn.Module, batch: int = 1) -> list[dict]:
    if not getattr(model, "recurrent", False):
        return []
    shape = lstm_state_shape(model, batch)
    return [
        {"input": "h_in", "output": "h_out", "shape": shape},
        {"input": "c_in", "output": "c_out", "shape": shape},
    ]


def imitation_graph(model: nn.Module) -> tuple[nn.Module, tuple, list[str], list[str]]:
    """``(module, example args, input names, output names)`` for the ONNX exporter."""
    x = torch.zeros(1, 4)
    if getattr(model, "recurrent", False):
        shape = lstm_state_shape(model)
        args = (x, torch.zeros(shape), torch.zeros(shape))
        return _Recurrent(model), args, ["gait_input", "h_in", "c_in"], [
            "joint_targets_rad", "h_out", "c_out",
        ]  # fmt: skip
    return _FeedForward(model), (x,), ["gait_input"], ["joint_targets_rad"]


def export_imitation(model, ckpt: dict, out: Path, source: str) -> dict:
    module, args, inputs, outputs = imitation_graph(model)
    info = {
        "format": FORMAT_VERSION,
        "kind": "imitation",
        "arch": ckpt["arch"],
        "arch_kwargs": ckpt["arch_kwargs"],
        "joint_names": list(specs.JOINT_NAMES),
        "control_dt_s": float(ckpt.get("input_spec", {}).get("step_s", specs.CONTROL_DT_S)),
        "input_spec": ckpt.get("input_spec", {}),
        "state": imitation_state_spec(model),
        "source": source,
        "version": ckpt.get("version", "unknown"),
    }
    write_onnx(module, args, inputs, outputs, out, info)
    return info


# ---------------------------------------------------------------------- writing
def write_onnx(module: nn.Module, args: tuple, inputs, outputs, out: Path, info: dict) -> None:
    """Trace ``module`` to ``out`` (one file, weights inside) with ``info`` as metadata."""
    import onnx

    out.parent.mkdir(parents=True, exist_ok=True)
    module = module.eval()
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter: the dynamo one needs onnxscript, which the robot
        # does not need either; both give the same opset-17 graph for these nets.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            str(out),
            dynamo=False,
            input_names=list(inputs),
            output_names=list(outputs),
            opset_version=OPSET,
            do_constant_folding=True,
        )
    proto = onnx.load(str(out))
    entry = proto.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = json.dumps(info)
    proto.producer_name = "pidog-gaits"
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out))


def export_onnx(model_path: str | Path, out: str | Path, pretrained: str | None = None) -> dict:
    """Export any pidog-gaits model file to ``out``; returns the metadata written.

    :param pretrained: a PPO policy's imitation prior, if it moved since training.
    """
    model_path, out = Path(model_path), Path(out)
    if not model_path.is_file():
        raise FileNotFoundError(f"model file not found: {model_path}")
    if model_path.suffix.lower() == ".zip":
        from pidog_gaits.runtime.ppo_policy import TorchPpoPolicy, export_ppo

        policy = TorchPpoPolicy.from_zip(model_path, pretrained)
        return export_ppo(policy, out, model_path.name)
    from pidog_gaits.runtime.torch_policy import is_imitation_checkpoint, read_pth

    ckpt = read_pth(model_path)
    if is_imitation_checkpoint(ckpt):
        from pidog_gaits.neural_network import load_checkpoint

        try:
            model, ckpt = load_checkpoint(model_path)
        except ValueError as exc:
            raise ModelLoadError(str(exc)) from None
        return export_imitation(model, ckpt, out, model_path.name)
    from pidog_gaits.runtime.ppo_policy import TorchPpoPolicy, export_ppo, is_ppo_checkpoint

    if is_ppo_checkpoint(ckpt):
        policy = TorchPpoPolicy.from_checkpoint(ckpt, model_path, pretrained)
        return export_ppo(policy, out, model_path.name)
    raise ModelLoadError(f"{model_path} is neither an imitation model nor a PPO policy")


# ---------------------------------------------------------------------- verification
def compare_policies(torch_policy, onnx_policy, steps: int = VERIFY_STEPS, seed: int = 0) -> float:
    """Largest |torch - onnx| joint target (rad) over a closed-loop run of ``steps``.

    Both run the same gait contexts in order (recurrent state carried), with random
    sensor readings for a policy that reads them.
    """
    from pidog_gaits.runtime.verify import random_contexts

    torch_policy.reset()
    onnx_policy.reset()
    worst = 0.0
    image = getattr(torch_policy, "image", None)
    size_px = tuple(getattr(torch_policy, "image_size_px", (0, 0)))
    for ctx in random_contexts(steps, seed, image, size_px):
        a = torch_policy.act(ctx)
        b = onnx_policy.act(ctx)
        worst = max(worst, float(np.max(np.abs(a - b))))
    return worst


# ---------------------------------------------------------------------- CLI
@app.command()
def export(
    model: Path = typer.Argument(..., help="Imitation .pth, or RL final_model.pth / .zip."),
    onnx_out: Path = typer.Option(..., "--onnx", help="Where to write the .onnx file."),
    tolerance: float = typer.Option(1e-5, help="Fail if ONNX and PyTorch differ by more (rad)."),
    pretrained: Path | None = typer.Option(
        None, help="PPO: the imitation prior (.pth), if it moved since training."
    ),
    json_out: str | None = typer.Option(
        None, "--json", help="Write the figures as JSON to PATH, or - for stdout."
    ),
) -> None:
    """Export MODEL to ONNX and check it against PyTorch."""
    from pidog_gaits.runtime import load_policy

    try:
        prior = str(pretrained) if pretrained else None
        info = export_onnx(model, onnx_out, prior)
        diff = compare_policies(load_policy(model, "torch", prior), load_policy(onnx_out))
    except (FileNotFoundError, ModelLoadError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    figures = {
        "model": str(model),
        "onnx": str(onnx_out),
        "kind": info["kind"],
        "arch": info.get("arch", ""),
        "onnx_bytes": onnx_out.stat().st_size,
        "verify_steps": VERIFY_STEPS,
        "max_abs_diff_rad": diff,
    }
    results.emit(figures, json_out, title=f"export {model.name} -> {onnx_out.name}")
    if not diff <= tolerance:
        typer.echo(f"error: ONNX differs from PyTorch by {diff:.3g} rad > {tolerance}", err=True)
        raise typer.Exit(1)


def main(argv: list[str] | None = None, prog_name: str | None = None) -> int:
    from pidog_gaits.cli import run_typer

    if argv is None:
        argv = sys.argv[1:]
    return run_typer(app, argv, prog_name or "python3 -m pidog_gaits.export")


if __name__ == "__main__":
    raise SystemExit(main())
