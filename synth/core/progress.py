"""Progress bars for long jobs (rich): items done / total, rate, elapsed and ETA."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

__all__ = ["job_progress", "console", "out_console"]

console = Console(stderr=True, width=None if sys.stderr.isatty() else 140)
#: results (tables) go to stdout
out_console = Console(width=None if sys.stdout.isatty() else 140)


class _Rate(TextColumn):
    def __init__(self, unit: str):
        super().__init__("")
        self.unit = unit

    def render(self, task):  # noqa: D102
        speed = task.finished_speed or task.speed
        text = f"{speed:.2f} {self.unit}/s" if speed else f"-- {self.unit}/s"
        from rich.text import Text

        return Text(text, style="progress.data.speed")


def job_progress(unit: str = "scenes") -> Progress:
    """A rich ``Progress`` with description, bar, N/M, percent, rate (``unit``/s), elapsed and ETA.

    Disabled automatically when stderr is not a terminal (CI logs get the final summary lines instead).
    """
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                    _Rate(unit), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console,
                    disable=not sys.stderr.isatty(), transient=False)
