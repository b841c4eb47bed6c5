"""The embedded backend's registry entry: Panda3D, off-screen, the built-in procedural catalog
(:mod:`synth.render.embedded`)."""

from __future__ import annotations

from typing import Literal

from .base import BackendEntry, BackendOptions, option, register_backend


class EmbeddedOptions(BackendOptions):
    msaa: int = option(0, help="Multisample anti-aliasing samples of the RGB images (0 = off); depth and masks "
                               "stay exact.", ge=0, le=16)
    quality: Literal["standard", "draft"] = option(
        "standard", help="Look: standard (PBR materials, image-based lighting, one shadowed sun) or draft "
                         "(fixed-function, faster).")


@register_backend
class EmbeddedEntry(BackendEntry):
    name = "embedded"
    Options = EmbeddedOptions
    help = "Panda3D, off-screen (default; built-in catalog)"

    def run_record(self, options: EmbeddedOptions):
        """The look (``quality``) changes the images; MSAA only smooths edges and is not recorded (as before)."""
        return {"quality": options.quality}

    def create(self, catalog, num_cameras: int, msaa: int = 0, quality: str = "standard"):
        from ..embedded.backend import EmbeddedBackend

        return EmbeddedBackend(catalog, num_cameras, msaa=msaa, quality=quality)
