"""A corrupt, truncated or wrong-kind model file, on every command that loads one: one
line ``error: FILE: what is wrong`` on stderr and exit status 2, never a traceback.

Kinds: ``.onnx`` (exported), ``.pth`` (imitation and PPO), ``.zip`` (SB3). Corrupt =
random bytes; truncated = a real file cut in half; wrong kind = a real file of another
kind (a text file renamed ``.onnx``, an ONNX graph without our metadata, an imitation
``.pth`` where a PPO policy is needed, and the reverse).
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest
import torch
from _deploy_models import one_torch_thread, ppo_policy, save, save_ppo_pth, untrained_imitation

from pidog_gaits import cli, evaluate, export, nn_controller, train_rl_vision
from pidog_gaits.envs.config import EnvConfig

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Good files of every kind, and the bad ones made from them."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from pidog_gaits.envs.features import PiDogFeatures
    from pidog_gaits.envs.pidog_env import PiDogEnv

    root = tmp_path_factory.mktemp("bad_models")
    good = {"imitation.pth": save(untrained_imitation("mlp"), root / "imitation.pth")}
    config = EnvConfig(vision="none", prior="expert", num_obstacles=0, episode_steps=20)
    good["ppo.pth"] = save_ppo_pth(ppo_policy(config), config, root / "ppo.pth")
    export.export_onnx(good["imitation.pth"], root / "imitation.onnx")
    good["imitation.onnx"] = root / "imitation.onnx"
    model = PPO("MultiInputPolicy", DummyVecEnv([lambda: PiDogEnv(config)]), n_steps=16,
                batch_size=16, policy_kwargs={"features_extractor_class": PiDogFeatures,
                                              "net_arch": [16]}, device="cpu")  # fmt: skip
    model.pidog_env_config = config.as_dict()
    model.save(root / "ppo.zip")
    good["ppo.zip"] = root / "ppo.zip"

    made = dict(good)
    noise = os.urandom(4096)
    for ext in ("onnx", "pth", "zip"):
        made[f"random.{ext}"] = root / f"random.{ext}"
        made[f"random.{ext}"].write_bytes(noise)
    for name, path in good.items():
        data = path.read_bytes()
        made[f"truncated_{name}"] = root / f"truncated_{name}"
        made[f"truncated_{name}"].write_bytes(data[: len(data) // 2])
    made["text.onnx"] = root / "text.onnx"
    made["text.onnx"].write_text("a text file, renamed\n")
    made["plain.onnx"] = root / "plain.onnx"  # valid ONNX, but not ours: no metadata
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(torch.nn.Linear(4, 12), (torch.zeros(1, 4),), str(made["plain.onnx"]),
                          dynamo=False)  # fmt: skip
    made["other.zip"] = root / "other.zip"  # a zip, but not SB3's
    with zipfile.ZipFile(made["other.zip"], "w") as archive:
        archive.writestr("readme.txt", "not a model")
    made["empty.pth"] = root / "empty.pth"
    made["empty.pth"].write_bytes(b"")
    return made


def _one_error_line(capfd, path: Path) -> str:
    out, err = capfd.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert lines[0].startswith("error: ") and str(path) in lines[0], lines[0]
    assert "Traceback" not in err and out == ""
    return lines[0]


CONTROLLER_FILES = [
    "random.onnx", "truncated_imitation.onnx", "text.onnx", "plain.onnx",
    "random.pth", "empty.pth", "truncated_imitation.pth", "truncated_ppo.pth",
    "random.zip", "truncated_ppo.zip", "other.zip",
]  # fmt: skip


@pytest.mark.parametrize("name", CONTROLLER_FILES)
def test_controller(files, name, capfd):
    path = files[name]
    argv = ["--model", str(path), "--backend", "sim", "--seconds", "0.1"]
    assert nn_controller.main(argv) == 2
    _one_error_line(capfd, path)


@pytest.mark.parametrize("name", ["truncated_imitation.pth", "truncated_ppo.zip"])
def test_controller_engine_onnx(files, name, capfd):
    """``--engine onnx`` exports a .pth/.zip first: the export's loader reports it."""
    path = files[name]
    argv = ["--model", str(path), "--engine", "onnx", "--seconds", "0.1"]
    assert nn_controller.main(argv) == 2
    _one_error_line(capfd, path)


@pytest.mark.parametrize(
    "name", ["random.pth", "truncated_imitation.pth", "truncated_ppo.pth", "truncated_ppo.zip",
             "other.zip", "imitation.onnx"],
)  # fmt: skip
def test_export(files, name, capfd, tmp_path):
    path = files[name]
    assert export.main([str(path), "--onnx", str(tmp_path / "out.onnx")]) == 2
    _one_error_line(capfd, path)
    assert not (tmp_path / "out.onnx").exists()


@pytest.mark.parametrize("name", ["random.pth", "truncated_imitation.pth", "ppo.pth"])
def test_gait_policy(files, name, capfd):
    """``pidog-gaits gait --policy`` takes an imitation .pth; a PPO policy is the wrong kind."""
    path = files[name]
    argv = ["gait", "trot_forward", "--seconds", "0.1", "--policy", str(path)]
    assert cli.run_typer(cli.app, argv, "pidog-gaits") == 2
    line = _one_error_line(capfd, path)
    if name == "ppo.pth":
        assert "not an imitation model" in line


@pytest.mark.parametrize(
    "name", ["random.pth", "truncated_ppo.pth", "random.zip", "truncated_ppo.zip", "other.zip",
             "imitation.pth", "imitation.onnx"],
)  # fmt: skip
def test_evaluate(files, name, capfd):
    """evaluate needs a PPO policy: an imitation model is the wrong kind."""
    path = files[name]
    assert evaluate.main(["--model", str(path), "--episodes", "1"]) == 2
    line = _one_error_line(capfd, path)
    if name == "imitation.pth":
        assert "not a PiDog PPO policy" in line


@pytest.mark.parametrize(
    "option, name",
    [("--pretrained", "random.pth"), ("--pretrained", "truncated_imitation.pth"),
     ("--pretrained", "ppo.pth"), ("--resume", "truncated_ppo.zip"), ("--resume", "random.zip"),
     ("--resume", "imitation.pth")],
)  # fmt: skip
def test_train_rl(files, option, name, capfd, tmp_path):
    path = files[name]
    argv = [option, str(path), "--output", str(tmp_path / "rl"), "--timesteps", "1"]
    assert train_rl_vision.main(argv) == 2
    _one_error_line(capfd, path)
    assert not (tmp_path / "rl" / "final_model.zip").exists()


def test_controller_command_line_on_a_corrupt_onnx(files, tmp_path):
    """The issue's own command, as a user runs it: one line, exit 2 (onnxruntime's native
    logging included, which only a separate process shows)."""
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(os.urandom(2048))
    proc = subprocess.run(
        [sys.executable, "-m", "pidog_gaits.nn_controller", "--model", str(bad),
         "--backend", "sim"],
        capture_output=True, text=True, cwd=REPO, timeout=600,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {bad}: "), proc.stderr
    assert "corrupt, truncated or not ONNX" in lines[0]
