"""``tilt``: rotate in place about the camera's horizontal axis (pitch), up or down."""

from __future__ import annotations

from typing import Any, Dict

from pydantic import field_validator

from .base import FamilyBlock, Range, TrajectoryFamily, check_range, register_family, round_json, sentence
from .pan import rotate_in_place


class TiltConfig(FamilyBlock):
    """``angle_deg``: total pitch change, uniform in ``[min, max]`` degrees (0 < min <= max <= 89)."""

    angle_deg: Range

    @field_validator("angle_deg")
    @classmethod
    def _r(cls, v: Range) -> Range:
        return check_range(v, 0.0, 89.0, positive=True)


@register_family
class Tilt(TrajectoryFamily):
    name = "tilt"
    Config = TiltConfig

    def sample(self, block: TiltConfig, ctx, rng):
        angle = round_json(rng.uniform(*block.angle_deg))
        direction = "up" if rng.uniform() < 0.5 else "down"
        loc, rot = rotate_in_place(ctx.start_loc_m, ctx.start_rot_deg, ctx.u,
                                   angle if direction == "up" else -angle, 0.0)
        return {"angle_deg": angle, "direction": direction}, loc, rot

    def caption(self, params: Dict[str, Any], speed_phrase: str) -> str:
        return sentence(f"the camera tilts {params['direction']} by {params['angle_deg']:.0f} degrees {speed_phrase}")

    def stats(self, params, block: TiltConfig):
        return [("tilt angle (deg)", params["angle_deg"], block.angle_deg)]
