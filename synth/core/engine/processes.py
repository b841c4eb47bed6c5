"""``--engine processes``: a pool of spawned processes on this machine (one worker each, built on its first unit).

A worker process that dies (kill -9, out of memory) breaks Python's pool: every unit then in flight is run again in
a fresh pool (at most ``max_retries`` more times each); at most ``workers`` units are in flight, so only units that
were really running are charged an attempt.
"""

from __future__ import annotations

import collections
import multiprocessing as mp
import os
import queue as queue_mod
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Dict, Iterator, Optional

from .base import Engine, EngineSetupError, Job, UnitOutcome, WorkerContext, node_name, register_engine
from .host import WorkerHost
from .marker import root_marker

__all__ = ["ProcessesEngine"]

_HOST: Dict[str, WorkerHost] = {}


def _init(make_worker, marker, reports) -> None:
    ctx = WorkerContext(node_name(), os.getpid(), [], reports.put if reports is not None else (lambda n: None))
    _HOST["host"] = WorkerHost(make_worker, marker, ctx)


def _task(unit):
    host = _HOST["host"]
    if host.worker is None:
        try:
            host.setup()
        except EngineSetupError as e:
            return ("setup", str(e))
    return ("done",) + host.run(unit)


def _terminate(ex: ProcessPoolExecutor) -> None:
    """Stop a pool's processes now (Ctrl-C, an error in the driver): no worker outlives the run."""
    procs = list(getattr(ex, "_processes", {}).values())  # the pool has no public terminate before 3.14
    ex.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=10)


@register_engine
class ProcessesEngine(Engine):
    """Units in ``job.workers`` spawned processes of this machine."""

    name = "processes"

    def run(self, job: Job, on_report: Optional[Callable[[int], None]] = None) -> Iterator[UnitOutcome]:
        units = list(job.units)
        workers = max(1, min(job.workers, len(units)))
        ctx = mp.get_context("spawn")
        reports = ctx.Queue() if on_report is not None else None

        def drain() -> None:
            while reports is not None:
                try:
                    on_report(reports.get_nowait())
                except queue_mod.Empty:
                    return

        with root_marker(job.root) as marker:
            def pool() -> ProcessPoolExecutor:
                return ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init,
                                           initargs=(job.make_worker, marker, reports))

            todo = collections.deque(range(len(units)))
            attempts = [0] * len(units)
            inflight: Dict = {}
            ex = pool()
            try:
                while todo or inflight:
                    while todo and len(inflight) < workers:
                        i = todo.popleft()
                        attempts[i] += 1
                        inflight[ex.submit(_task, units[i])] = i
                    done, _ = wait(list(inflight), timeout=0.2, return_when=FIRST_COMPLETED)
                    drain()
                    broken = None
                    for f in done:
                        i = inflight.pop(f)
                        try:
                            r = f.result()
                        except BrokenProcessPool as e:
                            broken = e
                            todo.extend(self._retry_or_fail(job, units, attempts, i, e, failed := []))
                            yield from failed
                            continue
                        if r[0] == "setup":
                            raise EngineSetupError(r[1])
                        _, ok, value, error, node, secs, fatal = r
                        yield UnitOutcome(units[i], ok, value, error, node, attempts[i], secs, fatal)
                    if broken is not None:  # the pool is unusable: every unit still in flight died with it
                        for f in list(inflight):
                            i = inflight.pop(f)
                            todo.extend(self._retry_or_fail(job, units, attempts, i, broken, failed := []))
                            yield from failed
                        _terminate(ex)
                        ex = pool()
                drain()
                ex.shutdown(wait=True)
            except BaseException:
                _terminate(ex)
                raise

    def _retry_or_fail(self, job: Job, units, attempts, i: int, err: BaseException, failed: list):
        """``[i]`` to run again, or ``[]`` with the unit's failure appended to ``failed`` (retries spent)."""
        if attempts[i] <= self.settings.max_retries:
            return [i]
        failed.append(UnitOutcome(units[i], False, None, f"its worker process died {attempts[i]} time(s) "
                                  f"({type(err).__name__}); last on {node_name()}", node_name(), attempts[i]))
        return []
