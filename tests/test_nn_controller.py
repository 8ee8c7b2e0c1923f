"""The controller on the ``sim`` backend: the deployment path, measured like the training.

The expert through the controller reproduces ``pidog-gaits gait`` step for step; an
imitation model trained on the spot walks forward, through PyTorch and through its ONNX
export (the robot's engine); a PPO policy with a zero residual walks like its prior.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from _deploy_models import one_torch_thread, ppo_policy, save, save_ppo_pth, train_feedforward

from pidog_gaits.backends.safety import SafetyConfig
from pidog_gaits.backends.sim import SimBackend
from pidog_gaits.envs.config import EnvConfig
from pidog_gaits.export import export_onnx, load_exported
from pidog_gaits.gaits.library import get_gait
from pidog_gaits.nn_controller import main
from pidog_gaits.robot import specs
from pidog_gaits.runtime import load_policy
from pidog_gaits.runtime.base import RAMP_S, ExpertPolicy, stand_targets
from pidog_gaits.runtime.loop import LoopConfig, run_controller
from pidog_gaits.runtime.observation import PART_ORDER
from pidog_gaits.sim.rollout import GaitRunResult, run_gait

GAIT_KEYS = [f.name for f in dataclasses.fields(GaitRunResult)]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def trot_model(tmp_path_factory):
    """An MLP imitating the expert trot and stand (250 Adam steps, ~1 s)."""
    model, loss = train_feedforward("mlp", steps=250, hidden=(64, 64))
    assert loss < 1e-3
    return save(model, tmp_path_factory.mktemp("trot") / "best_model.pth")


def _run(policy, gait="trot_forward", seconds=5.0, safety=None, **sim):
    spec = get_gait(gait)
    backend = SimBackend(seconds=seconds, gait_name=spec.name,
                         allow_body_contact=spec.family == "sit", **sim)  # fmt: skip
    try:
        return run_controller(
            policy, backend, spec, LoopConfig(seconds, specs.CONTROL_DT_S), safety
        )
    finally:
        backend.close()


def test_constants_shared_with_training():
    from pidog_gaits.envs import observations
    from pidog_gaits.runtime import observation as runtime_obs
    from pidog_gaits.sim import rollout

    assert RAMP_S == rollout.RAMP_S
    assert stand_targets() == pytest.approx(rollout.stand_targets(), abs=0)
    assert tuple(observations.policy_parts("measured")) == PART_ORDER
    assert [k for k in PART_ORDER if k != "joints"] == list(observations.ROBOT_PARTS)
    assert runtime_obs.TARGET_HISTORY == observations.TARGET_HISTORY


@pytest.mark.parametrize("gait", ["trot_forward", "walk_forward", "sit"])
def test_expert_through_the_controller_is_the_gait_command(gait):
    """Same figures as ``run_gait`` (what ``pidog-gaits gait`` prints), safety layer on."""
    expected = run_gait(get_gait(gait), 2.0).as_dict()
    figures = _run(ExpertPolicy(), gait, seconds=2.0)
    for key in GAIT_KEYS:
        if key == "realtime_factor":
            continue
        assert figures[key] == pytest.approx(expected[key], abs=1e-9), key
    assert figures["stop_reason"] is None and figures["standup_steps"] == 0


def test_imitation_model_walks_forward(trot_model):
    figures = _run(load_policy(trot_model))
    assert figures["engine"] == "torch"
    assert not figures["fell"] and figures["stop_reason"] is None
    assert figures["distance_m"] > 1.0  # the expert trot covers ~1.7 m in 5 s
    assert abs(figures["lateral_m"]) < 0.3 * figures["distance_m"]


def test_onnx_export_walks_like_the_pth(trot_model, tmp_path):
    """The robot's engine: the exported graph walks the same distance in simulation."""
    onnx_path = tmp_path / "final_model.onnx"
    export_onnx(trot_model, onnx_path)
    via_torch = _run(load_policy(trot_model))
    via_onnx = _run(load_policy(onnx_path))
    assert via_onnx["engine"] == "onnx"
    assert via_onnx["distance_m"] > 1.0
    assert via_onnx["distance_m"] == pytest.approx(via_torch["distance_m"], rel=0.05)


def test_onnx_walks_with_commanded_joint_readings(trot_model, tmp_path):
    """As on the robot: the commanded angles stand in for the encoders."""
    onnx_path = tmp_path / "final_model.onnx"
    export_onnx(trot_model, onnx_path)
    figures = _run(load_policy(onnx_path), joint_source="commanded")
    assert figures["distance_m"] > 1.0


def test_ppo_with_zero_residual_walks_like_its_prior(tmp_path):
    """A PPO policy whose action is 0 is its prior (here the expert trot): the residual
    composition, the observation and the ramp match the env's."""
    config = EnvConfig(vision="none", prior="expert")
    pth = save_ppo_pth(ppo_policy(config, action_gain=0.0), config, tmp_path / "ppo.pth")
    expert = _run(ExpertPolicy(), seconds=2.0)
    for policy in (load_policy(pth), load_exported(pth)):
        figures = _run(policy, seconds=2.0)
        assert figures["policy_kind"] == "ppo"
        assert figures["distance_m"] == pytest.approx(expert["distance_m"], abs=1e-6)


def test_overrun_stops_the_run():
    class Slow(ExpertPolicy):
        def act(self, ctx):
            import time

            time.sleep(1.5 * specs.CONTROL_DT_S)
            return super().act(ctx)

    figures = _run(Slow(), seconds=2.0, safety=SafetyConfig(max_overruns=4))
    assert figures["stop_reason"] == "overrun"
    assert figures["steps"] == 4


def test_tilt_limit_applies_to_the_sit_as_configured():
    """The sit leans 43 deg by design: its own limit lets it sit, a tight one stops it."""
    sits = _run(ExpertPolicy(), "sit", seconds=2.0)
    assert sits["stop_reason"] is None
    assert math.radians(35) < sits["max_tilt_seen_rad"] < SafetyConfig().sit_max_tilt_rad
    tight = _run(ExpertPolicy(), "sit", 2.0, SafetyConfig(sit_max_tilt_rad=math.radians(30)))
    assert tight["stop_reason"] == "tilt" and tight["steps"] < 100


def test_a_fall_stops_the_run():
    class Kick(ExpertPolicy):
        """Folds the left legs flat: the dog rolls over."""

        def act(self, ctx):
            targets = super().act(ctx)
            if ctx.step > 10:
                targets[[0, 4]] = -1.5
                targets[[1, 5]] = 1.5
            return targets

    figures = _run(Kick(), seconds=4.0)
    assert figures["stop_reason"] == "fell" and figures["fell"]
    assert 10 < figures["steps"] < 100


# ---------------------------------------------------------------------- the command line
def test_cli_reports_the_gait_figures(tmp_path):
    out = tmp_path / "sim.json"
    assert main(["--model", "expert", "--seconds", "1", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert set(GAIT_KEYS) <= set(figures)
    assert figures["steps"] == 50 and figures["backend"] == "sim"
    assert figures["distance_m"] > 0.1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "missing.pth"], "not found"),
        (["--model", "expert", "--backend", "moon"], "unknown backend"),
        (["--model", "expert", "--gait", "fly"], "unknown gait"),
        (["--model", "expert", "--seconds", "0"], "--seconds"),
        (["--model", "expert", "--rate", "100"], "steps at 50 Hz"),
        (["--model", "expert", "--joints", "guess"], "joint_source"),
    ],
)
def test_cli_user_errors_are_one_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0]


def test_cli_runs_a_model_given_as_pth(trot_model, tmp_path):
    out = tmp_path / "m.json"
    args = ["--model", str(trot_model), "--engine", "onnx", "--seconds", "2", "--json", str(out)]
    assert main(args) == 0
    figures = json.loads(out.read_text())
    assert figures["engine"] == "onnx" and figures["distance_m"] > 0.3
    assert np.isfinite(figures["max_inference_ms"])
