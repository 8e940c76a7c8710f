"""Run logging: tensorboardX scalars and ``metrics.csv`` (one row per logged update), resumable.

Columns of ``metrics.csv``: ``update``, ``env_steps``, ``episode_return`` (mean over seeds of the mean return of
the episodes that ended in that update; empty when none did), ``episode_return_std`` (over seeds), the losses and
diagnostics (mean over seeds), ``sps`` (env steps per second, all seeds), ``wall_s``, and ``return_seed<i>`` per seed.
On resume from update ``u`` the rows after ``u`` are dropped and tensorboard purges events after ``u``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from ssmrl.config import LoggerConfig

SCALARS = ("episode_return", "episode_return_std", "episode_length", "loss", "policy_loss", "value_loss",
           "entropy", "approx_kl", "clip_frac", "grad_norm", "lr", "sps")


def csv_columns(num_seeds: int) -> list[str]:
    """The header of ``metrics.csv`` for ``num_seeds`` seeds."""
    return ["update", "env_steps", *SCALARS, "wall_s", *[f"return_seed{i}" for i in range(num_seeds)]]


class RunLogger:
    """log(update, row) writes one row (a dict keyed by :func:`csv_columns`; NaN or missing values are left
    empty / skipped) to ``<run_dir>/metrics.csv`` and to tensorboard under ``<run_dir>/tb``."""

    def __init__(self, run_dir: str | Path, cfg: LoggerConfig, num_seeds: int, start_update: int = 0):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.columns = csv_columns(num_seeds)
        self.csv_path = self.run_dir / "metrics.csv"
        self._csv = None
        self._tb = None
        self.kept_rows = self._kept_rows(start_update)
        if cfg.csv:
            rows = self.kept_rows
            self._csv = open(self.csv_path, "w", newline="")
            self._writer = csv.DictWriter(self._csv, fieldnames=self.columns)
            self._writer.writeheader()
            self._writer.writerows(rows)
            self._csv.flush()
        if cfg.tensorboard:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(str(self.run_dir / "tb"), purge_step=start_update + 1 if start_update else None)

    def _kept_rows(self, start_update: int) -> list[dict]:
        if not start_update or not self.csv_path.exists():
            return []
        with open(self.csv_path, newline="") as f:
            return [r for r in csv.DictReader(f) if r.get("update") and int(r["update"]) <= start_update]

    def last_logged(self, key: str) -> float:
        """The last non-empty value of column ``key`` among the rows kept from before a resume (NaN if none)."""
        values = [float(r[key]) for r in self.kept_rows if r.get(key) not in (None, "")]
        return values[-1] if values else math.nan

    def log(self, update: int, row: dict[str, float]) -> None:
        row = {"update": update, **row}
        if self._csv is not None:
            clean = {k: ("" if _missing(row.get(k)) else row[k]) for k in self.columns}
            self._writer.writerow(clean)
        if self._tb is not None:
            step = int(row.get("env_steps", update))
            for key in SCALARS:
                if not _missing(row.get(key)):
                    self._tb.add_scalar(f"train/{key}", float(row[key]), step)

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


def _missing(value) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))
