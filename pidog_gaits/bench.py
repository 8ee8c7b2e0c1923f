"""``pidog-gaits bench NAME``: run a speed benchmark from ``benchmarks/``.

The benchmarks are scripts in the repository (they print a table and write JSON under
``benchmarks/results/``); this command finds and runs them with the same interpreter.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer

from pidog_gaits.cli import run_typer

BENCHMARKS_DIR = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = {
    "sim": "sim_speed.py",
    "imitation": "imitation_speed.py",
    "rl": "rl_speed.py",
    "controller": "controller_latency.py",
}

app = typer.Typer(add_completion=False)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench(
    ctx: typer.Context,
    name: str = typer.Argument(..., help=f"One of: {', '.join(SCRIPTS)}, all."),
) -> None:
    """Run one benchmark (or all) and print its figures."""
    names = list(SCRIPTS) if name == "all" else [name]
    for item in names:
        if item not in SCRIPTS:
            typer.echo(
                f"error: unknown benchmark {item!r}; choose {', '.join(SCRIPTS)} or all", err=True
            )
            raise typer.Exit(2)
        script = BENCHMARKS_DIR / SCRIPTS[item]
        if not script.exists():
            typer.echo(f"error: {script} not found (run from a source checkout)", err=True)
            raise typer.Exit(2)
        code = subprocess.call([sys.executable, str(script), *ctx.args])
        if code:
            raise typer.Exit(code)


def main(argv: list[str] | None = None, prog_name: str = "pidog-gaits bench") -> int:
    return run_typer(app, argv, prog_name)


if __name__ == "__main__":
    raise SystemExit(main())
