"""Scene settings ``scene.json`` must carry: the recipe's config digest, ``cameras_per_scene`` cameras, the video
settings (frames, fps, size). The sampler writes them from the config, so only ``synth validate`` checks them."""

from __future__ import annotations

from typing import List

from .base import Rule, RuleContext, Violation, register_rule


@register_rule
class ConfigDigest(Rule):
    """``scene.json``'s ``config_digest`` is the recipe's (when it has one)."""

    name, order, phase = "config_digest", 0, 0

    def check(self, ctx: RuleContext) -> List[Violation]:
        spec = ctx.spec
        if spec is None or not spec.config_digest or ctx.digest is None or spec.config_digest == ctx.digest:
            return []
        return [Violation(self.name, None, None, f"config_digest: {spec.config_digest!r}; expected {ctx.digest!r} "
                                                 f"({ctx.source})", "scene")]


@register_rule
class CameraCount(Rule):
    """``cameras_per_scene`` cameras."""

    name, order, phase = "camera_count", 1, 0

    def check(self, ctx: RuleContext) -> List[Violation]:
        if ctx.spec is None or len(ctx.spec.cameras) == ctx.cfg.cameras_per_scene:
            return []
        return [Violation(self.name, None, None, f"cameras: {len(ctx.spec.cameras)}; expected cameras_per_scene = "
                                                 f"{ctx.cfg.cameras_per_scene}", "scene")]


@register_rule
class VideoSettings(Rule):
    """Frames, fps, width and height are the configured ``video``."""

    name, order, phase = "video", 2, 0

    def check(self, ctx: RuleContext) -> List[Violation]:
        if ctx.spec is None:
            return []
        sv, v = ctx.spec.video, ctx.cfg.video
        if (sv.frames, sv.width, sv.height) == (v.frames, v.width, v.height) and abs(sv.fps - v.fps) <= 1e-9:
            return []
        return [Violation(self.name, None, None, f"video: {sv.to_json()}; expected the configured {v.model_dump()}",
                          "scene")]
