"""Pose checks: every place a pose enters (camera files, trajectories, dataset readers, training samples).

A pose is a rigid 4x4 transform ``(..., 4, 4)`` (c2w or w2c): finite, bottom row ``[0 0 0 1]``, orthonormal rotation
and the expected handedness. The handedness is a :class:`Handedness` value rather than a bare sign: :data:`PROPER`
(det +1, OpenCV camera axes in a right-handed world: real datasets, relative poses, :class:`synth.core.poses.Poses`)
here, and upstream's Unreal-world c2w (det -1) in :mod:`synth.core.unreal` (``UNREAL_C2W``), the one module that
knows Unreal's left-handed world.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

__all__ = ["ORTHO_TOL", "PoseError", "Handedness", "PROPER", "pose_problems", "check_poses"]

#: |R^T R - I| tolerance of :func:`pose_problems`: loose enough for poses written with 6 significant digits.
ORTHO_TOL = 1e-4


class PoseError(ValueError):
    """A camera pose is not a usable rigid transform; the message names where it came from and what is wrong."""


@dataclass(frozen=True)
class Handedness:
    """The sign ``det R`` must have, and what such a pose is (said in the message when it has the other sign)."""

    det: int
    description: str


#: A proper rotation (det +1): OpenCV camera axes in a right-handed world.
PROPER = Handedness(1, "a proper rotation in OpenCV axes")


def pose_problems(poses: np.ndarray, handedness: Optional[Handedness] = PROPER, tol: float = ORTHO_TOL,
                  item: str = "pose", max_translation: float | None = None) -> list:
    """What is wrong with rigid 4x4 transforms ``(..., 4, 4)`` (c2w or w2c), as short messages (empty if valid).

    Checks: shape, finite values, bottom row ``[0 0 0 1]``, orthonormal rotation (``max |R^T R - I| <= tol``) and
    the sign of ``det(R)`` given by ``handedness``: :data:`PROPER` for a proper rotation in OpenCV camera axes with a
    right-handed world (real datasets, relative poses), :data:`synth.core.unreal.UNREAL_C2W` for upstream's c2w in
    Unreal's left-handed world, ``None`` to accept either. A non-orthonormal rotation (all zeros, a scale) also
    makes a pose non-invertible, which is what breaks relative poses downstream.

    Args:
        item: what one matrix is called in the messages (``"pose"``, ``"frame"``); the index follows it.
        max_translation: if given, ``|t|`` above it is reported (same unit as the poses), e.g. a camera 1e30 m
            away, which is finite but makes every relative pose meaningless.
    """
    p = np.asarray(poses, dtype=np.float64)
    if p.ndim < 2 or p.shape[-2:] != (4, 4):
        return [f"expected (..., 4, 4) matrices, got shape {p.shape}"]
    flat = p.reshape(-1, 4, 4)
    out = []
    if not len(flat):
        return [f"no {item}s"]
    bad = ~np.isfinite(flat).all(axis=(1, 2))
    if bad.any():
        out.append(f"non-finite values (NaN or inf) in {item} {int(np.argmax(bad))}")
        return out
    bottom = np.abs(flat[:, 3] - np.array([0.0, 0.0, 0.0, 1.0])).max(axis=1)
    if (bottom > 1e-6).any():
        out.append(f"bottom row of {item} {int(np.argmax(bottom))} is not [0 0 0 1]")
    r = flat[:, :3, :3]
    err = np.abs(np.swapaxes(r, 1, 2) @ r - np.eye(3)).max(axis=(1, 2))
    if (err > tol).any():
        i = int(np.argmax(err))
        out.append(f"rotation of {item} {i} is not orthonormal (max |R^T R - I| = {err[i]:.3g} > {tol:g}; expected "
                   f"a rotation matrix)")
        return out
    if handedness is not None:
        det = np.linalg.det(r)
        wrong = np.sign(det) != handedness.det
        if wrong.any():
            i = int(np.argmax(wrong))
            out.append(f"det(R) of {item} {i} is {det[i]:+.3f}; expected {handedness.det:+d} "
                       f"({handedness.description})")
    if max_translation is not None:
        dist = np.hypot(np.hypot(flat[:, 0, 3], flat[:, 1, 3]), flat[:, 2, 3])  # no overflow for 1e300
        if (dist > max_translation).any():
            i = int(np.argmax(dist))
            out.append(f"translation of {item} {i} is {dist[i]:.3g} away; expected at most {max_translation:g}")
    return out


def check_poses(poses: np.ndarray, where: str, handedness: Optional[Handedness] = PROPER, tol: float = ORTHO_TOL,
                item: str = "pose", max_translation: float | None = None) -> np.ndarray:
    """Return ``poses`` as float64 if :func:`pose_problems` finds nothing, else raise :class:`PoseError`.

    Args:
        where: names the source in the message (file, camera, field), e.g. ``"traj.json: cam09"``.
        handedness, item, max_translation: see :func:`pose_problems`.
    """
    problems = pose_problems(poses, handedness, tol, item, max_translation)
    if problems:
        raise PoseError(f"{where}: " + "; ".join(problems))
    return np.asarray(poses, dtype=np.float64)
