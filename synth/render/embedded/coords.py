"""The one place where Unreal world coordinates meet Panda3D's.

Unreal: left-handed, X forward, Y right, Z up, centimetres. Panda3D: right-handed, Z up, metres (our choice of unit).
Mapping: ``panda = (X, -Y, Z) / 100``; flipping Y turns the left-handed frame right-handed. A Panda3D camera looks
along its +Y with +Z up and +X right; its transform is a row-vector matrix with rows (right, forward, up, position).
"""

from __future__ import annotations

import numpy as np

from synth.core.units import CM_PER_M

__all__ = ["FLIP", "unreal_cm_to_panda", "panda_to_unreal_cm", "c2w_to_panda_camera", "unreal_yaw_to_panda_heading",
           "panda_heading_offset_for_forward"]

FLIP = np.array([1.0, -1.0, 1.0])


def unreal_cm_to_panda(p_cm) -> np.ndarray:
    """Unreal world point(s) ``(..., 3)`` in cm -> Panda3D world metres."""
    return np.asarray(p_cm, float) * FLIP / CM_PER_M


def panda_to_unreal_cm(p) -> np.ndarray:
    """Panda3D world point(s) ``(..., 3)`` in metres -> Unreal world cm."""
    return np.asarray(p, float) * FLIP * CM_PER_M


def c2w_to_panda_camera(c2w: np.ndarray) -> np.ndarray:
    """One :class:`synth.core.poses.Poses` c2w ``(4, 4)`` -> Panda3D camera matrix ``(4, 4)`` (rows right, forward,
    up, position in metres). The world of ``Poses`` (Unreal's axes with Y mirrored, metres) is Panda3D's world here,
    so this only reorders the camera axes: the rendered camera is the one ``camera_extrinsics.json`` states."""
    c2w = np.asarray(c2w, float)           # columns: x right, y down, z forward, centre; Panda world axes, metres
    m = np.zeros((4, 4))
    m[0, :3] = c2w[:3, 0]                  # right
    m[1, :3] = c2w[:3, 2]                  # forward
    m[2, :3] = -c2w[:3, 1]                 # up
    m[3, :3] = c2w[:3, 3]
    m[3, 3] = 1.0
    return m


def unreal_yaw_to_panda_heading(yaw_deg: float) -> float:
    """Heading (deg, CCW about +Z) that turns a model facing Panda's +X to face Unreal yaw ``yaw_deg``."""
    return -float(yaw_deg)


def panda_heading_offset_for_forward(forward: str) -> float:
    """Heading that turns a model whose front faces ``forward`` (``+x``, ``-x``, ``+y``, ``-y`` in Panda axes) to
    face Panda's +X."""
    table = {"+x": 0.0, "+y": -90.0, "-x": 180.0, "-y": 90.0}
    if forward not in table:
        raise ValueError(f"forward must be one of {sorted(table)}, got {forward!r}")
    return table[forward]
