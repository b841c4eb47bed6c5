"""Camera speed profiles along a trajectory (ReCamMaster README, "MultiCamVideo Dataset"; REFERENCE §1)."""

from __future__ import annotations

import numpy as np

__all__ = ["speed_progress", "SPEED_PROFILES"]

SPEED_PROFILES = ("constant", "eased")


def speed_progress(num_frames: int, profile: str, a: float | None = None) -> np.ndarray:
    """Progress ``u`` ``(num_frames,)`` float64 in [0, 1], ``u[0] = 0`` and ``u[-1] = 1``.

    ``constant``: ``u_i = i / f``. ``eased``: upstream's ``u_i = (1 - exp(-a i / f)) / (1 - exp(-a))``
    (ReCamMaster README) with ``f = num_frames - 1``; ``a > 0`` starts fast and slows down, ``a < 0`` starts slow
    and speeds up; ``a -> 0`` is constant speed.

    Raises:
        ValueError: unknown profile, fewer than 2 frames, or eased without a finite non-zero ``a``.
    """
    if num_frames < 2:
        raise ValueError(f"need at least 2 frames, got {num_frames}")
    x = np.arange(num_frames, dtype=np.float64) / (num_frames - 1)
    if profile == "constant":
        return x
    if profile == "eased":
        if a is None or a == 0 or not np.isfinite(a):
            raise ValueError(f"eased speed needs a finite non-zero 'a', got {a}")
        return -np.expm1(-a * x) / -np.expm1(-a)
    raise ValueError(f"unknown speed profile {profile!r}; expected 'constant' or 'eased'")
