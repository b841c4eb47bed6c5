"""Pinhole intrinsics ``K`` and lens arithmetic.

``K`` maps OpenCV camera coordinates (x right, y down, z forward) to continuous pixel coordinates in which pixel
``(i, j)`` (column, row) covers ``[i, i+1) x [j, j+1)``; ``cx = W/2``, ``cy = H/2`` is the image centre. Subtract 0.5
for OpenCV's integer-centred pixel convention. Sensor width is horizontal; pixels are square (``fy = fx``).
All functions return ``float64``.
"""

from __future__ import annotations

import numpy as np

from .units import SENSOR_MM

__all__ = ["horizontal_fov_deg", "focal_mm_from_hfov", "intrinsics_from_lens", "intrinsics_from_focals",
           "normalize_intrinsics", "resize_crop_intrinsics"]


def horizontal_fov_deg(focal_mm, sensor_width_mm=SENSOR_MM):
    """Horizontal field of view (degrees) of a lens: ``2 atan(sensor_w / 2 / f)``; what Unreal's ``fov`` takes.

    18 mm -> 66.85, 24 mm -> 52.67, 35 mm -> 37.50, 50 mm -> 26.73 on the 23.76 mm sensor (REFERENCE §1).
    """
    return np.degrees(2.0 * np.arctan(np.asarray(sensor_width_mm, dtype=np.float64) / 2.0 /
                                      np.asarray(focal_mm, dtype=np.float64)))


def focal_mm_from_hfov(hfov_deg, sensor_width_mm=SENSOR_MM):
    """Inverse of :func:`horizontal_fov_deg`: focal length (mm) for a horizontal FOV (degrees)."""
    return np.asarray(sensor_width_mm, dtype=np.float64) / 2.0 / np.tan(np.radians(hfov_deg) / 2.0)


def intrinsics_from_lens(focal_mm: float, sensor_width_mm: float, width: int, height: int) -> np.ndarray:
    """Pinhole intrinsics ``K`` (3x3 float64, pixels) of a lens on a sensor whose width spans the image width.

    ``fx = fy = focal_mm / sensor_width_mm * width``, ``cx = width / 2``, ``cy = height / 2`` (continuous pixel
    coordinates, pixel centres at ``+0.5``; see module docstring). Unreal keeps the horizontal FOV and crops the
    sensor vertically for non-square images, which is what this models.

    Raises:
        ValueError: non-positive focal length, sensor width or image size.
    """
    if focal_mm <= 0 or sensor_width_mm <= 0 or width <= 0 or height <= 0:
        raise ValueError(f"intrinsics need positive focal_mm, sensor_width_mm, width, height; got "
                         f"{focal_mm}, {sensor_width_mm}, {width}, {height}")
    f = focal_mm / sensor_width_mm * width
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def intrinsics_from_focals(focal_mm, sensor_width_mm: float, width: int, height: int) -> np.ndarray:
    """Per-frame pinhole ``K`` ``(..., 3, 3)`` float64 (pixels) of focal lengths ``focal_mm`` ``(...)`` in mm: the
    vectorised :func:`intrinsics_from_lens` (same convention: ``fx = fy = f / sensor_w * W``, ``cx = W/2``,
    ``cy = H/2``).

    Raises:
        ValueError: a non-positive or non-finite focal length, or non-positive sensor width / image size.
    """
    f = np.asarray(focal_mm, dtype=np.float64)
    if not np.all(np.isfinite(f)) or np.any(f <= 0) or sensor_width_mm <= 0 or width <= 0 or height <= 0:
        raise ValueError(f"intrinsics need positive finite focal lengths, sensor width and image size; got "
                         f"focal {f.min() if f.size else None}..{f.max() if f.size else None} mm, sensor "
                         f"{sensor_width_mm}, {width}x{height}")
    K = np.zeros(f.shape + (3, 3))
    K[..., 0, 0] = K[..., 1, 1] = f / sensor_width_mm * width
    K[..., 0, 2], K[..., 1, 2], K[..., 2, 2] = width / 2.0, height / 2.0, 1.0
    return K


def resize_crop_intrinsics(K, src_size, dst_size) -> np.ndarray:
    """``K`` ``(..., 3, 3)`` of a ``src_size = (W, H)`` frame after upstream's preprocessing to ``dst_size``
    ``(w, h)``: resize by ``scale = max(w / W, h / H)`` to ``(round(W scale), round(H scale))``, then centre-crop
    with torchvision's offsets ``int(round((rW - w) / 2))`` (exactly ``recam.video.crop_plan``). Continuous pixel
    coordinates (this module's convention): each axis scales by its resized / original size and the crop subtracts
    its offset. Returns float64 pixels of the output frame.

    Raises:
        ValueError: a non-positive size.
    """
    K = np.array(K, dtype=np.float64, copy=True)
    (w, h), (tw, th) = src_size, dst_size
    if min(w, h, tw, th) <= 0:
        raise ValueError(f"image sizes must be positive, got {src_size} -> {dst_size}")
    scale = max(tw / w, th / h)
    rh, rw = round(h * scale), round(w * scale)
    top, left = int(round((rh - th) / 2.0)), int(round((rw - tw) / 2.0))
    K[..., 0, :] *= rw / w
    K[..., 1, :] *= rh / h
    K[..., 0, 2] -= left
    K[..., 1, 2] -= top
    return K


def normalize_intrinsics(K, size) -> np.ndarray:
    """``(..., 4)`` float64 ``[fx / W, fy / H, cx / W, cy / H]`` of ``K`` ``(..., 3, 3)`` (pixels) on an image of
    ``size = (W, H)``: resolution-free intrinsics (``cx / W = 0.5`` at the image centre)."""
    K = np.asarray(K, dtype=np.float64)
    w, h = size
    return np.stack([K[..., 0, 0] / w, K[..., 1, 1] / h, K[..., 0, 2] / w, K[..., 1, 2] / h], -1)
