"""A synthetic source for the studio tests: a textured box of known 3D points filmed by a known camera path, so
the studio opens in well under a second (no COLMAP)."""

from __future__ import annotations

import numpy as np

from recam.studio.preview import splat_view
from recam.studio.source import SourceScene, default_intrinsics


def synthetic_source(num_frames: int = 17, stride: int = 4, size=(96, 64), seed: int = 0) -> SourceScene:
    """Points on the walls of a 6 x 3 x 8 m room centred 4 m ahead of the first camera; the camera trucks 0.5 m
    right over the clip. Frames are the points splatted from each camera (so they agree with the geometry)."""
    rng = np.random.default_rng(seed)
    n = 3000
    pts = rng.uniform([-3, -1.5, 0], [3, 1.5, 8], (n, 3))
    axis = rng.integers(0, 3, n)
    side = rng.integers(0, 2, n)
    lo, hi = np.array([-3, -1.5, 0.0]), np.array([3, 1.5, 8.0])
    pts[np.arange(n), axis] = np.where(side, hi[axis], lo[axis])
    pts = pts[pts[:, 2] > 1.0]
    cols = (rng.uniform(40, 255, (len(pts), 3))).astype(np.uint8)
    idx = np.arange(0, num_frames, stride)
    c2w = np.repeat(np.eye(4)[None], len(idx), 0)
    c2w[:, 0, 3] = 0.5 * idx / (num_frames - 1)
    w, h = size
    K = default_intrinsics(w, h, 60.0)
    frames = np.stack([splat_view(pts, cols, K, c, w, h) for c in c2w])
    return SourceScene(frames, idx, c2w, K, pts, cols, 1.0, "--scale", num_frames, 15.0, "ok")
