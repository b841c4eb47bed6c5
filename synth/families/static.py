"""``static``: the camera does not move."""

from __future__ import annotations

from .base import FamilyBlock, TrajectoryFamily, hold, register_family


@register_family
class Static(TrajectoryFamily):
    name = "static"
    draw_order = 5
    Config = FamilyBlock  # only the weight

    def sample(self, block, ctx, rng):
        loc, rot = hold(ctx.start_loc_m, ctx.start_rot_deg, ctx.u)
        return {}, loc, rot

    def caption(self, params, speed_phrase: str) -> str:
        return "The camera is static."
