"""Helpers of the zooming families (``zoom``, ``dolly_zoom``): focal-length profiles and their checks."""

from __future__ import annotations

from typing import Any, Dict, List

import numpy as np

#: focal lengths are stored (scene.json, camera_intrinsics.json) and drawn with 6 decimals (mm)
FOCAL_DECIMALS = 6


def focal_profile(f0: float, f1: float, u: np.ndarray, interpolation: str) -> np.ndarray:
    """``(F,)`` float64 focal length (mm) at progress ``u`` from ``f0`` to ``f1``: ``geometric``
    ``f0 (f1 / f0)^u`` (the image scale changes at a constant rate: what a zoom lens feels like) or ``linear``
    ``f0 + u (f1 - f0)`` (a dolly zoom: the focal length follows the distance, which is linear in ``u``). Rounded to
    :data:`FOCAL_DECIMALS`, as written and rendered."""
    u = np.asarray(u, np.float64)
    if interpolation == "geometric":
        f = f0 * (f1 / f0) ** u
    elif interpolation == "linear":
        f = f0 + u * (f1 - f0)
    else:
        raise ValueError(f"interpolation: {interpolation!r}; expected geometric or linear")
    return np.round(f, FOCAL_DECIMALS)


def focal_problems(params: Dict[str, Any], lo: float, hi: float) -> List[str]:
    """Problems of ``focal_start_mm`` / ``focal_end_mm`` (numbers in ``[lo, hi]``; start != end)."""
    out = []
    for key in ("focal_start_mm", "focal_end_mm"):
        v = params.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or v <= 0:
            out.append(f"{key}: expected a positive number, got {v!r}")
        elif not lo - 1e-6 <= v <= hi + 1e-6:
            out.append(f"{key} {v:g} outside the configured focal range [{lo:g}, {hi:g}] mm")
    if not out and params["focal_start_mm"] == params["focal_end_mm"]:
        out.append(f"focal_end_mm: equal to focal_start_mm ({params['focal_end_mm']:g}); a zoom changes it")
    return out
