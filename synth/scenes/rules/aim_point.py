"""The aim point is the character's torso: ``placement.torso_height_fraction`` of its height above its feet."""

from __future__ import annotations

from typing import List

import numpy as np

from ...core.units import CM_PER_M
from .base import Rule, RuleContext, Violation, register_rule


@register_rule
class AimPoint(Rule):
    """``character.aim_point_cm`` is the torso (within ``tol``)."""

    name, order, phase = "aim_point", 6, 0

    def check(self, ctx: RuleContext) -> List[Violation]:
        if ctx.spec is None:
            return []
        frac = ctx.cfg.placement.torso_height_fraction
        torso = ctx.char_base_m + np.array([0.0, 0.0, ctx.char_height_m * frac])
        if np.abs(np.asarray(ctx.spec.aim_point_cm) / CM_PER_M - torso).max() <= ctx.tol:
            return []
        return [Violation(self.name, None, None,
                          f"character.aim_point_cm: {list(ctx.spec.aim_point_cm)}; expected the torso "
                          f"{(torso * CM_PER_M).round(4).tolist()} (placement.torso_height_fraction {frac:g})",
                          "scene")]
