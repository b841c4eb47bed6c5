"""Frozen encoders shared by the pipeline, ``recam prepare`` and training from raw video.

* :func:`encode_prompts`: UMT5 embeddings exactly as Wan / upstream ReCamMaster (prompt cleaning, padding to
  ``max_sequence_length`` tokens, zeros past the true length) through diffusers' ``WanPipeline``
  implementation, plus the true lengths (caches store only those rows).
* :func:`encode_video_latents`: Wan VAE posterior mode, normalised with the VAE config's ``latents_mean/std``
  (:func:`normalize_latents` / :func:`denormalize_latents`, also used by the pipeline; this module imports no
  other module of ours, so the pipeline can import it).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import List, Sequence, Tuple

import torch

__all__ = ["encode_prompts", "encode_video_latents", "pad_context", "normalize_latents", "denormalize_latents",
           "MAX_TEXT_LEN"]

#: upstream WanPrompter text_len
MAX_TEXT_LEN = 512


def _stats(vae, like: torch.Tensor):
    shape = (1, vae.config.z_dim, 1, 1, 1)
    mean = torch.tensor(vae.config.latents_mean, dtype=torch.float32, device=like.device).view(shape)
    std = torch.tensor(vae.config.latents_std, dtype=torch.float32, device=like.device).view(shape)
    return mean, std


def normalize_latents(vae, mode: torch.Tensor) -> torch.Tensor:
    """``(mode - latents_mean) / latents_std`` (float32), the scale the DiT was trained on; ``mode``
    ``[B, z_dim, F, h, w]``, statistics from the ``AutoencoderKLWan`` config."""
    mean, std = _stats(vae, mode)
    return (mode.float() - mean) / std


def denormalize_latents(vae, z: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`normalize_latents` (float32): DiT latents -> the VAE's latent scale."""
    mean, std = _stats(vae, z)
    return z.float() * std + mean


@torch.no_grad()
def encode_prompts(tokenizer, text_encoder, prompts: Sequence[str], max_sequence_length: int = MAX_TEXT_LEN,
                   device=None, dtype=None) -> Tuple[torch.Tensor, List[int]]:
    """``[B, max_sequence_length, D]`` embeddings (zero past each prompt's length) and the lengths."""
    from diffusers.pipelines.wan.pipeline_wan import WanPipeline, prompt_clean

    device = device or next(text_encoder.parameters()).device
    shim = SimpleNamespace(tokenizer=tokenizer, text_encoder=text_encoder, _execution_device=device)
    emb = WanPipeline._get_t5_prompt_embeds(shim, list(prompts), 1, max_sequence_length, device, dtype)
    mask = tokenizer([prompt_clean(p) for p in prompts], padding="max_length", max_length=max_sequence_length,
                     truncation=True, add_special_tokens=True, return_attention_mask=True,
                     return_tensors="pt").attention_mask
    return emb, [int(v) for v in mask.sum(1)]


def pad_context(ctx: torch.Tensor, length: int = MAX_TEXT_LEN) -> torch.Tensor:
    """``[L, D]`` -> ``[length, D]`` with zero rows (cached embeddings keep only their true rows)."""
    if ctx.shape[0] > length:
        raise ValueError(f"context has {ctx.shape[0]} rows > {length}")
    return torch.cat([ctx, ctx.new_zeros(length - ctx.shape[0], ctx.shape[1])]) if ctx.shape[0] < length else ctx


@torch.no_grad()
def encode_video_latents(vae, video: torch.Tensor, device=None) -> torch.Tensor:
    """``[B, 3, F, H, W]`` in [-1, 1] -> normalised latents ``[B, 16, (F-1)/4 + 1, H/8, W/8]`` (float32).
    ``device``: where the VAE runs (default: its parameters' device; pipelines with offloading pass theirs)."""
    p = next(vae.parameters())
    x = video.to(device=device or p.device, dtype=p.dtype)
    return normalize_latents(vae, vae.encode(x).latent_dist.mode())
