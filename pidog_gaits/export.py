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
from typing import TYPE_CHECKING

import numpy as np
import torch
import typer
from torch import nn

from pidog_gaits import results
from pidog_gaits.gaits import steering
from pidog_gaits.gaits.steering import (
    TURN_KNOTS,  # the graph's ``steering`` flag shadows the module
)
from pidog_gaits.robot import specs
from pidog_gaits.runtime import DeployPolicy
from pidog_gaits.runtime.onnx_policy import FORMAT_VERSION, METADATA_KEY, ModelLoadError

if TYPE_CHECKING:
    from pidog_gaits.runtime.ppo_policy import TorchPpoPolicy

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


# ---------------------------------------------------------------------- PPO
class _PpoGraph(nn.Module):
    """Observation parts (+ gait input and prior state) -> action (+ prior targets, state).

    With steering, the prior runs on a batch of the three knot turns and the graph blends
    them with the action's ``steer`` (``gaits.steering``), so ``prior_targets_rad`` is
    the steered prior and the caller only adds the residual.
    """

    def __init__(self, policy, keys: list[str], prior_model=None, steering: bool = False):
        super().__init__()
        self.policy = policy
        self.keys = keys
        self.prior_model = prior_model
        self.recurrent = bool(prior_model is not None and prior_model.recurrent)
        self.steering = steering
        self.register_buffer("knots", torch.tensor(TURN_KNOTS, dtype=torch.float32))

    def forward(self, *inputs):
        n = len(self.keys)
        obs = dict(zip(self.keys, inputs[:n], strict=True))
        # SB3's own deterministic path: preprocess (image / 255), features, mean action.
        action = self.policy.get_distribution(obs).get_actions(deterministic=True)
        action = torch.clamp(action, -1.0, 1.0)
        if self.prior_model is None:
            return action
        rows = inputs[n].view(1, 4)
        if self.steering:  # the gait input at each knot turn, one row each
            rows = rows.repeat(3, 1)
            rows = torch.cat([rows[:, :2], self.knots.view(3, 1), rows[:, 3:]], dim=1)
        if self.recurrent:
            state = (inputs[n + 1], inputs[n + 2])
            out, (h, c) = self.prior_model(rows.view(-1, 1, 4), state)
            out = out.view(-1, specs.NUM_JOINTS)
        else:
            out = self.prior_model(rows)[0]
        if self.steering:  # gaits.steering.knot_weights, in torch
            turn = torch.clamp(inputs[n][0, 2] + action[0, specs.NUM_JOINTS], -1.0, 1.0)
            weights = torch.stack([torch.relu(-turn), 1.0 - torch.abs(turn), torch.relu(turn)])
            out = weights.view(1, 3) @ out
        return (action, out, h, c) if self.recurrent else (action, out)


def export_ppo(policy: TorchPpoPolicy, out: Path, source: str) -> dict:
    """Write ``policy`` (and its imitation prior) to ``out``; returns the metadata."""
    space = policy.policy.observation_space.spaces
    args: list[torch.Tensor] = []
    for key in policy.obs_keys:
        box = space[key]
        dtype = torch.uint8 if key == "image" else torch.float32
        args.append(torch.zeros((1, *box.shape), dtype=dtype))
    inputs = list(policy.obs_keys)
    outputs = ["action"]
    state: list[dict] = []
    if policy.prior_model is not None:
        model = policy.prior_model
        args.append(torch.zeros(1, 4))
        inputs.append("gait_input")
        outputs.append("prior_targets_rad")
        if model.recurrent:
            batch = len(steering.TURN_KNOTS) if policy.steering else 1
            shape = lstm_state_shape(model, batch)
            args += [torch.zeros(shape), torch.zeros(shape)]
            inputs += ["h_in", "c_in"]
            outputs += ["h_out", "c_out"]
            state = imitation_state_spec(model, batch)
    env = policy.env_config
    info = {
        "format": FORMAT_VERSION,
        "kind": "ppo",
        "arch": "ppo",
        "joint_names": list(specs.JOINT_NAMES),
        "control_dt_s": policy.control_dt_s,
        "obs_keys": list(policy.obs_keys),
        "signals": list(policy.signals),
        "obs_bounds": {k: (lo.tolist(), hi.tolist()) for k, (lo, hi) in policy.bounds.items()},
        "image": policy.image,
        "image_size_px": list(policy.image_size_px),
        "prior": policy.prior,
        "prior_arch": getattr(policy.prior_model, "arch", None),
        "action_scale_rad": policy.scale.tolist(),
        "steering": policy.steering,
        "commands": _commands_metadata(policy.command_ranges),
        "state": state,
        "env": env.as_dict(),
        "source": source,
    }
    graph = _PpoGraph(policy.policy, policy.obs_keys, policy.prior_model, policy.steering)
    write_onnx(graph, tuple(args), inputs, outputs, out, info)
    return info


def _commands_metadata(ranges) -> dict:
    """The commands the policy was trained on, for ``OnnxPpoPolicy`` (its clipping)."""
    return {"speed_mps": list(ranges.speed_mps), "yaw_radps": list(ranges.yaw_radps)}


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
        from pidog_gaits.runtime.ppo_policy import TorchPpoPolicy

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
    from pidog_gaits.runtime.ppo_policy import TorchPpoPolicy, is_ppo_checkpoint

    if is_ppo_checkpoint(ckpt):
        policy = TorchPpoPolicy.from_checkpoint(ckpt, model_path, pretrained)
        return export_ppo(policy, out, model_path.name)
    raise ModelLoadError(f"{model_path} is neither an imitation model nor a PPO policy")


def load_exported(model_path: str | Path, pretrained: str | None = None) -> DeployPolicy:
    """``model_path`` (``.pth``/``.zip``) exported to a temporary ONNX file and loaded with
    onnxruntime: the graph the robot would run (``nn_controller --engine onnx``)."""
    import tempfile

    from pidog_gaits.runtime.onnx_policy import load_onnx_policy

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "model.onnx"
        export_onnx(model_path, out, pretrained)
        return load_onnx_policy(out)  # the session holds the graph in memory


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
