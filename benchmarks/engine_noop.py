"""The no-op worker of ``bench_engine.py`` (a module of its own: worker processes and Ray actors import it)."""

from __future__ import annotations


def make_noop(ctx):
    """A worker that returns its unit: what an engine costs per unit, with no work to hide it."""
    return lambda unit: unit
