"""What the new trajectory would see: the source's point cloud splatted from each new camera, and warnings.

Splatting is a z-sorted scatter of projected points (:func:`synth.core.projection.project_points`), each a
``size`` x ``size`` pixel square, far points first, so near ones are drawn over them. It is a preview of where the
reconstructed scene lies in the new view, not a renderer.
"""

from __future__ import annotations

from typing import List, Sequence

import numpy as np

from synth.core.projection import project_points

__all__ = ["splat_view", "trajectory_warnings", "upside_down_frames", "outside_region_frames"]


def splat_view(points: np.ndarray, colors: np.ndarray, K: np.ndarray, c2w: np.ndarray, width: int, height: int,
               size: int = 2, background=(24, 24, 28)) -> np.ndarray:
    """``(height, width, 3)`` uint8: ``points`` ``(P, 3)`` (metres, world) with ``colors`` ``(P, 3)`` uint8 seen by
    a camera with intrinsics ``K`` (pixels of this image) and OpenCV c2w ``(4, 4)`` (metres); each point is a
    ``size`` x ``size`` pixel square over the pixel it projects into."""
    img = np.empty((height, width, 3), np.uint8)
    img[:] = background
    if len(points) == 0:
        return img
    uv, z = project_points(K, c2w, points)
    ok = (z > 1e-6) & np.isfinite(uv).all(1)
    uv, z, col = uv[ok], z[ok], np.asarray(colors)[ok]
    order = np.argsort(-z)  # far first: near points overwrite them
    u = np.floor(uv[order, 0]).astype(np.int64)
    v = np.floor(uv[order, 1]).astype(np.int64)
    col = col[order]
    offsets = range(-(size // 2), size - size // 2)
    for du in offsets:
        for dv in offsets:
            uu, vv = u + du, v + dv
            m = (uu >= 0) & (uu < width) & (vv >= 0) & (vv < height)
            img[vv[m], uu[m]] = col[m]  # later (nearer) writes win
    return img


def upside_down_frames(c2w: np.ndarray, up: np.ndarray = np.array([0.0, -1.0, 0.0])) -> List[int]:
    """Frames whose camera "up" (``-y`` of the camera, OpenCV) points below the horizon of ``up`` (world; default:
    the source camera's up at frame 0): the view is upside down."""
    cam_up = -np.asarray(c2w)[:, :3, 1]
    return [int(i) for i in np.flatnonzero(cam_up @ up < 0)]


def outside_region_frames(c2w: np.ndarray, points: np.ndarray, sources: np.ndarray, margin: float = 0.25
                          ) -> List[int]:
    """Frames whose camera centre lies outside the reconstructed region: the axis-aligned box of the 2nd..98th
    percentiles of ``points`` ``(P, 3)`` and the source camera centres ``sources`` ``(S, 3)``, grown by ``margin``
    of its size on every side. Empty when there are fewer than 10 points (no region to leave)."""
    if len(points) < 10:
        return []
    lo, hi = np.percentile(points, 2, axis=0), np.percentile(points, 98, axis=0)
    lo, hi = np.minimum(lo, sources.min(0)), np.maximum(hi, sources.max(0))
    pad = margin * (hi - lo)
    c = np.asarray(c2w)[:, :3, 3]
    out = ((c < lo - pad) | (c > hi + pad)).any(1)
    return [int(i) for i in np.flatnonzero(out)]


def _ranges(frames: Sequence[int]) -> str:
    out, start = [], None
    for i, f in enumerate(frames):
        if start is None:
            start = f
        if i + 1 == len(frames) or frames[i + 1] != f + 1:
            out.append(f"{start}" if start == f else f"{start}-{f}")
            start = None
    return ", ".join(out)


def trajectory_warnings(c2w: np.ndarray, points: np.ndarray, source_c2w: np.ndarray) -> List[str]:
    """Warnings for a trajectory ``(F, 4, 4)`` (metres) over a scene with ``points`` ``(P, 3)`` (metres) filmed
    along ``source_c2w`` ``(S, 4, 4)``: leaving the reconstructed region, turning upside down."""
    warn = []
    up = -np.asarray(source_c2w)[0, :3, 1]
    bad = upside_down_frames(c2w, up)
    if bad:
        warn.append(f"the view is upside down at frames {_ranges(bad)}")
    out = outside_region_frames(c2w, points, np.asarray(source_c2w)[:, :3, 3])
    if out:
        warn.append(f"the camera leaves the reconstructed region at frames {_ranges(out)}")
    return warn
