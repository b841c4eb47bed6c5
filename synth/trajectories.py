"""Trajectory families and speed profiles: pure functions from parameters to per-frame poses.

Positions are Unreal world **metres** here (the sampler converts to cm for the scene description); rotations are
Unreal rotators ``[pitch, yaw, roll]`` in degrees. ``u`` is the per-frame progress in [0, 1] from
:func:`synth.core.speed.speed_progress`; every family moves by ``u[i] x (its total amount)`` at frame ``i``.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import make_interp_spline

from .core.geometry import look_at_rotator, rotator_to_axes

__all__ = [
    "FAMILIES",
    "pan_tilt",
    "translate",
    "arc",
    "random_path",
    "static",
    "camera_axis_vectors",
    "path_length",
    "fit_waypoints_to_length",
    "smooth_path",
    "positions_on_path",
    "frame_scale",
]


FAMILIES = ("pan", "tilt", "translate", "arc", "random", "static")


def static(location: np.ndarray, rotator: np.ndarray, u: np.ndarray):
    """No motion: ``(F, 3)`` locations and rotators repeated."""
    n = len(u)
    return np.repeat(np.asarray(location, float)[None], n, 0), np.repeat(np.asarray(rotator, float)[None], n, 0)


def pan_tilt(location: np.ndarray, rotator: np.ndarray, u: np.ndarray, d_pitch_deg: float, d_yaw_deg: float):
    """Rotate in place: pitch and yaw change by ``u x d_pitch`` / ``u x d_yaw`` (positive yaw pans right,
    positive pitch tilts up); position fixed."""
    loc, rot = static(location, rotator, u)
    rot[:, 0] += u * d_pitch_deg
    rot[:, 1] += u * d_yaw_deg
    return loc, rot


def camera_axis_vectors(rotator: np.ndarray) -> dict:
    """World directions (Unreal axes) of a camera's OpenCV axes: ``x`` right, ``y`` down, ``z`` forward."""
    fwd, right, up = rotator_to_axes(*np.asarray(rotator, float))
    return {"x": right, "y": -up, "z": fwd}


def translate(location: np.ndarray, rotator: np.ndarray, u: np.ndarray, displacement_m: np.ndarray):
    """Straight move by ``u x displacement`` (Unreal world metres); rotation fixed."""
    loc, rot = static(location, rotator, u)
    loc += u[:, None] * np.asarray(displacement_m, float)[None]
    return loc, rot


def arc(location: np.ndarray, rotator: np.ndarray, u: np.ndarray, pivot: np.ndarray, angle_deg: float):
    """Orbit about the vertical axis through ``pivot`` by ``u x angle`` (positive = towards the camera's left,
    i.e. Unreal yaw direction), yawing by the same angle so the view of the pivot is kept."""
    loc, rot = static(location, rotator, u)
    phi = np.radians(u * angle_deg)
    rel = np.asarray(location, float)[:2] - np.asarray(pivot, float)[:2]
    c, s = np.cos(phi), np.sin(phi)
    loc[:, 0] = pivot[0] + c * rel[0] - s * rel[1]
    loc[:, 1] = pivot[1] + s * rel[0] + c * rel[1]
    rot[:, 1] += u * angle_deg
    return loc, rot


def path_length(points: np.ndarray) -> float:
    """Length of a polyline ``(N, 3)``."""
    return float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum())


_DENSE = 2048


def _spline_samples(points: np.ndarray, dense: int = _DENSE) -> np.ndarray:
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


def smooth_path(points: np.ndarray, length: float, dense: int = _DENSE):
    """Interpolating B-spline through ``points`` ``(P, 3)`` (degree ``min(3, P - 1)``, chord-length knots),
    scaled about ``points[0]`` so its length is ``length``.

    Returns:
        ``(curve, s)``: ``(dense, 3)`` samples and their cumulative arc length ``(dense,)`` (``s[-1] == length``).
    """
    pts = np.asarray(points, float)
    curve = _spline_samples(pts, dense)
    seg = np.linalg.norm(np.diff(curve, axis=0), axis=1)
    curve = pts[0] + (curve - pts[0]) * (length / seg.sum())
    s = np.concatenate([[0.0], np.cumsum(seg * (length / seg.sum()))])
    return curve, s


def positions_on_path(start: np.ndarray, waypoints: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``(F, 3)`` points at arc length ``u x (curve length)`` along the smoothed path through (start, waypoints)."""
    pts = np.vstack([np.asarray(start, float)[None], np.asarray(waypoints, float)])
    curve = _spline_samples(pts)
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(curve, axis=0), axis=1))])
    return np.stack([np.interp(u * s[-1], s, curve[:, k]) for k in range(3)], -1)


def random_path(location: np.ndarray, rotator: np.ndarray, u: np.ndarray, waypoints: np.ndarray, length_m: float,
                look_at: np.ndarray | None, aim_offset_deg: np.ndarray | None = None):
    """Move along the smoothed path through (location, ``waypoints`` ``(P, 3)``) at arc length ``u x length``.

    The frame positions are scaled about the start so that the camera's path **as sampled at the frames** is
    ``length_m`` long (what anyone measuring the written poses gets); :func:`fit_waypoints_to_length` plus
    :func:`frame_scale` give waypoints for which that scale is 1. With ``look_at`` the camera keeps aiming at that
    point plus ``aim_offset_deg`` (pitch, yaw); otherwise the rotation stays fixed.
    """
    start = np.asarray(location, float)
    loc = positions_on_path(start, waypoints, u)
    loc = start + (loc - start) * (length_m / path_length(loc))
    if look_at is None:
        return loc, static(location, rotator, u)[1]
    rot = look_at_rotator(loc, np.asarray(look_at, float)[None])
    if aim_offset_deg is not None:
        rot[:, 0] += aim_offset_deg[0]
        rot[:, 1] += aim_offset_deg[1]
    rot[:, 2] = np.asarray(rotator, float)[2]
    return loc, rot


def frame_scale(start: np.ndarray, waypoints: np.ndarray, u: np.ndarray, length_m: float) -> float:
    """Factor that makes the frame-sampled path through (start, waypoints) ``length_m`` long."""
    return length_m / path_length(positions_on_path(start, waypoints, u))
