"""``dolly_zoom``: the camera moves straight toward (``in``) or away from (``out``) the character's torso while the
focal length compensates, so the character keeps its image size and the background's perspective changes (the
"vertigo" shot); the rotation is fixed.

Moving along the line from the start to the torso, the torso's distance is ``d(u) = d0 (1 -/+ frac u)``; the focal
length ``f(u) = f0 d(u) / d0`` keeps the torso's image scale (``f / depth``) exactly constant, so the character's
image height stays within ``size_tolerance`` (the ``dolly_zoom_size`` rule, :mod:`synth.scenes.rules.dolly_zoom`,
checks the projected feet-to-head height on every frame with the written intrinsics). ``f0`` is the scene's lens;
``frac`` is drawn so that ``f(1)`` stays in ``focal_range_mm``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Literal

import numpy as np
from pydantic import Field, field_validator

from ..core.strict_numbers import Float
from ._zoom import focal_problems, focal_profile
from .base import FamilyBlock, Range, TrajectoryFamily, check_range, hold, range_problem, register_family, \
    round_json, sentence


class DollyZoomConfig(FamilyBlock):
    """Dolly toward / away from the torso by ``distance_fraction`` x distance-to-character (``directions``),
    focal length ``f0 d / d0`` within ``focal_range_mm``; ``size_tolerance``: the largest relative change of the
    character's image height the ``dolly_zoom_size`` rule accepts."""

    distance_fraction: Range = (0.15, 0.5)
    directions: List[Literal["in", "out"]] = Field(default=["in", "out"], min_length=1)
    focal_range_mm: Range = (18.0, 50.0)
    size_tolerance: Float = Field(default=0.05, gt=0.0, le=0.5)

    @field_validator("distance_fraction")
    @classmethod
    def _frac(cls, v: Range) -> Range:
        return check_range(v, 0.0, 0.95, positive=True)

    @field_validator("focal_range_mm")
    @classmethod
    def _focal(cls, v: Range) -> Range:
        return check_range(v, 1.0, 2000.0, positive=True)


def max_fraction(direction: str, f0: float, focal_range_mm) -> float:
    """The largest distance fraction whose end focal length ``f0 (1 -/+ frac)`` stays in ``focal_range_mm``."""
    lo, hi = focal_range_mm
    return 1.0 - lo / f0 if direction == "in" else hi / f0 - 1.0


@register_family
class DollyZoom(TrajectoryFamily):
    name = "dolly_zoom"
    draw_order = 7
    Config = DollyZoomConfig

    def sample(self, block: DollyZoomConfig, ctx, rng):
        if not ctx.lens_focal_mm > 0:
            raise ValueError("dolly_zoom: the sampler must give the scene's lens focal length "
                             "(FamilyContext.lens_focal_mm)")
        f0, (lo, hi) = float(ctx.lens_focal_mm), block.distance_fraction
        caps = {d: min(hi, max_fraction(d, f0, block.focal_range_mm)) for d in block.directions}
        feasible = [d for d in block.directions if caps[d] >= lo]
        if feasible:
            direction = feasible[int(rng.integers(len(feasible)))]
            frac = rng.uniform(lo, caps[direction])
        else:  # the lens sits at the end of the focal range: the largest possible move (check() reports it)
            direction = max(caps, key=caps.get)
            frac = max(caps[direction], 0.0)
        sign = 1.0 if direction == "in" else -1.0
        d0 = ctx.distance_to_character_m
        to_torso = (np.asarray(ctx.torso_m, float) - ctx.start_loc_m) / d0
        disp = np.asarray(round_json(sign * frac * d0 * to_torso, 7))
        loc, rot = hold(ctx.start_loc_m, ctx.start_rot_deg, ctx.u)
        loc = loc + ctx.u[:, None] * disp[None]
        params = {"direction": direction, "distance_fraction": round_json(frac), "distance_m": round_json(frac * d0),
                  "displacement_m": disp.tolist(), "focal_start_mm": round_json(f0),
                  "focal_end_mm": round_json(f0 * (1.0 - sign * frac))}
        return params, loc, rot

    def focal_lengths(self, params: Dict[str, Any], u: np.ndarray) -> np.ndarray:
        return focal_profile(params["focal_start_mm"], params["focal_end_mm"], u, "linear")

    def caption(self, params: Dict[str, Any], speed_phrase: str) -> str:
        move, zoom = ("in towards", "out") if params["direction"] == "in" else ("out away from", "in")
        return sentence(f"the camera dollies {move} the subject by {params['distance_m']:.1f} metres while zooming "
                        f"{zoom} from {params['focal_start_mm']:.0f} mm to {params['focal_end_mm']:.0f} mm "
                        f"{speed_phrase}, keeping the subject the same size (a dolly zoom)")

    def check(self, params: Dict[str, Any], block: DollyZoomConfig) -> List[str]:
        problems = focal_problems(params, *block.focal_range_mm)
        if params.get("direction") not in block.directions:
            problems.append(f"direction: {params.get('direction')!r}; expected one of {block.directions}")
        if p := range_problem("distance_fraction", params.get("distance_fraction"), block.distance_fraction):
            problems.append(p)
        if problems:
            return problems
        sign = 1.0 if params["direction"] == "in" else -1.0
        f_end = params["focal_start_mm"] * (1.0 - sign * params["distance_fraction"])
        if abs(f_end - params["focal_end_mm"]) > 1e-4 * params["focal_start_mm"]:
            problems.append(f"focal_end_mm: {params['focal_end_mm']:g}; a dolly zoom {params['direction']} by "
                            f"{params['distance_fraction']:g} of the distance needs {f_end:.6g}")
        expected = params["distance_fraction"] * params.get("distance_to_character_m", np.nan)
        if not abs(expected - params.get("distance_m", np.nan)) <= 2e-3:
            problems.append(f"distance_m: {params.get('distance_m')!r}; expected distance_fraction x "
                            f"distance_to_character_m = {expected:g}")
        return problems

    def stats(self, params: Dict[str, Any], block: DollyZoomConfig):
        return [("dolly zoom distance / distance-to-character", params["distance_fraction"], block.distance_fraction),
                ("dolly zoom end focal (mm)", params["focal_end_mm"], block.focal_range_mm)]

    def categorical(self, params: Dict[str, Any]) -> Dict[str, str]:
        return {"dolly zoom": params["direction"]}
