"""Projection of world points through a pinhole camera (K of :mod:`synth.core.intrinsics`, OpenCV c2w)."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from .rigid import invert_rigid

__all__ = ["project_points"]


def project_points(K: np.ndarray, c2w: np.ndarray, points_world: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Project world points into a camera.

    Args:
        K: ``(3, 3)`` intrinsics (continuous pixel coordinates, see module docstring).
        c2w: ``(4, 4)`` OpenCV c2w in the same world and units as the points.
        points_world: ``(N, 3)``.

    Returns:
        ``uv`` ``(N, 2)`` pixel coordinates (column, row) and ``z`` ``(N,)`` depth along the optical axis
        (same unit as the points); points with ``z <= 0`` are behind the camera.
    """
    w2c = invert_rigid(c2w)
    p = np.asarray(points_world, dtype=np.float64)
    pc = p @ w2c[:3, :3].T + w2c[:3, 3]
    z = pc[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = (pc[:, :2] / z[:, None]) @ np.asarray(K)[:2, :2].T + np.asarray(K)[:2, 2]
    return uv, z

