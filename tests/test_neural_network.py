"""The four imitation models, their checkpoint files and the closed-loop controller."""

import numpy as np
import pytest
import torch

from pidog_gaits.gaits.library import GAITS, expert_targets
from pidog_gaits.neural_network import (
    ARCHS,
    CHECKPOINT_KEYS,
    PolicyController,
    build_model,
    checkpoint_dict,
    load_checkpoint,
    save_checkpoint,
)
from pidog_gaits.robot.specs import JOINT_NAMES


def gait_inputs(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = np.concatenate([g.inputs(rng.random(n)) for g in GAITS.values()])
    return x, expert_targets(x).astype(np.float32)


def fitted(arch, seed=0):
    torch.manual_seed(seed)
    model = build_model(arch)
    model.fit_normalization(*gait_inputs())
    return model.eval()


@pytest.mark.parametrize("arch", list(ARCHS))
def test_output_shapes(arch):
    model = fitted(arch)
    x = torch.as_tensor(gait_inputs(8)[0][:40].reshape(5, 8, 4))
    out, state = model(x if model.recurrent else x.reshape(40, 4))
    assert out.shape == ((5, 8, 12) if model.recurrent else (40, 12))
    assert torch.isfinite(out).all()
    assert (state is not None) == model.recurrent


def test_the_four_models_and_simple_lstm_shape():
    assert set(ARCHS) == {"mlp", "large", "lstm", "simple_lstm"}
    simple = build_model("simple_lstm")
    assert simple.lstm.hidden_size == 64 and simple.lstm.num_layers == 1
    assert [m.out_features for m in simple.head if isinstance(m, torch.nn.Linear)] == [32, 12]
    large, mlp = build_model("large"), build_model("mlp")
    assert sum(p.numel() for p in large.parameters()) > 4 * sum(p.numel() for p in mlp.parameters())
    assert build_model("lstm").lstm.num_layers == 2


def test_unknown_model_is_a_value_error():
    with pytest.raises(ValueError, match="unknown model 'transformer'"):
        build_model("transformer")


def test_phase_encoding_is_continuous_across_the_wrap():
    enc = build_model("mlp").encoder
    x = torch.tensor([[2.0, 1.0, 0.0, 0.0], [2.0, 1.0, 0.0, 0.999999], [3.0, 1.0, 0.0, 0.0]])
    f = enc.raw_features(x)
    assert torch.allclose(f[0], f[1], atol=1e-4)  # phase 0 == phase 1
    assert not torch.allclose(f[0], f[2])  # walk and trot differ at the same phase
    assert f.shape[-1] == 4 + 2 + 2 * 4


def test_constant_targets_are_output_exactly():
    model = fitted("mlp")
    out, _ = model(torch.as_tensor(gait_inputs(4, seed=1)[0]))
    assert torch.count_nonzero(out[:, 8:]) == 0  # head and tail: exactly 0, as the experts


@pytest.mark.parametrize("arch", ["lstm", "simple_lstm"])
def test_recurrent_step_by_step_equals_sequence(arch):
    model = fitted(arch)
    x = torch.as_tensor(GAITS["trot_forward"].inputs(np.arange(30) * 0.02 / 0.24))[None]
    with torch.no_grad():
        whole, _ = model(x)
        state, steps = None, []
        for t in range(30):
            out, state = model(x[:, t : t + 1], state)
            steps.append(out)
    torch.testing.assert_close(torch.cat(steps, 1), whole, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("arch", list(ARCHS))
def test_save_load_weights_only_gives_identical_outputs(tmp_path, arch):
    model = fitted(arch, seed=3)
    path = tmp_path / "model.pth"
    save_checkpoint(model, path, training={"epochs": 1})
    raw = torch.load(path, weights_only=True)
    assert set(CHECKPOINT_KEYS) <= set(raw)
    assert raw["arch"] == arch and raw["joint_names"] == list(JOINT_NAMES)
    assert not any(isinstance(v, torch.nn.Module) for v in raw.values())
    assert len(raw["normalization"]["target_mean"]) == 12
    loaded, _ = load_checkpoint(path)
    x = torch.as_tensor(gait_inputs(16, seed=4)[0])
    x = x.reshape(-1, 16, 4) if model.recurrent else x  # one sequence per gait
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)[0], model(x)[0], rtol=0, atol=0)
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        PolicyController.from_file(tmp_path / "nope.pth")


def test_bad_files_are_value_errors(tmp_path):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a torch file at all")
    pickled = tmp_path / "pickled.pth"
    torch.save(fitted("mlp"), pickled)  # a whole module: refused by weights_only
    partial = tmp_path / "partial.pth"
    torch.save({"arch": "mlp"}, partial)
    unknown = tmp_path / "unknown.pth"
    torch.save({**checkpoint_dict(fitted("mlp")), "arch": "transformer"}, unknown)
    ckpt = checkpoint_dict(fitted("mlp"))
    reordered = tmp_path / "reordered.pth"
    torch.save({**ckpt, "joint_names": list(JOINT_NAMES)[::-1]}, reordered)
    mismatch = tmp_path / "mismatch.pth"
    torch.save({**ckpt, "arch_kwargs": {"phase_harmonics": 4, "hidden": [64, 64]}}, mismatch)
    for path, message in [
        (garbage, "not a pidog-gaits model file"),
        (pickled, "not a pidog-gaits model file"),
        (partial, "needs"),
        (unknown, "not an imitation model \\(arch 'transformer'"),
        (reordered, "another joint order"),
        (mismatch, "bad model file"),
    ]:
        with pytest.raises(ValueError, match=message):
            PolicyController.from_file(path)


def test_controller_carries_lstm_state_and_reset_clears_it(tmp_path):
    model = fitted("simple_lstm")
    save_checkpoint(model, tmp_path / "m.pth")
    controller = PolicyController.from_file(tmp_path / "m.pth")
    inputs = GAITS["walk_forward"].inputs(np.arange(20) * 0.02 / 1.25)
    outs = np.array([controller(x) for x in inputs])
    with torch.no_grad():
        seq, _ = model(torch.as_tensor(inputs)[None])
    np.testing.assert_allclose(outs, seq[0].numpy(), atol=1e-5)
    assert outs.shape == (20, 12) and outs.dtype == np.float64
    # The same input twice gives different outputs: the state moved on.
    assert not np.allclose(controller(inputs[0]), controller(inputs[0]))
    controller.reset()
    np.testing.assert_allclose(controller(inputs[0]), outs[0], atol=1e-6)


def test_controller_rejects_bad_inputs():
    controller = PolicyController(fitted("mlp"))
    with pytest.raises(ValueError, match="4 numbers"):
        controller(np.zeros(3))
    with pytest.raises(ValueError, match="unknown gait_type"):
        controller(np.array([7.0, 0, 0, 0]))
