"""Video preprocessing exactly as upstream ReCamMaster (``TextVideoCameraDataset``): resize by the larger scale
factor with bilinear interpolation (PIL, as torchvision does on PIL images), centre-crop, map to [-1, 1].

:func:`resize_center_crop` works on decoded frames; :func:`frame_converter` does the same per frame straight from
the decoder (:func:`synth.core.video_io.stream_video`), so a clip never exists at full resolution as one array.
``resize="fast"`` lets FFmpeg's swscale resize inside the decoder's colour conversion instead (bilinear): about
1.8x the clips/s of the exact path, at the cost of pixel differences. Measured at 480x832
(``benchmarks/bench_data.py``): on upstream's example videos (1280x720 and 1920x1080) mean |diff| 0.9-1.2 of 255
levels, 99th percentile 2, 0.5-0.7% of values differ by more than 2 (max 7-19, at sharp edges); on synthetic
renders with hard edges mean 1.3, 12% of values > 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from PIL import Image

__all__ = ["RESIZE_MODES", "CropPlan", "crop_plan", "resize_center_crop", "resize_center_crop_image",
           "frame_converter", "frames_to_tensor", "tensor_to_frames"]

#: ``exact``: upstream's PIL bilinear (default); ``fast``: swscale bilinear inside the decoder
RESIZE_MODES = ("exact", "fast")


@dataclass(frozen=True)
class CropPlan:
    """Resize ``(h, w)`` to ``(rh, rw)`` then crop ``[top:top + height, left:left + width]``."""

    rh: int
    rw: int
    top: int
    left: int
    height: int
    width: int


def crop_plan(h: int, w: int, height: int, width: int) -> CropPlan:
    """``scale = max(width / w, height / h)``; resize to ``(round(h scale), round(w scale))``, then a centre crop
    with torchvision's offsets ``int(round((rh - height) / 2))``."""
    scale = max(width / w, height / h)
    rh, rw = round(h * scale), round(w * scale)
    return CropPlan(rh, rw, int(round((rh - height) / 2.0)), int(round((rw - width) / 2.0)), height, width)


def resize_center_crop_image(img: Image.Image, height: int, width: int) -> np.ndarray:
    """One PIL image -> ``(height, width, 3)`` uint8, upstream's resize + centre crop."""
    p = crop_plan(img.height, img.width, height, width)
    if (p.rh, p.rw) != (img.height, img.width):
        img = img.resize((p.rw, p.rh), Image.BILINEAR)
    return np.asarray(img)[p.top:p.top + height, p.left:p.left + width]


def resize_center_crop(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """``[N, H, W, 3]`` uint8 -> ``[N, height, width, 3]`` uint8 (:func:`crop_plan`, PIL bilinear)."""
    out = np.empty((len(frames), height, width, 3), np.uint8)
    for i, f in enumerate(frames):
        out[i] = resize_center_crop_image(Image.fromarray(f), height, width)
    return out


def frame_converter(height: int, width: int, resize: str = "exact") -> Callable[[object, int], np.ndarray]:
    """A per-frame conversion for :func:`synth.core.video_io.stream_video`: decoded ``av.VideoFrame`` + display
    rotation -> upright ``(height, width, 3)`` uint8, resized and centre-cropped as :func:`crop_plan`.

    ``exact``: RGB conversion, rotation, then PIL bilinear: equal to ``resize_center_crop(read_video(...))`` on
    every pixel. ``fast``: swscale resizes while converting to RGB (one pass, no full-size RGB frame).

    Raises:
        ValueError: unknown ``resize``.
    """
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {', '.join(RESIZE_MODES)}, got {resize!r}")

    def exact(frame, rotation: int) -> np.ndarray:
        img = frame.to_image()  # rgb24, as read_video's to_ndarray
        k = (rotation // 90) % 4
        if k:
            img = img.transpose((None, Image.ROTATE_90, Image.ROTATE_180, Image.ROTATE_270)[k])
        return resize_center_crop_image(img, height, width)

    def fast(frame, rotation: int) -> np.ndarray:
        k = (rotation // 90) % 4
        h, w = (frame.width, frame.height) if k % 2 else (frame.height, frame.width)  # upright size
        p = crop_plan(h, w, height, width)
        rh, rw = (p.rw, p.rh) if k % 2 else (p.rh, p.rw)  # coded orientation
        rgb = frame.to_ndarray(width=rw, height=rh, format="rgb24", interpolation="BILINEAR")
        if k:
            rgb = np.rot90(rgb, k)
        return rgb[p.top:p.top + height, p.left:p.left + width]

    return exact if resize == "exact" else fast


def frames_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """``[N, H, W, 3]`` uint8 -> ``[3, N, H, W]`` float32 in [-1, 1] (``Normalize(0.5, 0.5)``)."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).float().div(127.5).sub(1.0)


def tensor_to_frames(video: torch.Tensor) -> np.ndarray:
    """``[3, N, H, W]`` in [-1, 1] -> ``[N, H, W, 3]`` uint8 (upstream ``tensor2video``)."""
    return ((video.float() + 1) * 127.5).clamp(0, 255).permute(1, 2, 3, 0).to(torch.uint8).cpu().numpy()
