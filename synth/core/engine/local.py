"""``--engine local``: every unit in this process, one after another, on one worker (no pickling, no retries: a
dying worker is this process)."""

from __future__ import annotations

from typing import Callable, Iterator, Optional

from .base import Engine, Job, UnitOutcome, WorkerContext, node_name, register_engine
from .host import WorkerHost
from .marker import root_marker

__all__ = ["LocalEngine"]


@register_engine
class LocalEngine(Engine):
    """Runs the units in the calling process (the reference the other engines must equal)."""

    name = "local"

    def run(self, job: Job, on_report: Optional[Callable[[int], None]] = None) -> Iterator[UnitOutcome]:
        with root_marker(job.root) as marker:
            host = WorkerHost(job.make_worker, marker, WorkerContext(node_name(), 0, [], on_report or (lambda n: None)))
            host.setup()
            try:
                for unit in job.units:
                    ok, value, error, node, secs, fatal = host.run(unit)
                    yield UnitOutcome(unit, ok, value, error, node, 1, secs, fatal)
            finally:
                host.close()
