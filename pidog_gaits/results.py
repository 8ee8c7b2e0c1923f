"""Print measured figures as a human table and, with ``--json PATH|-``, as JSON.

Every command that measures goes through ``emit`` so the table and the JSON always hold
the same numbers. Keys carry SI units in their names (``distance_m``, ``realtime_factor``).
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any


def _clean(value: Any) -> Any:
    """JSON-safe values: numpy scalars to Python, NaN to None."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "tolist"):
        return _clean(value.tolist())
    return value


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write JSON through a temporary file so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(_clean(data), fh, indent=2)
        fh.write("\n")
    os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are for everyone to read
    os.replace(tmp, path)


def format_table(figures: dict[str, Any], title: str | None = None) -> str:
    rows = []
    for key, value in figures.items():
        if isinstance(value, dict | list):
            continue
        if isinstance(value, float):
            text = f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"
        else:
            text = str(value)
        rows.append((key, text))
    width = max((len(k) for k, _ in rows), default=0)
    lines = [title] if title else []
    lines += [f"  {k.ljust(width)}  {v}" for k, v in rows]
    return "\n".join(lines)


def emit(figures: dict[str, Any], json_out: str | None, title: str | None = None) -> None:
    """Print ``figures`` as a table; with ``json_out`` also as JSON (``-`` = stdout only)."""
    if json_out == "-":
        json.dump(_clean(figures), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    print(format_table(figures, title))
    if json_out:
        write_json_atomic(json_out, figures)
