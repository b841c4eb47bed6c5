"""``tilt``: rotate in place about the camera's horizontal axis (pitch), up or down."""

from __future__ import annotations

from .base import AngleRangeConfig, register_family
from .pan import RotateInPlace


class TiltConfig(AngleRangeConfig):
    """``angle_deg``: total pitch change, uniform in ``[min, max]`` degrees (0 < min <= max <= 89)."""

    MAX_DEG = 89.0


@register_family
class Tilt(RotateInPlace):
    name = "tilt"
    draw_order = 1
    Config = TiltConfig
    rotator_index, directions, verb = 0, ("up", "down"), "tilts"
