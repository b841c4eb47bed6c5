"""The hemisphere radius: one of ``hemisphere.radii_m``, chosen by the environment's free space (radii ``r`` with
``2 r <= fit * min(width, depth)`` fit; ``largest_fitting`` takes the largest, ``random_fitting`` any; the smallest
when none fits). :func:`fitting_radii` is what the sampler's ``choose_radius`` draws from."""

from __future__ import annotations

from typing import List

from .base import Rule, RuleContext, Violation, register_rule


def fitting_radii(hemisphere, width_m: float) -> List[float]:
    """The configured radii (m, ``hemisphere.radii_m`` order) that fit a free space whose smaller horizontal side
    is ``width_m`` metres (``hemisphere``: ``SynthConfig.hemisphere``)."""
    return [r for r in hemisphere.radii_m if 2 * r <= hemisphere.fit * width_m + 1e-9]


def allowed_radii(hemisphere, width_m: float) -> List[float]:
    """The radii (m) the sampler may choose for that free space (see the module docstring)."""
    fitting = fitting_radii(hemisphere, width_m)
    if not fitting:
        return [min(hemisphere.radii_m)]
    return [max(fitting)] if hemisphere.radius_choice == "largest_fitting" else fitting


@register_rule
class HemisphereRadius(Rule):
    """``environment.hemisphere_radius_m`` is a configured radius, the one the free space calls for."""

    name, order, phase = "hemisphere_radius", 5, 0

    def check(self, ctx: RuleContext) -> List[Violation]:
        radius, hem = ctx.radius_m, ctx.cfg.hemisphere
        if ctx.spec is None or radius is None:
            return []
        if radius not in hem.radii_m:
            return [Violation(self.name, None, None, f"environment.hemisphere_radius_m: {radius:g}; expected one of "
                                                     f"{hem.radii_m}", "scene")]
        lo, hi = ctx.free_lo_m, ctx.free_hi_m
        allowed = allowed_radii(hem, min(hi[0] - lo[0], hi[1] - lo[1]))
        if radius in allowed:
            return []
        return [Violation(self.name, None, None,
                          f"environment.hemisphere_radius_m: {radius:g}; expected {allowed} (hemisphere.radius_choice "
                          f"{hem.radius_choice} in a free space {hi[0] - lo[0]:.2f} x {hi[1] - lo[1]:.2f} m)", "scene")]
