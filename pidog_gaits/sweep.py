"""Hyperparameter, reward and randomization sweeps of stage 3 on Ray Tune.

    pidog-gaits sweep --trials 8 --timesteps 100000 --output sweeps/first \\
        [--space sweep.yaml] [--address HEAD_IP:PORT|auto|ray://HOST:10001] \\
        [--cpus-per-trial 1] [--gpus-per-trial 0] [--pretrained IMIT.pth] [--json PATH|-]

Ray is the engine: a fresh embedded local Ray by default, a cluster with ``--address``
(token authentication: README, "Sweeps on Ray Tune"). Each
trial is a real stage 3 run (``train_rl_vision.train``) in its own directory, trained in
``--reports`` slices; after each slice the policy is evaluated with deterministic actions
(``evaluate.evaluate``) and the metric goes to Tune, so ASHA stops weak trials early.
Writes into OUTPUT:

    trials/<trial>/       each trial's stage 3 output (models, TensorBoard, reward.yaml)
    imitation/            the small imitation model made when --pretrained is not given
    results.csv           one row per trial: parameters, metric, steps, status
    trials.png            every trial's metric against training steps
    best_model/           the best trial's final_model.zip/.pth and its settings
    sweep.json            the same figures as --json
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import contextlib  # noqa: E402
import csv  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import typer  # noqa: E402
import yaml  # noqa: E402

from pidog_gaits.cli import run_typer  # noqa: E402
from pidog_gaits.results import emit, write_json_atomic  # noqa: E402

DEFAULT_SPACE_YAML = Path(__file__).resolve().parent / "sweep_space.yaml"
SAMPLERS = ("uniform", "loguniform", "choice", "randint")
PARAM_GROUPS = ("ppo", "reward", "randomization")
PPO_KEYS = ("learning_rate", "ent_coef", "clip_range", "gamma", "gae_lambda", "n_epochs")
METRICS = {"mean_return": "max", "mean_forward_velocity_mps": "max", "falls": "min"}


@dataclass(frozen=True)
class SweepConfig:
    """One sweep. Fields mirror the CLI options."""

    output: str
    """Folder for trials, results.csv, trials.png, best_model/."""
    trials: int = 4
    """Number of sampled configurations (Tune's num_samples)."""
    timesteps: int = 50_000
    """PPO steps per trial if it is not stopped early."""
    space: str | None = None
    """YAML search space; None = the shipped ``sweep_space.yaml``."""
    address: str | None = None
    """Ray cluster: None = start a fresh embedded local Ray; ``HOST:PORT``, ``auto`` or
    ``ray://HOST:PORT``."""
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    pretrained: str | None = None
    """Imitation model (.pth); None = train a small one on the spot."""
    metric: str = "mean_return"
    """Evaluation figure ASHA and the best-trial choice use (``METRICS``)."""
    reports: int = 3
    """Evaluations per trial (ASHA's rungs); training runs in that many slices."""
    eval_episodes: int = 3
    eval_quality: str = "fast"
    """Physics for the in-sweep evaluations (the final one of the best model is yours)."""
    quality: str = "medium"
    """Physics for training."""
    envs: int = 2
    vision: str = "depth"
    episode_steps: int = 500
    reward_profile: str = "balanced"
    """Profile whose weights the sampled ``reward.*`` values override."""
    seed: int = 0

    @property
    def mode(self) -> str:
        return METRICS[self.metric]


# --------------------------------------------------------------------------- search space
def load_space(path: str | None) -> dict[str, dict]:
    """Read and check a search space: ``{group.name: {sampler: args}}``.

    Groups: ``ppo.*`` (``PPO_KEYS``), ``reward.*`` (terms of ``envs/rewards.py``),
    ``randomization.*`` (fields of ``RandomizationRanges``, sampled as ``[low, high]``).
    """
    from pidog_gaits.envs import rewards
    from pidog_gaits.sim.randomization import RandomizationRanges

    file = Path(path) if path else DEFAULT_SPACE_YAML
    if not file.is_file():
        raise FileNotFoundError(f"search space not found: {file}")
    try:
        space = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{file}: not valid YAML ({exc})") from None
    if not isinstance(space, dict) or not space:
        raise ValueError(f"{file}: expected a mapping of parameter to sampler")
    ranges = {f.name for f in dataclasses.fields(RandomizationRanges)} - {"enabled", "overrides"}
    for key, spec in space.items():
        group, _, name = str(key).partition(".")
        if group not in PARAM_GROUPS or not name:
            raise ValueError(
                f"{file}: {key!r} must be one of {', '.join(g + '.*' for g in PARAM_GROUPS)}"
            )
        valid = {
            "ppo": PPO_KEYS,
            "reward": tuple(rewards.REWARD_FUNCTIONS),
            "randomization": ranges,
        }[group]
        if name not in valid:
            raise ValueError(
                f"{file}: unknown {group} parameter {name!r}; valid: {', '.join(valid)}"
            )
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in SAMPLERS:
            raise ValueError(f"{file}: {key}: give one sampler of {', '.join(SAMPLERS)}")
    return space


def tune_space(space: dict[str, dict]) -> dict:
    """The Ray Tune param_space for a checked search space."""
    from ray import tune

    out = {}
    for key, spec in space.items():
        sampler, args = next(iter(spec.items()))
        if sampler == "choice":
            out[key] = tune.choice(list(args))
        else:
            out[key] = getattr(tune, sampler)(*args)
    return out


# --------------------------------------------------------------------------- one trial
def rl_config_for(params: dict, sweep: SweepConfig, trial_dir: Path, pretrained: str):
    """The stage 3 settings of one trial: sweep defaults plus the sampled parameters."""
    from pidog_gaits.envs import rewards
    from pidog_gaits.sim.randomization import RandomizationRanges
    from pidog_gaits.train_rl_vision import RLConfig

    weights = dict(rewards.load_profile(sweep.reward_profile))
    ppo, ranges = {}, {}
    for key, value in params.items():
        group, _, name = key.partition(".")
        if group == "ppo":
            ppo[name] = int(value) if name == "n_epochs" else float(value)
        elif group == "reward":
            weights[name] = float(value)
        else:
            ranges[name] = tuple(float(v) for v in value)
    trial_dir.mkdir(parents=True, exist_ok=True)
    reward_yaml = trial_dir / "reward.yaml"
    reward_yaml.write_text(yaml.safe_dump(weights, sort_keys=True))
    return RLConfig(
        output=str(trial_dir),
        pretrained=pretrained,
        timesteps=sweep.timesteps,
        envs=sweep.envs,
        vec_env="dummy",
        device="auto",
        seed=sweep.seed,
        quality=sweep.quality,
        vision=sweep.vision,
        episode_steps=sweep.episode_steps,
        reward_profile=str(reward_yaml),
        randomization=RandomizationRanges(**ranges),
        checkpoint_every=10**12,  # slices end in final_model.zip; no extra checkpoints
        progress_bar=False,
        **ppo,
    )


def slice_steps(total: int, reports: int, rollout: int) -> list[int]:
    """Cumulative step targets of each slice, whole PPO rollouts each."""
    rollouts = max(1, math.ceil(total / rollout))
    reports = min(reports, rollouts)
    return [math.ceil(rollouts * (k + 1) / reports) * rollout for k in range(reports)]


def run_trial(params: dict, sweep: SweepConfig, output: str, pretrained: str) -> None:
    """Ray Tune trainable: train in slices, evaluate after each, report to Tune."""
    from ray import tune

    from pidog_gaits.evaluate import EvalConfig, evaluate
    from pidog_gaits.train_rl_vision import train

    trial_id = tune.get_context().get_trial_id()
    trial_dir = Path(output) / "trials" / trial_id
    rl = rl_config_for(params, sweep, trial_dir, pretrained)
    start = time.perf_counter()
    for target in slice_steps(sweep.timesteps, sweep.reports, rl.n_steps * rl.envs):
        resume = trial_dir / "final_model.zip"
        train(
            dataclasses.replace(
                rl, timesteps=target, resume=str(resume) if resume.exists() else None
            )
        )
        figures = evaluate(
            EvalConfig(
                model=str(resume),
                episodes=sweep.eval_episodes,
                quality=sweep.eval_quality,
                seed=10_000,
            )
        )
        tune.report(
            {
                sweep.metric: figures[sweep.metric],
                "timesteps": target,
                "mean_return": figures["mean_return"],
                "mean_forward_velocity_mps": figures["mean_forward_velocity_mps"],
                "mean_episode_length": figures["mean_episode_length"],
                "falls": figures["falls"],
                "collisions": figures["collisions"],
                "wall_s": time.perf_counter() - start,
                "trial_dir": str(trial_dir),
            }
        )


# --------------------------------------------------------------------------- the sweep
def small_imitation_model(output: Path, seed: int) -> Path:
    """A quick imitation model for the prior: 12 s of every gait, densely sampled, an MLP.

    The settings are the closed-loop test's, which walk 96-99% of the expert's distance;
    sparser data or fewer epochs walk much worse (walking is sensitive to model error).
    """
    from pidog_gaits.data_collector import CollectConfig, collect
    from pidog_gaits.train import TrainConfig, train

    folder = output / "imitation"
    model = folder / "best_model.pth"
    if model.is_file():
        return model
    data_path, _ = collect(
        CollectConfig(
            duration_s=12.0,
            output_dir=folder / "data",
            quality="fast",
            seed=seed,
            burst_every_steps=50,
        )  # fmt: skip
    )
    train(TrainConfig(data=str(data_path), model="mlp", epochs=150, batch_size=128,
                      device="cpu", save_dir=folder, seed=seed))  # fmt: skip
    return model


def check(sweep: SweepConfig) -> dict[str, dict]:
    """Every user error before Ray starts; returns the checked search space."""
    from pidog_gaits.envs.config import VISIONS
    from pidog_gaits.sim.physics import get_preset

    if sweep.trials < 1:
        raise ValueError("--trials must be >= 1")
    if sweep.timesteps < 1:
        raise ValueError("--timesteps must be >= 1")
    if sweep.reports < 1:
        raise ValueError("--reports must be >= 1")
    if sweep.metric not in METRICS:
        raise ValueError(f"unknown --metric {sweep.metric!r}; choose one of {', '.join(METRICS)}")
    if sweep.cpus_per_trial <= 0 or sweep.gpus_per_trial < 0:
        raise ValueError("--cpus-per-trial must be > 0 and --gpus-per-trial >= 0")
    if sweep.vision not in VISIONS:
        raise ValueError(f"unknown --vision {sweep.vision!r}; choose one of {', '.join(VISIONS)}")
    get_preset(sweep.quality)
    get_preset(sweep.eval_quality)
    if sweep.pretrained:
        from pidog_gaits.neural_network import load_checkpoint

        load_checkpoint(sweep.pretrained)  # FileNotFoundError / ValueError: one line
    if Path(sweep.output).is_file():
        raise ValueError(f"--output {sweep.output} is a file")
    return load_space(sweep.space)


def write_outputs(out: Path, rows: list[dict], sweep: SweepConfig) -> dict:
    """results.csv, trials.png and best_model/ from the finished trials."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    finished = [r for r in rows if r["metric"] is not None]
    if not finished:
        raise RuntimeError("no trial reported a result; see the trial logs under trials/")
    pick = max if sweep.mode == "max" else min
    best = pick(finished, key=lambda r: r["metric"])
    fields = ["trial", "status", "metric", "timesteps", "wall_s", "stopped_early"]
    params = sorted({k for r in rows for k in r["params"]})
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(fields + params + ["mean_forward_velocity_mps", "falls"])
        for r in rows:
            writer.writerow([r[f] for f in fields] + [r["params"].get(p) for p in params]
                            + [r.get("mean_forward_velocity_mps"), r.get("falls")])  # fmt: skip
    fig, ax = plt.subplots(figsize=(7, 4))
    for r in rows:
        steps = [h["timesteps"] for h in r["history"]]
        values = [h[sweep.metric] for h in r["history"]]
        style = "-o" if r is best else "--o"
        ax.plot(steps, values, style, label=f"{r['trial']}{' (best)' if r is best else ''}")
    ax.set_xlabel("PPO steps")
    ax.set_ylabel(f"evaluation {sweep.metric}")
    ax.set_title(f"{len(rows)} trials, ASHA early stopping")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "trials.png", dpi=110)
    plt.close(fig)
    best_dir = out / "best_model"
    best_dir.mkdir(exist_ok=True)
    for name in ("final_model.zip", "final_model.pth", "final_vecnormalize.pkl", "reward.yaml",
                 "rl_config.json"):  # fmt: skip
        src = Path(best["trial_dir"]) / name
        if src.is_file():
            shutil.copy2(src, best_dir / name)
    write_json_atomic(best_dir / "params.json", best["params"])
    return best


# --------------------------------------------------------------------------- Ray
class RayConnectError(ConnectionError):
    """Ray could not join the cluster at ``--address``; the message is one line."""


def ray_token_available() -> bool:
    """A token where Ray looks for one: ``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH``, or
    ``~/.ray/auth_token``."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return True
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    return Path(path).is_file() if path else (Path.home() / ".ray" / "auth_token").is_file()


def use_token_auth() -> bool:
    """Turn Ray's token authentication on for this driver when a token is at hand.

    Ray does this itself for ``--address auto`` but never for an explicit address, whose
    head then refuses the driver (``InvalidAuthToken``). ``RAY_AUTH_MODE`` set by the user
    wins (``disabled`` for a head started without authentication).
    """
    mode = os.environ.get("RAY_AUTH_MODE")
    if mode is not None:
        return mode.lower() == "token"
    if not ray_token_available():
        return False
    os.environ["RAY_AUTH_MODE"] = "token"
    try:  # Ray caches the mode once read; re-read it (what Ray's own helper does)
        from ray._raylet import Config

        Config.initialize("")
    except (ImportError, AttributeError):  # pragma: no cover - another Ray version
        pass
    return True


def _host_port(address: str) -> tuple[str, int] | None:
    rest = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout_s: float = 10.0) -> None:
    """``RayConnectError`` unless something listens at ``address``'s host and port.

    Ray would retry an address nobody answers for minutes, deaf to SIGTERM meanwhile.
    """
    import socket

    parsed = _host_port(address)
    if parsed is None:
        raise RayConnectError(f"--address {address}: expected HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection(parsed, timeout=timeout_s).close()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise RayConnectError(
            f"cannot reach the Ray head at {address} ({why}); is `ray start --head` running "
            "there, and the port open?"
        ) from None


def connect_ray(address: str | None) -> None:
    """Start a fresh embedded Ray (``address`` None), or join the cluster at ``address``.

    Without an address Ray would attach to the cluster it last recorded on this machine
    (``RAY_ADDRESS``, ``/tmp/ray/ray_current_cluster``), even a dead one; ``local``
    always starts a new one.
    """
    import ray

    options = dict(include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
                   configure_logging=False)  # fmt: skip
    if address is None:
        ray.init(address="local", **options)
        return
    if address != "auto":
        check_reachable(address)
        use_token_auth()  # Ray does it itself for auto
    with tempfile.TemporaryFile() as log, _stderr_to(log):
        try:
            ray.init(address=address, **options)
            failure = None
        except Exception as exc:  # noqa: BLE001 - Ray's errors share no base class
            ray.shutdown()
            failure = exc
        log.seek(0)
        said = log.read().decode(errors="replace")
    if failure is None:
        sys.stderr.write(said)  # what Ray said while connecting, now that it worked
        return
    raise RayConnectError(f"cannot join the Ray cluster at {address}: {_reason(failure)}")


def _reason(exc: BaseException) -> str:
    """One line: the root cause's last line (Ray wraps it in ``Failed to connect``, and its
    message may hold a whole remote traceback, which ends with the error)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    why = lines[-1] if lines else type(exc).__name__
    if "InvalidAuthToken" in why or "AuthenticationError" in why:
        return (
            "the head uses token authentication and refused this machine's token "
            "(InvalidAuthToken): give it the head's token in ~/.ray/auth_token, "
            "RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH (see the README)"
        )
    return why if len(why) <= 300 else why[:297] + "..."


@contextlib.contextmanager
def _stderr_to(file):
    """Send file descriptor 2 (Ray's C++ logs write there directly) to ``file``."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(file.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def run_sweep(sweep: SweepConfig) -> dict:
    """Run the sweep; returns ``{trials, best_trial, best_metric, ...}``."""
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    space = check(sweep)
    out = Path(sweep.output).resolve()
    out.mkdir(parents=True, exist_ok=True)
    pretrained = str(Path(sweep.pretrained).resolve()) if sweep.pretrained else None
    t0 = time.perf_counter()
    connect_ray(sweep.address)  # first: a cluster that is not there fails at once
    ray_start_s = time.perf_counter() - t0
    try:
        if pretrained is None:
            pretrained = str(small_imitation_model(out, sweep.seed))
        trainable = tune.with_resources(
            tune.with_parameters(run_trial, sweep=sweep, output=str(out), pretrained=pretrained),
            {"cpu": sweep.cpus_per_trial, "gpu": sweep.gpus_per_trial},
        )
        tuner = tune.Tuner(
            trainable,
            param_space=tune_space(space),
            tune_config=tune.TuneConfig(
                metric=sweep.metric,
                mode=sweep.mode,
                num_samples=sweep.trials,
                scheduler=ASHAScheduler(max_t=sweep.reports, grace_period=1, reduction_factor=2),
            ),
            run_config=tune.RunConfig(
                name="tune", storage_path=str(out / "ray_results"), verbose=0
            ),  # fmt: skip
        )
        grid = tuner.fit()
    finally:
        ray.shutdown()
    rows = []
    for result in grid:
        frame = result.metrics_dataframe
        history = frame.to_dict("records") if frame is not None else []
        last = history[-1] if history else {}
        trial_dir = last.get("trial_dir")
        rows.append(
            {
                "trial": Path(trial_dir).name if trial_dir else "?",
                "status": "error" if result.error else "done",
                "params": {k: v for k, v in result.config.items()},
                "metric": last.get(sweep.metric),
                "timesteps": last.get("timesteps"),
                "wall_s": last.get("wall_s"),
                "stopped_early": bool(history) and len(history) < sweep.reports,
                "mean_forward_velocity_mps": last.get("mean_forward_velocity_mps"),
                "falls": last.get("falls"),
                "trial_dir": trial_dir,
                "history": [{k: h.get(k) for k in ("timesteps", sweep.metric)} for h in history],
            }
        )
    best = write_outputs(out, rows, sweep)
    figures = {
        "trials": rows,
        "best_trial": best["trial"],
        "best_metric": best["metric"],
        "metric": sweep.metric,
        "mode": sweep.mode,
        "best_model": str(out / "best_model" / "final_model.zip"),
        "results_csv": str(out / "results.csv"),
        "plot": str(out / "trials.png"),
        "ray_start_s": ray_start_s,
        "wall_s": time.perf_counter() - t0,
        "settings": dataclasses.asdict(sweep),
    }
    write_json_atomic(out / "sweep.json", figures)
    return figures


# --------------------------------------------------------------------------- CLI
app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])


@app.command()
def cli(
    output: Path = typer.Option(..., help="Folder for the trials and results."),
    trials: int = typer.Option(4, help="Configurations to sample."),
    timesteps: int = typer.Option(50_000, help="PPO steps per trial (if not stopped early)."),
    space: Path | None = typer.Option(None, help="YAML search space (default: the shipped one)."),
    address: str | None = typer.Option(
        None, help="Ray cluster: HOST:PORT, auto or ray://HOST:PORT; default: a fresh local Ray."
    ),
    cpus_per_trial: float = typer.Option(1.0, help="CPUs Ray reserves per trial."),
    gpus_per_trial: float = typer.Option(0.0, help="GPUs Ray reserves per trial."),
    pretrained: Path | None = typer.Option(None, help="Imitation model; default: make one."),
    metric: str = typer.Option("mean_return", help=f"One of {', '.join(METRICS)}."),
    reports: int = typer.Option(3, help="Evaluations per trial (ASHA rungs)."),
    eval_episodes: int = typer.Option(3, help="Episodes per evaluation."),
    eval_quality: str = typer.Option("fast", help="Physics of the in-sweep evaluations."),
    quality: str = typer.Option("medium", help="Physics for training."),
    envs: int = typer.Option(2, help="Parallel envs per trial."),
    vision: str = typer.Option("depth", help="depth, rgb or none."),
    episode_steps: int = typer.Option(500, help="Control steps per episode."),
    reward_profile: str = typer.Option("balanced", help="Profile the reward.* values override."),
    seed: int = typer.Option(0, help="Seed of every trial's training."),
    json_out: str | None = typer.Option(None, "--json", help="JSON to PATH, or - for stdout."),
) -> None:
    """Sweep PPO, reward and randomization settings with Ray Tune (ASHA early stopping)."""
    sweep = SweepConfig(
        output=str(output), trials=trials, timesteps=timesteps,
        space=str(space) if space else None, address=address, cpus_per_trial=cpus_per_trial,
        gpus_per_trial=gpus_per_trial, pretrained=str(pretrained) if pretrained else None,
        metric=metric, reports=reports, eval_episodes=eval_episodes, eval_quality=eval_quality,
        quality=quality, envs=envs, vision=vision, episode_steps=episode_steps,
        reward_profile=reward_profile, seed=seed,
    )  # fmt: skip
    try:
        check(sweep)
    except (ValueError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        figures = run_sweep(sweep)
    except RayConnectError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    table = {
        "trials": len(figures["trials"]),
        "best_trial": figures["best_trial"],
        f"best_{sweep.metric}": figures["best_metric"],
        "stopped_early": sum(r["stopped_early"] for r in figures["trials"]),
        "ray_start_s": figures["ray_start_s"],
        "wall_s": figures["wall_s"],
        "best_model": figures["best_model"],
        "results_csv": figures["results_csv"],
        "plot": figures["plot"],
    }
    if json_out == "-":
        emit(figures, "-")
    else:
        emit(table, None, title="sweep")
        if json_out:
            write_json_atomic(json_out, figures)
    (Path(output) / "sweep_table.json").write_text(json.dumps(table, indent=2) + "\n")


def main(argv: list[str] | None = None, prog_name: str = "pidog-gaits sweep") -> int:
    return run_typer(app, argv, prog_name)


if __name__ == "__main__":
    raise SystemExit(main())
