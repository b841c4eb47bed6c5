"""Video preprocessing exactly as upstream ReCamMaster (``TextVideoCameraDataset``): resize by the larger scale
factor with bilinear interpolation (PIL, as torchvision does on PIL images), centre-crop, map to [-1, 1]."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

__all__ = ["resize_center_crop", "frames_to_tensor", "tensor_to_frames"]


def resize_center_crop(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """``[N, H, W, 3]`` uint8 -> ``[N, height, width, 3]`` uint8.

    ``scale = max(width / W, height / H)``; resize to ``(round(H scale), round(W scale))`` (bilinear), then a centre
    crop with torchvision's offsets ``int(round((h - height) / 2))``.
    """
    n, h, w, _ = frames.shape
    scale = max(width / w, height / h)
    rh, rw = round(h * scale), round(w * scale)
    top, left = int(round((rh - height) / 2.0)), int(round((rw - width) / 2.0))
    out = np.empty((n, height, width, 3), np.uint8)
    for i, f in enumerate(frames):
        img = Image.fromarray(f)
        if (rh, rw) != (h, w):
            img = img.resize((rw, rh), Image.BILINEAR)
        out[i] = np.asarray(img)[top:top + height, left:left + width]
    return out


def frames_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """``[N, H, W, 3]`` uint8 -> ``[3, N, H, W]`` float32 in [-1, 1] (``Normalize(0.5, 0.5)``)."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).float().div(127.5).sub(1.0)


def tensor_to_frames(video: torch.Tensor) -> np.ndarray:
    """``[3, N, H, W]`` in [-1, 1] -> ``[N, H, W, 3]`` uint8 (upstream ``tensor2video``)."""
    return ((video.float() + 1) * 127.5).clamp(0, 255).permute(1, 2, 3, 0).to(torch.uint8).cpu().numpy()
