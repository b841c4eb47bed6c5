"""The worker side shared by every engine: checks the output root, builds the worker once, runs units and turns a
unit's exception into its failure reason (so a broken asset is reported, not retried)."""

from __future__ import annotations

import time
from typing import Any, Callable, Optional, Tuple

from .base import EngineSetupError, WorkerContext, error_text
from .marker import RootMarker

__all__ = ["WorkerHost"]


class WorkerHost:
    """One long-lived worker: ``setup()`` once, then ``run(unit)`` many times, ``close()`` at the end."""

    def __init__(self, make_worker: Callable[[WorkerContext], Callable[[Any], Any]], marker: Optional[RootMarker],
                 ctx: WorkerContext):
        self.make_worker, self.marker, self.ctx = make_worker, marker, ctx
        self.worker = None

    def setup(self) -> str:
        """Check the output root and build the worker; returns the node name.

        Raises:
            EngineSetupError: the root is not visible, or the factory raised (its reason in the message).
        """
        if self.marker is not None:
            self.marker.check(self.ctx.node)
        try:
            self.worker = self.make_worker(self.ctx)
        except EngineSetupError:
            raise
        except Exception as e:  # noqa: BLE001 - reported to the driver as the reason the run cannot start
            raise EngineSetupError(f"worker on {self.ctx.node} could not start: {error_text(e)}") from None
        return self.ctx.node

    def run(self, unit: Any) -> Tuple[bool, Any, Optional[str], str, float, bool]:
        """``(ok, value, error, node, seconds, fatal)`` of one unit (an exception is a deterministic failure;
        ``fatal``: it was an ``OSError``, see :attr:`UnitOutcome.fatal`)."""
        if self.worker is None:
            self.setup()
        t0 = time.perf_counter()
        try:
            value = self.worker(unit)
        except Exception as e:  # noqa: BLE001 - the unit's reason, reported once by the driver
            return False, None, error_text(e), self.ctx.node, time.perf_counter() - t0, isinstance(e, OSError)
        return True, value, None, self.ctx.node, time.perf_counter() - t0, False

    def close(self) -> None:
        close = getattr(self.worker, "close", None)
        self.worker = None
        if close is not None:
            close()
