"""The dolly-zoom size rule: a ``dolly_zoom`` camera keeps the character's image height within
``trajectories.dolly_zoom.size_tolerance`` (default 5%) of its height at frame 0, on every frame.

The height is that of the character's vertical axis, feet (``char_base_m``) to the top of the head
(``+ char_height_m``), projected with each frame's pose and focal length (``RuleContext.focal_mm``: in
``synth validate`` the written ``cameras/camera_intrinsics.json``, so a dataset whose intrinsics file is missing or
wrong fails the rule). The focal length in pixels is ``focal_mm / sensor_mm x W``; the sensor and width are the
same on every frame, so the ratio needs only the focal lengths in mm.
"""

from __future__ import annotations

from typing import List

import numpy as np

from ...core.unreal import rotator_to_axes
from .base import Rule, RuleContext, Violation, first_frame, register_rule

#: the tolerance when the recipe has no ``dolly_zoom`` block (a camera of an unconfigured family)
DEFAULT_SIZE_TOLERANCE = 0.05


def projected_height(loc_m: np.ndarray, rot_deg: np.ndarray, focal_mm: np.ndarray, base_m: np.ndarray,
                     height_m: float) -> np.ndarray:
    """Image height (mm on the sensor, i.e. ``focal_mm`` x normalised image distance) of the segment from
    ``base_m`` to ``base_m + (0, 0, height_m)`` (Unreal world metres, z up) seen from poses ``loc_m`` ``(..., 3)``
    / rotators ``rot_deg`` ``(..., 3)`` with focal lengths ``focal_mm`` ``(...)``. NaN where an end is not in front
    of the camera."""
    axes = rotator_to_axes(rot_deg[..., 0], rot_deg[..., 1], rot_deg[..., 2])  # (..., 3, 3): fwd, right, up
    ends = np.stack([np.asarray(base_m, float), np.asarray(base_m, float) + [0.0, 0.0, height_m]])  # (2, 3)
    rel = ends[None] - np.asarray(loc_m, float)[..., None, :]  # (..., 2, 3)
    cam = np.einsum("...ij,...kj->...ki", axes, rel)  # (..., 2, 3): forward, right, up components
    z = cam[..., 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        xy = cam[..., 1:] / z[..., None]
        h = np.linalg.norm(xy[..., 1, :] - xy[..., 0, :], axis=-1) * focal_mm
    return np.where((z > 1e-6).all(-1), h, np.nan)


@register_rule
class DollyZoomSize(Rule):
    """A ``dolly_zoom`` camera's projected character height stays within the tolerance of frame 0's."""

    name, order, stage, summary = "dolly_zoom_size", 40, "trajectory", "changes the character's size in a dolly zoom"

    def check(self, ctx: RuleContext) -> List[Violation]:
        if ctx.focal_mm is None:
            return []
        rows = [i for i in ctx.rows() if ctx.family(i) == "dolly_zoom"]
        if not rows:
            return []
        block = ctx.cfg.trajectories.root.get("dolly_zoom") if hasattr(ctx.cfg.trajectories, "root") else None
        tol = float(getattr(block, "size_tolerance", DEFAULT_SIZE_TOLERANCE))
        out = []
        for i in rows:
            h = projected_height(ctx.loc_m[i], ctx.rot_deg[i], np.asarray(ctx.focal_mm[i], float), ctx.char_base_m,
                                 ctx.char_height_m)
            change = np.abs(h / h[0] - 1.0)
            bad = ~(change <= tol)  # NaN (behind the camera) is bad too
            if bad.any():
                f = first_frame(bad)
                out.append(Violation(self.name, i, f, f"{ctx.name(i)} frame{f}: the character's image height changed "
                                                      f"by {100 * change[f]:.1f}% from frame0 (focal "
                                                      f"{ctx.focal_mm[i][f]:g} mm); a dolly zoom keeps it within "
                                                      f"{100 * tol:g}% (trajectories.dolly_zoom.size_tolerance)"))
        return out
