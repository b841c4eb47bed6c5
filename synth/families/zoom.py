"""``zoom``: the focal length changes along the video (to another lens preset, or continuously within a range),
the position fixed or combined with a small move; the rotation is fixed.

The zoom starts at the scene's lens (the ``f{focal}`` folder of the scene) and ends at ``focal_end_mm``; the focal
length follows the camera's speed profile ``u`` geometrically, ``f0 (f1 / f0)^u`` (the image scale changes at a
constant rate for a constant speed). Per-frame focal lengths are written to ``cameras/camera_intrinsics.json``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from ..core.strict_numbers import Float
from ._zoom import focal_problems, focal_profile
from .base import (FamilyBlock, Range, TrajectoryFamily, camera_axis_vectors, check_range, hold, range_problem,
                   register_family, round_json, sentence)

_MOVE_WORDS = {("x", 1): "right", ("x", -1): "left", ("y", 1): "down", ("y", -1): "up", ("z", 1): "forward",
               ("z", -1): "backward"}


class ZoomConfig(FamilyBlock):
    """Zoom from the scene's lens to ``focal_end_mm``.

    ``modes``: ``presets`` (the end is another of ``presets_mm``) and / or ``continuous`` (the end is log-uniform in
    ``focal_range_mm``), one drawn per camera; the zoom ratio ``max(f1/f0, f0/f1)`` is at least ``min_ratio``.
    ``move_probability``: the chance of a small straight move along a camera axis (x right, y down, z forward) of
    ``move_fraction`` x distance-to-character during the zoom (else the position is fixed).
    """

    modes: List[Literal["presets", "continuous"]] = Field(default=["presets", "continuous"], min_length=1)
    presets_mm: List[Float] = Field(default=[18.0, 24.0, 35.0, 50.0], min_length=1)
    focal_range_mm: Range = (18.0, 50.0)
    min_ratio: Float = Field(default=1.2, ge=1.0, le=10.0)
    move_probability: Float = Field(default=0.0, ge=0.0, le=1.0)
    move_fraction: Range = (0.05, 0.2)

    @field_validator("focal_range_mm")
    @classmethod
    def _focal(cls, v: Range) -> Range:
        return check_range(v, 1.0, 2000.0, positive=True)

    @field_validator("move_fraction")
    @classmethod
    def _move(cls, v: Range) -> Range:
        return check_range(v, 0.0, 1.0, positive=True)

    @model_validator(mode="after")
    def _presets_in_range(self):
        lo, hi = self.focal_range_mm
        bad = [p for p in self.presets_mm if not lo <= p <= hi]
        if bad:
            raise ValueError(f"presets_mm {bad} outside focal_range_mm [{lo:g}, {hi:g}]")
        return self


def _end_focal(block: ZoomConfig, mode: str, f0: float, rng: np.random.Generator) -> float:
    """The zoom's end focal length (mm): a preset or a log-uniform draw whose ratio to ``f0`` is >= ``min_ratio``
    (when none is possible: the farthest end of the range / the farthest preset)."""
    lo, hi = block.focal_range_mm
    ok = lambda f: max(f / f0, f0 / f) >= block.min_ratio - 1e-9  # noqa: E731
    if mode == "presets":
        cands = [p for p in block.presets_mm if ok(p)]
        if cands:
            return float(cands[int(rng.integers(len(cands)))])
        return float(max(block.presets_mm, key=lambda p: abs(np.log(p / f0))))
    # continuous: log-uniform over the part of the range at least min_ratio away from f0
    parts = [(np.log(lo), min(np.log(hi), np.log(f0 / block.min_ratio))),
             (max(np.log(lo), np.log(f0 * block.min_ratio)), np.log(hi))]
    parts = [(a, b) for a, b in parts if b > a]
    if not parts:
        return float(max((lo, hi), key=lambda p: abs(np.log(p / f0))))
    widths = np.array([b - a for a, b in parts])
    a, b = parts[int(rng.choice(len(parts), p=widths / widths.sum()))]
    return float(round_json(np.exp(rng.uniform(a, b)), 4))


@register_family
class Zoom(TrajectoryFamily):
    name = "zoom"
    draw_order = 6
    Config = ZoomConfig

    def sample(self, block: ZoomConfig, ctx, rng):
        if not ctx.lens_focal_mm > 0:
            raise ValueError("zoom: the sampler must give the scene's lens focal length (FamilyContext.lens_focal_mm)")
        f0 = float(ctx.lens_focal_mm)
        mode = block.modes[int(rng.integers(len(block.modes)))]
        f1 = _end_focal(block, mode, f0, rng)
        loc, rot = hold(ctx.start_loc_m, ctx.start_rot_deg, ctx.u)
        params: Dict[str, Any] = {"mode": mode, "focal_start_mm": round_json(f0), "focal_end_mm": round_json(f1),
                                  "zoom_ratio": round_json(f1 / f0), "direction": "in" if f1 > f0 else "out",
                                  "move_axis": "none", "move_direction": 0, "move_fraction": 0.0,
                                  "displacement_m": [0.0, 0.0, 0.0]}
        if rng.uniform() < block.move_probability:
            axis = "xyz"[int(rng.integers(3))]
            sign = 1 if rng.uniform() < 0.5 else -1
            frac = rng.uniform(*block.move_fraction)
            disp = np.asarray(round_json(sign * frac * ctx.distance_to_character_m *
                                         camera_axis_vectors(ctx.start_rot_deg)[axis], 7))
            loc = loc + ctx.u[:, None] * disp[None]
            params.update(move_axis=axis, move_direction=sign, move_fraction=round_json(frac),
                          displacement_m=disp.tolist())
        return params, loc, rot

    def focal_lengths(self, params: Dict[str, Any], u: np.ndarray) -> np.ndarray:
        return focal_profile(params["focal_start_mm"], params["focal_end_mm"], u, "geometric")

    def caption(self, params: Dict[str, Any], speed_phrase: str) -> str:
        f0, f1 = params["focal_start_mm"], params["focal_end_mm"]
        move = ""
        if params.get("move_axis", "none") != "none":
            word = _MOVE_WORDS.get((params["move_axis"], params["move_direction"]), "")
            move = f" while moving {word} by {params['move_fraction'] * params['distance_to_character_m']:.1f} metres"
        return sentence(f"the camera zooms {params['direction']} from {f0:.0f} mm to {f1:.0f} mm "
                        f"({max(f1 / f0, f0 / f1):.1f}x){move} {speed_phrase}")

    def check(self, params: Dict[str, Any], block: ZoomConfig) -> List[str]:
        lo, hi = block.focal_range_mm
        problems = focal_problems(params, lo, hi)
        if params.get("mode") not in block.modes:
            problems.append(f"mode: {params.get('mode')!r}; expected one of the configured {block.modes}")
        if problems:
            return problems
        f0, f1 = params["focal_start_mm"], params["focal_end_mm"]
        if params["mode"] == "presets" and not any(abs(f1 - p) < 1e-6 for p in block.presets_mm):
            problems.append(f"focal_end_mm {f1:g} is not one of presets_mm {block.presets_mm}")
        ratio = max(f1 / f0, f0 / f1)
        if ratio < block.min_ratio - 1e-4 and (params["mode"] == "continuous" or
                                               any(max(p / f0, f0 / p) >= block.min_ratio for p in block.presets_mm)):
            problems.append(f"zoom ratio {ratio:.4g} below min_ratio {block.min_ratio:g}")
        if abs(params.get("zoom_ratio", 0) - f1 / f0) > 1e-5:
            problems.append(f"zoom_ratio: {params.get('zoom_ratio')!r}; expected focal_end_mm / focal_start_mm = "
                            f"{f1 / f0:.6g}")
        if params.get("direction") != ("in" if f1 > f0 else "out"):
            problems.append(f"direction: {params.get('direction')!r}; expected {'in' if f1 > f0 else 'out'}")
        if params.get("move_axis", "none") != "none":
            if p := range_problem("move_fraction", params.get("move_fraction"), block.move_fraction):
                problems.append(p)
        return problems

    def stats(self, params: Dict[str, Any], block: ZoomConfig):
        return [("zoom end focal (mm)", params["focal_end_mm"], block.focal_range_mm),
                ("zoom ratio (end / start focal)", params["zoom_ratio"], None)]

    def categorical(self, params: Dict[str, Any]) -> Dict[str, str]:
        return {"zoom": f"{params['direction']} ({params['mode']})",
                "zoom move": "fixed" if params.get("move_axis", "none") == "none" else "moving"}
