"""``recam infer``'s settings: every flag in one typed model that owns the checks across flags. Light (pydantic
only, no torch, no diffusers), so an argument error is answered in well under a second, before
:func:`recam.infer.run` imports the heavy libraries.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import List, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["InferSettings", "OFFLOAD_MODES", "DTYPES", "CPU_FLOPS", "estimate_flops", "MAX_SIDE", "MAX_FRAMES",
           "MAX_STEPS", "MAX_GUIDANCE"]

#: ``recam infer`` bounds, checked before any file is read or memory allocated (``--height 100000 --width 100000``
#: once asked for a 251 GiB frame buffer): sizes (pixels), frames and steps the pipeline is meant for, and a finite
#: guidance scale
MAX_SIDE = 2048
MAX_FRAMES = 1025
MAX_STEPS = 1000
MAX_GUIDANCE = 100.0

#: ``--offload``: none (everything on the device), model (diffusers' model CPU offload: one component at a time),
#: group (diffusers' group offloading, one transformer block at a time), sequential (accelerate, layer by layer)
OFFLOAD_MODES = ("none", "model", "group", "sequential")
#: ``--dtype`` values (auto: bf16 on CUDA, fp32 on the CPU)
DTYPES = ("auto", "bf16", "fp16", "fp32")
#: Sustained FLOP/s assumed for a CPU in the cost warning (an order of magnitude for fp32 matmuls on a many-core
#: server; a laptop is slower): the warning's hours are an estimate, its knobs are exact.
CPU_FLOPS = 1e12


class InferSettings(BaseModel):
    """What ``recam infer`` was asked to do (see ``recam infer --help`` for each field). ``cpu_offload`` is folded
    into ``offload`` ("model")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_dir: Path = Field(description="Local Wan2.1-T2V-1.3B in diffusers layout.")
    ckpt: Optional[Path] = Field(None, description="ReCamMaster weights: upstream step*.ckpt or a diffusers "
                                 "transformer folder. Default: untrained camera modules.")
    cam_type: Optional[int] = Field(None, ge=1, le=10, description="Preset trajectory 1..10.")
    trajectory: Optional[Path] = Field(None, description="camera_extrinsics.json or moves YAML.")
    camera: Optional[str] = Field(None, description="Camera of a multi-camera --trajectory JSON.")
    zoom: Optional[str] = Field(None, description="Focal-length change START:END over the video relative to the "
                                "source (1.0:2.0 zooms in 2x); needs weights trained with model.intrinsics.")
    dataset_path: Optional[Path] = Field(None, description="Folder with metadata.csv + videos/.")
    video: Optional[Path] = Field(None, description="One source video (with --prompt).")
    prompt: Optional[str] = Field(None, description="Caption of --video.")
    out: Path = Field(Path("results"), description="Output folder.")
    num_frames: int = Field(81, description="Frames (4k + 1).")
    height: int = Field(480, description="Output height (multiple of 16).")
    width: int = Field(832, description="Output width (multiple of 16).")
    start_frame: int = Field(0, ge=0, description="First source frame.")
    stride: int = Field(1, ge=1, description="Take every N-th source frame.")
    steps: int = Field(50, ge=1, description="Denoising steps.")
    guidance: float = Field(5.0, description="CFG scale on the text (1 = off).")
    seed: int = Field(0, description="Seed of the sampler.")
    dtype: str = Field("auto", description="auto | bf16 | fp16 | fp32.")
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N.")
    vae_tiling: bool = Field(False, description="Tiled VAE encode/decode (less memory).")
    offload: str = Field("none", description="none | model (one component on the GPU at a time) | group (one "
                         "transformer block at a time) | sequential (layer by layer, least memory). Outputs are "
                         "identical.")
    cpu_offload: bool = Field(False, description="Same as --offload model (kept for old scripts).")
    compile: bool = Field(False, description="torch.compile the repeated transformer blocks.")
    cp_ulysses: int = Field(1, ge=1, description="Context parallelism: Ulysses degree (run under torchrun with that "
                            "many processes per group).")
    cp_ring: int = Field(1, ge=1, description="Context parallelism: ring degree (needs --attention-backend flash or "
                         "_native_cudnn).")
    overwrite: bool = Field(False, description="Replace results of an earlier run.")
    attention_backend: Optional[str] = Field(None, description="diffusers attention backend (e.g. native, flash, "
                                             "_native_cudnn).")
    cache: str = Field("none", description="Training-free cache (diffusers hooks): none | fbc[:threshold] | "
                       "magcache[:threshold|:calibrate] | taylorseer[:interval] | fastercache. Approximate: "
                       "docs/evaluation.md (Fast re-capture) gives speed-up vs error.")
    mag_ratios: Optional[Path] = Field(None, description="MagCache's per-step ratios of this checkpoint (JSON "
                                       "written by --cache magcache:calibrate).")
    lora: List[str] = Field([], description="LoRA in diffusers/peft format (.safetensors or folder), PATH[:scale]; "
                            "repeat for several (e.g. a step-distilled Wan2.1 LoRA with --steps 4 --guidance 1).")

    @model_validator(mode="before")
    @classmethod
    def _fold_cpu_offload(cls, values):
        if isinstance(values, dict) and values.get("cpu_offload"):
            values = {**values, "offload": "model"}  # --cpu-offload is --offload model (kept for old scripts)
        return values

    @model_validator(mode="after")
    def _flags_agree(self) -> "InferSettings":
        if (self.cam_type is None) == (self.trajectory is None):
            raise ValueError("give exactly one of --cam-type 1..10 or --trajectory FILE")
        if self.zoom is not None:  # the same check as recam.cameras.zoom_intrinsics, without importing it
            try:
                ratios = [float(v) for v in self.zoom.split(":")]
            except ValueError:
                ratios = []
            if len(ratios) != 2 or not all(0.1 <= r <= 10 for r in ratios):
                raise ValueError(f"--zoom {self.zoom!r}: expected START:END focal ratios within [0.1, 10], "
                                 f"e.g. 1.0:2.0")
        if (self.dataset_path is None) == (self.video is None):
            raise ValueError("give exactly one of --dataset-path DIR or --video FILE (with --prompt)")
        if self.video is not None and not self.prompt:
            raise ValueError("--video needs --prompt (the caption of the source video)")
        if not 5 <= self.num_frames <= MAX_FRAMES:
            raise ValueError(f"--num-frames {self.num_frames}: expected 5 to {MAX_FRAMES} frames (4k + 1)")
        if (self.num_frames - 1) % 4:
            raise ValueError(f"--num-frames must be 4k + 1 (Wan VAE), got {self.num_frames}")
        for opt, v in (("--height", self.height), ("--width", self.width)):
            if not 16 <= v <= MAX_SIDE:
                raise ValueError(f"{opt} {v}: expected 16 to {MAX_SIDE} pixels")
        if self.height % 16 or self.width % 16:
            raise ValueError(f"--height and --width must be multiples of 16, got {self.height}x{self.width}")
        if self.steps > MAX_STEPS:
            raise ValueError(f"--steps {self.steps}: expected 1 to {MAX_STEPS}")
        if not (math.isfinite(self.guidance) and 0 <= self.guidance <= MAX_GUIDANCE):
            raise ValueError(f"--guidance {self.guidance}: expected a finite number from 0 to {MAX_GUIDANCE:g} "
                             f"(1 = off)")
        if self.offload not in OFFLOAD_MODES:
            raise ValueError(f"--offload must be one of {', '.join(OFFLOAD_MODES)}; got {self.offload!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"--dtype must be one of {', '.join(DTYPES)}; got {self.dtype!r}")
        if self.cp > 1 and self.offload != "none":
            raise ValueError("--cp-ulysses / --cp-ring cannot be combined with --offload (each rank holds the whole "
                             "model)")
        from .caches import parse_cache_spec
        from .lora import parse_lora_spec

        spec = parse_cache_spec(self.cache)
        if spec.kind == "magcache" and not spec.calibrate and self.mag_ratios is None:
            raise ValueError("--cache magcache needs --mag-ratios FILE (this checkpoint's per-step ratios: run once "
                             "with --cache magcache:calibrate, which writes <out>/<trajectory>/mag_ratios.json)")
        if spec.kind != "none" and self.cp > 1:
            # each rank would decide to skip blocks from its own shard of the tokens: ranks could disagree and
            # wait on each other's collectives forever
            raise ValueError(f"--cache {self.cache} cannot be combined with --cp-ulysses / --cp-ring (the ranks "
                             f"could decide differently which blocks to skip)")
        for text in self.lora:
            parse_lora_spec(text)
        if self.cp_ring > 1 and self.attention_backend in (None, "native"):
            raise ValueError("--cp-ring > 1 needs --attention-backend flash or _native_cudnn (ring attention needs "
                             "the log-sum-exp, which the native backend does not return)")
        return self

    @property
    def cp(self) -> int:
        """Context-parallel degree (processes per group): ``cp_ulysses * cp_ring``."""
        return self.cp_ulysses * self.cp_ring

    def tokens(self) -> int:
        """Transformer tokens per forward pass: source and target latents side by side, ``(F - 1) / 4 + 1`` latent
        frames of ``(H / 16) x (W / 16)`` patches (VAE /8, patch 2x2)."""
        return 2 * ((self.num_frames - 1) // 4 + 1) * (self.height // 16) * (self.width // 16)


def estimate_flops(settings: InferSettings, params: int, layers: int, dim: int) -> float:
    """Floating-point operations of a whole run per video (an estimate): per step and per forward pass (two with
    classifier-free guidance) ``2 * params * T`` for the linear layers plus ``4 * layers * dim * T^2`` for
    attention, ``T`` = :meth:`InferSettings.tokens`.

    Args:
        params: the transformer's parameter count. layers: its blocks. dim: its attention width (heads x head dim).
    """
    t = settings.tokens()
    passes = 2 if settings.guidance != 1 else 1
    return float(settings.steps * passes * (2.0 * params * t + 4.0 * layers * dim * t * t))
