"""What every report writes: JSON objects, CSV tables, number texts for tables and PNG figures (matplotlib's Agg
canvas, no pyplot); one function each. Importing it loads neither jax nor matplotlib (matplotlib on first figure)."""

from __future__ import annotations

import csv
import json
import math
import numbers
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure


# --- JSON -------------------------------------------------------------------------------------------------------

def read_json(path: Path | str) -> dict:
    """The JSON object in ``path``; ``{}`` if it is missing, unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def json_safe(data: Any) -> Any:
    """``data`` with every non-finite real number (NaN, inf; numpy's too) in its dicts, lists and tuples replaced
    by None: ``json.dumps`` would write them as bare ``NaN`` / ``Infinity``, which is not JSON (strict readers, jq
    and browsers reject the file). Finite numpy scalars become Python numbers."""
    if isinstance(data, dict):
        return {k: json_safe(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [json_safe(v) for v in data]
    if isinstance(data, numbers.Real) and not isinstance(data, (bool, int)):
        return float(data) if math.isfinite(data) else None
    if isinstance(data, numbers.Integral) and not isinstance(data, bool):
        return int(data)
    return data


def write_json(path: Path | str, data: Any) -> Path:
    """Write ``data`` to ``path`` as JSON indented by 2 with a final newline, atomically (a temporary file
    ``<path stem>.tmp`` beside it, then a rename; parent folders created) -> the path. Non-finite numbers are
    written as ``null`` (:func:`json_safe`), so the file is valid JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(json_safe(data), indent=2, allow_nan=False) + "\n")
    tmp.replace(path)
    return path


# --- CSV --------------------------------------------------------------------------------------------------------

def _csv_cell(value: Any) -> Any:
    """A non-finite real number (NaN, inf; numpy's too) -> "" (an empty cell); anything else as it is."""
    return "" if isinstance(value, numbers.Real) and not math.isfinite(value) else value


def write_csv(rows: Sequence[dict], path: Path | str, first: Iterable[str] = (), drop: Iterable[str] = ()) -> Path:
    """Write one CSV line per row (a dict column -> value) under a header -> the path (parent folders created).

    Columns: ``first`` (in its order, even where no row has them), then every other key of the rows in first-seen
    order, less the ``drop`` columns. Cells: ``str(value)`` through the csv module (so 0.1 -> "0.1", True -> "True");
    an empty cell where a row lacks a column, holds None or a non-finite number (NaN, inf), the standard CSV
    convention (``pandas.read_csv`` reads it back as NaN)."""
    skip = set(drop)
    columns = [c for c in dict.fromkeys([*first, *(k for row in rows for k in row)]) if c not in skip]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, columns, extrasaction="ignore", restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_cell(v) for k, v in row.items()})
    return path


# --- numbers as text --------------------------------------------------------------------------------------------

def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def number_text(value: Any, spec: str = ".3g") -> str:
    """``format(value, spec)`` for a finite int or float ("0.123" for 0.12345 with ".3g"); "-" for anything else
    (missing, NaN, inf, a bool, a string)."""
    return format(value, spec) if _finite_number(value) else "-"


def count_text(n: Any) -> str:
    """A count (parameters, steps, steps per second): 950 -> "950", 12345 -> "12.3k", 2.5e6 -> "2.50M"; "-" for
    anything that is not a finite number."""
    if not _finite_number(n):
        return "-"
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e4 else f"{int(n)}"


def slug(task: str) -> str:
    """A task name as a file-name part: ``meta/popgym/MultiarmedBanditEasy`` -> ``meta_popgym_MultiarmedBanditEasy``."""
    return task.replace("/", "_")


# --- figures ----------------------------------------------------------------------------------------------------

def figure(width: float = 7.0, height: float = 4.2, dpi: float = 110, layout: str | None = "constrained") -> Figure:
    """A matplotlib ``Figure`` of ``width`` x ``height`` inches at ``dpi`` (a saved PNG is width * dpi x height *
    dpi pixels) on its own Agg canvas: no pyplot, no global backend or figure list, safe in threads. ``layout``:
    matplotlib's layout engine ("constrained", "tight" or None: place the axes yourself, e.g. with
    ``fig.tight_layout()``). Add axes with ``fig.subplots(...)``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: Path | str) -> Path:
    """Save ``fig`` to ``path`` (the format from its suffix, e.g. PNG; the figure's dpi; parent folders created)
    -> the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
