"""Checks of an output folder before any work: can it be written (a write probe), and is there room for the
planned outputs (a free-space estimate). Used by ``synth render`` and ``recam infer`` before they compute, so a
read-only or full disk is an error up front with nothing written, instead of a traceback after the work.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["OutputSpaceError", "existing_ancestor", "check_writable", "check_free_space", "format_bytes"]


class OutputSpaceError(ValueError):
    """An output folder cannot be written, or its file system lacks room for the planned outputs (the message
    names the folder, and for space the bytes needed and free)."""


def existing_ancestor(path: Path) -> Path:
    """``path`` itself if it exists, else its nearest existing parent (the folder that would hold it)."""
    path = Path(path).absolute()
    for p in (path, *path.parents):
        if p.exists():
            return p
    return Path(path.anchor)


def format_bytes(n: float) -> str:
    """``1.5 GiB`` style (binary units)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def check_writable(out: Path, option: str = "--out") -> None:
    """Create and remove a probe file in ``out`` (or, if it does not exist yet, in the folder that would hold it),
    so that a read-only file system, missing permissions or a full inode table fail now.

    Raises:
        OutputSpaceError: the probe cannot be created; names the folder and the reason.
    """
    folder = existing_ancestor(out)
    if not folder.is_dir():
        raise OutputSpaceError(f"{option} {out}: {folder} is a file; expected a folder")
    try:
        fd, name = tempfile.mkstemp(prefix=".write-probe.", dir=folder)
    except OSError as e:
        why = {errno.EROFS: "read-only file system", errno.EACCES: "permission denied", errno.EPERM:
               "permission denied", errno.ENOSPC: "no space left on device"}.get(e.errno, e.strerror or str(e))
        raise OutputSpaceError(f"{option} {out}: cannot write into {folder} ({why}); nothing was written") from None
    os.close(fd)
    os.unlink(name)


def check_free_space(out: Path, needed: int, what: str, option: str = "--out") -> None:
    """Raise unless the file system holding ``out`` has at least ``needed`` bytes free.

    Args:
        out: the output folder (need not exist yet).
        needed: estimated bytes of the planned outputs.
        what: what they are, for the message (``"1 scene of 10 videos"``).

    Raises:
        OutputSpaceError: names the folder, the bytes needed and free.
    """
    free = shutil.disk_usage(existing_ancestor(out)).free
    if free < needed:
        raise OutputSpaceError(f"{option} {out}: {format_bytes(free)} free, but {what} need about "
                               f"{format_bytes(needed)}; free some space or choose another folder (nothing was "
                               f"written)")
