"""The pipeline's settings: defaults, presets, validation before any work, config.txt."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pidog_gaits import pipeline
from pidog_gaits.pipeline_config import (
    SETTINGS,
    ConfigError,
    PipelineConfig,
    config_from_env,
    config_from_file,
    env_of,
    read_config_txt,
    write_config_txt,
)

ROOT = Path(__file__).resolve().parent.parent

OLDER_PIPELINE_DEFAULTS = {
    "DATA_COLLECTION_DURATION": 120.0,
    "IMITATION_EPOCHS": 300,
    "IMITATION_BATCH_SIZE": 1024,
    "RL_TIMESTEPS": 200_000,
    "RL_PARALLEL_ENVS": 4,
    "DEVICE": "auto",
    "PHYSICS_QUALITY": "medium",
}


def test_defaults_are_the_older_pipelines():
    config, sources = config_from_env({})
    fields = {s.env: s.field for s in SETTINGS}
    for env, value in OLDER_PIPELINE_DEFAULTS.items():
        assert getattr(config, fields[env]) == value, env
        assert sources[env] == "default"
    assert config.preset == "default"
    assert config.reward_profile == "balanced"
    assert config.seed == 0
    assert config == PipelineConfig()


def test_environment_beats_preset_beats_default():
    config, sources = config_from_env(
        {"PRESET": "smoke", "RL_TIMESTEPS": "4096", "SEED": "7", "IMITATION_EPOCHS": ""}
    )
    assert config.rl_timesteps == 4096 and sources["RL_TIMESTEPS"] == "environment"
    assert config.imitation_epochs == 3 and sources["IMITATION_EPOCHS"] == "preset smoke"
    assert config.imitation_batch_size == 256
    assert config.vision == "rgb" and sources["VISION"] == "default"
    assert config.seed == 7 and config.eval_seed == 1007


BAD = [
    ("DATA_COLLECTION_DURATION", "0"),
    ("DATA_COLLECTION_DURATION", "two minutes"),
    ("IMITATION_EPOCHS", "1.5"),
    ("IMITATION_BATCH_SIZE", "-1"),
    ("RL_TIMESTEPS", "abc"),
    ("RL_PARALLEL_ENVS", "0"),
    ("RL_PARALLEL_ENVS", "1000"),
    ("DEVICE", "tpu"),
    ("PHYSICS_QUALITY", "ultra"),
    ("REWARD_PROFILE", "no_such_profile"),
    ("REWARD_PROFILE", "/no/such/weights.yaml"),
    ("VISION", "lidar"),
    ("IMITATION_MODEL", "transformer"),
    ("EVAL_EPISODES", "0"),
    ("SEED", "-3"),
    ("PRESET", "huge"),
]


@pytest.mark.parametrize(("variable", "value"), BAD)
def test_bad_value_is_refused_naming_the_variable(variable, value):
    with pytest.raises(ConfigError, match=f"^{variable}="):
        config_from_env({variable: value})


def test_cuda_asked_for_without_cuda_is_refused():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="^DEVICE=cuda"):
        config_from_env({"DEVICE": "cuda"})


@pytest.mark.parametrize(("variable", "value"), [BAD[4], BAD[8], BAD[9]])
def test_bad_config_stops_before_any_work(tmp_path, monkeypatch, capsys, variable, value):
    monkeypatch.setenv(variable, value)
    code = pipeline.main(["my_dog", "--experiments-dir", str(tmp_path / "experiments")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {variable}=")
    assert "Traceback" not in err
    assert not (tmp_path / "experiments").exists(), "no experiment directory may be created"


def test_bad_config_through_the_shell_script(tmp_path):
    env = dict(os.environ, RL_TIMESTEPS="lots")
    proc = subprocess.run(
        [str(ROOT / "train_production_pipeline.sh"), "bad_cfg", "--experiments-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "RL_TIMESTEPS='lots' is not an integer" in proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [[], ["a", "--resume", "b"], ["bad/name"]])
def test_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        pipeline.main(argv)
    assert exc.value.code == 2


def test_resume_of_a_directory_that_is_not_an_experiment(tmp_path, capsys):
    assert pipeline.main(["--resume", str(tmp_path)]) == 2
    assert "config.txt" in capsys.readouterr().err


def test_config_txt_round_trip(tmp_path):
    env = {"PRESET": "smoke", "SEED": "11", "REWARD_PROFILE": "speed", "VISION": "none"}
    config, sources = config_from_env(env)
    path = tmp_path / "config.txt"
    write_config_txt(path, config, sources, {"1.collect": "python3 -m x"})
    assert config_from_file(path) == config
    sections = read_config_txt(path)
    assert sections["settings"] == env_of(config)
    assert sections["derived"]["evaluation_physics"] == "production"
    assert sections["derived"]["seed_evaluation"] == "1011"
    assert sections["derived"]["device_resolved"] in ("cpu", "cuda")
    assert float(sections["reward_weights speed"]["forward_velocity"]) == 4.0
    for key in ("python", "mujoco", "torch", "stable_baselines3", "git_commit"):
        assert sections["versions"][key]
    assert sections["commands"]["1.collect"] == "python3 -m x"


def test_resume_refuses_an_edited_config(tmp_path):
    config, sources = config_from_env({})
    path = tmp_path / "config.txt"
    write_config_txt(path, config, sources)
    path.write_text(path.read_text().replace("PHYSICS_QUALITY", "PHYSICS_QUALITY_X", 1))
    with pytest.raises(ConfigError, match="lacks PHYSICS_QUALITY"):
        config_from_file(path)


def test_config_txt_equals_what_ran():
    """Each setting in config.txt is the one the stages used, read back from their outputs."""
    import json

    import numpy as np
    from _pipeline_run import SMOKE_ENV, smoke_run
    from stable_baselines3 import PPO

    run = smoke_run()
    assert run.code == 0, run.output[-4000:]
    root = run.root
    config = config_from_file(root / "config.txt")
    expected, _ = config_from_env(SMOKE_ENV)
    assert config == expected
    derived = read_config_txt(root / "config.txt")["derived"]

    npz = next((root / "data").glob("gait_data_enhanced_*.npz"))
    meta = json.loads(str(np.load(npz)["meta"]))
    assert meta["seed"] == config.seed
    assert meta["duration_s"] == config.data_collection_duration_s
    assert meta["physics_quality"] == derived["data_collection_physics"] == "production"

    history = json.loads((root / "imitation_model/history.json").read_text())
    assert len(history["val_loss"]) == config.imitation_epochs
    assert history["model"] == config.imitation_model
    ran = history["config"]
    assert ran["epochs"] == config.imitation_epochs
    assert ran["batch_size"] == config.imitation_batch_size
    assert ran["seed"] == config.seed and ran["device"] == derived["device_resolved"]
    assert ran["data"] == str(npz)

    ppo = PPO.load(root / "rl_model/final_model.zip", device="cpu")
    assert ppo.num_timesteps == config.rl_timesteps
    assert ppo.n_envs == config.rl_parallel_envs
    assert str(ppo.device) == derived["device_resolved"]
    env = ppo.pidog_env_config
    assert env["quality"] == config.physics_quality == "fast"
    assert env["reward_profile"] == config.reward_profile == "speed"
    assert env["vision"] == config.vision
    assert env["prior"] == "imitation"
    assert env["pretrained"] == str(root / "imitation_model/best_model.pth")
    weights = read_config_txt(root / "config.txt")[f"reward_weights {config.reward_profile}"]
    assert {k: float(v) for k, v in weights.items()} == env["reward_weights"]
    rl = json.loads((root / "rl_model/rl_config.json").read_text())["rl"]
    assert rl["seed"] == config.seed and rl["checkpoint_every"] == config.rl_checkpoint_every
    steps = sorted(
        int(p.name.split("_")[2])
        for p in (root / "rl_model/checkpoints").glob("rl_model_*_steps.zip")
    )
    assert steps[0] == config.rl_checkpoint_every

    evaluation = json.loads((root / "rl_model/eval.json").read_text())
    assert evaluation["quality"] == derived["evaluation_physics"] == "production"
    assert evaluation["episodes"] == config.eval_episodes
    assert (
        evaluation["per_episode"][0]["seed"] == config.eval_seed == int(derived["seed_evaluation"])
    )
