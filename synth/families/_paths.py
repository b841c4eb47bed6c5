"""Smoothed paths through waypoints (interpolating B-splines, scipy), measured by arc length. Units: any (metres
in the families)."""

from __future__ import annotations

import numpy as np
from scipy.interpolate import make_interp_spline

__all__ = ["path_length", "fit_waypoints_to_length", "positions_on_path", "frame_scale"]

_DENSE = 2048


def path_length(points: np.ndarray) -> float:
    """Length of a polyline ``(N, 3)``."""
    return float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum())


def _spline_samples(points: np.ndarray, dense: int = _DENSE) -> np.ndarray:
    """``(dense, 3)`` samples of the interpolating B-spline through ``points`` ``(P, 3)`` (degree
    ``min(3, P - 1)``, chord-length knots)."""
    pts = np.asarray(points, float)
    chord = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    t = np.concatenate([[0.0], np.cumsum(chord)])
    return make_interp_spline(t / t[-1], pts, k=min(3, len(pts) - 1))(np.linspace(0.0, 1.0, dense))


def fit_waypoints_to_length(start: np.ndarray, waypoints: np.ndarray, length: float) -> np.ndarray:
    """Scale ``waypoints`` ``(P, 3)`` about ``start`` so the smoothed path through (start, waypoints) has length
    ``length`` (the interpolating spline commutes with scaling, so the curve scales with its points)."""
    pts = np.vstack([np.asarray(start, float)[None], np.asarray(waypoints, float)])
    scale = length / path_length(_spline_samples(pts))
    return pts[0] + (pts[1:] - pts[0]) * scale


def positions_on_path(start: np.ndarray, waypoints: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``(F, 3)`` points at arc length ``u x (curve length)`` along the smoothed path through (start, waypoints)."""
    pts = np.vstack([np.asarray(start, float)[None], np.asarray(waypoints, float)])
    curve = _spline_samples(pts)
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(curve, axis=0), axis=1))])
    return np.stack([np.interp(u * s[-1], s, curve[:, k]) for k in range(3)], -1)


def frame_scale(start: np.ndarray, waypoints: np.ndarray, u: np.ndarray, length_m: float) -> float:
    """Factor that makes the frame-sampled path through (start, waypoints) ``length_m`` long."""
    return length_m / path_length(positions_on_path(start, waypoints, u))
