"""``pan``: rotate in place about the vertical axis (yaw), left or right."""

from __future__ import annotations

from typing import Any, ClassVar, Dict, Tuple

from .base import AngleRangeConfig, TrajectoryFamily, hold, register_family, round_json, sentence


class PanConfig(AngleRangeConfig):
    """``angle_deg``: total yaw change, uniform in ``[min, max]`` degrees (0 < min <= max <= 180)."""


def rotate_in_place(location, rotator, u, d_pitch_deg: float, d_yaw_deg: float):
    """Pitch and yaw change by ``u x d_pitch`` / ``u x d_yaw`` (positive yaw pans right, positive pitch tilts up);
    position fixed. Returns ``(F, 3)`` locations and rotators."""
    loc, rot = hold(location, rotator, u)
    rot[:, 0] += u * d_pitch_deg
    rot[:, 1] += u * d_yaw_deg
    return loc, rot


class RotateInPlace(TrajectoryFamily):
    """Pan and tilt: a uniform angle in ``block.angle_deg`` and a fair-coin direction; ``directions[0]`` is the
    positive one (Unreal yaw right, pitch up)."""

    ranged_params = {"angle_deg": "angle_deg"}
    rotator_index: ClassVar[int]  # 0 pitch, 1 yaw
    directions: ClassVar[Tuple[str, str]]
    verb: ClassVar[str]

    def sample(self, block: AngleRangeConfig, ctx, rng):
        angle = round_json(rng.uniform(*block.angle_deg))
        direction = self.directions[0] if rng.uniform() < 0.5 else self.directions[1]
        delta = [0.0, 0.0]
        delta[self.rotator_index] = angle if direction == self.directions[0] else -angle
        loc, rot = rotate_in_place(ctx.start_loc_m, ctx.start_rot_deg, ctx.u, *delta)
        return {"angle_deg": angle, "direction": direction}, loc, rot

    def caption(self, params: Dict[str, Any], speed_phrase: str) -> str:
        return sentence(f"the camera {self.verb} {params['direction']} by {params['angle_deg']:.0f} degrees "
                        f"{speed_phrase}")

    def check(self, params, block: AngleRangeConfig):
        problems = super().check(params, block)
        if params.get("direction") not in self.directions:
            problems.append(f"direction: {params.get('direction')!r}; expected one of {list(self.directions)}")
        return problems

    def stats(self, params, block: AngleRangeConfig):
        return [(f"{self.name} angle (deg)", params["angle_deg"], block.angle_deg)]


@register_family
class Pan(RotateInPlace):
    name = "pan"
    draw_order = 0
    Config = PanConfig
    rotator_index, directions, verb = 1, ("right", "left"), "pans"
