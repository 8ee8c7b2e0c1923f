"""A 2-trial Ray Tune sweep with tiny budgets, run locally, end to end."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from pidog_gaits.sweep import SweepConfig, load_space, run_sweep, slice_steps


@pytest.fixture(scope="module")
def sweep_result(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    space = out / "space.yaml"
    space.write_text(
        yaml.safe_dump(
            {
                "ppo.learning_rate": {"choice": [1.0e-4, 1.0e-3]},
                "reward.forward_velocity": {"uniform": [0.5, 3.0]},
                "randomization.friction_scale": {"choice": [[0.8, 1.2], [0.6, 1.4]]},
            }
        )
    )
    config = SweepConfig(
        output=str(out / "run"),
        trials=2,
        timesteps=1024,
        space=str(space),
        reports=2,
        envs=2,
        episode_steps=100,
        eval_episodes=1,
        vision="none",
        quality="fast",
    )
    # Ray's embedded start writes a token to ~/.ray/auth_token and sets RAY_AUTH_MODE in
    # this process; keep both inside the test (a token in the real home switches on
    # authentication for every later `ray start --head` on the machine).
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HOME", str(out / "home"))
        env.setenv("RAY_AUTH_MODE", "token")  # what Ray sets for a local cluster anyway
        env.delenv("RAY_ADDRESS", raising=False)
        return config, run_sweep(config)


def test_both_trials_ran_and_reported(sweep_result):
    config, figures = sweep_result
    trials = figures["trials"]
    assert len(trials) == 2
    assert {t["status"] for t in trials} == {"done"}
    for t in trials:
        assert t["metric"] is not None and len(t["history"]) >= 1
        assert t["timesteps"] in (512, 1024)
        assert set(t["params"]) == {
            "ppo.learning_rate",
            "reward.forward_velocity",
            "randomization.friction_scale",
        }
    with open(f"{config.output}/results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2
    saved = json.loads(Path(config.output, "sweep.json").read_text())
    assert saved["best_trial"] == figures["best_trial"]


def test_best_trial_has_the_best_metric(sweep_result):
    _, figures = sweep_result
    metrics = {t["trial"]: t["metric"] for t in figures["trials"]}
    assert figures["best_trial"] == max(metrics, key=metrics.get)
    assert figures["best_metric"] == max(metrics.values())


def test_sampled_settings_reached_the_trial(sweep_result):
    config, figures = sweep_result
    best = next(t for t in figures["trials"] if t["trial"] == figures["best_trial"])
    rl = json.loads(Path(config.output, "best_model", "rl_config.json").read_text())
    assert rl["rl"]["learning_rate"] == pytest.approx(best["params"]["ppo.learning_rate"])
    assert rl["env"]["reward_weights"]["forward_velocity"] == pytest.approx(
        best["params"]["reward.forward_velocity"]
    )
    assert rl["env"]["randomization"]["friction_scale"] == list(
        best["params"]["randomization.friction_scale"]
    )


def test_best_model_loads_and_acts(sweep_result):
    from pidog_gaits.envs.pidog_env import PiDogEnv
    from pidog_gaits.evaluate import load_any

    config, _ = sweep_result
    predict, env_cfg = load_any(
        __import__("pathlib").Path(config.output) / "best_model" / "final_model.zip"
    )
    env = PiDogEnv(env_cfg)
    try:
        obs, _ = env.reset(seed=0)
        action = predict(obs)
    finally:
        env.close()
    assert action.shape == env.action_space.shape
    assert np.all(np.abs(action) <= 1.0 + 1e-6)


def test_slices_are_whole_rollouts():
    assert slice_steps(1024, 2, 512) == [512, 1024]
    assert slice_steps(1000, 3, 512) == [512, 1024]
    assert slice_steps(10_000, 3, 1024) == [4096, 7168, 10240]


def test_bad_space_is_refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("reward.warp_speed: {uniform: [0, 1]}\n")
    with pytest.raises(ValueError, match="warp_speed"):
        load_space(str(bad))
