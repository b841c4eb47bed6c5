"""Roll: each camera keeps one constant roll over the video, with ``|roll|`` in the range of ``framing.roll``
(:func:`synth.scenes.framing.roll_range`). The sampler draws it that way, so only ``synth validate`` checks it."""

from __future__ import annotations

from typing import List

import numpy as np

from ..framing import roll_range
from .base import Rule, RuleContext, Violation, register_rule


@register_rule
class RollRange(Rule):
    """``|roll|`` at frame 0 within the configured range (``roll_tol``)."""

    name, order = "roll_range", 10

    def check(self, ctx: RuleContext) -> List[Violation]:
        f = ctx.cfg.framing
        lo, hi = roll_range(f.roll, f.roll_abs_deg)
        roll0 = ctx.rot_deg[:, 0, 2]
        return [Violation(self.name, i, 0, f"{ctx.name(i)} frame0: roll {roll0[i]:+.3f} deg; expected |roll| in "
                                           f"[{lo:g}, {hi:g}] (framing.roll {f.roll})")
                for i in ctx.rows() if not lo - ctx.roll_tol <= abs(roll0[i]) <= hi + ctx.roll_tol]


@register_rule
class RollConstant(Rule):
    """The roll does not change over the video (peak-to-peak <= ``roll_tol``)."""

    name, order = "roll_constant", 11

    def check(self, ctx: RuleContext) -> List[Violation]:
        spread = np.ptp(ctx.rot_deg[..., 2], axis=1)  # (C,)
        return [Violation(self.name, i, None, f"{ctx.name(i)}: roll changes by {spread[i]:.3f} deg over the video; "
                                              f"expected a constant roll (framing)")
                for i in ctx.rows() if spread[i] > ctx.roll_tol]
