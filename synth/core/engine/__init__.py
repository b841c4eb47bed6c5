"""The execution layer (issue 19): one interface (:mod:`.base`) and one module per engine (``local``,
``processes``, ``ray_engine``); the commands build a :class:`~.base.Job` and run it on the engine
``--engine`` names. It imports nothing of the project outside :mod:`synth.core`, and Ray only when asked for."""

from __future__ import annotations

import importlib

from .base import (ENGINE_NAMES, Engine, EngineSettings, EngineSetupError, Job, UnitOutcome, WorkerContext,
                   engines, get_engine, register_engine)
from .summary import node_summary

__all__ = ["ENGINE_NAMES", "Engine", "EngineSettings", "EngineSetupError", "Job", "UnitOutcome", "WorkerContext",
           "engines", "get_engine", "register_engine", "node_summary", "run_job"]

_ENTRIES = ("local", "processes", "ray_engine")


def _load_all() -> None:
    """Import every engine module (each registers itself; ``ray_engine`` imports Ray only when it runs)."""
    for name in _ENTRIES:
        importlib.import_module(f"{__name__}.{name}")


def run_job(job: Job, settings: EngineSettings, on_report=None):
    """Run ``job`` on the engine ``settings`` names; yields :class:`UnitOutcome` as units finish."""
    return get_engine(settings, job.workers).run(job, on_report)
