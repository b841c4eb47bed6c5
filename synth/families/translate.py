"""``translate``: a straight move along +/- one axis, rotation fixed."""

from __future__ import annotations

from typing import Any, Dict, List, Literal

import numpy as np
from pydantic import Field, field_validator

from .base import (FamilyBlock, Range, TrajectoryFamily, camera_axis_vectors, check_range, hold, register_family,
                   round_json, sentence)

_MOVE_WORDS = {("camera", "x", 1): "right", ("camera", "x", -1): "left", ("camera", "y", 1): "down",
               ("camera", "y", -1): "up", ("camera", "z", 1): "forward", ("camera", "z", -1): "backward"}


class TranslateConfig(FamilyBlock):
    """Straight move along +/- one axis. ``frame: camera`` uses the start pose's OpenCV axes (x right, y down,
    z forward); ``world`` uses Unreal's X, Y, Z. Distance = ``distance_fraction`` x distance-to-character
    (camera to torso, at the start)."""

    frame: Literal["camera", "world"]
    axes: List[Literal["x", "y", "z"]] = Field(min_length=1)
    distance_fraction: Range

    @field_validator("distance_fraction")
    @classmethod
    def _r(cls, v: Range) -> Range:
        return check_range(v, 0.0, 10.0, positive=True)


def translate(location, rotator, u, displacement_m):
    """Move by ``u x displacement`` (Unreal world metres, ``(3,)``); rotation fixed. Returns ``(F, 3)`` each."""
    loc, rot = hold(location, rotator, u)
    loc += u[:, None] * np.asarray(displacement_m, float)[None]
    return loc, rot


@register_family
class Translate(TrajectoryFamily):
    name = "translate"
    draw_order = 2
    ranged_params = {"distance_fraction": "distance_fraction"}
    Config = TranslateConfig

    def sample(self, block: TranslateConfig, ctx, rng):
        axis = block.axes[int(rng.integers(len(block.axes)))]
        sign = 1 if rng.uniform() < 0.5 else -1
        frac = rng.uniform(*block.distance_fraction)
        dist = frac * ctx.distance_to_character_m
        if block.frame == "camera":
            direction = camera_axis_vectors(ctx.start_rot_deg)[axis]
        else:
            direction = np.eye(3)["xyz".index(axis)]
        disp = np.asarray(round_json(sign * dist * direction, 7))
        params = {"frame": block.frame, "axis": axis, "direction": sign, "distance_m": round_json(dist),
                  "distance_fraction": round_json(frac), "displacement_m": disp.tolist()}
        loc, rot = translate(ctx.start_loc_m, ctx.start_rot_deg, ctx.u, disp)
        return params, loc, rot

    def caption(self, params: Dict[str, Any], speed_phrase: str) -> str:
        word = _MOVE_WORDS.get((params["frame"], params["axis"], params["direction"]))
        if word is None:
            word = f"along {'+' if params['direction'] > 0 else '-'}{params['axis'].upper()}"
        return sentence(f"the camera moves {word} by {params['distance_m']:.1f} metres {speed_phrase}")

    def check(self, params, block: TranslateConfig):
        problems = super().check(params, block)
        if params["frame"] != block.frame or params["axis"] not in block.axes:
            problems.append(f"translate frame/axis {params['frame']}/{params['axis']} not configured "
                            f"({block.frame}/{block.axes})")
        if params["direction"] not in (1, -1):
            problems.append(f"direction: {params['direction']!r}; expected 1 or -1")
        expected = params["distance_fraction"] * params["distance_to_character_m"]
        if abs(expected - params["distance_m"]) > 2e-3:
            problems.append(f"distance_m: {params['distance_m']:g}; expected distance_fraction x "
                            f"distance_to_character_m = {expected:g}")
        return problems

    def stats(self, params, block: TranslateConfig):
        return [("translate distance / distance-to-character", params["distance_fraction"], block.distance_fraction)]

    def categorical(self, params):
        return {"translate axis": f"{'+' if params['direction'] > 0 else '-'}{params['axis']}"}
