"""An output folder's lock: one ``synth render`` / ``synth plan`` per dataset part at a time, with a clear message.

``<out>/.locks/<i>of<n>.lock`` is held with ``flock`` (released by the kernel when the holder dies, also on NFS,
where Linux maps it to POSIX locks) and names its holder (host, pid, command, start time). Shards of one array job
(``--shard i/n`` with the same ``n`` and different ``i``) write disjoint scenes and do not conflict; the same shard
twice, a whole run (``0/1``) next to anything else, or shards with different ``n`` do. A lock file whose holder
ended (or died) is not held and is simply taken over.

Lock files are opened with ``O_NOFOLLOW`` and the ``.locks`` folder is joined with :func:`synth.core.paths.safe_join`:
a symlink planted at ``<out>/.locks/<shard>.lock`` (or ``.locks`` itself pointing outside ``<out>``) is refused with
:class:`synth.core.paths.UnsafePathError`, never followed (it would truncate and overwrite the link's target).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import List, Optional, Tuple

from .paths import UnsafePathError, open_nofollow, read_text_nofollow, safe_join

__all__ = ["OutputLock", "OutputLockError", "acquire_output_lock", "LOCK_DIR"]

LOCK_DIR = ".locks"


class OutputLockError(RuntimeError):
    """Another process holds the output folder (the message names the host, pid, command and start time)."""


def _holder_text(path: Path) -> str:
    try:
        info = json.loads(read_text_nofollow(path, "lock file", max_bytes=1 << 16))
        return (f"{info.get('command', 'a synth command')} (host {info.get('host')}, pid {info.get('pid')}, since "
                f"{info.get('started')})")
    except (OSError, ValueError):  # UnsafePathError is a ValueError: a symlink is never read
        return "another process (holder unknown)"


def _parse_name(name: str) -> Optional[Tuple[int, int]]:
    stem = name[:-len(".lock")] if name.endswith(".lock") else None
    if not stem or "of" not in stem:
        return None
    a, _, b = stem.partition("of")
    return (int(a), int(b)) if a.isdigit() and b.isdigit() else None


def _conflicts(a: Tuple[int, int], b: Tuple[int, int]) -> bool:
    """Shards (i, n) overlap unless they have the same n and different i."""
    return not (a[1] == b[1] and a[0] != b[0])


#: Locks held by this process, by path: a later command for the same shard in the same process (tests,
#: notebooks) takes its own lock over.
_HELD: dict = {}


class OutputLock:
    """A held lock; :meth:`release` (idempotent) removes the lock file while still holding it, then unlocks, so a
    finished run leaves nothing in the dataset. A process that opened the file just before it was removed notices
    that it locked a file no longer in the folder and tries again (:func:`_try_lock`)."""

    def __init__(self, path: Path, fd: int):
        self.path, self._fd = path, fd

    def release(self) -> None:
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)
        try:
            self.path.parent.rmdir()  # only when no other shard holds a lock there
        except OSError:
            pass
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None
        if _HELD.get(str(self.path)) is self:
            del _HELD[str(self.path)]

    def __enter__(self) -> "OutputLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _try_lock(path: Path, create: bool = True) -> Optional[int]:
    """An fd holding ``flock`` on ``path`` (created if missing and ``create``), or None if another holder has it
    (or, with ``create=False``, if the file is gone). A file removed by its releasing holder between our open and
    our lock is detected (its inode is no longer at ``path``) and the attempt repeated on the new file."""
    for _ in range(100):
        try:
            fd = open_nofollow(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o644, what="a lock file")
        except FileNotFoundError:
            if create:
                raise
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return None
            raise
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        if not create:
            return None
    raise OSError(f"{path}: could not lock (the file keeps being replaced)")


def acquire_output_lock(out: Path, shard: Tuple[int, int] = (0, 1), command: str = "synth") -> OutputLock:
    """Lock ``out`` (created if missing) for shard ``(i, n)``.

    Raises:
        OutputLockError: another live process holds this shard or an overlapping one; names the holder.
        UnsafePathError: ``.locks`` or a lock file in it is a symbolic link (leaving ``out``, or a lock file at all).
        NotADirectoryError / FileExistsError: ``out`` (or a parent) is a file.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    locks = safe_join(out, LOCK_DIR, what="the lock folder")
    if locks.is_symlink():  # even one inside out: lock files live in a plain folder of their own
        raise UnsafePathError(f"{locks}: is a symbolic link; expected the lock folder of {out}: remove the link")
    locks.mkdir(exist_ok=True)
    mine = locks / f"{int(shard[0])}of{int(shard[1])}.lock"
    if str(mine) in _HELD:  # our own earlier command's lock on this shard (an in-process command that did not end)
        _HELD[str(mine)].release()
    created = not mine.exists()
    fd = _try_lock(mine)
    if fd is None:
        raise OutputLockError(f"{out} is being written by {_holder_text(mine)}: wait for it to finish or use "
                              f"another --out (lock file {mine})")
    held: List[int] = []
    try:
        for other in sorted(locks.glob("*.lock")):
            key = _parse_name(other.name)
            if other == mine or key is None or not _conflicts(shard, key):
                continue
            if not other.exists():
                continue
            ofd = _try_lock(other, create=False)
            if ofd is None and not other.exists():
                continue  # released (and removed) by its holder meanwhile
            if ofd is None:
                raise OutputLockError(f"{out} is being written by {_holder_text(other)} (shard {key[0]}/{key[1]}, "
                                      f"which overlaps {shard[0]}/{shard[1]}): wait for it to finish or use "
                                      f"another --out (lock file {other})")
            other.unlink(missing_ok=True)  # a stale file of a dead holder: remove it while we hold it
            held.append(ofd)
        info = {"host": socket.gethostname(), "pid": os.getpid(), "command": command,
                "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        os.ftruncate(fd, 0)
        os.write(fd, (json.dumps(info) + "\n").encode())
    except BaseException:
        if created:  # leave the folder as it was
            mine.unlink(missing_ok=True)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        raise
    finally:
        for ofd in held:
            fcntl.flock(ofd, fcntl.LOCK_UN)
            os.close(ofd)
    lock = OutputLock(mine, fd)
    _HELD[str(mine)] = lock
    return lock
