"""Each camera's trajectory family and parameters: a registered family configured in the recipe, its parameters
within its block (each family checks its own, :meth:`synth.families.TrajectoryFamily.check`), and the recorded
``distance_to_character_m`` equal to the written start's distance to the torso."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np

from ...families import get_family
from .base import Rule, RuleContext, Violation, register_rule

#: |params.distance_to_character_m - written start to torso| slack (m): both carry ~1e-4 m of rounding.
DISTANCE_TOL = 2e-3


def family_checker():
    """``check(name, params, cfg) -> list[str] | None`` (None: unknown family) through the trajectory-family
    registry (:mod:`synth.families`): each family checks its own parameters against its config block."""
    def check(name: str, params: Dict[str, Any], cfg) -> Optional[List[str]]:
        try:
            fam = get_family(name)
        except (KeyError, ValueError):
            return None
        if name not in cfg.trajectories:
            return [f"trajectory: family {name!r} is not configured in the run's config"]
        return list(fam.check(params, cfg.trajectories[name]))

    return check


def family_problems(checker, name: str, params: Any, cfg) -> List[str]:
    """Problems of one camera's family and parameters (``params`` a dict), as ``field: message`` strings."""
    if not isinstance(params, dict):
        return [f"params: expected an object, got {params!r}"[:200]]
    try:
        res = checker(name, params, cfg)
    except (TypeError, ValueError, KeyError) as e:  # a malformed parameter the family's check did not expect
        return [f"params: malformed ({type(e).__name__}: {e})"]
    if res is None:
        return [f"trajectory: unknown family {name!r}"]
    return res


def camera_specs(ctx: RuleContext):
    """``[(row, CameraSpec)]`` of the checked rows that ``scene.json`` describes (empty without a spec)."""
    if ctx.spec is None:
        return []
    specs = {cs.name: cs for cs in ctx.spec.cameras}
    return [(i, specs[ctx.name(i)]) for i in ctx.rows() if ctx.name(i) in specs]


@register_rule
class FamilyParams(Rule):
    """The family is registered and configured; its parameters are within its block."""

    name, order = "family_params", 30

    def check(self, ctx: RuleContext) -> List[Violation]:
        checker = ctx.checker or ctx.cached("family_checker", family_checker)
        out = []
        for i, cs in camera_specs(ctx):
            field = f"cameras.{cs.name}"
            for msg in family_problems(checker, cs.family, cs.params, ctx.cfg):
                text = f"{field}.{msg}" if msg.startswith("trajectory:") else f"{field}.params.{msg}"
                out.append(Violation(self.name, i, None, text, "scene"))
        return out


@register_rule
class DistanceToCharacter(Rule):
    """``params.distance_to_character_m`` is the written start's distance to the torso."""

    name, order = "distance_to_character", 31

    def check(self, ctx: RuleContext) -> List[Violation]:
        torso, out = ctx.torso(), []
        for i, cs in camera_specs(ctx):
            dist = cs.params.get("distance_to_character_m") if isinstance(cs.params, dict) else None
            d_torso = float(np.linalg.norm(ctx.loc_m[i, 0] - torso))
            if isinstance(dist, (int, float)) and not isinstance(dist, bool) and abs(dist - d_torso) > DISTANCE_TOL:
                out.append(Violation(self.name, i, 0, f"cameras.{cs.name}.params.distance_to_character_m: {dist:g}; "
                                                      f"the written start is {d_torso:.4f} m from the torso", "scene"))
        return out
