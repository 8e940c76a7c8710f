"""Run logging: tensorboardX scalars and ``metrics.csv`` (one row per logged update), for whatever metric keys
an algorithm reports, resumable.

``metrics.csv`` starts with ``update``; its other columns are the keys of the first row logged (the algorithm's
metrics, the seed statistics the run loop adds, ``sps``, ``wall_s``) and stay fixed for the run, across resumes
(a key that appears later is reported once and not written). A value of ``None`` (nothing to report, e.g. no
episode ended) is an empty cell; a non-finite value is written as ``nan`` / ``inf`` so that divergence is
visible (tensorboard skips them). Tensorboard gets every key under ``train/`` (per-seed returns under ``seeds/``)
against ``env_steps``.
On resume from update ``u`` the rows after ``u`` are dropped and tensorboard purges events after ``u``; rows
missing before ``u`` (a deleted ``metrics.csv``) are said in one line (:meth:`RunLogger.history_gap`).
"""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path

from ssmrl.config import LoggerConfig


class RunLogger:
    """log(update, row) writes one row (a dict of floats or None) to ``<run_dir>/metrics.csv`` and to tensorboard
    under ``<run_dir>/tb``; start_update: the update a resumed run continues from (0 for a new run)."""

    def __init__(self, run_dir: str | Path, cfg: LoggerConfig, start_update: int = 0):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.csv_path = self.run_dir / "metrics.csv"
        self._csv = None
        self._writer = None
        self._tb = None
        self._ignored: set[str] = set()
        self.columns, self.kept_rows = self._kept_rows(start_update)
        if cfg.csv:
            self._csv = open(self.csv_path, "w", newline="")
            if self.columns:
                self._start_writer(self.columns)
                self._writer.writerows(self.kept_rows)
                self._csv.flush()
        if cfg.tensorboard:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(str(self.run_dir / "tb"), purge_step=start_update + 1 if start_update else None)

    def _kept_rows(self, start_update: int) -> tuple[list[str], list[dict]]:
        """(columns, rows up to ``start_update``) of the existing ``metrics.csv``; ``self.found_rows``: how many
        rows it held in all (0 if it is missing)."""
        self.found_rows = 0
        if not self.csv_path.exists():
            return [], []
        with open(self.csv_path, newline="") as f:
            reader = csv.DictReader(f)
            rows = [r for r in reader if r.get("update")]
            self.found_rows = len(rows)
            if not start_update:
                return [], []
            return list(reader.fieldnames or []), [r for r in rows if int(r["update"]) <= start_update]

    def history_gap(self, start_update: int) -> str | None:
        """One warning line when ``metrics.csv`` lacks history of the run being resumed at ``start_update``: no
        rows before it (the file was deleted or emptied: the curves start there and ``wall_s`` counts only from
        this session), some missing (the first one named), or, when there is nothing to resume from
        (``start_update`` 0), rows that this run replaces. None when the history is whole (or not written)."""
        if self._csv is None:
            return None
        if not start_update:
            return (f"warning: no checkpoint to resume from, so the run starts over at update 0; the "
                    f"{self.found_rows} rows of {self.csv_path} are replaced") if self.found_rows else None
        if not self.kept_rows:
            return (f"warning: {self.csv_path} has no rows before update {start_update} (deleted?); the curves "
                    f"start at {start_update} and wall_s counts only from this session")
        have = {int(r["update"]) for r in self.kept_rows}
        missing = [u for u in range(1, start_update + 1) if u not in have]
        if not missing:
            return None
        return (f"warning: {self.csv_path} lacks {len(missing)} of the {start_update} rows before this resume, "
                f"from update {missing[0]} (deleted?); the curves have a gap there")

    def _start_writer(self, columns: list[str]) -> None:
        self.columns = columns
        self._writer = csv.DictWriter(self._csv, fieldnames=columns, extrasaction="ignore")
        self._writer.writeheader()

    def last_logged(self, key: str) -> float:
        """The last non-empty value of column ``key`` among the rows kept from before a resume (NaN if none)."""
        values = [float(r[key]) for r in self.kept_rows if r.get(key) not in (None, "")]
        return values[-1] if values else math.nan

    def log(self, update: int, row: dict[str, float | None]) -> None:
        row = {"update": update, **row}
        if self._csv is not None:
            if self._writer is None:
                self._start_writer(list(row))
            new = set(row) - set(self.columns) - self._ignored
            if new:
                warnings.warn(f"metrics {sorted(new)} first appeared after the first row of {self.csv_path}; "
                              "they go to tensorboard only", stacklevel=2)
                self._ignored |= new
            self._writer.writerow({k: _cell(row.get(k)) for k in self.columns})
        if self._tb is not None:
            step = int(row.get("env_steps") or update)
            for key, value in row.items():
                if key in ("update", "env_steps", "wall_s") or value is None or not math.isfinite(value):
                    continue  # non-finite values are in metrics.csv as nan / inf
                tag = f"seeds/{key}" if key.startswith("return_seed") else f"train/{key}"
                self._tb.add_scalar(tag, float(value), step)

    def log_scalar(self, tag: str, value: float, step: int) -> None:
        """An extra tensorboard scalar (e.g. ``eval/episode_return``, ``perf/compile_s``)."""
        if self._tb is not None:
            self._tb.add_scalar(tag, float(value), step)

    def flush(self) -> None:
        if self._csv is not None:
            self._csv.flush()
        if self._tb is not None:
            self._tb.flush()

    def close(self) -> None:
        self.flush()
        if self._csv is not None:
            self._csv.close()
        if self._tb is not None:
            self._tb.close()


def _cell(value) -> str | float | int:
    """None -> empty cell; finite numbers as they are; NaN / inf spelled out."""
    if value is None or value == "":
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value
