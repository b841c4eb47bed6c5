"""Where built assets live, and how a build is installed atomically (a killed build leaves no half asset)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

__all__ = ["cache_dir", "install_dir"]


def cache_dir() -> Path:
    """``$SYNTH_ASSETS`` if set, else ``<python prefix>/share/synth/assets`` (the virtual environment's: each
    checkout's ``.venv`` has its own cache, kept with it) (not created)."""
    env = os.environ.get("SYNTH_ASSETS")
    return Path(env).expanduser() if env else Path(sys.prefix) / "share" / "synth" / "assets"


def install_dir(staged: Path, dest: Path) -> None:
    """Replace ``dest`` by the fully written folder ``staged`` (same file system) with two renames: a killed
    build leaves the old build, or (between the renames) none, never a half-written one."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if dest.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
        os.rmdir(old)
        os.rename(dest, old)
    os.rename(staged, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
