"""Progress of a run: a live bar on a terminal; plain, periodic one-line reports when the output is a file or a
pipe (CI logs, ``nohup``), so that a log shows how far a run got without control characters."""

from __future__ import annotations

import math
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class ProgressReporter:
    """Context manager; ``update(done, sps, episode_return)`` after every compiled call.

    enabled: report at all; console: where to; description: the run's label; total: updates in the run;
    steps_per_update: env steps per update and seed; interval_s: seconds between plain lines (not a terminal).
    """

    def __init__(self, enabled: bool, console: Console, description: str, total: int, steps_per_update: int,
                 interval_s: float = 10.0):
        self.enabled, self.console, self.total, self.steps = enabled, console, total, steps_per_update
        self.description, self.interval_s = description, interval_s
        self.live = enabled and console.is_terminal
        self._last_line = -math.inf
        self._bar = None
        if self.live:
            self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(bar_width=20),
                                 MofNCompleteColumn(), TextColumn("{task.fields[steps]} steps"),
                                 TextColumn("{task.fields[sps]} steps/s"), TextColumn("return {task.fields[ret]}"),
                                 TimeElapsedColumn(), console=console)
            self._task = self._bar.add_task(description, total=total, steps="0", sps="-", ret="-")

    def __enter__(self) -> ProgressReporter:
        if self._bar is not None:
            self._bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def update(self, done: int, sps: float, episode_return: float | None) -> None:
        if not self.enabled:
            return
        ret = "-" if episode_return is None or math.isnan(episode_return) else f"{episode_return:.3f}"
        sps_text = f"{sps:,.0f}" if sps else "-"
        if self._bar is not None:
            self._bar.update(self._task, completed=done, steps=f"{done * self.steps:,}", sps=sps_text, ret=ret)
            return
        now = time.monotonic()
        if now - self._last_line >= self.interval_s or done == self.total:
            self._last_line = now
            self.console.print(f"{self.description}: update {done}/{self.total}, {done * self.steps:,} steps, "
                               f"{sps_text} steps/s, return {ret}", highlight=False, soft_wrap=True)
