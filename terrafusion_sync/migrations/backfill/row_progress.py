"""Progress of long work, drawn by ``rich``: a bar on a terminal, plain lines otherwise.

On a terminal rich draws the bar (rows done of the estimated total, rows per second, time
left). Elsewhere (a deploy job's log, a pipe) the same rich task is kept without drawing,
and its figures go out as a plain line every few seconds, a pace a person can read. A
run that reports nothing (the tests' ``quiet``) shows nothing.
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from terrafusion_sync.migrations.outcome import Report, is_quiet

PLAIN_EVERY = 5.0
"""Seconds between two plain progress lines."""


class RateColumn(ProgressColumn):
    """``12,345 rows/s``, from rich's own speed estimate."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:,.0f} rows/s")


class RowProgress:
    """Rows done of an estimated total, shown while a ``with`` block runs."""

    def __init__(self, report: Report, label: str, total: int, done: int = 0) -> None:
        self.report = report
        self.label = label
        self.shown = not is_quiet(report)
        terminal = self.shown and sys.stdout.isatty()
        self.bar = Progress(
            TextColumn("  {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            RateColumn(),
            TimeRemainingColumn(),
            console=Console(file=sys.stdout),
            disable=not terminal,
        )
        self.terminal = terminal
        self.task = self.bar.add_task(label, total=max(total, done, 1), completed=done)
        self.last_line = time.monotonic()

    def __enter__(self) -> RowProgress:
        self.bar.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.bar.stop()

    def update(self, done: int) -> None:
        """``done`` rows so far (the total grows if the estimate was short)."""
        task = self.bar.tasks[0]
        self.bar.update(self.task, completed=done, total=max(task.total or 0, done))
        if self.shown and not self.terminal and time.monotonic() - self.last_line >= PLAIN_EVERY:
            self.last_line = time.monotonic()
            self.report(self.line())

    def line(self) -> str:
        """``label: 1,200 of ~5,000 rows (24%), 800 rows/s, about 0:00:05 left``."""
        task = self.bar.tasks[0]
        left = task.time_remaining
        after = f", about {timedelta(seconds=round(left))} left" if left is not None else ""
        return (
            f"  {self.label}: {int(task.completed):,} of ~{int(task.total or 0):,} rows "
            f"({task.percentage:.0f}%), {task.speed or 0:,.0f} rows/s{after}"
        )
