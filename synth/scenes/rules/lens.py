"""The scene's lens is one of the configured presets (``lenses``: focal length and aperture) on the configured
sensor (``sensor_mm``). The sampler assigns presets round-robin, so only ``synth validate`` checks them."""

from __future__ import annotations

from typing import List

from .base import Rule, RuleContext, Violation, register_rule


@register_rule
class LensPreset(Rule):
    """``(focal_length_mm, aperture_f)`` is a configured preset."""

    name, order, phase = "lens_preset", 3, 0

    def check(self, ctx: RuleContext) -> List[Violation]:
        if ctx.spec is None:
            return []
        lens = ctx.spec.lens
        presets = [(p.focal_length_mm, p.aperture_f) for p in ctx.cfg.lenses]
        if (lens.focal_length_mm, lens.aperture_f) in presets:
            return []
        return [Violation(self.name, None, None,
                          f"lens: f{lens.focal_length_mm:g} aperture {lens.aperture_f:g} is not a configured preset; "
                          f"expected one of " + ", ".join(f"f{a:g}/{b:g}" for a, b in presets), "scene")]


@register_rule
class LensSensor(Rule):
    """The sensor width (mm) is ``sensor_mm``."""

    name, order, phase = "lens_sensor", 4, 0

    def check(self, ctx: RuleContext) -> List[Violation]:
        if ctx.spec is None or abs(ctx.spec.lens.sensor_mm - ctx.cfg.sensor_mm) <= 1e-9:
            return []
        return [Violation(self.name, None, None, f"lens.sensor_mm: {ctx.spec.lens.sensor_mm:g}; expected "
                                                 f"{ctx.cfg.sensor_mm:g}", "scene")]
