"""Progress for long jobs (rich): items done / total, rate, elapsed and ETA, from the first item.

Rates and ETAs count only work done in this run: items found already complete (a resumed run skipping finished
scenes) are reported with :meth:`JobProgress.skip`, which moves the bar and the N/M count but adds nothing to the
rate, so a resumed run shows the speed it really works at.

On a terminal a live bar; without one (CI logs, SLURM output files, ``nohup``) plain lines such as
``render: 12/810 frames (1.5%), 8.3 frames/s, ETA 1m36s`` printed on the first item and then at most every
``every_s`` seconds, and once at the end, so a log shows the job is alive and how fast it goes.
"""

from __future__ import annotations

import sys
import time
from typing import Optional

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn

__all__ = ["job_progress", "line_progress", "LineProgress", "console", "out_console", "format_eta", "JobProgress"]

console = Console(stderr=True, width=None if sys.stderr.isatty() else 140)
#: results (tables) go to stdout
out_console = Console(width=None if sys.stdout.isatty() else 140)

#: Seconds between two progress lines without a terminal.
EVERY_S = 10.0


def format_eta(seconds: Optional[float]) -> str:
    """``95`` -> ``1m35s``; ``None`` -> ``--``. The one format of every elapsed time and ETA the commands print
    (live bars, log lines, per-item lines)."""
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "--"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class _Rate(TextColumn):
    def __init__(self, unit: str):
        super().__init__("")
        self.unit = unit

    def render(self, task):  # noqa: D102
        speed = task.finished_speed or task.speed
        text = f"{speed:.2f} {self.unit}/s" if speed else f"-- {self.unit}/s"
        from rich.text import Text

        return Text(text, style="progress.data.speed")


class _Clock(TextColumn):
    """Elapsed time (``elapsed 1m02s``) or time remaining (``ETA 1m36s``) in :func:`format_eta`'s format, so the live
    bar and the log lines read alike."""

    def __init__(self, remaining: bool):
        super().__init__("")
        self.remaining = remaining

    def render(self, task):  # noqa: D102
        from rich.text import Text

        if self.remaining:
            return Text(f"ETA {format_eta(task.time_remaining)}", style="progress.remaining")
        seconds = task.finished_time if task.finished else task.elapsed
        return Text(f"elapsed {format_eta(seconds)}", style="progress.elapsed")


class JobProgress(Progress):
    """A rich ``Progress`` that tells work done in this run (:meth:`advance`, counted in the rate and ETA) from
    work found already done (:meth:`skip`: counted in N/M and the bar, never in the rate)."""

    def skip(self, task_id, n: float = 1) -> None:
        """Mark ``n`` items of ``task_id`` as already complete (resumed): completed += n, no speed sample."""
        with self._lock:
            task = self._tasks[task_id]
            task.completed += n
            task.fields["skipped"] = task.fields.get("skipped", 0) + n
            if task.total is not None and task.completed >= task.total and task.finished_time is None:
                task.finished_time = task.elapsed
                task.finished_speed = task.speed
        self._after_skip(task_id)

    def _after_skip(self, task_id) -> None:
        pass

    @staticmethod
    def skipped(task) -> float:
        """Items of ``task`` marked by :meth:`skip`."""
        return task.fields.get("skipped", 0)


class _LinesProgress(JobProgress):
    """A disabled rich ``Progress`` (no terminal) that prints a line on the first advance of each task, then at
    most every :data:`EVERY_S` seconds, and when a task completes. The rate is the items done in this run (not
    :meth:`skip`-ped ones) over the elapsed time; the ETA the items left at that rate."""

    def __init__(self, unit: str, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._unit = unit
        self._last: dict = {}
        self._t0: dict = {}

    def add_task(self, description, *args, **kwargs):  # noqa: D102
        tid = super().add_task(description, *args, **kwargs)
        self._t0[tid] = time.perf_counter()
        return tid

    def _maybe_print(self, task_id) -> None:
        task = self._tasks[task_id]
        now = time.perf_counter()
        last = self._last.get(task_id)
        finished = task.total is not None and task.completed >= task.total
        if last is not None and now - last < EVERY_S and not finished:
            return
        if last is not None and finished and self._last.get(("done", task_id)):
            return
        self._last[task_id] = now
        if finished:
            self._last[("done", task_id)] = True
        el = max(now - self._t0.get(task_id, now), 1e-9)
        skipped = self.skipped(task)
        rate = (task.completed - skipped) / el
        eta = (task.total - task.completed) / rate if rate > 0 and task.total is not None else None
        if task.total is not None and task.completed >= task.total:
            eta = 0.0
        total = f"/{task.total:g}" if task.total is not None else ""
        pct = f" ({100 * task.completed / task.total:.1f}%)" if task.total else ""
        resumed = f" ({skipped:g} already complete)" if skipped else ""
        self.console.print(f"{task.description}: {task.completed:g}{total} {self._unit}{pct}{resumed}, {rate:.2f} "
                           f"{self._unit}/s, elapsed {format_eta(el)}, ETA {format_eta(eta)}",
                           markup=False, highlight=False)

    def _after_skip(self, task_id) -> None:
        task = self._tasks[task_id]
        if task.total is not None and task.completed >= task.total:
            self._maybe_print(task_id)  # the closing line; skipping alone never starts the log

    def advance(self, task_id, advance: float = 1) -> None:  # noqa: D102
        super().advance(task_id, advance)
        self._maybe_print(task_id)

    def update(self, task_id, *args, **kwargs) -> None:  # noqa: D102
        super().update(task_id, *args, **kwargs)
        if "completed" in kwargs or "advance" in kwargs:
            self._maybe_print(task_id)


def job_progress(unit: str = "scenes", tty: Optional[bool] = None) -> JobProgress:
    """A rich ``Progress`` with description, bar, N/M, percent, rate (``unit``/s), elapsed and ETA.

    Without a terminal on stderr (``tty`` overrides the detection) the bar is replaced by plain lines (see the
    module docstring); ``progress.disable`` is then True.
    """
    tty = sys.stderr.isatty() if tty is None else tty
    cols = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
            _Rate(unit), _Clock(remaining=False), _Clock(remaining=True))
    if tty:
        return JobProgress(*cols, console=console, transient=False)
    return _LinesProgress(unit, *cols, console=console, disable=True, transient=False)


class LineProgress:
    """Context manager around :func:`job_progress` for code that reports absolute counts:
    ``update(done, total)`` (the task is created on the first call, when the total is known)."""

    def __init__(self, description: str, unit: str = "items", tty: Optional[bool] = None):
        self.description, self.unit, self._tty = description, unit, tty
        self._prog: Optional[Progress] = None
        self._task = None

    def __enter__(self) -> "LineProgress":
        self._prog = job_progress(self.unit, self._tty)
        self._prog.__enter__()
        return self

    def update(self, done: float, total: Optional[float] = None) -> None:
        """Set the number of items done (and the total)."""
        if self._task is None:
            self._task = self._prog.add_task(self.description, total=total)
        self._prog.update(self._task, completed=done, total=total)

    def __exit__(self, *exc) -> None:
        self._prog.__exit__(*exc)


def line_progress(description: str, unit: str = "items", tty: Optional[bool] = None) -> LineProgress:
    """A :class:`LineProgress` (live bar on a terminal, lines otherwise)."""
    return LineProgress(description, unit, tty)
