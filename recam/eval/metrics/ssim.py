"""SSIM of the generated video against the true target video, per frame (scikit-image), mean over frames."""

from __future__ import annotations

from typing import Dict

import numpy as np

from .base import Column, Metric, PairContext, register_metric
from .psnr import mean_finite_psnr, psnr_per_frame

__all__ = ["ssim", "video_psnr_ssim", "SSIM"]


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two ``(H, W, 3)`` uint8 images (scikit-image, Gaussian window as Wang et al. 2004)."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(np.asarray(a), np.asarray(b), channel_axis=-1, data_range=255,
                                       gaussian_weights=True, sigma=1.5, use_sample_covariance=False))


def video_psnr_ssim(pred: np.ndarray, target: np.ndarray) -> Dict[str, object]:
    """Per-frame and mean PSNR (dB) / SSIM of two ``(F, H, W, 3)`` uint8 videos of equal shape."""
    p = psnr_per_frame(pred, target)
    s = [ssim(x, y) for x, y in zip(np.asarray(pred), np.asarray(target))]
    return {"psnr": mean_finite_psnr(p), "ssim": float(np.mean(s)), "psnr_per_frame": p, "ssim_per_frame": s}


@register_metric
class SSIM(Metric):
    name = "ssim"
    label = "SSIM"
    help = "structural similarity against the true target video (mean over frames)"
    columns = (Column("ssim", "mean over frames"),)
    order = 11

    def score(self, ctx: PairContext, state) -> Dict[str, float]:
        if ctx.generated.shape != ctx.target.shape:
            raise ValueError(f"ssim: shapes differ: {ctx.generated.shape} vs {ctx.target.shape}")
        return {"ssim": float(np.mean([ssim(x, y) for x, y in zip(ctx.generated, ctx.target)]))}
