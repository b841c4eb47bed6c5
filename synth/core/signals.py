"""SIGTERM handled like Ctrl-C: what SLURM, Kubernetes and ``timeout`` send at a time limit.

Python's default SIGTERM action ends the process at once, skipping every ``finally`` and ``except``: a render stopped
that way left its staging folder (``.partial/scene2.*``, ten ``.tmp.mp4``) behind. Inside
:func:`sigterm_as_interrupt` a SIGTERM raises :class:`Terminated` (a ``KeyboardInterrupt``) in the main thread, so
the same cleanup as for Ctrl-C runs (staging removed, ``metadata.csv`` rebuilt, exit 130).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

__all__ = ["Terminated", "sigterm_as_interrupt"]


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM (handled as an interrupt: cleanup runs, then the command exits)."""


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread; further SIGTERMs during the
    cleanup are ignored (the first one already asked to stop). The previous handler is restored on exit.
    Outside the main thread (where handlers cannot be set) this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = []

    def handler(signum, frame):
        if not fired:
            fired.append(signum)
            raise Terminated(f"stopped by {signal.Signals(signum).name}")

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
