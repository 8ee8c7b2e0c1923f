"""Stage 3: PPO on PiDog-v0 (colour camera, IMU, ultrasonic), from the imitation model.

    python3 -m pidog_gaits.train_rl_vision --pretrained IMITATION.pth --output DIR \\
        --timesteps 200000 --envs 4 --device auto [--vision rgb|depth|none] [--seed N] \\
        [--quality medium] [--reward-profile balanced|speed|stable|obstacle|FILE.yaml] \\
        [--resume DIR/checkpoints/rl_model_N_steps.zip]

The policy outputs a bounded residual on the imitation model's joint targets for the gait
the command picks (``envs/prior.py``); without ``--pretrained`` it trains on the scripted
expert (``--prior expert``) or from scratch (``--prior none``). The actor sees only what
PiDog has (``envs/observations.py``: colour camera, IMU, ultrasonic, its own commanded
targets); the critic also sees the simulator's truth (``--critic privileged``,
``envs/asymmetric.py``), and before PPO the actor is cloned from a privileged teacher,
the depth-camera obstacle reflex, with DAgger rounds after the clone; during PPO the
teacher keeps labelling the policy's own states and the steer is pulled towards its labels
(``envs/warm_start.py``: ``TeacherAnchor``). Reads the imitation model;
writes into DIR:

    final_model.zip       SB3's own format (env config inside: ``model.pidog_env_config``)
    final_model.pth       policy weights, DESIGN.md contract (``envs/policy_file.py``)
    final_vecnormalize.pkl  reward-normalization statistics (for --resume)
    warm_start_model.zip  the actor cloned from the teacher, before PPO (with a warm start)
    checkpoints/          rl_model_<steps>_steps.zip + its vecnormalize .pkl
    tensorboard/PPO_1/    curves, reward terms' episode sums under reward_terms/
    rl_config.json        every setting that ran (the profile and its weights included)
    reward_curve.png      mean episode return against steps
    rl_training.log       the log (``--log`` to put it elsewhere)

``--timesteps`` is the total: a resumed run trains what is left and keeps appending to
the same TensorBoard run.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import dataclasses  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import typer  # noqa: E402

from pidog_gaits.envs import rewards  # noqa: E402
from pidog_gaits.envs.asymmetric import CRITICS  # noqa: E402
from pidog_gaits.envs.config import (  # noqa: E402
    PRIORS,
    TRAINING_LATERAL_M,
    TRAINING_OBSTACLES,
    TRAINING_OPEN_FLOOR_PROB,
    VISIONS,
    EnvConfig,
)
from pidog_gaits.gaits.steering import (  # noqa: E402
    HEADING_INTEGRAL_PER_S2,
    HEADING_INTEGRAL_SONAR_GATE_M,
)
from pidog_gaits.sim.randomization import RandomizationRanges  # noqa: E402

log = logging.getLogger("pidog_gaits.rl")


@dataclass
class RLConfig:
    """Stage 3's settings; the CLI and the pipeline fill this one dataclass."""

    output: str = "rl_model"
    """Directory for the models, checkpoints, TensorBoard logs."""
    pretrained: str | None = None
    """Imitation model (.pth) whose targets the policy refines; sets ``prior='imitation'``."""
    prior: str | None = None
    """``imitation``, ``expert`` or ``none``; default: imitation with --pretrained, else expert."""
    timesteps: int = 200_000
    """Total environment steps (all envs together)."""
    envs: int = 4
    """Parallel environments (each its own simulator)."""
    vec_env: str = "auto"
    """``auto`` (measure, keep the fastest), ``dummy`` (in-process, one thread),
    ``threads`` (in-process, one thread per core) or ``subproc``."""
    device: str = "auto"
    """``auto`` (CUDA if present), ``cpu`` or ``cuda``."""
    threads: int = 1
    """Torch CPU threads while the envs step (batch-4 inference: 1 measured fastest)."""
    update_threads: int = 0
    """Torch CPU threads during PPO's updates (minibatches of 256); 0: ``threads``. Off by
    default: on the 2-core CI machine, with another job on the second core, 2 update
    threads measured 303-360 steps/s against 387-469 with 1 (``benchmarks/rl_speed.py``);
    idle, 453-477 against 432-538: no clear gain on two cores."""
    seed: int = 0
    quality: str = "medium"
    """Physics preset the training envs step."""
    vision: str = "rgb"
    """The actor's camera: ``rgb`` (PiDog's), ``depth`` (simulator only) or ``none``."""
    joint_readings: str = "commanded"
    """``commanded`` (PiDog: its servos report nothing) or ``measured`` (feedback servos)."""
    critic: str = "privileged"
    """``privileged``: the value function also sees the simulator's truth
    (``envs.asymmetric``); ``symmetric``: only what the actor sees."""
    image_width_px: int = 32
    """The policy's image width; 32x24: the simulator renders 64x48 and the robot 320x240,
    both averaged down by ``robot.camera.preprocess_frame``."""
    image_height_px: int = 24
    obstacles: int = TRAINING_OBSTACLES
    """Random boxes per episode (0 = open floor)."""
    open_floor_prob: float = TRAINING_OPEN_FLOOR_PROB
    """Share of episodes with no boxes (``EnvConfig.open_floor_prob``)."""
    obstacle_lateral_m: tuple[float, float] = TRAINING_LATERAL_M
    """Where the boxes go across the start line (m): a field, not the evaluation's
    corridor, so walking off at an angle avoids nothing (``EnvConfig.obstacle_lateral_m``)."""
    episode_steps: int = 500
    """Control steps per episode (50 Hz)."""
    reward_profile: str = rewards.DEFAULT_PROFILE
    randomize: bool = True
    """Domain randomization (``RandomizationRanges``) during training."""
    randomization: RandomizationRanges | None = None
    """Ranges to sample from instead of the defaults (sweeps set these)."""
    resume: str | None = None
    """A checkpoint .zip to continue (its vecnormalize .pkl is looked up beside it)."""
    n_steps: int = 256
    """Steps per env per PPO rollout."""
    batch_size: int = 256
    n_epochs: int = 5
    learning_rate: float = 1e-4
    """Adam step: 3e-4 gave approx-KL ~0.05 and ~37 % clipped samples per update around the
    imitation prior; 1e-4 keeps them at ~0.02 and ~16 %."""
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.0
    log_std_init: float = -2.0
    """Initial log std of the action noise: exp(-2) = 0.135 of the residual's range, the
    most white noise the trot takes without falling on an open floor (of gSDE's weights
    with ``use_sde``; gSDE explored more but fell more: see the stage 3 notes)."""
    steering: bool = True
    """A 13th action, ``steer``, bends the prior gait's path (``EnvConfig.steering``)."""
    steer_log_std_init: float = -1.0
    """Initial log std of ``steer``'s noise: exp(-1) = 0.37, wider than the residuals',
    since a steer the robot turns with is smoothed by the slow yaw (0.16 rad/s at 1)."""
    warm_start_steps: int = 40_000
    """Teacher demonstrations (the privileged depth reflex, ``envs.warm_start``) cloned
    into the actor before PPO when it steers, has a camera and boxes (0: off). Not
    counted in ``timesteps``."""
    warm_start_epochs: int = 15
    critic_warmup_steps: int = 40_000
    """After a warm start, PPO's first steps train the critic only
    (``training_log.CriticWarmup``); counted in ``timesteps``."""
    dagger_rounds: int = 2
    """DAgger rounds after the clone (``envs.warm_start``): the student drives, the teacher
    labels, the data are aggregated and the actor refitted (0: clone only). Seed 0, 3
    boxes, 20 episodes: the clone hit 8 boxes, after 2 rounds 4 (the students before PPO)."""
    teacher_anchor_epochs: int = 2
    """After a warm start, the teacher keeps labelling PPO's rollouts and after each update
    the actor's steer is fitted towards its labels for this many passes
    (``warm_start.TeacherAnchor``: online DAgger on the steer; 0: off)."""
    mirror_weight: float = 2.0
    """Weight of the left-right symmetry fit in ``TeacherAnchor`` (``envs.symmetry``): the
    leg residuals towards their mirror-average (0: off). Without it PPO's residuals lean
    one way: one seed stalled its left turns (yaw-rate error 0.083 at 0.2,0.15, 0.014 at
    0.2,-0.15; 0.008 with its residuals zeroed), another walked off its heading once the
    prior held none (0.24 m per m). With it, three seeds turned within 0.012-0.019 rad/s
    both ways and drifted 0.028-0.056 m per m (``benchmarks/results/stage3_mirror_hold.json``).
    It keeps the residuals symmetric, not small: a symmetric stall of the turn is still
    possible (seed 2 with the prior's old heading hold: 0.076 rad/s). 2 since stop 28: at
    weight 1 with the hold's sonar gate, seed 0 stalled half its left turns again (0.076
    rad/s at 0.2,0.15); at 2 the three seeds turned within 0.025 both ways
    (``benchmarks/results/stage3_sonar_gate.json``)."""
    heading_integral_per_s2: float = HEADING_INTEGRAL_PER_S2
    """The heading hold's integral gain (``gaits.steering.HeadingHold``; 0: proportional
    only). Three seeds: 0.010-0.020 m sideways per m at 0.3,0 against 0.028-0.056 without
    (``benchmarks/results/stage3_heading_integral.json``)."""
    heading_sonar_gate_m: float = HEADING_INTEGRAL_SONAR_GATE_M
    """The integral holds still while the ultrasonic hears something nearer (m; 0: no
    gate; ``gaits.steering.HeadingHold``): a detour's start does not wind it up towards
    the box."""
    image_norm: bool = False
    """The colour image standardized per image and channel before the CNN
    (``PiDogFeatures``'s ``image_norm``): the room's colours and light cannot bias the
    steer."""
    use_sde: bool = False
    """Generalized state-dependent exploration: noise held for ``sde_sample_freq`` steps."""
    sde_sample_freq: int = 8
    target_kl: float | None = None
    """Stop a PPO update's epochs early past this KL (``None``: never)."""
    net_arch: list[int] = field(default_factory=lambda: [128, 128])
    checkpoint_every: int = 50_000
    """Steps between checkpoints."""
    log: str | None = None
    """Log file; default DIR/rl_training.log."""
    progress_bar: bool | None = None
    """Show a progress bar; default: when stderr is a terminal."""

    def resolved_prior(self) -> str:
        if self.prior is not None:
            return self.prior
        return "imitation" if self.pretrained else "expert"

    def env_config(self) -> EnvConfig:
        return EnvConfig(
            vision=self.vision,
            joint_readings=self.joint_readings,
            image_width_px=self.image_width_px,
            image_height_px=self.image_height_px,
            quality=self.quality,
            num_obstacles=self.obstacles,
            obstacle_lateral_m=self.obstacle_lateral_m,
            open_floor_prob=self.open_floor_prob if self.obstacles else 0.0,
            episode_steps=self.episode_steps,
            steering=self.steering,
            prior=self.resolved_prior(),
            pretrained=str(Path(self.pretrained).resolve()) if self.pretrained else None,
            randomization=dataclasses.replace(
                self.randomization or RandomizationRanges(), enabled=self.randomize
            ),
            reward_profile=self.reward_profile,
            heading_integral_per_s2=self.heading_integral_per_s2,
            heading_integral_sonar_gate_m=self.heading_sonar_gate_m,
        )


# --------------------------------------------------------------------------- helpers
def setup_logging(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    log.setLevel(logging.INFO)
    log.handlers.clear()
    fmt = logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S")
    for handler in (logging.FileHandler(path), logging.StreamHandler(sys.stderr)):
        handler.setFormatter(fmt)
        log.addHandler(handler)
    log.propagate = False


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}; choose auto, cpu or cuda")
    return device


def vecnormalize_path(checkpoint: Path) -> Path:
    """The stats file SB3's CheckpointCallback writes next to ``rl_model_N_steps.zip``."""
    name = checkpoint.name
    if name.endswith("_steps.zip") and name.startswith("rl_model_"):
        steps = name[len("rl_model_") : -len("_steps.zip")]
        return checkpoint.with_name(f"rl_model_vecnormalize_{steps}_steps.pkl")
    return checkpoint.with_name("final_vecnormalize.pkl")


def check_checkpoint_matches(checkpoint: Path, env_cfg: EnvConfig) -> None:
    """``ValueError`` unless the checkpoint's observations are the ones ``env_cfg`` makes."""
    from stable_baselines3.common.save_util import load_from_zip_file

    from pidog_gaits.envs.pidog_env import observation_space

    try:
        data, _, _ = load_from_zip_file(checkpoint, load_data=True, device="cpu")
    except Exception as exc:  # noqa: BLE001 - an unreadable file is the user's error
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"{checkpoint}: not an SB3 checkpoint ({why})") from None
    if data is None or data.get("observation_space") != observation_space(env_cfg):
        raise ValueError(
            f"{checkpoint}: its observations differ from this run's "
            "(--vision / --image-size must match the run it came from)"
        )


def validate(cfg: RLConfig) -> EnvConfig:
    """Every user error as a ``ValueError``/``FileNotFoundError`` before any work starts."""
    if cfg.timesteps < 1:
        raise ValueError("--timesteps must be >= 1")
    if cfg.envs < 1:
        raise ValueError("--envs must be >= 1")
    if cfg.warm_start_steps < 0:
        raise ValueError("--warm-start-steps must be >= 0")
    if cfg.warm_start_epochs < 1:
        raise ValueError("--warm-start-epochs must be >= 1")
    if cfg.critic_warmup_steps < 0:
        raise ValueError("--critic-warmup-steps must be >= 0")
    if cfg.teacher_anchor_epochs < 0:
        raise ValueError("--teacher-anchor-epochs must be >= 0")
    if cfg.mirror_weight < 0.0:
        raise ValueError("--mirror-weight must be >= 0")
    if cfg.dagger_rounds < 0:
        raise ValueError("--dagger-rounds must be >= 0")
    from pidog_gaits.envs.vec import VEC_KINDS

    if cfg.vec_env not in VEC_KINDS:
        raise ValueError(f"unknown --vec-env {cfg.vec_env!r}; choose {', '.join(VEC_KINDS)}")
    if cfg.prior is not None and cfg.prior not in PRIORS:
        raise ValueError(f"unknown --prior {cfg.prior!r}; choose one of {', '.join(PRIORS)}")
    if cfg.pretrained and cfg.prior not in (None, "imitation"):
        raise ValueError(f"--pretrained conflicts with --prior {cfg.prior}")
    if cfg.vision not in VISIONS:
        raise ValueError(f"unknown --vision {cfg.vision!r}; choose one of {', '.join(VISIONS)}")
    if cfg.critic not in CRITICS:
        raise ValueError(f"unknown --critic {cfg.critic!r}; choose one of {', '.join(CRITICS)}")
    if cfg.pretrained:
        from pidog_gaits.envs.prior import load_imitation_controller

        load_imitation_controller(cfg.pretrained)  # FileNotFoundError / ValueError
    if cfg.resume:
        resume = Path(cfg.resume)
        if not resume.is_file():
            raise FileNotFoundError(f"checkpoint not found: {resume}")
        check_checkpoint_matches(resume, cfg.env_config())
        stats = vecnormalize_path(resume)
        if not stats.is_file():
            raise FileNotFoundError(f"normalization statistics not found next to it: {stats}")
    if cfg.batch_size > cfg.n_steps * cfg.envs:
        raise ValueError("--batch-size exceeds one rollout (n_steps * envs)")
    resolve_device(cfg.device)
    return cfg.env_config().validate()


# --------------------------------------------------------------------------- training
def train(cfg: RLConfig) -> dict:
    """Run stage 3 as configured; returns the paths written and the figures measured."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import CallbackList, CheckpointCallback
    from stable_baselines3.common.utils import set_random_seed
    from stable_baselines3.common.vec_env import VecNormalize

    from pidog_gaits.envs.asymmetric import PiDogActorCriticPolicy
    from pidog_gaits.envs.policy_file import save_policy
    from pidog_gaits.envs.training_log import (
        CriticWarmup,
        TrainingLogCallback,
        UpdateThreads,
        plot_reward_curve,
    )
    from pidog_gaits.envs.vec import make_vec_env, pick_vec_env
    from pidog_gaits.envs.warm_start import TeacherAnchor, can_warm_start, warm_start_steering
    from pidog_gaits.gaits.steering import STEER_INDEX

    env_cfg = validate(cfg)
    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    setup_logging(Path(cfg.log) if cfg.log else out / "rl_training.log")
    device = resolve_device(cfg.device)
    torch.set_num_threads(cfg.threads)
    torch.distributions.Distribution.set_default_validate_args(False)  # hot-path checks
    set_random_seed(cfg.seed)

    weights = env_cfg.weights()
    record = {
        "rl": dataclasses.asdict(cfg),
        "env": env_cfg.as_dict(),
        "device": device,
        "torch_threads": cfg.threads,
    }
    log.info("stage 3: PPO on PiDog-v0, %d steps, %d envs, %s physics, vision %s %dx%d, "
             "joints %s, critic %s", cfg.timesteps, cfg.envs, env_cfg.quality, env_cfg.vision,
             env_cfg.image_width_px, env_cfg.image_height_px, env_cfg.joint_readings,
             cfg.critic)  # fmt: skip
    log.info("prior: %s%s", env_cfg.prior, f" ({env_cfg.pretrained})" if env_cfg.pretrained else "")
    log.info("reward profile %s: %s", cfg.reward_profile, json.dumps(weights))

    vec_kind = cfg.vec_env
    if vec_kind == "auto":
        vec_kind, rates = pick_vec_env(env_cfg, cfg.envs)
        record["vec_env_steps_per_s"] = rates
        log.info("vec env: %s (measured env steps/s: %s)", vec_kind,
                 {k: round(v) for k, v in rates.items()})  # fmt: skip
    record["vec_env"] = vec_kind
    venv = make_vec_env(env_cfg, cfg.envs, vec_kind, seed=cfg.seed)

    done_steps = 0
    if cfg.resume:
        resume = Path(cfg.resume)
        venv = VecNormalize.load(str(vecnormalize_path(resume)), venv)
        model = PPO.load(resume, env=venv, device=device, tensorboard_log=str(out / "tensorboard"))
        done_steps = model.num_timesteps
        log.info("resumed from %s at %d steps", resume, done_steps)
    else:
        venv = VecNormalize(venv, norm_obs=False, norm_reward=True, gamma=cfg.gamma)
        model = PPO(
            PiDogActorCriticPolicy,
            venv,
            n_steps=cfg.n_steps,
            batch_size=cfg.batch_size,
            n_epochs=cfg.n_epochs,
            learning_rate=cfg.learning_rate,
            gamma=cfg.gamma,
            gae_lambda=cfg.gae_lambda,
            clip_range=cfg.clip_range,
            ent_coef=cfg.ent_coef,
            use_sde=cfg.use_sde,
            sde_sample_freq=cfg.sde_sample_freq,
            target_kl=cfg.target_kl,
            policy_kwargs={
                "net_arch": {"pi": list(cfg.net_arch), "vf": list(cfg.net_arch)},
                "log_std_init": cfg.log_std_init,
                "critic": cfg.critic,
                "features_extractor_kwargs": {"image_norm": cfg.image_norm},
            },
            tensorboard_log=str(out / "tensorboard"),
            seed=cfg.seed,
            device=device,
            verbose=0,
        )
        if env_cfg.steering and not cfg.use_sde:
            with torch.no_grad():
                model.policy.log_std[STEER_INDEX] = cfg.steer_log_std_init
        if cfg.warm_start_steps > 0 and can_warm_start(env_cfg):
            record["warm_start"] = warm_start_steering(
                model.policy, env_cfg, cfg.warm_start_steps, cfg.envs, cfg.seed + 7919,
                epochs=cfg.warm_start_epochs, vec_kind=vec_kind, dagger_rounds=cfg.dagger_rounds,
            )  # fmt: skip
    model.pidog_env_config = env_cfg.as_dict()  # saved inside every zip (SB3 keeps attributes)
    if "warm_start" in record:  # the student before PPO: what PPO adds is measurable
        model.save(out / "warm_start_model.zip")
    (out / "rl_config.json").write_text(json.dumps(record, indent=2) + "\n")

    remaining = cfg.timesteps - done_steps
    if remaining <= 0:
        log.info("nothing left to train: %d of %d steps done", done_steps, cfg.timesteps)
    per_env = max(cfg.checkpoint_every // cfg.envs, 1)
    checkpoints = CheckpointCallback(per_env, str(out / "checkpoints"), "rl_model",
                                     save_vecnormalize=True)  # fmt: skip
    progress = cfg.progress_bar if cfg.progress_bar is not None else sys.stderr.isatty()
    training_log = TrainingLogCallback(log, cfg.timesteps)
    thread_switch = UpdateThreads(cfg.threads, cfg.update_threads or cfg.threads)
    callbacks = [checkpoints, training_log, thread_switch]
    if "warm_start" in record and cfg.critic_warmup_steps > 0:
        callbacks.append(CriticWarmup(cfg.critic_warmup_steps, log))
    if "warm_start" in record and cfg.teacher_anchor_epochs > 0:
        callbacks.append(TeacherAnchor(STEER_INDEX, epochs=cfg.teacher_anchor_epochs,
                                       seed=cfg.seed + 104729,
                                       mirror_weight=cfg.mirror_weight))  # fmt: skip
    t0 = time.perf_counter()
    if remaining > 0:
        model.learn(
            total_timesteps=remaining,
            callback=CallbackList(callbacks),
            tb_log_name="PPO",
            reset_num_timesteps=not cfg.resume,
            progress_bar=progress,
        )
    wall_s = time.perf_counter() - t0
    torch.set_num_threads(cfg.threads)  # the last update left it at update_threads
    trained = model.num_timesteps - done_steps

    model.save(out / "final_model.zip")
    venv.save(str(out / "final_vecnormalize.pkl"))
    save_policy(model.policy, env_cfg, out / "final_model.pth")
    curve = plot_reward_curve(out / "tensorboard", out / "reward_curve.png")
    venv.close()
    figures = {
        "timesteps": model.num_timesteps,
        "trained_steps": trained,
        "wall_s": wall_s,
        "steps_per_s": trained / wall_s if wall_s > 0 else 0.0,
        "vec_env": vec_kind,
        "final_model_zip": str(out / "final_model.zip"),
        "final_model_pth": str(out / "final_model.pth"),
        "reward_curve_png": str(curve) if curve else None,
    }
    log.info("done: %d steps in %.0f s (%.0f steps/s); wrote %s", model.num_timesteps, wall_s,
             figures["steps_per_s"], out / "final_model.zip")  # fmt: skip
    return figures


# --------------------------------------------------------------------------- CLI
app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])


@app.command()
def cli(
    pretrained: Path | None = typer.Option(None, help="Imitation model (.pth) to refine."),
    output: Path = typer.Option(Path("rl_model"), help="Output directory."),
    timesteps: int = typer.Option(200_000, help="Total environment steps."),
    envs: int = typer.Option(4, help="Parallel environments."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    vision: str = typer.Option(
        "rgb", help="Actor's camera: rgb (PiDog's), depth (sim only), none."
    ),
    joint_readings: str = typer.Option(
        "commanded", help="commanded (PiDog) or measured (feedback servos only)."
    ),
    critic: str = typer.Option(
        "privileged", help="privileged (value function sees the sim's truth) or symmetric."
    ),
    image_size: str = typer.Option("32x24", help="Camera image WIDTHxHEIGHT in pixels."),
    seed: int = typer.Option(0, help="Seed of every random source."),
    quality: str = typer.Option("medium", help="Physics preset for training."),
    reward_profile: str = typer.Option(
        rewards.DEFAULT_PROFILE,
        envvar="REWARD_PROFILE",
        help="balanced, speed, stable, obstacle, or a YAML file of {term: weight}.",
    ),
    obstacles: int = typer.Option(
        TRAINING_OBSTACLES, help="Random boxes per episode (0 = open floor)."
    ),
    episode_steps: int = typer.Option(500, help="Control steps per episode (50 Hz)."),
    randomize: bool = typer.Option(True, help="Domain randomization during training."),
    prior: str | None = typer.Option(
        None, help="imitation, expert or none (from scratch); default from --pretrained."
    ),
    resume: Path | None = typer.Option(None, help="Checkpoint .zip to continue."),
    vec_env: str = typer.Option("auto", help="auto (measure), dummy, threads or subproc."),
    threads: int = typer.Option(1, help="Torch CPU threads while the envs step."),
    update_threads: int = typer.Option(0, help="Torch threads in PPO updates (0: --threads)."),
    n_steps: int = typer.Option(256, help="PPO steps per env per rollout."),
    batch_size: int = typer.Option(256, help="PPO minibatch size."),
    n_epochs: int = typer.Option(5, help="PPO epochs per rollout."),
    learning_rate: float = typer.Option(1e-4, help="Adam learning rate."),
    log_std_init: float = typer.Option(-2.0, help="Initial log std of the action noise."),
    steering: bool = typer.Option(True, help="A 13th action that steers the prior gait."),
    steer_log_std_init: float = typer.Option(-1.0, help="Initial log std of the steer noise."),
    warm_start_steps: int = typer.Option(
        40_000, help="Teacher (privileged reflex) demonstrations cloned into the actor first."
    ),
    warm_start_epochs: int = typer.Option(15, help="Epochs of the teacher clone."),
    critic_warmup_steps: int = typer.Option(
        40_000, help="After a warm start, PPO's first steps train the critic only."
    ),
    dagger_rounds: int = typer.Option(
        2, help="DAgger rounds after the clone: the student drives, the teacher labels."
    ),
    teacher_anchor_epochs: int = typer.Option(
        2,
        help="After a warm start: passes of the teacher's labels on each PPO rollout "
        "fitted into the actor's steer after each update (0: off).",
    ),
    mirror_weight: float = typer.Option(
        RLConfig.mirror_weight,
        help="Weight of the left-right symmetry fit of the leg residuals (0: off).",
    ),
    heading_integral: float = typer.Option(
        RLConfig.heading_integral_per_s2,
        help="Integral gain of the heading hold (1/s^2; 0: proportional only).",
    ),
    heading_sonar_gate: float = typer.Option(
        RLConfig.heading_sonar_gate_m,
        help="The hold's integral holds still while the ultrasonic hears something "
        "nearer than this (m; 0: no gate).",
    ),
    image_norm: bool = typer.Option(
        RLConfig.image_norm,
        help="Standardize the colour image per image and channel before the CNN.",
    ),
    use_sde: bool = typer.Option(False, help="State-dependent exploration (gSDE)."),
    sde_sample_freq: int = typer.Option(8, help="Steps between gSDE noise draws."),
    target_kl: float | None = typer.Option(None, help="Early-stop an update past this KL."),
    checkpoint_every: int = typer.Option(50_000, help="Steps between checkpoints."),
    log_file: Path | None = typer.Option(
        None, "--log", help="Log file (default DIR/rl_training.log)."
    ),
    progress_bar: bool | None = typer.Option(None, help="Progress bar (default: on a terminal)."),
    json_out: str | None = typer.Option(None, "--json", help="Write the figures to PATH or -."),
) -> None:
    """Stage 3: PPO with the colour camera, IMU and ultrasonic, from the imitation model."""
    from pidog_gaits.cli import fail
    from pidog_gaits.results import emit

    try:
        width, height = (int(x) for x in image_size.lower().split("x"))
    except ValueError:
        fail(f"--image-size: expected WIDTHxHEIGHT, got {image_size!r}")
    cfg = RLConfig(
        output=str(output),
        pretrained=str(pretrained) if pretrained else None,
        prior=prior,
        timesteps=timesteps,
        envs=envs,
        vec_env=vec_env,
        device=device,
        threads=threads,
        update_threads=update_threads,
        seed=seed,
        quality=quality,
        vision=vision,
        joint_readings=joint_readings,
        critic=critic,
        image_width_px=width,
        image_height_px=height,
        obstacles=obstacles,
        episode_steps=episode_steps,
        reward_profile=reward_profile,
        randomize=randomize,
        resume=str(resume) if resume else None,
        n_steps=n_steps,
        batch_size=batch_size,
        n_epochs=n_epochs,
        learning_rate=learning_rate,
        log_std_init=log_std_init,
        steering=steering,
        steer_log_std_init=steer_log_std_init,
        warm_start_steps=warm_start_steps,
        warm_start_epochs=warm_start_epochs,
        critic_warmup_steps=critic_warmup_steps,
        dagger_rounds=dagger_rounds,
        teacher_anchor_epochs=teacher_anchor_epochs,
        mirror_weight=mirror_weight,
        heading_integral_per_s2=heading_integral,
        heading_sonar_gate_m=heading_sonar_gate,
        image_norm=image_norm,
        use_sde=use_sde,
        sde_sample_freq=sde_sample_freq,
        target_kl=target_kl,
        checkpoint_every=checkpoint_every,
        log=str(log_file) if log_file else None,
        progress_bar=progress_bar,
    )
    try:
        validate(cfg)
    except (ValueError, FileNotFoundError) as exc:
        fail(str(exc))
    figures = train(cfg)
    emit(figures, json_out, title="stage 3 (PPO)")


def main(argv: list[str] | None = None, prog_name: str = "train_rl_vision") -> int:
    from pidog_gaits.cli import run_typer

    return run_typer(app, argv, prog_name)


if __name__ == "__main__":
    raise SystemExit(main())
