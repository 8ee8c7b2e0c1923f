"""ONNX export: every model type gives the same joint targets through onnxruntime as
through PyTorch (within 1e-5 rad), loading never runs code from a .pth, and the robot's
path (ONNX + the pidog backend) runs with neither PyTorch nor MuJoCo importable."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from _deploy_models import one_torch_thread, ppo_policy, save, save_ppo_pth, untrained_imitation

from pidog_gaits.envs.config import EnvConfig
from pidog_gaits.export import compare_policies, export_onnx, main
from pidog_gaits.neural_network import ARCHS
from pidog_gaits.runtime import ModelLoadError, load_policy
from pidog_gaits.runtime.onnx_policy import METADATA_KEY, open_session

TOLERANCE_RAD = 1e-5
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {arch: save(untrained_imitation(arch), root / f"{arch}.pth") for arch in ARCHS}


@pytest.mark.parametrize("arch", list(ARCHS))
def test_imitation_onnx_matches_torch(arch, models, tmp_path):
    out = tmp_path / f"{arch}.onnx"
    info = export_onnx(models[arch], out)
    torch_policy, onnx_policy = load_policy(models[arch]), load_policy(out)
    assert (torch_policy.engine, onnx_policy.engine) == ("torch", "onnx")
    diff = compare_policies(torch_policy, onnx_policy)
    assert diff <= TOLERANCE_RAD
    # The model's outputs vary over the test sequence, so agreement is not trivial.
    sample = [torch_policy.targets(np.array([3, 1, 0, p], np.float32)) for p in (0.1, 0.6)]
    assert np.max(np.abs(sample[0] - sample[1])) > 0.01
    recurrent = ARCHS[arch].recurrent
    assert [s["input"] for s in info["state"]] == (["h_in", "c_in"] if recurrent else [])
    names = [i.name for i in open_session(out).get_inputs()]
    assert names == (["gait_input", "h_in", "c_in"] if recurrent else ["gait_input"])


def test_recurrent_state_is_carried_not_reset(models, tmp_path):
    """An LSTM's second call differs from a fresh call on the same input: state flows."""
    out = tmp_path / "lstm.onnx"
    export_onnx(models["lstm"], out)
    policy = load_policy(out)
    x = np.array([3, 1, 0, 0.25], np.float32)
    first = policy.targets(x)
    second = policy.targets(x)
    policy.reset()
    assert policy.targets(x) == pytest.approx(first, abs=1e-7)
    assert np.max(np.abs(second - first)) > 1e-4


PPO_CASES = [
    ("imitation", "none", "simple_lstm", False),
    ("imitation", "depth", "mlp", False),
    ("expert", "rgb", None, False),
    ("expert", "rgb", None, True),
    ("none", "none", None, False),
]


@pytest.mark.parametrize(("prior", "vision", "prior_arch", "image_norm"), PPO_CASES)
def test_ppo_onnx_matches_torch(prior, vision, prior_arch, image_norm, models, tmp_path):
    pretrained = str(models[prior_arch]) if prior_arch else None
    # A camera smaller than the default, as stage 3 may train with (--width/--height).
    config = EnvConfig(vision=vision, prior=prior, pretrained=pretrained,
                       image_width_px=32, image_height_px=24)  # fmt: skip
    policy = ppo_policy(config, image_norm=image_norm)
    pth = save_ppo_pth(policy, config, tmp_path / "final_model.pth")
    out = tmp_path / "final_model.onnx"
    info = export_onnx(pth, out)
    torch_policy, onnx_policy = load_policy(pth), load_policy(out)
    assert onnx_policy.kind == "ppo" and onnx_policy.prior == prior
    # The robot's loop runs the heading hold with the gains the policy trained with.
    hold = {"heading_gain_per_s": config.heading_gain_per_s,
            "heading_integral_per_s2": config.heading_integral_per_s2,
            "heading_integral_sonar_gate_m": config.heading_integral_sonar_gate_m}  # fmt: skip
    assert onnx_policy.heading_hold == torch_policy.heading_hold == hold
    assert onnx_policy.image == (None if vision == "none" else vision)
    assert compare_policies(torch_policy, onnx_policy, steps=60) <= TOLERANCE_RAD
    # The deterministic action is the policy's mean, clipped like SB3 clips it.
    from pidog_gaits.runtime.observation import build_observation
    from pidog_gaits.runtime.verify import random_contexts

    contexts = list(random_contexts(20, 0, onnx_policy.image, onnx_policy.image_size_px))
    actions = np.array([torch_policy.action(c) for c in contexts])
    assert np.abs(actions).max() == pytest.approx(1.0)  # some saturate at the clip
    # ... and equals SB3's own deterministic prediction.
    for ctx, action in zip(contexts, actions, strict=True):
        obs = build_observation(ctx, torch_policy.obs_keys, torch_policy.bounds)
        expected, _ = torch_policy.policy.predict(obs, deterministic=True)
        assert action == pytest.approx(expected.reshape(-1), abs=1e-6)
    inputs = [i.name for i in open_session(out).get_inputs()]
    assert inputs[: len(info["obs_keys"])] == info["obs_keys"]
    assert ("gait_input" in inputs) == (prior == "imitation")


def test_ppo_zip_loads_and_exports(models, tmp_path):
    """SB3's own .zip (what --resume and evaluate use) exports like the .pth."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from pidog_gaits.envs.features import PiDogFeatures
    from pidog_gaits.envs.pidog_env import PiDogEnv

    config = EnvConfig(vision="none", prior="imitation", pretrained=str(models["mlp"]),
                       num_obstacles=0, episode_steps=20)  # fmt: skip
    model = PPO("MultiInputPolicy", DummyVecEnv([lambda: PiDogEnv(config)]), n_steps=16,
                batch_size=16, policy_kwargs={"features_extractor_class": PiDogFeatures,
                                              "net_arch": [16]}, device="cpu")  # fmt: skip
    model.pidog_env_config = config.as_dict()
    model.save(tmp_path / "final_model.zip")
    export_onnx(tmp_path / "final_model.zip", tmp_path / "zip.onnx")
    diff = compare_policies(
        load_policy(tmp_path / "final_model.zip"), load_policy(tmp_path / "zip.onnx"), steps=40
    )
    assert diff <= TOLERANCE_RAD


def test_ppo_prior_found_beside_a_moved_model(models, tmp_path):
    """A packaged policy whose stored prior path is gone finds imitation_model/ nearby."""
    exp = tmp_path / "exp"
    (exp / "imitation_model").mkdir(parents=True)
    (exp / "final_model").mkdir()
    prior = exp / "imitation_model" / "best_model.pth"
    prior.write_bytes(models["mlp"].read_bytes())
    config = EnvConfig(vision="none", prior="imitation", pretrained="/gone/best_model.pth")
    pth = save_ppo_pth(ppo_policy(config), config, exp / "final_model" / "final_model.pth")
    assert load_policy(pth).prior_model is not None
    (prior).unlink()
    with pytest.raises(ModelLoadError, match="--pretrained"):
        load_policy(pth)
    assert load_policy(pth, pretrained=str(models["mlp"])).prior == "imitation"


def test_pickled_module_is_refused(tmp_path, capsys):
    """A .pth holding a pickled module (code) is never unpickled."""
    bad = tmp_path / "pickled.pth"
    torch.save(torch.nn.Linear(4, 12), bad)
    with pytest.raises(ModelLoadError, match="not a pidog-gaits model file"):
        load_policy(bad)
    assert main([str(bad), "--onnx", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")
    assert not (tmp_path / "x.onnx").exists()


def test_onnx_without_metadata_is_refused(tmp_path):
    plain = tmp_path / "plain.onnx"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(torch.nn.Linear(4, 12), (torch.zeros(1, 4),), str(plain), dynamo=False)
    with pytest.raises(ModelLoadError, match="metadata"):
        load_policy(plain)


def test_export_cli_reports_the_difference(models, tmp_path):
    out = tmp_path / "m.onnx"
    figures_path = tmp_path / "export.json"
    code = main([str(models["simple_lstm"]), "--onnx", str(out), "--json", str(figures_path)])
    figures = json.loads(figures_path.read_text())
    assert code == 0
    assert figures["kind"] == "imitation" and figures["arch"] == "simple_lstm"
    assert figures["max_abs_diff_rad"] <= TOLERANCE_RAD
    meta = json.loads(open_session(out).get_modelmeta().custom_metadata_map[METADATA_KEY])
    assert meta["control_dt_s"] == pytest.approx(0.02)


ROBOT_SCRIPT = textwrap.dedent(
    """
    import importlib.abc, json, sys, types

    BLOCKED = ("torch", "mujoco", "stable_baselines3", "gymnasium")

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is not on the robot")

    sys.meta_path.insert(0, Block())

    class Dog:  # the smallest stand-in for SunFounder's Pidog
        def __init__(self, **pins):
            self.accData, self.gyroData, self.frames = [-16384, 0, 0], [0, 0, 0], 0
        def legs_move(self, angles, immediately=True, speed=50):
            self.frames += 1
        def head_move_raw(self, *a, **k): pass
        def tail_move(self, *a, **k): pass
        def read_distance(self): return 80.0
        def stop_and_lie(self, speed=85): pass
        def close(self): pass

    sys.modules["pidog"] = types.SimpleNamespace(Pidog=Dog)
    from pidog_gaits.nn_controller import main
    code = main(["--model", sys.argv[1], "--backend", "pidog", "--gait", "trot_forward",
                 "--seconds", "0.3", "--standup-s", "0.1", "--max-overruns", "10000",
                 "--json", sys.argv[2]])
    assert code == 0, code
    assert not any(m.split(".")[0] in BLOCKED for m in sys.modules), "heavy import"
    """
)


@pytest.mark.parametrize("kind", ["imitation", "ppo"])
def test_robot_path_needs_neither_torch_nor_mujoco(kind, models, tmp_path):
    if kind == "imitation":
        source = models["simple_lstm"]
    else:
        config = EnvConfig(vision="none", prior="imitation", pretrained=str(models["lstm"]))
        source = save_ppo_pth(ppo_policy(config), config, tmp_path / "final_model.pth")
    onnx_path = tmp_path / "robot.onnx"
    export_onnx(source, onnx_path)
    script = tmp_path / "robot.py"
    script.write_text(ROBOT_SCRIPT)
    figures_path = tmp_path / "robot.json"
    proc = subprocess.run(
        [sys.executable, str(script), str(onnx_path), str(figures_path)],
        capture_output=True, text=True, cwd=REPO, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    figures = json.loads(figures_path.read_text())
    assert figures["engine"] == "onnx" and figures["policy_kind"] == kind
    assert figures["steps"] == 15 and figures["frames_sent"] == 20
