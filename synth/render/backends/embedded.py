"""The embedded backend's registry entry: Panda3D, off-screen, the built-in procedural catalog
(:mod:`synth.render.embedded`)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import field_validator

from .base import BackendEntry, BackendOptions, option, register_backend


class EmbeddedOptions(BackendOptions):
    msaa: int = option(0, help="Multisample anti-aliasing samples of the RGB images (0 = off); depth and masks "
                               "stay exact.", ge=0, le=16)
    quality: Literal["standard", "draft"] = option(
        "standard", help="Look: standard (PBR materials, image-based lighting, one shadowed sun) or draft "
                         "(fixed-function, faster).")
    anisotropy: int = option(1, help="Anisotropic texture filtering degree (1 = off, up to 16): sharper ground "
                                     "textures at grazing angles; nearly free on a GPU, 2-5x slower frames on "
                                     "Mesa's llvmpipe.", ge=1, le=16)
    gpu: Optional[int] = option(None, help="Render on this NVIDIA GPU (CUDA index among CUDA_VISIBLE_DEVICES) "
                                           "through its EGL device; default: CUDA_VISIBLE_DEVICES' first GPU "
                                           "when NVIDIA EGL is there, else EGL's default (Mesa).", ge=0)

    @field_validator("gpu")
    @classmethod
    def _gpu_has_egl(cls, v: Optional[int]) -> Optional[int]:
        """--gpu names an NVIDIA EGL device of this machine (checked through libEGL; Panda3D is not started)."""
        if v is not None:
            from ..embedded.panda_app import select_egl_device

            select_egl_device(v)  # EglDeviceError (a ValueError) lists the EGL devices found
        return v


@register_backend
class EmbeddedEntry(BackendEntry):
    name = "embedded"
    Options = EmbeddedOptions
    help = "Panda3D, off-screen (default; built-in catalog)"

    def run_record(self, options: EmbeddedOptions):
        """The look (``quality``) changes the images; MSAA only smooths edges and is not recorded (as before)."""
        return {"quality": options.quality}

    def create(self, catalog, num_cameras: int, msaa: int = 0, quality: str = "standard", gpu: Optional[int] = None,
               anisotropy: int = 1):
        from ..embedded.backend import EmbeddedBackend

        return EmbeddedBackend(catalog, num_cameras, msaa=msaa, quality=quality, gpu=gpu, anisotropy=anisotropy)
