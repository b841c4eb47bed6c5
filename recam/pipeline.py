"""``ReCamMasterPipeline``: re-capture a video along a new camera trajectory (diffusers ``DiffusionPipeline``).

Source video -> normalised Wan VAE latents; prompt -> UMT5 embeddings (512 tokens, zeroed past the true length;
diffusers' ``WanPipeline.encode_prompt``); flow-matching Euler sampling on upstream's schedule (shift 5, 50 steps)
with the model input ``[noisy target | clean source]``; classifier-free guidance on the text only (the negative
branch keeps the source latents and the cameras); decode the target half. Follows upstream
``WanVideoReCamMasterPipeline.__call__`` (KwaiVGI/ReCamMaster).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Union

import numpy as np
import torch
from diffusers import AutoencoderKLWan, DiffusionPipeline
from diffusers.pipelines.wan.pipeline_wan import WanPipeline
from diffusers.utils import BaseOutput

from .components import REQUIRED_COMPONENTS, load_components_error
from .encoders import denormalize_latents, encode_video_latents
from .model import ReCamMasterTransformer3DModel
from .scheduler import inference_sigmas, make_inference_scheduler
from .video import tensor_to_frames

__all__ = ["ReCamMasterPipeline", "ReCamMasterPipelineOutput", "DEFAULT_NEGATIVE_PROMPT", "denoise"]

#: Wan2.1's default negative prompt, used by upstream's inference script.
DEFAULT_NEGATIVE_PROMPT = ("色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，"
                           "JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，"
                           "手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走")


def denoise(transformer, scheduler, latents: torch.Tensor, source: torch.Tensor, context: torch.Tensor,
            negative_context: Optional[torch.Tensor], cam_emb: torch.Tensor, num_inference_steps: int = 50,
            guidance_scale: float = 5.0, cfg_batch: bool = True,
            callback: Optional[Callable[[int, int], None]] = None, progress: Optional[Callable] = None,
            cam_intrinsics: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Upstream's sampling loop: Euler steps on the shift-5 flow-matching schedule with the model input
    ``[latents | source]`` (frame axis), CFG on the text only (the negative branch keeps source and cameras).

    Args:
        latents: ``[B, 16, F, h, w]`` initial noise; source: the clean source latents (same shape).
        context / negative_context: ``[B, L, D]`` text embeddings (negative None = no CFG).
        cam_emb: ``[B, F, 12]``; cam_intrinsics: ``[B, F, 4]`` the optional intrinsics condition (zoom), or None.

    Returns the denoised target latents.
    """
    f_lat = latents.shape[2]
    b = latents.shape[0]
    scheduler.set_timesteps(sigmas=inference_sigmas(num_inference_steps), device=latents.device)
    timesteps = scheduler.timesteps
    do_cfg = negative_context is not None and guidance_scale != 1.0
    cached = getattr(transformer, "is_cache_enabled", False)
    if cached and do_cfg and not cfg_batch and type(transformer._cache_config).__name__ == "FasterCacheConfig":
        raise ValueError("FasterCache needs the CFG branches batched (cfg_batch=True)")
    if cached:
        transformer._reset_stateful_cache()  # a cache's state belongs to one sampling run
    ki = {} if cam_intrinsics is None else {"cam_intrinsics": cam_intrinsics}
    ki2 = {} if cam_intrinsics is None else {"cam_intrinsics": torch.cat([cam_intrinsics, cam_intrinsics])}
    for i, t in enumerate(progress(timesteps) if progress else timesteps):
        x = torch.cat([latents, source], dim=2)
        tt = t.expand(b).to(torch.float32)
        if do_cfg and cfg_batch:
            # [negative | positive] along the batch, by keyword: the layout diffusers' cache hooks expect
            # (FasterCache drops the unconditional first half on the steps it approximates)
            with _cache_context(transformer, cached, "cond_uncond", i, num_inference_steps, t):
                v = transformer(hidden_states=torch.cat([x, x]), timestep=torch.cat([tt, tt]),
                                encoder_hidden_states=torch.cat([negative_context, context]),
                                cam_emb=torch.cat([cam_emb, cam_emb]), **ki2).sample[:, :, :f_lat]
            v_neg, v_pos = v.chunk(2)
            v = v_neg + guidance_scale * (v_pos - v_neg)
        else:
            with _cache_context(transformer, cached, "cond", i, num_inference_steps, t):
                v = transformer(x, tt, context, cam_emb, **ki).sample[:, :, :f_lat]
            if do_cfg:
                with _cache_context(transformer, cached, "uncond", i, num_inference_steps, t):
                    v_neg = transformer(x, tt, negative_context, cam_emb, **ki).sample[:, :, :f_lat]
                v = v_neg + guidance_scale * (v - v_neg)
        latents = scheduler.step(v, t, latents, return_dict=False)[0]
        if callback is not None:
            callback(i + 1, len(timesteps))
    return latents


def _cache_context(transformer, cached: bool, name: str, step: int, steps: int, t: torch.Tensor):
    """diffusers' cache context ``name`` of one denoiser call (its own cache state: ``cond_uncond`` for the batched
    CFG branches, ``cond`` / ``uncond`` unbatched) when a cache is enabled on ``transformer``
    (:mod:`recam.caches`); a no-op otherwise."""
    if not cached:
        return contextlib.nullcontext()
    return transformer.cache_context(name, step_index=step, num_inference_steps=steps, timestep=float(t))


@dataclass
class ReCamMasterPipelineOutput(BaseOutput):
    """``frames``: per batch item ``[F, H, W, 3]`` uint8 (``output_type='np'``) or the ``[B, 16, F_lat, h, w]``
    target latents (``output_type='latent'``)."""

    frames: Union[List[np.ndarray], torch.Tensor]


class ReCamMasterPipeline(DiffusionPipeline):
    """Components: ``tokenizer`` (UMT5), ``text_encoder`` (``UMT5EncoderModel``), ``vae`` (``AutoencoderKLWan``),
    ``scheduler`` (``FlowMatchEulerDiscreteScheduler``, shift 5), ``transformer``
    (:class:`~recam.model.ReCamMasterTransformer3DModel`)."""

    model_cpu_offload_seq = "text_encoder->transformer->vae"
    # Prompt encoding is Wan's (UMT5, padded to max_sequence_length, zero past the true length): reuse diffusers'.
    encode_prompt = WanPipeline.encode_prompt
    _get_t5_prompt_embeds = WanPipeline._get_t5_prompt_embeds

    def __init__(self, tokenizer, text_encoder, vae, scheduler, transformer: ReCamMasterTransformer3DModel):
        super().__init__()
        self.register_modules(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=scheduler,
                              transformer=transformer)

    # --------------------------------------------------------------------------------------------------------
    @classmethod
    def from_wan(cls, model_dir: Union[str, Path], ckpt: Union[str, Path, None] = None,
                 torch_dtype: torch.dtype = torch.bfloat16, vae_dtype: torch.dtype = torch.float32
                 ) -> "ReCamMasterPipeline":
        """Build from a local Wan2.1 diffusers folder and ReCamMaster weights.

        Args:
            model_dir: Wan2.1-T2V-1.3B in diffusers layout (``tokenizer/``, ``text_encoder/``, ``vae/``,
                ``transformer/``).
            ckpt: ReCamMaster weights: upstream ``step20000.ckpt`` (original key names), a diffusers folder saved by
                ``recam convert`` / ``save_pretrained``, or None (camera modules zero/identity: the base Wan model,
                untrained for re-capture).
            torch_dtype: transformer and text encoder dtype. vae_dtype: VAE dtype (float32 by default).

        Raises:
            FileNotFoundError: a component folder or the checkpoint is missing.
        """
        from transformers import AutoTokenizer, UMT5EncoderModel

        from .convert import official_from_config

        model_dir = Path(model_dir)
        for sub in REQUIRED_COMPONENTS:
            if not (model_dir / sub).is_dir():
                raise load_components_error(model_dir, sub)
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir / "tokenizer"), local_files_only=True)
        text_encoder = UMT5EncoderModel.from_pretrained(str(model_dir / "text_encoder"), torch_dtype=torch_dtype,
                                                        local_files_only=True)
        vae = AutoencoderKLWan.from_pretrained(str(model_dir / "vae"), torch_dtype=vae_dtype, local_files_only=True)
        if ckpt is None:
            transformer = ReCamMasterTransformer3DModel.from_pretrained(str(model_dir / "transformer"),
                                                                        torch_dtype=torch_dtype)
        elif Path(ckpt).is_dir():
            transformer = ReCamMasterTransformer3DModel.from_pretrained(str(ckpt), torch_dtype=torch_dtype)
        else:
            cfg = ReCamMasterTransformer3DModel.load_config(str(model_dir / "transformer"), local_files_only=True)
            transformer = ReCamMasterTransformer3DModel.from_official(ckpt, config=official_from_config(cfg),
                                                                      torch_dtype=torch_dtype)
        return cls(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=make_inference_scheduler(),
                   transformer=transformer)

    # --------------------------------------------------------------------------------------------------------
    def encode_source(self, video: torch.Tensor) -> torch.Tensor:
        """``[B, 3, F, H, W]`` in [-1, 1] -> normalised latents ``[B, 16, (F - 1) / 4 + 1, H / 8, W / 8]`` float32
        (the posterior mode, like upstream)."""
        return encode_video_latents(self.vae, video, device=self._execution_device)

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents -> video ``[B, 3, F, H, W]`` in [-1, 1]."""
        z = denormalize_latents(self.vae, latents).to(self.vae.dtype)
        return self.vae.decode(z, return_dict=False)[0].clamp(-1, 1)

    @torch.no_grad()
    def __call__(self, video: Optional[torch.Tensor] = None, prompt: Union[str, List[str], None] = None,
                 cam_emb: Optional[torch.Tensor] = None,
                 negative_prompt: Union[str, List[str], None] = DEFAULT_NEGATIVE_PROMPT, num_inference_steps: int = 50,
                 guidance_scale: float = 5.0, generator: Optional[torch.Generator] = None, seed: Optional[int] = 0,
                 max_sequence_length: int = 512, output_type: str = "np", cfg_batch: bool = True,
                 callback: Optional[Callable[[int, int], None]] = None,
                 prompt_embeds: Optional[torch.Tensor] = None, negative_prompt_embeds: Optional[torch.Tensor] = None,
                 source_latents: Optional[torch.Tensor] = None, latents: Optional[torch.Tensor] = None,
                 cam_intrinsics: Optional[torch.Tensor] = None) -> ReCamMasterPipelineOutput:
        """Re-capture ``video`` (or precomputed ``source_latents``) along the target camera trajectory ``cam_emb``.

        Args:
            video: ``[B, 3, F, H, W]`` float in [-1, 1] (preprocess with :mod:`recam.video`); F = 4k + 1, H and W
                multiples of 16. Or ``source_latents``: ``[B, 16, F_lat, h, w]`` normalised VAE latents of the source
                (:func:`recam.encoders.encode_video_latents`, e.g. a ``recam prepare`` cache); exactly one of the two.
            prompt: caption(s) of the video; or ``prompt_embeds`` ``[B, L, text_dim]`` (UMT5 embeddings, zero past
                the true length, as diffusers' ``WanPipeline``).
            cam_emb: ``[B, F_lat, 12]`` or ``[F_lat, 12]`` relative target poses
                (:func:`recam.cameras.inference_cam_emb`), ``F_lat = (F - 1) / 4 + 1``.
            negative_prompt / negative_prompt_embeds: CFG negative (Wan's default prompt); ignored when
                ``guidance_scale <= 1``.
            num_inference_steps: Euler steps on upstream's shift-5 schedule.
            guidance_scale: CFG scale on the text.
            generator / seed: the initial noise is ``torch.randn`` on the CPU in float32 (upstream's ``seed=0`` gives
                upstream's noise); ``generator`` wins over ``seed``; ``latents`` (same shape as the source latents)
                replaces the noise.
            cfg_batch: run the two CFG branches as one batch (faster, twice the activation memory).
            callback: called as ``callback(step, total)`` after each step.
            output_type: ``np`` (decoded frames) or ``latent``.

        Raises:
            ValueError: frame count not 4k + 1, spatial size not a multiple of 16, ``cam_emb`` of the wrong shape,
                neither or both of video / source_latents, neither or both of prompt / prompt_embeds, or CFG
                without a negative when the pipeline has no text encoder.
        """
        if (video is None) == (source_latents is None):
            raise ValueError("give exactly one of video or source_latents")
        if (prompt is None) == (prompt_embeds is None):
            raise ValueError("give exactly one of prompt or prompt_embeds")
        if cam_emb is None:
            raise ValueError("cam_emb is required")
        device = self._execution_device
        dtype = self.transformer.dtype
        if video is not None:
            if video.ndim != 5 or video.shape[1] != 3:
                raise ValueError(f"video must be [B, 3, F, H, W], got {tuple(video.shape)}")
            b, _, f, h, w = video.shape
            if (f - 1) % 4:
                raise ValueError(f"the video needs 4k + 1 frames (Wan VAE), got {f}")
            if h % 16 or w % 16:
                raise ValueError(f"height and width must be multiples of 16, got {h}x{w}")
        else:
            if source_latents.ndim != 5:
                raise ValueError(f"source_latents must be [B, 16, F_lat, h, w], got {tuple(source_latents.shape)}")
            b, f = source_latents.shape[0], (source_latents.shape[2] - 1) * 4 + 1
        f_lat = (f - 1) // 4 + 1
        if cam_emb.ndim == 2:
            cam_emb = cam_emb[None].expand(b, -1, -1)
        if tuple(cam_emb.shape) != (b, f_lat, 12):
            raise ValueError(f"cam_emb must be [{b}, {f_lat}, 12] for {f} frames, got {tuple(cam_emb.shape)}")
        do_cfg = guidance_scale > 1.0
        if prompt_embeds is None or (do_cfg and negative_prompt_embeds is None):
            if self.text_encoder is None:
                raise ValueError("this pipeline has no text encoder: pass prompt_embeds (and negative_prompt_embeds "
                                 "when guidance_scale > 1)")
            prompts = None if prompt is None else ([prompt] * b if isinstance(prompt, str) else list(prompt))
            negs = None
            if do_cfg and negative_prompt_embeds is None:
                negs = [negative_prompt or ""] * b if not isinstance(negative_prompt, list) else negative_prompt
            prompt_embeds, negative_prompt_embeds = self.encode_prompt(
                prompt=prompts, negative_prompt=negs, do_classifier_free_guidance=do_cfg,
                prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_prompt_embeds,
                max_sequence_length=max_sequence_length, device=device, dtype=dtype)
        prompt_embeds = prompt_embeds.to(device, dtype)
        if do_cfg:
            negative_prompt_embeds = negative_prompt_embeds.to(device, dtype)
        source = self.encode_source(video) if video is not None else source_latents
        source = source.to(device, dtype)
        if latents is None:
            if generator is None:
                generator = torch.Generator("cpu").manual_seed(seed if seed is not None else 0)
            latents = torch.randn(source.shape, generator=generator, dtype=torch.float32)
        elif latents.shape != source.shape:
            raise ValueError(f"latents must have the source latents' shape {tuple(source.shape)}, got "
                             f"{tuple(latents.shape)}")
        latents = latents.to(device, dtype)
        if cam_intrinsics is not None:  # a focal-length change (recam.cameras.intrinsics_condition), [B or 1, F_lat, 4]
            if not getattr(self.transformer, "has_intrinsics_condition", False):
                raise ValueError("cam_intrinsics (a zoom) needs a transformer trained with the intrinsics condition "
                                 "(model.intrinsics: true); this one has none")
            if cam_intrinsics.ndim == 2:
                cam_intrinsics = cam_intrinsics[None]
            cam_intrinsics = cam_intrinsics.expand(cam_emb.shape[0], -1, -1)
            if tuple(cam_intrinsics.shape) != (*cam_emb.shape[:2], 4):
                raise ValueError(f"cam_intrinsics must be [{cam_emb.shape[0]}, {cam_emb.shape[1]}, 4], got "
                                 f"{tuple(cam_intrinsics.shape)}")
            cam_intrinsics = cam_intrinsics.to(device, dtype)
        latents = denoise(self.transformer, self.scheduler, latents, source, prompt_embeds,
                          negative_prompt_embeds if do_cfg else None, cam_emb.to(device, dtype), num_inference_steps,
                          guidance_scale, cfg_batch, callback, progress=self.progress_bar,
                          cam_intrinsics=cam_intrinsics)
        self.maybe_free_model_hooks()
        if output_type == "latent":
            return ReCamMasterPipelineOutput(frames=latents)
        decoded = self.decode_latents(latents)
        return ReCamMasterPipelineOutput(frames=[tensor_to_frames(v) for v in decoded])
