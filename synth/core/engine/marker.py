"""The shared-filesystem check: the driver writes a marker file with a random token into the output root; every
worker reads it back before it builds its state. A worker on a node that mounts another filesystem (or none) at
that path fails fast with the path in the message, instead of writing a dataset no one else sees (the staging +
rename protocol needs one POSIX filesystem shared by all nodes)."""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from ..atomic import atomic_write_text
from ..paths import UnsafePathError, read_text_nofollow, safe_join
from .base import EngineSetupError

__all__ = ["RootMarker", "root_marker", "MARKER_PREFIX"]

#: Name prefix of the marker file in the output root (``.synth-engine.<token>``; removed when the run ends).
MARKER_PREFIX = ".synth-engine."


@dataclass(frozen=True)
class RootMarker:
    """Where the marker is and what it holds (picklable: it travels to every worker)."""

    path: Path
    token: str

    def check(self, node: str) -> None:
        """Raise :class:`EngineSetupError` unless this process sees the marker with its token."""
        try:
            text = read_text_nofollow(self.path, "engine marker", max_bytes=256)
        except (OSError, UnsafePathError, ValueError) as e:
            raise EngineSetupError(
                f"worker on {node} does not see the output root {self.path.parent}: the marker file {self.path} "
                f"written by the driver is missing there ({type(e).__name__}: {e}). Every worker must see the "
                f"same output folder on one shared POSIX filesystem (rename must be atomic across nodes); mount it "
                f"at the same path on every node") from None
        if text.strip() != self.token:
            raise EngineSetupError(
                f"worker on {node} sees another folder at {self.path.parent}: the marker file {self.path} holds "
                f"another token than the driver wrote (two filesystems mounted at the same path?)")


@contextlib.contextmanager
def root_marker(root: Optional[Path]) -> Iterator[Optional[RootMarker]]:
    """Write a fresh marker into ``root`` (created if missing) for the duration of a run; None: no check."""
    if root is None:
        yield None
        return
    token = secrets.token_hex(16)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    path = safe_join(root, MARKER_PREFIX + token, what="engine marker")
    atomic_write_text(path, token + "\n")
    try:
        yield RootMarker(path, token)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
