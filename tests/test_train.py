"""Stage 2: data checks, the split by episode, sequence windows, outputs, Ctrl-C, bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from pidog_gaits import imitation_data as idata
from pidog_gaits import train as tr
from pidog_gaits.gaits.library import GAITS, expert_targets
from pidog_gaits.neural_network import load_checkpoint
from pidog_gaits.robot.specs import CONTROL_DT_S, JOINT_NAMES


def write_gait_data(path, episodes=4, steps=60, burst=20, seed=0):
    """A stage-1-shaped file without the simulator: bursts of consecutive 50 Hz samples."""
    rng = np.random.default_rng(seed)
    rows = {k: [] for k in ("inputs", "episode", "gait", "step")}
    episode = 0
    for g, gait in enumerate(GAITS.values()):
        for _ in range(episodes):
            step = np.arange(30, 30 + steps)
            step = step[(step - 30) % (2 * burst) < burst]
            phase = rng.random() + step * CONTROL_DT_S / gait.period_s
            rows["inputs"].append(gait.inputs(phase))
            rows["episode"].append(np.full(step.size, episode))
            rows["gait"].append(np.full(step.size, g))
            rows["step"].append(step)
            episode += 1
    a = {k: np.concatenate(v) for k, v in rows.items()}
    a["targets"] = expert_targets(a["inputs"]).astype(np.float32)
    a["observations"] = np.zeros((a["inputs"].shape[0], 50), dtype=np.float32)
    a["time_s"] = a["step"] * CONTROL_DT_S
    a["meta"] = np.array(json.dumps({"gaits": list(GAITS)}))
    np.savez(path, **a)
    return a


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "gait_data_enhanced_test.npz"
    write_gait_data(path)
    return path


def test_split_is_by_episode_and_covers_every_gait(data_file):
    data = idata.load_gait_data(str(data_file))
    train_mask, val_mask = idata.split_by_episode(data, 0.25, seed=0)
    assert not (train_mask & val_mask).any() and (train_mask | val_mask).all()
    assert not set(data.episode[train_mask]) & set(data.episode[val_mask])
    for g in np.unique(data.group):
        assert val_mask[data.group == g].any() and train_mask[data.group == g].any()


def test_windows_are_consecutive_steps_of_one_episode(data_file):
    data = idata.load_gait_data(str(data_file))
    mask = np.ones(data.episode.size, dtype=bool)
    x, y, valid = idata.windows(data, mask, seq_len=16)
    assert valid.sum() == mask.sum()  # every sample in exactly one window
    np.testing.assert_allclose(y[valid], expert_targets(x[valid]), atol=1e-5)
    # Bursts are 20 long: windows of 16 then 4 real steps, the rest padding at the end.
    assert sorted(set(valid.sum(1).tolist())) == [4, 16]
    assert (np.diff(valid.astype(int), axis=1) <= 0).all()  # padding only after real steps
    for w in range(x.shape[0]):
        n = valid[w].sum()
        dphase = np.mod(np.diff(x[w, :n, 3]), 1.0)
        assert np.ptp(dphase) < 1e-5 if n > 2 else True  # one gait, one step size


def test_multiple_files_by_glob_and_folder(tmp_path):
    write_gait_data(tmp_path / "a.npz", episodes=2, seed=1)
    write_gait_data(tmp_path / "b.npz", episodes=2, seed=2)
    by_glob = idata.load_gait_data(str(tmp_path / "*.npz"))
    by_dir = idata.load_gait_data(str(tmp_path))
    assert len(by_glob.files) == 2 and by_glob.files == by_dir.files
    assert np.unique(by_glob.episode).size == 2 * 2 * len(GAITS)  # ids kept apart


def test_files_without_gait_names_are_grouped_by_their_inputs(tmp_path):
    a = write_gait_data(tmp_path / "full.npz", episodes=2)
    bare = {k: a[k] for k in ("inputs", "targets", "episode")}
    np.savez(tmp_path / "bare.npz", **bare)
    data = idata.load_gait_data(str(tmp_path / "bare.npz"))
    # turn_left and turn_right differ by the turn's sign; stand and sit by the type.
    assert len(data.group_names) == len(GAITS)
    np.testing.assert_array_equal(data.step[:3], [0, 1, 2])  # order taken as consecutive


def test_training_writes_the_four_outputs(tmp_path, data_file):
    config = tr.TrainConfig(
        data=str(data_file), model="mlp", epochs=40, batch_size=128, save_dir=tmp_path
    )
    history = tr.train(config)
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {"best_model.pth", "final_model.pth", "training_history.png", "history.json"}
    saved = json.loads((tmp_path / "history.json").read_text())
    assert len(saved["train_loss"]) == len(saved["val_loss"]) == 40
    assert saved["best_val_loss"] == pytest.approx(min(saved["val_loss"]))
    assert saved["val_loss"][-1] < saved["val_loss"][0] / 10  # it learns
    assert set(saved["val_rmse_per_joint_rad"]) == set(JOINT_NAMES)
    assert set(saved["val_loss_per_gait"]) == set(GAITS)
    assert history["interrupted"] is False
    ckpt = torch.load(tmp_path / "best_model.pth", weights_only=True)
    assert ckpt["training"]["epochs"] == saved["best_epoch"]
    # The best model reproduces its validation loss on the validation episodes.
    data = idata.load_gait_data(str(data_file))
    _, val = idata.split_by_episode(data, 0.2, 0)
    model, _ = load_checkpoint(tmp_path / "best_model.pth")
    with torch.no_grad():
        pred, _ = model(torch.as_tensor(data.inputs[val]))
    mse = float(((pred.numpy() - data.targets[val]) ** 2).mean())
    assert mse == pytest.approx(saved["best_val_loss"], rel=1e-3)


def test_recurrent_training_on_sequences(tmp_path, data_file):
    config = tr.TrainConfig(
        data=str(data_file),
        model="simple_lstm",
        epochs=25,
        batch_size=200,
        seq_len=10,
        save_dir=tmp_path,
    )
    history = tr.train(config)
    assert history["val_loss"][-1] < history["val_loss"][0] / 3
    model, ckpt = load_checkpoint(tmp_path / "final_model.pth")
    assert ckpt["input_spec"]["recurrent"] is True and model.recurrent


def test_ctrl_c_saves_what_it_has(tmp_path, data_file, monkeypatch):
    calls = {"n": 0}
    real = tr.evaluate

    def interrupt_on_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(tr, "evaluate", interrupt_on_third)
    code = tr.main(
        ["--data", str(data_file), "--model", "mlp", "--epochs", "50", "--save_dir", str(tmp_path)]
    )
    assert code == 130
    saved = json.loads((tmp_path / "history.json").read_text())
    assert saved["interrupted"] is True and len(saved["val_loss"]) == 2
    load_checkpoint(tmp_path / "final_model.pth")
    load_checkpoint(tmp_path / "best_model.pth")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files


def _corrupt(path):
    path.write_bytes(b"PK\x03\x04 this is not really a zip")


def _wrong_shapes(path):
    np.savez(path, inputs=np.zeros((10, 3)), targets=np.zeros((10, 12)), episode=np.zeros(10))


def _one_episode(path):
    np.savez(path, inputs=np.zeros((10, 4)), targets=np.zeros((10, 12)), episode=np.zeros(10))


@pytest.mark.parametrize(
    "make, extra, message",
    [
        (None, [], "no data file"),
        (_corrupt, [], "not a readable .npz"),
        (_wrong_shapes, [], "inputs has shape (10, 3), expected (10, 4)"),
        (_one_episode, [], "needs a gait with 2 or more episodes"),
        ("good", ["--model", "transformer"], "unknown model 'transformer'"),
        ("good", ["--epochs", "0"], "must be >= 1"),
    ],
)
def test_bad_input_one_line_exit_2_nothing_overwritten(
    tmp_path, data_file, capsys, make, extra, message
):
    save_dir = tmp_path / "model"
    save_dir.mkdir()
    (save_dir / "best_model.pth").write_bytes(b"previous model")
    data = data_file if make == "good" else tmp_path / "data.npz"
    if callable(make):
        make(data)
    code = tr.main(["--data", str(data), "--save_dir", str(save_dir), *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.strip().count("\n") == 0
    assert [p.name for p in save_dir.iterdir()] == ["best_model.pth"]
    assert (save_dir / "best_model.pth").read_bytes() == b"previous model"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_refused(tmp_path, data_file, capsys):
    code = tr.main(["--data", str(data_file), "--device", "cuda", "--save_dir", str(tmp_path)])
    assert code == 2
    assert "CUDA is not available" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_save_dir_that_is_a_file_is_refused_from_the_cli(tmp_path, data_file):
    target = tmp_path / "imitation_model"
    target.write_text("keep me")
    proc = subprocess.run(
        [sys.executable, "-m", "pidog_gaits.cli", "train", "--data", str(data_file)]
        + ["--save_dir", str(target)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 2
    assert "is a file" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0
    assert target.read_text() == "keep me"


def test_module_help_lists_the_issue_options():
    proc = subprocess.run(
        [sys.executable, "-m", "pidog_gaits.train", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0
    for option in ("--data", "--model", "--epochs", "--batch_size", "--device", "--save_dir"):
        assert option in proc.stdout
