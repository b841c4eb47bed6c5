"""Camera recipe extras, as pure functions: a constant per-camera roll and the framing check (is the whole
character, head to feet, in view?).

The published MultiCamVideo recipe says nothing of roll, so roll is off by default (``framing.roll: none``);
``handheld`` gives each camera a constant roll of 1-5 degrees of random sign, as real handheld footage has.
Framing: at the start frame, the character's body box (feet to the top of the head, ``body_radius_m`` around its
vertical axis; the catalog's height, so it holds for any pose that stays within it) must project inside the image
shrunk by ``margin_frac``; the sampler retries a camera's start until it does (``framing.full_body``), and keeps the
best try when no start can frame the body (e.g. a 50 mm lens on a 3 m hemisphere), so sampling never fails for it.

Units: metres, degrees; Unreal rotators ``[pitch, yaw, roll]``; image pixels with K of :mod:`synth.core.intrinsics`.
"""

from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

from ..core.intrinsics import intrinsics_from_lens
from ..core.projection import project_points
from ..core.units import CM_PER_M
from ..core.unreal import unreal_pose_to_fmatrix, fmatrix_to_c2w

__all__ = ["ROLL_PRESETS", "roll_range", "sample_roll", "body_points", "body_in_view", "framing_fraction"]

#: |roll| ranges in degrees (sign drawn uniformly)
ROLL_PRESETS: Dict[str, Tuple[float, float]] = {"none": (0.0, 0.0), "handheld": (1.0, 5.0)}


def roll_range(preset: str, custom: Tuple[float, float] = (0.0, 0.0)) -> Tuple[float, float]:
    """``|roll|`` range (deg) of a preset name, or ``custom`` for ``preset == "custom"``.

    Raises:
        ValueError: unknown preset, or a custom range that is not ``0 <= lo <= hi <= 45``.
    """
    if preset == "custom":
        lo, hi = (float(v) for v in custom)
        if not 0 <= lo <= hi <= 45:
            raise ValueError(f"framing.roll_abs_deg must satisfy 0 <= lo <= hi <= 45, got {custom}")
        return lo, hi
    if preset not in ROLL_PRESETS:
        raise ValueError(f"unknown roll preset {preset!r}; expected one of {sorted(ROLL_PRESETS) + ['custom']}")
    return ROLL_PRESETS[preset]


def sample_roll(rng: np.random.Generator, lo: float, hi: float) -> float:
    """A constant roll (deg): ``|roll|`` uniform in ``[lo, hi]``, sign uniform; exactly 0.0 (and no draw from
    ``rng``, so existing datasets are unchanged) when ``hi == 0``."""
    if hi <= 0:
        return 0.0
    mag = rng.uniform(lo, hi)
    return float(mag if rng.uniform() < 0.5 else -mag)


def body_points(base_m: np.ndarray, height_m: float, radius_m: float = 0.25) -> np.ndarray:
    """``(10, 3)`` points bounding a standing character: 4 around the feet, 4 around the head top, head top and
    feet centre (world metres, z up)."""
    b = np.asarray(base_m, float)
    ring = radius_m * np.array([[1, 0], [-1, 0], [0, 1], [0, -1]], float)
    feet = np.c_[b[0] + ring[:, 0], b[1] + ring[:, 1], np.full(4, b[2])]
    head = feet + [0, 0, height_m]
    return np.vstack([feet, head, [b + [0, 0, height_m], b]])


def body_in_view(location_m: np.ndarray, rotator_deg: np.ndarray, base_m: np.ndarray, height_m: float,
                 focal_mm: float, sensor_mm: float, width: int, height: int, margin_frac: float = 0.02,
                 radius_m: float = 0.25) -> float:
    """Fraction (0..1) of :func:`body_points` in front of the camera and inside the image shrunk by
    ``margin_frac`` of its size on every side; 1.0 = head to feet in view.

    Args:
        location_m: ``(3,)`` camera location (Unreal world axes, metres).
        rotator_deg: ``(3,)`` Unreal ``[pitch, yaw, roll]``.
    """
    loc = np.asarray(location_m, float)[None] * CM_PER_M
    fm = unreal_pose_to_fmatrix(loc, np.asarray(rotator_deg, float)[None])
    c2w = fmatrix_to_c2w(fm)[0]
    K = intrinsics_from_lens(focal_mm, sensor_mm, width, height)
    uv, z = project_points(K, c2w, body_points(base_m, height_m, radius_m))
    mx, my = margin_frac * width, margin_frac * height
    ok = (z > 0) & (uv[:, 0] >= mx) & (uv[:, 0] <= width - mx) & (uv[:, 1] >= my) & (uv[:, 1] <= height - my)
    return float(ok.mean())


def framing_fraction(fractions) -> float:
    """Share of cameras whose start frame shows the whole body (fraction == 1)."""
    f = np.asarray(list(fractions), float)
    return float((f >= 1.0).mean()) if f.size else float("nan")


def apply_recipe(fcfg, rng: np.random.Generator, loc_m: np.ndarray, rot_deg: np.ndarray, base_m: np.ndarray,
                 height_m: float, focal_mm: float, sensor_mm: float, width: int, height: int
                 ) -> Tuple[np.ndarray, float]:
    """Give a camera trajectory its constant roll and measure its start framing.

    Args:
        fcfg: ``SynthConfig.framing``.
        loc_m, rot_deg: ``(F, 3)`` trajectory (metres, Unreal rotators); not modified.
    Returns:
        ``(rot_deg with roll, fraction of the body in view at frame 0)``.
    """
    rot = np.array(rot_deg, float, copy=True)
    lo, hi = roll_range(fcfg.roll, fcfg.roll_abs_deg)
    rot[:, 2] = round(sample_roll(rng, lo, hi), 6)
    frac = body_in_view(loc_m[0], rot[0], base_m, height_m, focal_mm, sensor_mm, width, height,
                        fcfg.margin_frac, fcfg.body_radius_m)
    return rot, frac
