"""``random``: a smooth path through 1-3 random waypoints, aiming at the character or keeping the start rotation."""

from __future__ import annotations

from typing import Any, Dict, Literal, Tuple

import numpy as np
from pydantic import Field, field_validator

from ..core.strict_numbers import Float, Int
from ..core.units import CM_PER_M
from ..core.unreal import look_at_rotator
from ._paths import fit_waypoints_to_length, frame_scale, path_length, positions_on_path
from .base import FamilyBlock, Range, TrajectoryFamily, check_range, hold, register_family, round_json, sentence


class RandomPathConfig(FamilyBlock):
    """Move through 1-3 random waypoints; the polyline is smoothed by an interpolating B-spline (scipy,
    degree min(3, points-1), chord-length knots) and rescaled about the start so the smoothed path's length is
    ``length_fraction`` x distance-to-character. ``orientation: look_at`` keeps aiming at the torso (with the
    start's jitter offset), ``fixed`` keeps the start rotation. ``max_abs_elevation_deg`` bounds how steeply
    segments climb or fall."""

    waypoints: Tuple[Int, Int]
    length_fraction: Range
    orientation: Literal["look_at", "fixed"]
    max_abs_elevation_deg: Float = Field(ge=0, le=90)

    @field_validator("waypoints")
    @classmethod
    def _w(cls, v: Tuple[int, int]) -> Tuple[int, int]:
        if not 1 <= v[0] <= v[1] <= 10:
            raise ValueError(f"waypoints must satisfy 1 <= min <= max <= 10, got {list(v)}")
        return v

    @field_validator("length_fraction")
    @classmethod
    def _r(cls, v: Range) -> Range:
        return check_range(v, 0.0, 10.0, positive=True)


def follow_path(location, rotator, u, waypoints, length_m: float, look_at=None, aim_offset_deg=None):
    """Move along the smoothed path through (location, ``waypoints`` ``(P, 3)``) at arc length ``u x length``.

    The frame positions are scaled about the start so that the camera's path **as sampled at the frames** is
    ``length_m`` long (what anyone measuring the written poses gets); :func:`fit_waypoints_to_length` plus
    :func:`frame_scale` give waypoints for which that scale is 1. With ``look_at`` the camera keeps aiming at that
    point plus ``aim_offset_deg`` (pitch, yaw) and the start's roll; otherwise the rotation stays fixed.
    Returns ``(F, 3)`` locations (m) and rotators (deg).
    """
    start = np.asarray(location, float)
    loc = positions_on_path(start, waypoints, u)
    loc = start + (loc - start) * (length_m / path_length(loc))
    if look_at is None:
        return loc, hold(location, rotator, u)[1]
    rot = look_at_rotator(loc, np.asarray(look_at, float)[None])
    if aim_offset_deg is not None:
        rot[:, 0] += aim_offset_deg[0]
        rot[:, 1] += aim_offset_deg[1]
    rot[:, 2] = np.asarray(rotator, float)[2]
    return loc, rot


@register_family
class RandomPath(TrajectoryFamily):
    name = "random"
    draw_order = 4
    Config = RandomPathConfig

    def sample(self, block: RandomPathConfig, ctx, rng):
        loc0, u = ctx.start_loc_m, ctx.u
        n = int(rng.integers(block.waypoints[0], block.waypoints[1] + 1))
        frac = rng.uniform(*block.length_fraction)
        length = round_json(frac * ctx.distance_to_character_m)
        az = rng.uniform(0, 2 * np.pi, n)
        el = np.radians(rng.uniform(-block.max_abs_elevation_deg, block.max_abs_elevation_deg, n))
        seg = rng.dirichlet(np.ones(n)) * length
        steps = seg[:, None] * np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], -1)
        waypoints = fit_waypoints_to_length(loc0, loc0 + np.cumsum(steps, axis=0), length)
        waypoints = loc0 + (waypoints - loc0) * frame_scale(loc0, waypoints, u, length)
        waypoints = np.round(waypoints * CM_PER_M, 4) / CM_PER_M  # stored to 1e-4 cm; poses use the stored value
        look = ctx.torso_m if block.orientation == "look_at" else None
        params = {"num_waypoints": n, "waypoints_cm": round_json(waypoints * CM_PER_M, 4), "length_m": length,
                  "length_fraction": round_json(frac), "orientation": block.orientation}
        loc, rot = follow_path(loc0, ctx.start_rot_deg, u, waypoints, length, look, ctx.aim_offset_deg)
        return params, loc, rot

    def caption(self, params: Dict[str, Any], speed_phrase: str) -> str:
        n = params["num_waypoints"]
        return sentence(f"the camera glides along a smooth {params['length_m']:.1f} metre path through {n} "
                        f"waypoint{'s' if n > 1 else ''} {speed_phrase}"
                        + (", keeping the subject in view" if params.get("orientation") == "look_at" else ""))

    ranged_params = {"length_fraction": "length_fraction", "num_waypoints": "waypoints"}

    def check(self, params, block: RandomPathConfig):
        problems = super().check(params, block)
        if len(params["waypoints_cm"]) != params["num_waypoints"]:
            problems.append(f"waypoints_cm: {len(params['waypoints_cm'])} points; expected num_waypoints = "
                            f"{params['num_waypoints']}")
        return problems

    def stats(self, params, block: RandomPathConfig):
        return [("random path length / distance-to-character", params["length_fraction"], block.length_fraction)]

    def categorical(self, params):
        return {"random waypoints": str(params["num_waypoints"])}
