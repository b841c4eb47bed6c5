"""Pitch limits: the start within ``start.max_abs_pitch_deg`` (the published recipe's 45 degrees), every frame
within ``constraints.max_abs_pitch_deg`` (away from the gimbal pole)."""

from __future__ import annotations

from typing import List

import numpy as np

from .base import Rule, RuleContext, Violation, first_frame, register_rule


@register_rule
class StartPitch(Rule):
    """``|pitch|`` of frame 0 <= ``start.max_abs_pitch_deg``; the sampler checks it on the start pose before it
    draws the family."""

    name, order, stage, summary = "start_pitch", 17, "start", "start pitch too steep"

    def check(self, ctx: RuleContext) -> List[Violation]:
        p0, lim = ctx.rot_deg[:, 0, 0], ctx.cfg.start.max_abs_pitch_deg
        return [Violation(self.name, i, 0, f"{ctx.name(i)} frame0: start pitch {p0[i]:.2f} deg; expected |pitch| <= "
                                           f"{lim:g} (start.max_abs_pitch_deg)")
                for i in ctx.rows() if abs(p0[i]) > lim + ctx.tol]


@register_rule
class Pitch(Rule):
    """``|pitch|`` of every frame <= ``constraints.max_abs_pitch_deg``."""

    name, order, stage, summary = "pitch", 20, "trajectory", "pitches too steeply"

    def check(self, ctx: RuleContext) -> List[Violation]:
        pitch, lim = ctx.rot_deg[..., 0], ctx.cfg.constraints.max_abs_pitch_deg
        bad = np.abs(pitch) > lim + ctx.tol
        out = []
        for i in ctx.rows():
            if bad[i].any():
                f = first_frame(bad[i])
                out.append(Violation(self.name, i, f, f"{ctx.name(i)} frame{f}: pitch {pitch[i, f]:.2f} deg; expected "
                                                      f"|pitch| <= {lim:g} (constraints.max_abs_pitch_deg)"))
        return out
