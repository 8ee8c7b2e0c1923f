"""``report.html``: one self-contained page about an experiment.

``python3 -m pidog_gaits.report EXPERIMENT_DIR [--out PATH]`` (also ``pidog-gaits report``)
draws the imitation loss curves (``imitation_model/history.json``), the PPO reward and
velocity curves read from the TensorBoard event files (``rl_model/tensorboard/``), the
evaluation table (``rl_model/eval.json``) and an animated WebP image of the final policy
walking (the first evaluation episode, from ``rl_model/eval.mp4``). Images are embedded
as base64, so the file can be mailed or opened offline on its own.
"""

from __future__ import annotations

import base64
import html
import io
import math
import sys
from pathlib import Path

import typer

from pidog_gaits.experiment import Experiment, fmt_value, load, settings_table

ANIMATION_SECONDS = 10.0
"""Length of the embedded animation (s of the evaluation video: one whole episode)."""
ANIMATION_FPS = 12.5
ANIMATION_WIDTH_PX = 320
ANIMATION_QUALITY = 70
"""WebP quality: a 10 s episode is ~0.5 MB (a GIF of the same frames: ~3.5 MB)."""
SMOOTH_POINTS = 30
"""RL curves are drawn raw (faint) and as a running mean over 1/SMOOTH_POINTS of the run."""


# --------------------------------------------------------------------------- data
def tensorboard_scalars(tb_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value), ...]}`` from every event file under ``tb_dir``.

    Runs of a resumed training (several sub-directories) are merged by step; where two
    runs logged the same step, the later run wins.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    merged: dict[str, dict[int, float]] = {}
    run_dirs = sorted(
        {p.parent for p in tb_dir.rglob("events.out.tfevents.*")},
        key=lambda d: min(p.stat().st_mtime for p in d.glob("events.out.*")),
    )
    for run in run_dirs:
        acc = EventAccumulator(str(run), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags().get("scalars", []):
            series = merged.setdefault(tag, {})
            for event in acc.Scalars(tag):
                series[int(event.step)] = float(event.value)
    return {tag: sorted(series.items()) for tag, series in merged.items()}


def pick_tag(tags, *needles: str) -> str | None:
    """First tag containing all of ``needles`` in the first matching group of preferences."""
    for needle in needles:
        words = needle.split("+")
        found = sorted(t for t in tags if all(w in t for w in words))
        if found:
            return found[0]
    return None


# --------------------------------------------------------------------------- figures
def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def imitation_plot(exp: Experiment) -> str | None:
    if not exp.history.get("train_loss") and not exp.history.get("val_loss"):
        return None
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.2, 3.4))
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        values = exp.history.get(key)
        if values:
            ax.plot(range(1, len(values) + 1), values, label=label)
    best = exp.best_val_loss
    if best:
        ax.plot(
            [best[1]], [best[0]], "o", color="C1", label=f"best {best[0]:.3g} (epoch {best[1]})"
        )
    ax.set_yscale("log")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"loss, MSE [{exp.history_units.split(' (')[0] or '-'}]")
    ax.set_title("Stage 2: imitation loss")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return _png(fig)


def rl_plots(
    scalars: dict[str, list[tuple[int, float]]],
) -> tuple[str | None, str | None, list[str]]:
    """(reward+velocity figure, reward-terms figure, tags drawn)."""
    if not scalars:
        return None, None, []
    import matplotlib.pyplot as plt

    panels = [
        (pick_tag(scalars, "rollout/ep_rew_mean", "episode/return", "return"), "episode return"),
        (
            pick_tag(scalars, "episode/mean_forward_velocity_mps", "forward_velocity", "velocity"),
            "forward velocity (m/s)",
        ),
        (pick_tag(scalars, "rollout/ep_len_mean", "episode/length"), "episode length (steps)"),
        (pick_tag(scalars, "episode/fell", "fell"), "share of episodes that fell"),
    ]
    panels = [(tag, title) for tag, title in panels if tag]
    drawn = [t for t, _ in panels]
    main_png = None
    if panels:
        cols = 2
        rows = math.ceil(len(panels) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(10, 3.3 * rows), squeeze=False)
        for ax in axes.flat[len(panels) :]:
            ax.axis("off")
        for ax, (tag, title) in zip(axes.flat, panels, strict=False):
            _plot_curve(ax, scalars[tag])
            ax.set_title(f"{title}  [{tag}]", fontsize=10)
            ax.set_xlabel("environment steps")
        fig.suptitle("Stage 3: PPO training (TensorBoard)")
        fig.tight_layout()
        main_png = _png(fig)
    terms = sorted(
        t
        for t in scalars
        if t not in drawn
        and ("reward" in t.split("/")[0] or t.startswith("rewards/") or "/reward_" in t)
    )
    terms_png = None
    if terms:
        cols = 4
        rows = math.ceil(len(terms) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.2 * rows), squeeze=False)
        for ax in axes.flat[len(terms) :]:
            ax.axis("off")
        for ax, tag in zip(axes.flat, terms, strict=False):
            _plot_curve(ax, scalars[tag])
            ax.set_title(tag, fontsize=8)
            ax.tick_params(labelsize=7)
        fig.suptitle("Reward terms (episode sums)")
        fig.tight_layout()
        terms_png = _png(fig)
        drawn += terms
    return main_png, terms_png, drawn


def video_animation(video: Path) -> str | None:
    """The first ``ANIMATION_SECONDS`` of ``video`` as a small animated WebP, base64."""
    if not video.is_file():
        return None
    import imageio.v2 as imageio
    import numpy as np
    from PIL import Image

    reader = imageio.get_reader(str(video))
    fps = float(reader.get_meta_data().get("fps", 25.0))
    every = max(1, round(fps / ANIMATION_FPS))
    frames = []
    try:
        for i, frame in enumerate(reader):
            if i >= ANIMATION_SECONDS * fps:
                break
            if i % every == 0:
                step = max(1, frame.shape[1] // ANIMATION_WIDTH_PX)
                frames.append(Image.fromarray(np.ascontiguousarray(frame[::step, ::step])))
    finally:
        reader.close()
    if not frames:
        return None
    buf = io.BytesIO()
    frames[0].save(
        buf,
        format="WEBP",
        save_all=True,
        append_images=frames[1:],
        duration=round(1000.0 * every / fps),
        loop=0,
        quality=ANIMATION_QUALITY,
    )
    return base64.b64encode(buf.getvalue()).decode()


def _plot_curve(ax, points: list[tuple[int, float]]) -> None:
    """Raw values faint, their running mean bold; steps in thousands."""
    import numpy as np
    from matplotlib.ticker import FuncFormatter

    steps = np.array([p[0] for p in points], dtype=float)
    values = np.array([p[1] for p in points], dtype=float)
    window = max(1, len(values) // SMOOTH_POINTS)
    if window > 1:
        ax.plot(steps, values, color="C0", alpha=0.25, linewidth=0.8)
        kernel = np.ones(window) / window
        smooth = np.convolve(values, kernel, mode="valid")
        ax.plot(steps[window - 1 :], smooth, color="C0", linewidth=1.8)
    else:
        ax.plot(steps, values, color="C0", marker="." if len(steps) < 30 else None)
    ax.xaxis.set_major_formatter(
        FuncFormatter(lambda x, _: f"{x / 1000:g}k" if abs(x) >= 1000 else f"{x:g}")
    )
    ax.grid(alpha=0.3)


# --------------------------------------------------------------------------- html
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;
  background:#f4f5f7;color:#1d2330}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{margin:0 0 4px;font-size:26px}
h2{margin:28px 0 10px;font-size:19px;border-bottom:2px solid #dde1e7;padding-bottom:4px}
.sub{color:#5b6474;margin-bottom:18px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 3px #0001;
  min-width:150px}
.card .v{font-size:24px;font-weight:600} .card .k{color:#5b6474;font-size:13px}
.row{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
.panel{background:#fff;border-radius:8px;padding:12px;box-shadow:0 1px 3px #0001}
img{max-width:100%} table{border-collapse:collapse;background:#fff;font-size:14px}
td,th{padding:5px 10px;border-bottom:1px solid #e6e8ec;text-align:left} th{background:#eef0f4}
td.n{text-align:right;font-variant-numeric:tabular-nums} code{font-size:13px}
.missing{color:#a33} .scroll{overflow-x:auto;flex:1;min-width:0} img.anim{width:480px}
.scroll td,.scroll th{padding:4px 7px;font-size:13px}
"""


def _table(header: list[str], rows: list[list[object]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class='n'>{html.escape(fmt_value(c))}</td>"
            if isinstance(c, int | float) and not isinstance(c, bool)
            else f"<td>{html.escape(fmt_value(c))}</td>"
            for c in row
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _img(b64: str | None, alt: str, mime: str = "image/png") -> str:
    if b64 is None:
        return f"<p class='missing'>{html.escape(alt)}: not available</p>"
    css = " class='anim'" if mime == "image/webp" else ""
    return f"<img{css} alt='{html.escape(alt)}' src='data:{mime};base64,{b64}'>"


def _card(value: str, label: str) -> str:
    return (
        f"<div class='card'><div class='v'>{html.escape(value)}</div>"
        f"<div class='k'>{html.escape(label)}</div></div>"
    )


def render(exp: Experiment) -> str:
    """The whole page as a string."""
    ev = exp.eval_scalars()
    scalars = {}
    tb_dir = exp.root / "rl_model" / "tensorboard"
    if tb_dir.is_dir():
        scalars = tensorboard_scalars(tb_dir)
    rl_png, terms_png, _ = rl_plots(scalars)
    animation = video_animation(exp.root / "rl_model" / "eval.mp4")
    s = exp.settings

    def figure(key: str, unit: str = "", digits: int = 3) -> str:
        v = ev.get(key)
        if isinstance(v, bool) or v is None:
            return "-" if v is None else str(v)
        return f"{v:.{digits}g}{unit}" if isinstance(v, float) else f"{v}{unit}"

    cards = "".join(
        [
            _card(figure("mean_forward_velocity_mps", " m/s"), "mean forward velocity"),
            _card(figure("falls"), f"falls in {s.get('EVAL_EPISODES', '?')} episodes"),
            _card(figure("mean_episode_length"), "mean episode length (steps)"),
            _card(figure("collisions"), "collisions"),
            _card(f"{sum(exp.stage_times_s.values()) / 60:.1f} min", "pipeline wall time"),
        ]
    )
    episodes = exp.eval_episodes()
    ep_table = ""
    if episodes:
        keys = [k for k in episodes[0] if isinstance(episodes[0][k], int | float | bool)]
        ep_table = (
            "<div class='panel scroll'><h3 style='margin-top:0'>Per episode</h3>"
            + _table(keys, [[e.get(k) for k in keys] for e in episodes])
            + "</div>"
        )
    eval_html = (
        _table(["figure", "value"], [[k, v] for k, v in ev.items()])
        if ev
        else "<p class='missing'>rl_model/eval.json not found</p>"
    )
    times = _table(
        ["stage", "wall time (s)", "attempts"],
        [[t, round(sec, 1), exp.stage_attempts.get(t, 0)] for t, sec in exp.stage_times_s.items()]
        + [["total", round(sum(exp.stage_times_s.values()), 1), ""]],
    )
    data_rows = []
    if exp.data_path is not None:
        data_rows = [
            ["file", exp.data_path.name],
            ["samples", exp.data_samples],
            ["episodes", exp.data_episodes],
            ["size (MB)", round(exp.data_bytes / 1e6, 2)],
        ]
    best = exp.best_val_loss
    best_text = f"{fmt_value(best[0])} at epoch {best[1]}" if best else "-"
    title = html.escape(exp.name)
    intro = (
        f"PPO from an imitation prior, {html.escape(s.get('RL_TIMESTEPS', '?'))} steps, "
        f"{html.escape(s.get('PHYSICS_QUALITY', '?'))} physics for training, reward profile "
        f"<code>{html.escape(s.get('REWARD_PROFILE', '?'))}</code>, "
        f"seed {html.escape(s.get('SEED', '?'))}; evaluated on production physics. "
        f"Directory <code>{html.escape(str(exp.root))}</code>"
    )
    episodes_run = exp.eval_episodes()
    ev_seed = episodes_run[0].get("seed", "?") if episodes_run else "?"
    walking = (
        f"<div class='panel'>{_img(animation, 'evaluation video', 'image/webp')}"
        f"<p>first evaluation episode (seed {ev_seed}), production physics</p></div>"
        "<div class='panel' style='flex:1;min-width:300px'>"
        f"<h3 style='margin-top:0'>Evaluation (rl_model/eval.json)</h3>{eval_html}</div>"
    )
    curves = [
        f"{_img(imitation_plot(exp), 'imitation loss curves')}"
        f"<p>best validation loss: {best_text}</p>",
        _img(rl_png, "PPO reward and velocity curves"),
    ]
    if terms_png:
        curves.append(_img(terms_png, "reward terms"))
    curves_html = "".join(
        f"<div class='row' style='margin-top:14px'><div class='panel'>{c}</div></div>"
        for c in curves
    )
    settings = _table(["variable", "value", "meaning"], [list(r) for r in settings_table(exp)])
    versions = _table(["versions", ""], [[k, v] for k, v in exp.versions.items()])
    derived = _table(["derived (config.txt)", ""], [[k, v] for k, v in exp.derived.items()])
    data = _table(["data (stage 1)", ""], data_rows)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>pidog-gaits: {title}</title>
<style>{CSS}</style></head><body><main>
<h1>PiDog walking policy: {title}</h1>
<div class="sub">{intro}</div>
<div class="cards">{cards}</div>
<h2>The final policy walking</h2>
<div class="row">{walking}</div>
<div class="row" style="margin-top:14px">{ep_table}</div>
<h2>Training curves</h2>
{curves_html}
<h2>Run</h2>
<div class="row"><div>{times}</div><div>{data}</div></div>
<h2>Settings (config.txt)</h2>
{settings}
<div class="row" style="margin-top:14px"><div>{derived}</div><div>{versions}</div></div>
</main></body></html>
"""


def write_report(root: str | Path, out: str | Path | None = None) -> Path:
    exp = load(root)
    path = Path(out) if out else exp.root / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render(exp))
    tmp.replace(path)
    return path


app = typer.Typer(add_completion=False)


@app.command()
def report(
    experiment: Path = typer.Argument(
        ..., help="Experiment directory (experiments/NAME_<timestamp>)."
    ),
    out: Path | None = typer.Option(None, help="Output file (default EXPERIMENT/report.html)."),
) -> None:
    """Write a self-contained report.html for an experiment."""
    if not experiment.is_dir():
        typer.echo(f"error: {experiment} is not a directory", err=True)
        raise typer.Exit(2)
    if not (experiment / "config.txt").is_file():
        typer.echo(f"error: {experiment} has no config.txt: not a pipeline experiment", err=True)
        raise typer.Exit(2)
    path = write_report(experiment, out)
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


def main(argv: list[str] | None = None, prog_name: str = "pidog-gaits report") -> int:
    from pidog_gaits.cli import run_typer

    return run_typer(app, list(sys.argv[1:] if argv is None else argv), prog_name)


if __name__ == "__main__":
    raise SystemExit(main())
