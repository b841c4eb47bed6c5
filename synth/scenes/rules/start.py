"""The start pose (frame 0): inside the hemisphere (distance to its centre, the character's feet, between
``start.min_distance_m`` and the radius, on or above its ground) and aimed at the torso within
``start.aim_jitter_deg`` (yaw and pitch). The sampler draws starts that way, so only ``synth validate`` checks
them; the start's pitch and clearance are rules of :mod:`.pitch` and :mod:`.clearance`."""

from __future__ import annotations

from typing import List

import numpy as np

from .base import Rule, RuleContext, Violation, register_rule


def _start_distance(ctx: RuleContext) -> np.ndarray:
    """``(C,)`` distance (m) of each start from the hemisphere centre."""
    return ctx.cached("start_distance", lambda: np.linalg.norm(ctx.loc_m[:, 0] - ctx.char_base_m, axis=-1))


@register_rule
class StartInHemisphere(Rule):
    """Start no farther than the hemisphere radius from its centre."""

    name, order = "start_in_hemisphere", 12

    def check(self, ctx: RuleContext) -> List[Violation]:
        if ctx.radius_m is None:
            return []
        d0, r = _start_distance(ctx), ctx.radius_m
        return [Violation(self.name, i, 0, f"{ctx.name(i)} frame0: start {d0[i]:.3f} m from the hemisphere centre; "
                                           f"expected <= the hemisphere radius {r:g} m")
                for i in ctx.rows() if d0[i] > r + ctx.tol]


@register_rule
class StartMinDistance(Rule):
    """Start at least ``start.min_distance_m`` from the hemisphere centre."""

    name, order = "start_min_distance", 13

    def check(self, ctx: RuleContext) -> List[Violation]:
        d0, lo = _start_distance(ctx), ctx.cfg.start.min_distance_m
        return [Violation(self.name, i, 0, f"{ctx.name(i)} frame0: start {d0[i]:.3f} m from the hemisphere centre; "
                                           f"expected >= start.min_distance_m {lo:g}")
                for i in ctx.rows() if d0[i] < lo - ctx.tol]


@register_rule
class StartAim(Rule):
    """Start aimed at the torso within ``start.aim_jitter_deg`` in yaw and in pitch."""

    name, order = "start_aim", 14

    def check(self, ctx: RuleContext) -> List[Violation]:
        to_torso = ctx.torso() - ctx.loc_m[:, 0]  # (C, 3) start -> torso
        rot0 = ctx.rot_deg[:, 0]
        off_yaw = (rot0[:, 1] - np.degrees(np.arctan2(to_torso[:, 1], to_torso[:, 0])) + 180.0) % 360.0 - 180.0
        off_pitch = rot0[:, 0] - np.degrees(np.arctan2(to_torso[:, 2], np.hypot(to_torso[:, 0], to_torso[:, 1])))
        jit = ctx.cfg.start.aim_jitter_deg
        return [Violation(self.name, i, 0, f"{ctx.name(i)} frame0: aimed {off_yaw[i]:+.2f} deg (yaw), "
                                           f"{off_pitch[i]:+.2f} deg (pitch) off the torso; expected within "
                                           f"start.aim_jitter_deg {jit:g}")
                for i in ctx.rows() if max(abs(off_yaw[i]), abs(off_pitch[i])) > jit + ctx.tol]


@register_rule
class StartAboveGround(Rule):
    """Start on or above the hemisphere's ground (the character's feet)."""

    name, order = "start_above_ground", 15

    def check(self, ctx: RuleContext) -> List[Violation]:
        z0, ground = ctx.loc_m[:, 0, 2], ctx.char_base_m[2]
        return [Violation(self.name, i, 0, f"{ctx.name(i)} frame0: start {ground - z0[i]:.3f} m below the ground of "
                                           f"the hemisphere; expected on or above it")
                for i in ctx.rows() if z0[i] < ground - ctx.tol]
