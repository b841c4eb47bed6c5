"""Clearance: every frame of every camera more than ``constraints.min_clearance_m`` from the character, measured to
its vertical axis segment (feet to head). The one :func:`segment_distance` of the project."""

from __future__ import annotations

from typing import List

import numpy as np

from .base import Rule, RuleContext, Violation, first_frame, register_rule


def segment_distance(points: np.ndarray, base: np.ndarray, height: float) -> np.ndarray:
    """Distance from points to a vertical segment.

    Args:
        points: ``(..., 3)`` float points (any length unit; Unreal world axes, z up).
        base: ``(3,)`` the segment's lower end, same unit.
        height: the segment's length along +z, same unit.

    Returns:
        ``(...)`` float64 distances to ``[base, base + (0, 0, height)]``.
    """
    p = np.asarray(points, float)
    z = np.clip(p[..., 2], base[2], base[2] + height)
    closest = np.stack([np.full(z.shape, base[0]), np.full(z.shape, base[1]), z], -1)
    return np.linalg.norm(p - closest, axis=-1)


def _clearance(ctx: RuleContext) -> np.ndarray:
    """``(C, F)`` distance (m) of every pose to the character."""
    return ctx.cached("clearance", lambda: segment_distance(ctx.loc_m, ctx.char_base_m, ctx.char_height_m))


@register_rule
class StartClearance(Rule):
    """The start is clear of the character (reported on its own: the start is the recipe's first rule)."""

    name, order = "start_clearance", 16

    def check(self, ctx: RuleContext) -> List[Violation]:
        d, lim = _clearance(ctx)[:, 0], ctx.cfg.constraints.min_clearance_m
        return [Violation(self.name, i, 0, f"{ctx.name(i)} frame0: start {d[i]:.3f} m from the character; "
                                           f"expected > {lim:g} m (constraints.min_clearance_m)")
                for i in ctx.rows() if d[i] <= lim - ctx.tol]


@register_rule
class Clearance(Rule):
    """Every frame clear of the character."""

    name, order, stage, summary = "clearance", 24, "trajectory", "comes too close to the character"

    def check(self, ctx: RuleContext) -> List[Violation]:
        lim = ctx.cfg.constraints.min_clearance_m
        d = _clearance(ctx)
        bad = d <= lim - ctx.tol
        out = []
        for i in ctx.rows():
            if bad[i].any():
                f = first_frame(bad[i])
                out.append(Violation(self.name, i, f, f"{ctx.name(i)} frame{f}: {d[i, f]:.3f} m from the character; "
                                                      f"expected > {lim:g} m (constraints.min_clearance_m)"))
        return out
