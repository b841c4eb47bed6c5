"""Free space: every frame inside the environment's free space, ``constraints.wall_margin_m`` from its walls,
at least ``constraints.min_camera_height_m`` above its floor and ``constraints.ceiling_margin_m`` below its top."""

from __future__ import annotations

from typing import List

from .base import Rule, RuleContext, Violation, first_frame, register_rule


@register_rule
class Walls(Rule):
    """x and y within the free space less the wall margin."""

    name, order, stage, summary = "walls", 21, "trajectory", "leaves the free space"

    def check(self, ctx: RuleContext) -> List[Violation]:
        c, lo, hi, loc = ctx.cfg.constraints, ctx.free_lo_m, ctx.free_hi_m, ctx.loc_m
        lo_xy, hi_xy = lo[:2] + c.wall_margin_m - ctx.tol, hi[:2] - c.wall_margin_m + ctx.tol
        out_xy = ((loc[..., :2] < lo_xy) | (loc[..., :2] > hi_xy)).any(-1)  # (C, F)
        out = []
        for i in ctx.rows():
            if out_xy[i].any():
                f = first_frame(out_xy[i])
                out.append(Violation(self.name, i, f,
                                     f"{ctx.name(i)} frame{f}: location ({loc[i, f, 0]:.2f}, {loc[i, f, 1]:.2f}) m "
                                     f"outside the free space x [{lo[0]:.2f}, {hi[0]:.2f}] y [{lo[1]:.2f}, "
                                     f"{hi[1]:.2f}] m less constraints.wall_margin_m {c.wall_margin_m:g}"))
        return out


@register_rule
class MinHeight(Rule):
    """z at least the minimum camera height above the floor."""

    name, order, stage, summary = "min_height", 22, "trajectory", "goes below the minimum camera height"

    def check(self, ctx: RuleContext) -> List[Violation]:
        c, lo, z = ctx.cfg.constraints, ctx.free_lo_m, ctx.loc_m[..., 2]
        bad = z < lo[2] + c.min_camera_height_m - ctx.tol
        out = []
        for i in ctx.rows():
            if bad[i].any():
                f = first_frame(bad[i])
                out.append(Violation(self.name, i, f, f"{ctx.name(i)} frame{f}: height {z[i, f]:.2f} m; expected >= "
                                                      f"floor {lo[2]:.2f} + constraints.min_camera_height_m "
                                                      f"{c.min_camera_height_m:g}"))
        return out


@register_rule
class Ceiling(Rule):
    """z at least the ceiling margin below the free space's top."""

    name, order, stage, summary = "ceiling", 23, "trajectory", "goes above the free space"

    def check(self, ctx: RuleContext) -> List[Violation]:
        c, hi, z = ctx.cfg.constraints, ctx.free_hi_m, ctx.loc_m[..., 2]
        bad = z > hi[2] - c.ceiling_margin_m + ctx.tol
        out = []
        for i in ctx.rows():
            if bad[i].any():
                f = first_frame(bad[i])
                out.append(Violation(self.name, i, f, f"{ctx.name(i)} frame{f}: height {z[i, f]:.2f} m; expected <= "
                                                      f"free-space top {hi[2]:.2f} - constraints.ceiling_margin_m "
                                                      f"{c.ceiling_margin_m:g}"))
        return out
