"""Stage 3 end to end with a tiny budget: train, save, load, evaluate, resume, errors."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from pidog_gaits import evaluate as evaluate_mod
from pidog_gaits import train_rl_vision as rl
from pidog_gaits.envs.config import EnvConfig
from pidog_gaits.envs.pidog_env import PiDogEnv
from pidog_gaits.envs.policy_file import load_policy
from pidog_gaits.envs.training_log import read_scalar
from pidog_gaits.sim import physics

TINY = [
    "--timesteps", "512", "--episode-steps", "100", "--envs", "2", "--n-steps", "128",
    "--batch-size", "128", "--n-epochs", "1", "--quality", "fast", "--vision", "depth",
    "--device", "cpu", "--vec-env", "dummy", "--checkpoint-every", "256", "--no-progress-bar",
    "--warm-start-steps", "600", "--warm-start-epochs", "2",
]  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny run shared by the tests below; records every preset a simulator used."""
    out = tmp_path_factory.mktemp("rl")
    presets = []
    original = physics.PiDogSim.__init__

    def spy(self, quality="fast", *args, **kwargs):
        presets.append(quality)
        original(self, quality, *args, **kwargs)

    physics.PiDogSim.__init__ = spy
    try:
        code = rl.main([*TINY, "--output", str(out), "--seed", "3"])
    finally:
        physics.PiDogSim.__init__ = original
    assert code == 0
    return out, presets


def test_training_writes_every_artifact(trained):
    out, _ = trained
    for name in ("final_model.zip", "final_model.pth", "final_vecnormalize.pkl",
                 "warm_start_model.zip", "rl_config.json", "rl_training.log",
                 "reward_curve.png"):  # fmt: skip
        assert (out / name).is_file(), name
    assert (out / "checkpoints" / "rl_model_256_steps.zip").is_file()
    assert (out / "checkpoints" / "rl_model_vecnormalize_256_steps.pkl").is_file()
    record = json.loads((out / "rl_config.json").read_text())
    assert record["env"]["quality"] == "fast"
    assert record["env"]["reward_weights"]["collision"] < 0  # the profile's weights
    assert record["rl"]["mirror_weight"] > 0  # the default run keeps its gait symmetric
    # The heading hold's integral is in the env the policy trained on, and in its files.
    assert record["env"]["heading_integral_per_s2"] == record["rl"]["heading_integral_per_s2"] > 0
    gate = record["rl"]["heading_sonar_gate_m"]
    assert record["env"]["heading_integral_sonar_gate_m"] == gate > 0  # ... and its sonar gate
    assert "steps/s" in (out / "rl_training.log").read_text()


def test_the_quality_asked_for_is_the_one_that_ran(trained):
    _, presets = trained
    assert presets and set(presets) == {"fast"}


def test_reward_terms_reach_tensorboard(trained):
    out, _ = trained
    steps, values = read_scalar(out / "tensorboard", "reward_terms/alive")
    assert steps.size > 0 and np.all(values > 0)
    steps, _ = read_scalar(out / "tensorboard", "episode/mean_forward_velocity_mps")
    assert steps.size > 0


def test_pth_is_weights_only_and_acts_like_the_zip(trained):
    from stable_baselines3 import PPO

    out, _ = trained
    data = torch.load(out / "final_model.pth", weights_only=True)
    assert set(data) >= {"arch", "arch_kwargs", "state_dict", "input_spec", "joint_names",
                         "normalization", "version"}  # fmt: skip
    policy, env_cfg = load_policy(out / "final_model.pth")
    model = PPO.load(out / "final_model.zip", device="cpu")
    env = PiDogEnv(env_cfg)
    obs, _ = env.reset(seed=0)
    for _ in range(5):
        a_zip = model.predict(obs, deterministic=True)[0]
        a_pth = policy.predict(obs, deterministic=True)[0]
        np.testing.assert_allclose(a_zip, a_pth, atol=1e-6)
        obs, *_ = env.step(a_zip)


def test_zip_evaluates_and_writes_json(trained, tmp_path):
    out, _ = trained
    json_path = tmp_path / "eval.json"
    code = evaluate_mod.main(["--model", str(out / "final_model.zip"), "--episodes", "1",
                              "--quality", "fast", "--obstacles", "1", "--set", "friction=0.6",
                              "--json", str(json_path)])  # fmt: skip
    assert code == 0
    figures = json.loads(json_path.read_text())
    for key in ("mean_return", "mean_forward_velocity_mps", "mean_episode_length", "falls",
                "collisions", "energy_j"):  # fmt: skip
        assert key in figures
    assert figures["settings"] == {"friction_scale": 0.6}
    assert figures["obstacles"] == 1
    assert len(figures["per_episode"]) == 1 and figures["mean_episode_length"] > 0


def test_resume_continues_the_step_count_and_the_curves(trained, tmp_path):
    from stable_baselines3 import PPO

    out, _ = trained
    checkpoint = out / "checkpoints" / "rl_model_256_steps.zip"
    resumed = tmp_path / "resumed"
    args = [*TINY, "--output", str(resumed), "--resume", str(checkpoint)]
    args[args.index("--timesteps") + 1] = "768"
    assert rl.main(args) == 0
    model = PPO.load(resumed / "final_model.zip", device="cpu")
    assert model.num_timesteps >= 768
    steps, _ = read_scalar(resumed / "tensorboard", "time/fps")
    assert steps.min() > 256  # the curve picks up where the checkpoint left off


def test_user_errors_are_one_line_and_exit_2(tmp_path, capsys):
    cases = [
        ["--pretrained", str(tmp_path / "missing.pth")],
        ["--reward-profile", "sprint"],
        ["--quality", "ultra"],
        ["--resume", str(tmp_path / "none.zip")],
        ["--image-size", "big"],
        ["--heading-integral", "-1"],
        ["--heading-sonar-gate", "-0.5"],
    ]
    for extra in cases:
        code = rl.main(["--output", str(tmp_path), "--timesteps", "10", *extra])
        err = capsys.readouterr().err
        assert code == 2, (extra, err)
        assert len(err.strip().splitlines()) == 1 and err.startswith("error:"), err
    assert evaluate_mod.main(["--model", str(tmp_path / "nope.zip")]) == 2
    assert evaluate_mod.main(["--model", str(tmp_path / "nope.zip"), "--set", "gravity=2"]) == 2
    # The script form: exit status and no traceback.
    proc = subprocess.run(
        [sys.executable, "test_rl_model.py", "--model", str(tmp_path / "nope.zip")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [f"error: model not found: {tmp_path / 'nope.zip'}"]


def test_pretrained_model_becomes_the_prior(tmp_path):
    nn = pytest.importorskip("pidog_gaits.neural_network")
    path = tmp_path / "imit.pth"
    nn.save_checkpoint(nn.build_model("simple_lstm"), path)
    cfg = rl.RLConfig(output=str(tmp_path), pretrained=str(path))
    env_cfg = rl.validate(cfg)
    assert env_cfg.prior == "imitation" and env_cfg.pretrained == str(path.resolve())
    assert rl.RLConfig(output=str(tmp_path)).env_config().prior == "expert"
    with pytest.raises(ValueError, match="conflicts"):
        rl.validate(rl.RLConfig(output=str(tmp_path), pretrained=str(path), prior="none"))
    assert EnvConfig.from_dict(env_cfg.as_dict()).pretrained == str(path.resolve())


def test_after_the_warm_start_ppo_first_trains_the_critic_only(trained):
    from stable_baselines3 import PPO

    out, _ = trained  # 512 steps, inside the default 40k-step critic warm-up
    before = PPO.load(out / "warm_start_model.zip", device="cpu").policy
    after = PPO.load(out / "final_model.zip", device="cpu").policy
    in_actor = {id(p) for p in before.actor_parameters()}
    actor = [n for n, p in before.named_parameters() if id(p) in in_actor]
    critic = [n for n, _ in before.named_parameters() if "value_net" in n]
    assert actor and critic
    old, new = dict(before.named_parameters()), dict(after.named_parameters())
    assert all(torch.equal(old[n], new[n]) for n in actor)
    assert any(not torch.equal(old[n], new[n]) for n in critic)


def test_critic_warmup_freezes_the_actor_then_lets_it_train():
    from types import SimpleNamespace

    from pidog_gaits.envs.training_log import CriticWarmup

    actor = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))]
    model = SimpleNamespace(num_timesteps=0, policy=SimpleNamespace(actor_parameters=lambda: actor))
    warmup = CriticWarmup(steps=100)
    warmup.model = model
    warmup.on_training_start({}, {})
    assert not any(p.requires_grad for p in actor)
    model.num_timesteps = 64
    warmup.on_step()  # SB3 calls it after each env step; it reads the model's count
    warmup.on_rollout_end()
    assert not any(p.requires_grad for p in actor)  # still inside the warm-up
    model.num_timesteps = 128
    warmup.on_step()
    warmup.on_rollout_end()
    assert all(p.requires_grad for p in actor)  # the update after step 100 trains it
    # A run shorter than the warm-up leaves nothing frozen when it ends.
    short = CriticWarmup(steps=10_000)
    short.model = model
    short.on_training_start({}, {})
    assert not any(p.requires_grad for p in actor)
    short.on_training_end()
    assert all(p.requires_grad for p in actor)


def _anchor_ppo(config: EnvConfig):
    """A PPO whose own updates change nothing (learning rate 0): only the anchor moves it."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from pidog_gaits.envs.asymmetric import PiDogActorCriticPolicy

    venv = DummyVecEnv([lambda: PiDogEnv(config) for _ in range(2)])
    venv.seed(5)
    return PPO(PiDogActorCriticPolicy, venv, n_steps=64, batch_size=64, n_epochs=1,
               learning_rate=0.0, device="cpu", seed=5, verbose=0)  # fmt: skip


def test_teacher_anchor_pulls_the_steer_to_the_teachers_labels():
    from pidog_gaits.envs.warm_start import TeacherAnchor
    from pidog_gaits.gaits.steering import STEER_INDEX
    from pidog_gaits.sim.randomization import RandomizationRanges

    config = EnvConfig(vision="depth", image_width_px=32, image_height_px=24, quality="fast",
                       prior="expert", randomization=RandomizationRanges(enabled=False),
                       num_obstacles=3, episode_steps=100)  # fmt: skip

    def steer_mse(policy, data) -> float:
        obs = {k: torch.as_tensor(v) for k, v in data[0].items() if k != "privileged"}
        with torch.no_grad():
            mean = policy.get_distribution(obs).distribution.mean[:, STEER_INDEX]
        return float(((mean - torch.as_tensor(data[1], dtype=torch.float32)) ** 2).mean())

    class Watched(TeacherAnchor):
        """Measures each fit's steer error on its own batch, before and after."""

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.errors: list[tuple[float, float]] = []

        def _on_rollout_start(self) -> None:
            if not self._labels:
                return super()._on_rollout_start()
            batch = ({k: np.concatenate(v) for k, v in self._obs.items()},
                     np.concatenate(self._labels))  # fmt: skip
            before = steer_mse(self.model.policy, batch)
            super()._on_rollout_start()
            self.errors.append((before, steer_mse(self.model.policy, batch)))

    model = _anchor_ppo(config)
    anchor = Watched(STEER_INDEX, every=1, epochs=40, learning_rate=3e-3, seed=0)
    model.learn(5 * 128, callback=anchor)  # fits after the 1st to 4th updates
    assert anchor.fits == 4 and len(anchor.errors) == 4
    before, after = np.mean(anchor.errors, axis=0)
    print(f"steer MSE to the teacher on the states it labelled: {before:.3f} -> {after:.3f}")
    assert after < 0.5 * before  # each fit pulls the policy's steer to the labels

    # While the actor is frozen (the critic warm-up) the anchor neither labels nor fits.
    frozen = _anchor_ppo(config)
    for p in frozen.policy.actor_parameters():
        p.requires_grad_(False)
    still = TeacherAnchor(STEER_INDEX, every=1, epochs=10, learning_rate=3e-3, seed=0)
    frozen.learn(3 * 128, callback=still)
    assert still.fits == 0
