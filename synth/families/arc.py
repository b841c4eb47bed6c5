"""``arc``: orbit about the character's vertical axis, yawing with the orbit so the character stays in view."""

from __future__ import annotations

from typing import Any, Dict

import numpy as np
from ..core.units import CM_PER_M
from .base import AngleRangeConfig, TrajectoryFamily, hold, register_family, round_json, sentence


class ArcConfig(AngleRangeConfig):
    """Orbit about the vertical axis through the character, yawing with the orbit so the character stays in view.
    ``angle_deg``: orbit angle, uniform in ``[min, max]`` degrees (0 < min <= max <= 180)."""


def orbit(location, rotator, u, pivot, angle_deg: float):
    """Orbit about the vertical axis through ``pivot`` (metres) by ``u x angle`` (positive = towards the camera's
    left, i.e. Unreal's yaw direction), yawing by the same angle so the view of the pivot is kept.
    Returns ``(F, 3)`` locations (m) and rotators (deg)."""
    loc, rot = hold(location, rotator, u)
    phi = np.radians(u * angle_deg)
    rel = np.asarray(location, float)[:2] - np.asarray(pivot, float)[:2]
    c, s = np.cos(phi), np.sin(phi)
    loc[:, 0] = pivot[0] + c * rel[0] - s * rel[1]
    loc[:, 1] = pivot[1] + s * rel[0] + c * rel[1]
    rot[:, 1] += u * angle_deg
    return loc, rot


@register_family
class Arc(TrajectoryFamily):
    name = "arc"
    draw_order = 3
    ranged_params = {"angle_deg": "angle_deg"}
    Config = ArcConfig

    def sample(self, block: ArcConfig, ctx, rng):
        angle = round_json(rng.uniform(*block.angle_deg))
        direction = "left" if rng.uniform() < 0.5 else "right"
        signed = angle if direction == "left" else -angle
        base, loc0 = ctx.char_base_m, ctx.start_loc_m
        params = {"angle_deg": angle, "direction": direction, "pivot_cm": round_json(base * CM_PER_M, 4),
                  "radius_m": round_json(np.linalg.norm(loc0[:2] - base[:2]))}
        loc, rot = orbit(loc0, ctx.start_rot_deg, ctx.u, base, signed)
        return params, loc, rot

    def caption(self, params: Dict[str, Any], speed_phrase: str) -> str:
        return sentence(f"the camera arcs {params['angle_deg']:.0f} degrees to the {params['direction']} around "
                        f"the subject {speed_phrase}, keeping it in view")

    def check(self, params, block: ArcConfig):
        problems = super().check(params, block)
        if params.get("direction") not in ("left", "right"):
            problems.append(f"direction: {params.get('direction')!r}; expected left or right")
        return problems

    def stats(self, params, block: ArcConfig):
        return [("arc angle (deg)", params["angle_deg"], block.angle_deg)]
