"""The execution layer's interface: a :class:`Job` (idempotent, deterministic units of work and a picklable factory
of the long-lived worker that runs them), the :class:`Engine` that runs it, and what comes back per unit
(:class:`UnitOutcome`).

Contract of every engine (``local``, ``processes``, ``ray``; one module each, :func:`get_engine` by name):

* a worker is built once per worker process / Ray actor by ``job.make_worker(ctx)`` (it owns the expensive state: a
  renderer and its GL context, a VAE, COLMAP) and then runs many units: ``worker(unit) -> value``;
* before building it, the worker checks that it sees the job's shared output root (:mod:`.marker`); a worker that
  cannot, or whose factory raises, stops the run at once (:class:`EngineSetupError`, naming the path and node);
* an exception raised by ``worker(unit)`` is that unit's deterministic failure: reported once
  (``UnitOutcome.ok`` False, ``error`` its reason), never retried, and the run goes on;
* a unit whose worker process dies (kill -9, out of memory, a lost node) is run again on another worker, at most
  ``max_retries`` more times; then it is reported as failed;
* one unit has one writer at a time: a unit is handed to a new worker only after its previous worker is known dead.

Engines never import what they run (no renderer, no torch): units and factories are opaque picklable objects.
"""

from __future__ import annotations

import abc
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Literal, Optional, Sequence, Type

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EngineSettings", "Job", "WorkerContext", "UnitOutcome", "Engine", "EngineSetupError", "register_engine",
           "get_engine", "engines", "ENGINE_NAMES", "node_name"]

#: The engines a user may name (``--engine``).
ENGINE_NAMES = ("local", "processes", "ray")


class EngineSettings(BaseModel):
    """How a command distributes its units (the flags ``--engine``, ``--ray-address``, ``--gpus-per-worker``,
    ``--cpus-per-worker``, ``--max-retries`` of ``synth render``, ``synth verify``, ``recam prepare``,
    ``recam eval``). The worker count is the command's own ``--workers``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    engine: Optional[Literal["local", "processes", "ray"]] = Field(
        None, description="Where units run: local (this process), processes (a pool of this machine's processes) "
        "or ray (Ray actors on a cluster, or a local Ray instance); default: local with one worker, else processes")
    ray_address: Optional[str] = Field(
        None, description="--engine ray: auto or HOST:PORT joins a running Ray cluster; unset starts a local Ray "
        "instance (no dashboard)")
    gpus_per_worker: float = Field(0.0, ge=0, description="--engine ray: GPUs each worker holds (1: one renderer "
                                   "or model per GPU; the device is Ray's assignment)")
    cpus_per_worker: float = Field(1.0, gt=0, description="--engine ray: CPUs each worker holds")
    max_retries: int = Field(2, ge=0, le=100, description="Times a unit whose worker died (killed, out of memory, "
                             "node lost) is run again on another worker; a unit that raises is never retried")

    def resolved(self, workers: int) -> str:
        """The engine's name for a run with ``workers`` workers (``None`` -> local for 1, processes above)."""
        return self.engine or ("local" if workers <= 1 else "processes")


class EngineSetupError(RuntimeError):
    """A worker could not start (it does not see the output root, its state could not be built): the run stops
    before or as soon as it happens; the message names the node and what to fix."""


def node_name() -> str:
    """This machine's host name (the per-node summary's key)."""
    return socket.gethostname()


@dataclass
class WorkerContext:
    """What a worker factory is given, in the worker's process.

    Attributes:
        node: host name of the worker's machine.
        index: the worker's number in this run (0..workers-1; a replacement of a dead worker gets a new number).
        gpu_ids: GPUs assigned to this worker (Ray's assignment; ``CUDA_VISIBLE_DEVICES`` is already set to them);
            empty for the local and processes engines.
        report: ``report(msg)``: a progress message (e.g. ``n`` more camera images, or ``(scene, n)``) passed, in
            order per worker, to the driver's ``on_report`` while the unit runs (the unit's value still carries its
            final counts).
    """

    node: str
    index: int = 0
    gpu_ids: List[int] = field(default_factory=list)
    report: Callable[[int], None] = lambda n: None


@dataclass(frozen=True)
class Job:
    """Units of work and how to build the worker that runs them.

    Attributes:
        name: what the units are (``render``, ``verify``) for messages.
        units: picklable, idempotent, deterministic units (scene indices, batches of clips, pairs).
        make_worker: picklable (a module-level function or a ``functools.partial`` of one) ``make_worker(ctx) ->
            worker``; ``worker(unit) -> value`` (picklable) runs one unit; ``worker.close()`` is called if present.
        workers: how many workers (processes, Ray actors; at most one per unit).
        root: the shared output root every worker must see (checked with a marker file); None: no check.
        unit_label: ``unit_label(unit) -> str`` for messages (default ``str``).
    """

    name: str
    units: Sequence[Any]
    make_worker: Callable[[WorkerContext], Callable[[Any], Any]]
    workers: int = 1
    root: Optional[Path] = None
    unit_label: Callable[[Any], str] = str


@dataclass
class UnitOutcome:
    """What became of one unit.

    Attributes:
        unit: the unit as given.
        ok: True if ``value`` holds its result; False if it failed (``error`` says why).
        value: the worker's return value (None when it failed).
        error: ``ExceptionType: message`` of a unit that raised, or the death of its worker(s).
        node: host name of the worker that ran its last attempt.
        attempts: runs of this unit (1 unless a worker died under it).
        seconds: wall time of the last attempt in the worker.
        fatal: the unit raised an ``OSError`` (disk full, permission denied): the machine's fault, not the
            unit's; every further unit would fail alike, so commands stop the run on it.
    """

    unit: Any
    ok: bool
    value: Any = None
    error: Optional[str] = None
    node: str = ""
    attempts: int = 1
    seconds: float = 0.0
    fatal: bool = False


class Engine(abc.ABC):
    """Runs a :class:`Job`'s units on workers and yields their outcomes as they finish (in any order)."""

    name: str = ""

    def __init__(self, settings: EngineSettings):
        self.settings = settings

    @abc.abstractmethod
    def run(self, job: Job, on_report: Optional[Callable[[int], None]] = None) -> Iterator[UnitOutcome]:
        """Yield one :class:`UnitOutcome` per unit of ``job``; ``on_report(msg)`` receives the workers' progress
        messages (:attr:`WorkerContext.report`) in this (the driver's) process.

        Raises:
            EngineSetupError: a worker could not start (fails fast).
            KeyboardInterrupt: Ctrl-C / SIGTERM; the workers are stopped first.
        """


_ENGINES: Dict[str, Type[Engine]] = {}


def register_engine(cls: Type[Engine]) -> Type[Engine]:
    """Class decorator: make ``cls`` available as ``--engine cls.name``."""
    _ENGINES[cls.name] = cls
    return cls


def engines() -> Dict[str, Type[Engine]]:
    """Every registered engine, by name."""
    from . import _load_all  # noqa: F401 - imports the entry modules

    _load_all()
    return dict(_ENGINES)


def get_engine(settings: EngineSettings, workers: int) -> Engine:
    """The engine ``settings`` names (see :meth:`EngineSettings.resolved`), ready to run jobs."""
    name = settings.resolved(workers)
    return engines()[name](settings)


def error_text(e: BaseException) -> str:
    """``ExceptionType: message`` (one line of a failed unit's reason)."""
    return f"{type(e).__name__}: {e}".strip()
