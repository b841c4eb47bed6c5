"""PSNR of the generated video against the true target video, per frame (scikit-image), mean over frames."""

from __future__ import annotations

from typing import Dict, List

import numpy as np

from .base import Column, Metric, PairContext, register_metric

__all__ = ["psnr", "psnr_per_frame", "mean_finite_psnr", "PSNR"]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images or videos of equal shape (data range 255; inf when identical)."""
    from skimage.metrics import peak_signal_noise_ratio

    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"psnr: shapes differ: {a.shape} vs {b.shape}")
    if np.array_equal(a, b):
        return float("inf")
    return float(peak_signal_noise_ratio(a, b, data_range=255))


def psnr_per_frame(pred: np.ndarray, target: np.ndarray) -> List[float]:
    """PSNR (dB) of each frame of two ``(F, H, W, 3)`` uint8 videos of equal shape."""
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(f"video_psnr_ssim: shapes differ: {pred.shape} vs {target.shape}")
    return [psnr(x, y) for x, y in zip(pred, target)]


def mean_finite_psnr(per_frame: List[float]) -> float:
    """Mean over the frames that differ (identical frames have PSNR inf); inf when all are identical."""
    finite = [x for x in per_frame if np.isfinite(x)]
    return float(np.mean(finite)) if finite else float("inf")


@register_metric
class PSNR(Metric):
    name = "psnr"
    label = "PSNR"
    help = "peak signal-to-noise ratio against the true target video (dB, mean over frames)"
    columns = (Column("psnr", "dB, mean over frames"),)
    order = 10

    def score(self, ctx: PairContext, state) -> Dict[str, float]:
        return {"psnr": mean_finite_psnr(psnr_per_frame(ctx.generated, ctx.target))}
