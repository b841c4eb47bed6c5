"""``pan``: rotate in place about the vertical axis (yaw), left or right."""

from __future__ import annotations

from typing import Any, Dict

from pydantic import field_validator

from .base import FamilyBlock, Range, TrajectoryFamily, check_range, hold, register_family, round_json, sentence


class PanConfig(FamilyBlock):
    """``angle_deg``: total yaw change, uniform in ``[min, max]`` degrees (0 < min <= max <= 180)."""

    angle_deg: Range

    @field_validator("angle_deg")
    @classmethod
    def _r(cls, v: Range) -> Range:
        return check_range(v, 0.0, 180.0, positive=True)


def rotate_in_place(location, rotator, u, d_pitch_deg: float, d_yaw_deg: float):
    """Pitch and yaw change by ``u x d_pitch`` / ``u x d_yaw`` (positive yaw pans right, positive pitch tilts up);
    position fixed. Returns ``(F, 3)`` locations and rotators."""
    loc, rot = hold(location, rotator, u)
    rot[:, 0] += u * d_pitch_deg
    rot[:, 1] += u * d_yaw_deg
    return loc, rot


@register_family
class Pan(TrajectoryFamily):
    name = "pan"
    Config = PanConfig

    def sample(self, block: PanConfig, ctx, rng):
        angle = round_json(rng.uniform(*block.angle_deg))
        direction = "right" if rng.uniform() < 0.5 else "left"
        loc, rot = rotate_in_place(ctx.start_loc_m, ctx.start_rot_deg, ctx.u, 0.0,
                                   angle if direction == "right" else -angle)
        return {"angle_deg": angle, "direction": direction}, loc, rot

    def caption(self, params: Dict[str, Any], speed_phrase: str) -> str:
        return sentence(f"the camera pans {params['direction']} by {params['angle_deg']:.0f} degrees {speed_phrase}")

    def stats(self, params, block: PanConfig):
        return [("pan angle (deg)", params["angle_deg"], block.angle_deg)]
