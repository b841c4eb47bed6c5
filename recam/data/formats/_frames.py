"""Where a clip's frames are: ``videos/<key>.mp4`` or an image folder ``frames/<key>/`` (RealEstate10K layout).
A helper module, not a kind (it registers nothing)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

from .base import IMAGE_EXT


def frames_source(root: Path, key: str, n: int) -> Tuple[object, Optional[str]]:
    """``(video path or sorted image list, None)`` or ``(None, reason)``; ``n`` = frames the poses need."""
    video = root / "videos" / f"{key}.mp4"
    if video.is_file():
        return video, None
    d = root / "frames" / key
    imgs = sorted(p for p in d.glob("*") if p.suffix.lower() in IMAGE_EXT) if d.is_dir() else []
    if imgs:
        if len(imgs) != n:
            return None, f"{len(imgs)} images in {d} for {n} poses"
        return imgs, None
    return None, f"no video {video} and no frames in {d}"
