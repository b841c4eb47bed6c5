"""Pinhole intrinsics ``K`` and lens arithmetic.

``K`` maps OpenCV camera coordinates (x right, y down, z forward) to continuous pixel coordinates in which pixel
``(i, j)`` (column, row) covers ``[i, i+1) x [j, j+1)``; ``cx = W/2``, ``cy = H/2`` is the image centre. Subtract 0.5
for OpenCV's integer-centred pixel convention. Sensor width is horizontal; pixels are square (``fy = fx``).
All functions return ``float64``.
"""

from __future__ import annotations

import numpy as np

from .units import SENSOR_MM

__all__ = ["horizontal_fov_deg", "focal_mm_from_hfov", "intrinsics_from_lens"]


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
