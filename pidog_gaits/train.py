"""Stage 2: train an imitation model on the expert gait data.

    python -m pidog_gaits.train --data PATH_OR_GLOB --model mlp|large|lstm|simple_lstm
        --epochs 300 --batch_size 1024 --device auto|cpu|cuda --save_dir DIR

Reads one or more ``gait_data_enhanced_*.npz`` (stage 1), splits them into training and
validation *by episode* (neighbouring samples of one episode are near-copies, so a split
by sample would grade the model on its training set), standardizes inputs and targets
with the training set's statistics (stored in the checkpoint) and fits the model with
Adam and a one-cycle learning-rate schedule on the mean squared joint error (rad^2).

Feed-forward models see shuffled samples. Recurrent models see windows of ``seq_len``
consecutive 50 Hz samples from one episode (the collector's bursts), starting from a zero
state, as in closed loop; ``batch_size`` counts samples for both, so an epoch costs about
the same. Writes to ``save_dir``: ``best_model.pth`` (lowest validation loss, rewritten
atomically when it improves), ``final_model.pth``, ``history.json``,
``training_history.png``. Ctrl-C stops after the current batch and saves what it has.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import typer

from pidog_gaits.imitation_data import (
    GaitData,
    load_gait_data,
    split_by_episode,
    windows,
)
from pidog_gaits.neural_network import ARCHS, GaitModel, build_model, save_checkpoint
from pidog_gaits.robot.specs import JOINT_NAMES, NUM_JOINTS

log = logging.getLogger("pidog_gaits.train")  # not __name__: also under -m

DEFAULT_LR = {"mlp": 3e-3, "large": 1e-3, "lstm": 1e-2, "simple_lstm": 1e-2}
"""Peak one-cycle learning rate per model (picked on the default data set)."""


@dataclass(frozen=True)
class TrainConfig:
    """Stage 2 settings; the CLI and the pipeline fill the same fields."""

    data: str
    """An .npz, a glob of them, or a folder holding them."""
    model: str = "simple_lstm"
    """mlp, large, lstm or simple_lstm (``neural_network.ARCHS``)."""
    epochs: int = 300
    batch_size: int = 1024
    """Samples per optimizer step (recurrent: batch_size // seq_len windows)."""
    device: str = "auto"
    """auto (CUDA when present), cpu or cuda."""
    save_dir: Path = Path("imitation_model")
    lr: float | None = None
    """Peak learning rate; None = ``DEFAULT_LR[model]``."""
    seq_len: int = 50
    """Window length for recurrent models (samples at 50 Hz = 1 s)."""
    val_fraction: float = 0.2
    """Share of each gait's episodes held out for validation."""
    seed: int = 0
    threads: int = 1
    """CPU threads for torch (0 = torch's default). These nets are small: on a shared
    2-core CPU one thread trained 4x faster than two, which fought other processes."""
    log_path: Path | None = None
    """Log file (the pipeline passes ``logs/imitation_training.log``)."""


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: CUDA is not available on this machine (use auto or cpu)")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"--device {device!r}: choose auto, cpu or cuda")
    return torch.device(device)


def _tensors(data: GaitData, mask: np.ndarray, model: GaitModel, seq_len: int, device):
    """(x, y, valid) on ``device``: samples for feed-forward models, windows for recurrent."""
    if model.recurrent:
        x, y, valid = windows(data, mask, seq_len)
    else:
        x, y = data.inputs[mask], data.targets[mask]
        valid = np.ones(x.shape[0], dtype=bool)
    return (torch.as_tensor(a, device=device) for a in (x, y, valid))


def masked_sq_error(model: GaitModel, x, y, valid) -> torch.Tensor:
    """Per-sample squared error summed over joints, zero on padding; shape of ``valid``."""
    pred, _ = model(x)
    return ((pred - y) ** 2).sum(-1) * valid


@torch.no_grad()
def evaluate(model: GaitModel, x, y, valid, chunk: int = 4096) -> tuple[float, np.ndarray]:
    """(MSE over samples and joints in rad^2, per-joint MSE (12,))."""
    model.eval()
    per_joint = torch.zeros(NUM_JOINTS, device=x.device)
    for i in range(0, x.shape[0], chunk):
        pred, _ = model(x[i : i + chunk])
        err = (pred - y[i : i + chunk]) ** 2 * valid[i : i + chunk, ..., None]
        per_joint += err.reshape(-1, NUM_JOINTS).sum(0)
    per_joint = (per_joint / valid.sum()).cpu().numpy()
    return float(per_joint.mean()), per_joint


def plot_history(history: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    ax.plot(epochs, history["train_loss"], label="train")
    ax.plot(epochs, history["val_loss"], label="validation")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE (rad$^2$)")
    ax.set_title(f"{history['model']}: imitation loss")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)


def check_config(config: TrainConfig) -> torch.device:
    """Everything that can be checked before reading data; ``ValueError`` otherwise."""
    if config.model not in ARCHS:
        raise ValueError(f"unknown model {config.model!r}; choose one of {', '.join(ARCHS)}")
    if config.epochs < 1 or config.batch_size < 1 or config.seq_len < 1:
        raise ValueError("--epochs, --batch_size and --seq_len must be >= 1")
    if config.threads < 0:
        raise ValueError("--threads must be >= 0")
    if not 0 < config.val_fraction < 1:
        raise ValueError("--val_fraction must be in (0, 1)")
    if config.save_dir.exists() and not config.save_dir.is_dir():
        raise ValueError(f"--save_dir {config.save_dir} is a file, not a folder")
    return resolve_device(config.device)


def train(config: TrainConfig, data: GaitData | None = None) -> dict:
    """Train, write the four outputs, return the history (``interrupted`` on Ctrl-C)."""
    from tqdm import tqdm

    from pidog_gaits.results import write_json_atomic

    device = check_config(config)
    data = load_gait_data(config.data) if data is None else data
    train_mask, val_mask = split_by_episode(data, config.val_fraction, config.seed)
    if config.threads > 0 and device.type == "cpu":
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    model = build_model(config.model)
    model.fit_normalization(data.inputs[train_mask], data.targets[train_mask])
    model.to(device)
    xt, yt, vt = _tensors(data, train_mask, model, config.seq_len, device)
    xv, yv, vv = _tensors(data, val_mask, model, config.seq_len, device)
    per_batch = (
        max(1, config.batch_size // config.seq_len) if model.recurrent else config.batch_size
    )
    steps_per_epoch = max(1, -(-xt.shape[0] // per_batch))
    lr = config.lr or DEFAULT_LR[config.model]
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=config.epochs * steps_per_epoch
    )
    config.save_dir.mkdir(parents=True, exist_ok=True)
    n_train, n_val = int(train_mask.sum()), int(val_mask.sum())
    log.info(
        "%s on %s: %d train / %d val samples (%d / %d episodes), %d steps/epoch, lr %.0e",
        config.model,
        device,
        n_train,
        n_val,
        np.unique(data.episode[train_mask]).size,
        np.unique(data.episode[val_mask]).size,
        steps_per_epoch,
        lr,
    )
    history: dict = {
        "model": config.model,
        "train_loss": [],
        "val_loss": [],
        "lr": [],
        "epoch_s": [],
        "loss_units": "rad^2 (mean over samples and the 12 joints)",
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        "data_files": data.files,
        "train_samples": n_train,
        "val_samples": n_val,
        "val_episodes": np.unique(data.episode[val_mask]).tolist(),
        "interrupted": False,
    }
    best = float("inf")
    best_state = None
    start = time.perf_counter()
    bar = tqdm(range(config.epochs), unit="epoch", desc=f"train {config.model}", mininterval=1.0)
    try:
        for epoch in bar:
            t0 = time.perf_counter()
            model.train()
            total, count = 0.0, 0
            for idx in torch.randperm(xt.shape[0], device=device).split(per_batch):
                err = masked_sq_error(model, xt[idx], yt[idx], vt[idx])
                n_valid = vt[idx].sum()
                loss = err.sum() / (n_valid * NUM_JOINTS)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                total += loss.item() * n_valid.item()
                count += int(n_valid)
            val_loss, _ = evaluate(model, xv, yv, vv)
            history["train_loss"].append(total / count)
            history["val_loss"].append(val_loss)
            history["lr"].append(schedule.get_last_lr()[0])
            history["epoch_s"].append(time.perf_counter() - t0)
            if val_loss < best:
                best = val_loss
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                history["best_epoch"] = epoch + 1
                save_checkpoint(model, config.save_dir / "best_model.pth", _summary(history))
            bar.set_postfix(train=f"{total / count:.2e}", val=f"{val_loss:.2e}", refresh=False)
            if (epoch + 1) % max(1, config.epochs // 10) == 0:
                log.debug("epoch %d train %.3e val %.3e", epoch + 1, total / count, val_loss)
    except KeyboardInterrupt:
        history["interrupted"] = True
        log.warning("interrupted after %d epochs; saving what there is", len(history["val_loss"]))
    finally:
        bar.close()
    history["seconds"] = time.perf_counter() - start
    if history["val_loss"]:
        save_checkpoint(model, config.save_dir / "final_model.pth", _summary(history))
        model.load_state_dict(best_state)
        _, per_joint = evaluate(model, xv, yv, vv)
        history["best_val_loss"] = best
        history["val_rmse_per_joint_rad"] = dict(
            zip(JOINT_NAMES, np.sqrt(per_joint).tolist(), strict=True)
        )
        history["val_loss_per_gait"] = _per_gait(model, data, val_mask, config.seq_len, device)
        plot_history(history, config.save_dir / "training_history.png")
        _log_summary(history)
    write_json_atomic(config.save_dir / "history.json", history)
    return history


def _summary(history: dict) -> dict:
    keys = ("model", "best_epoch", "data_files", "train_samples", "val_samples")
    out = {k: history[k] for k in keys if k in history}
    out["epochs"] = len(history["val_loss"])
    out["val_loss"] = history["val_loss"][-1]
    return out


def _per_gait(model, data: GaitData, val_mask, seq_len, device) -> dict[str, float]:
    """Validation MSE (rad^2) of each named gait."""
    out = {}
    for g in np.unique(data.group[val_mask]):
        x, y, v = _tensors(data, val_mask & (data.group == g), model, seq_len, device)
        out[data.group_names[g]] = evaluate(model, x, y, v)[0]
    return out


def _log_summary(history: dict) -> None:
    log.info(
        "best val MSE %.3e rad^2 (RMSE %.4f rad) at epoch %d of %d, %.1f s",
        history["best_val_loss"],
        history["best_val_loss"] ** 0.5,
        history["best_epoch"],
        len(history["val_loss"]),
        history["seconds"],
    )
    joints = history["val_rmse_per_joint_rad"]
    log.info("val RMSE per joint (rad):")
    for name, rmse in joints.items():
        log.info("  %-20s %.4f", name, rmse)


app = typer.Typer(add_completion=False)


@app.command()
def cli(
    data: str = typer.Option(..., help="Gait data: an .npz, a glob (quote it) or a folder."),
    model: str = typer.Option("simple_lstm", help="mlp, large, lstm or simple_lstm."),
    epochs: int = typer.Option(300, help="Passes over the training set."),
    batch_size: int = typer.Option(1024, "--batch_size", "--batch-size", help="Samples/step."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    save_dir: Path = typer.Option(
        Path("imitation_model"), "--save_dir", "--save-dir", help="Output folder."
    ),
    lr: float | None = typer.Option(None, help="Peak learning rate (default per model)."),
    seq_len: int = typer.Option(50, "--seq_len", "--seq-len", help="Recurrent window."),
    seed: int = typer.Option(0, help="Seed of the split, the init and the batches."),
    threads: int = typer.Option(1, help="CPU threads for torch (0 = torch's default)."),
    log_path: Path | None = typer.Option(None, "--log", help="Also log everything to PATH."),
) -> None:
    """Stage 2: train an imitation model (gait input -> 12 joint targets) on gait data."""
    from pidog_gaits.cli import fail
    from pidog_gaits.data_collector import configure_logging

    config = TrainConfig(
        data=data,
        model=model,
        epochs=epochs,
        batch_size=batch_size,
        device=device,
        save_dir=save_dir,
        lr=lr,
        seq_len=seq_len,
        seed=seed,
        threads=threads,
        log_path=log_path,
    )
    try:
        check_config(config)
        loaded = load_gait_data(data)
        split_by_episode(loaded, config.val_fraction, config.seed)
    except ValueError as exc:
        fail(str(exc))
    configure_logging(log_path)
    history = train(config, loaded)
    if history["interrupted"]:
        raise typer.Exit(130)


def main(argv: list[str] | None = None, prog_name: str = "python -m pidog_gaits.train"):
    from pidog_gaits.cli import run_typer

    return run_typer(app, argv, prog_name)


if __name__ == "__main__":
    raise SystemExit(main())
