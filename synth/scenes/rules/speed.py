"""Speed profile: ``eased`` cameras have ``|a|`` within ``speed.a_abs``; ``speed.eased_fraction`` 1 allows only
eased cameras, 0 only constant ones. The sampler draws it that way, so only ``synth validate`` checks it."""

from __future__ import annotations

from typing import List

import numpy as np

from .base import Rule, RuleContext, Violation, register_rule
from .family_params import camera_specs


@register_rule
class SpeedProfile(Rule):
    """``|a|`` of an eased camera within ``speed.a_abs``; eased when ``speed.eased_fraction`` is 1."""

    name, order = "speed_profile", 32

    def check(self, ctx: RuleContext) -> List[Violation]:
        sc, out = ctx.cfg.speed, []
        for i, cs in camera_specs(ctx):
            field, sp = f"cameras.{cs.name}", cs.speed
            if sp.profile == "eased":
                lo, hi = sc.a_abs
                a, where = abs(sp.a), f"{field}.speed.a (|a|)"
                if isinstance(a, bool) or not isinstance(a, (int, float)) or not np.isfinite(a):
                    out.append(Violation(self.name, i, None, f"{where}: expected a number in [{lo:g}, {hi:g}], got "
                                                             f"{a!r}", "scene"))
                elif not lo - 1e-9 <= a <= hi + 1e-9:
                    out.append(Violation(self.name, i, None, f"{where}: {a:g} outside the configured [{lo:g}, {hi:g}]",
                                         "scene"))
            elif sc.eased_fraction >= 1.0:
                out.append(Violation(self.name, i, None, f"{field}.speed.profile: constant; expected eased "
                                                         f"(speed.eased_fraction = 1)", "scene"))
        return out


@register_rule
class ConstantSpeedOnly(Rule):
    """No eased camera when ``speed.eased_fraction`` is 0 (every camera of ``scene.json``, reported after the
    per-camera rules)."""

    name, order, phase = "constant_speed_only", 40, 2

    def check(self, ctx: RuleContext) -> List[Violation]:
        if ctx.spec is None or ctx.cfg.speed.eased_fraction > 0.0:
            return []
        return [Violation(self.name, j, None, f"cameras.{cs.name}.speed.profile: eased; expected constant "
                                              f"(speed.eased_fraction = 0)", "scene")
                for j, cs in enumerate(ctx.spec.cameras) if cs.speed.profile == "eased"]
