"""Unreal Engine camera conventions and their conversion to OpenCV camera-to-world: the **only** module that knows
Unreal's left-handed world (and hence the sign of ``det R``).

Conventions (README "Conventions", REFERENCE §1):

* **Unreal world**: left-handed, X forward, Y right, Z up, centimetres. A camera pose is a location (cm) and a
  rotator ``(pitch, yaw, roll)`` in degrees. Positive yaw pans right (X towards Y), positive pitch tilts up,
  positive roll rotates the right axis down (Unreal's ``FRotator``).
* **FMatrix**: Unreal's row-vector 4x4 matrix of a camera transform: row 0 = forward axis, row 1 = right axis,
  row 2 = up axis (each padded with 0), row 3 = location in cm (padded with 1). Its text form is in
  :mod:`synth.core.fmatrix_text`.
* **Upstream c2w** (the contract of upstream ReCamMaster training and inference): ``c2w = M.T``, columns reordered to
  (right, up, forward, position), the up column negated (-> down), position divided by 100. Columns are the camera's
  x (right), y (down), z (forward) axes and its centre, **expressed in Unreal world axes, in metres**. The world is not
  converted, so ``det(c2w[:3, :3]) == -1`` (:data:`UNREAL_C2W`); relative poses ``inv(A) @ B`` are proper rotations.
* **Right-handed world** of :class:`synth.core.poses.Poses`: Unreal's axes with Y negated (X forward, Y left, Z up),
  metres: :func:`mirror_world` maps upstream c2w into it and :func:`unreal_points_to_world` Unreal points, so every
  pose there is a proper rotation. Relative poses are the same in both worlds.

All functions accept leading batch dimensions unless stated and return ``float64`` arrays.
"""

from __future__ import annotations

import math
from typing import Tuple

import numpy as np

from .pose_checks import Handedness
from .units import CM_PER_M

__all__ = [
    "rotator_to_axes",
    "axes_to_rotator",
    "rotator_to_quat",
    "quat_to_axes",
    "unreal_pose_to_fmatrix",
    "fmatrix_to_unreal_pose",
    "fmatrix_to_c2w",
    "c2w_to_fmatrix",
    "look_at_rotator",
    "unreal_points_to_world",
    "UNREAL_C2W",
    "WORLD_FROM_UNREAL",
    "mirror_world",
]

#: Handedness of upstream's c2w (:func:`fmatrix_to_c2w`): the world stays Unreal's left-handed one, ``det R = -1``.
#: Pass it to :func:`synth.core.pose_checks.pose_problems` for poses in that convention.
UNREAL_C2W = Handedness(-1, "upstream c2w in Unreal's left-handed world")

#: Mirror of the world's Y axis (its own inverse) as a 4x4: upstream c2w (Unreal world, det -1) -> c2w in the
#: right-handed world X forward, Y left, Z up (det +1), by left multiplication. Use :func:`mirror_world` to apply it:
#: it flips signs element-wise, which is exact (signed zeros included), where a matrix product is not.
WORLD_FROM_UNREAL = np.diag([1.0, -1.0, 1.0, 1.0])
_MIRROR_ROWS = np.array([1.0, -1.0, 1.0, 1.0])[:, None]


def mirror_world(c2w) -> np.ndarray:
    """``WORLD_FROM_UNREAL @ c2w`` for ``(..., 4, 4)``, exactly (negates row 1): upstream c2w (Unreal world axes,
    ``det R = -1``) <-> c2w in the right-handed world (X forward, Y left, Z up, ``det R = +1``); its own inverse.
    The camera axes are untouched, so relative poses ``inv(A) @ B`` are unchanged, bit for bit (only signs flip)."""
    return np.asarray(c2w, dtype=np.float64) * _MIRROR_ROWS


# ------------------------------------------------------------------------------------------------------------------
# Rotator <-> axes (FRotationMatrix / FMatrix::Rotator) and the quaternion path Unreal uses for actor transforms.
# ------------------------------------------------------------------------------------------------------------------


def rotator_to_axes(pitch, yaw, roll) -> np.ndarray:
    """Unreal rotator -> rows (forward, right, up), as ``FRotationMatrix``.

    Args:
        pitch, yaw, roll: degrees, scalars or arrays broadcastable to a common shape ``S``.

    Returns:
        ``(*S, 3, 3)`` float64; row 0 forward, row 1 right, row 2 up, in Unreal world axes.

    Follows Unreal Engine ``FRotationTranslationMatrix`` (REFERENCE §1 formula).
    """
    p, y, r = np.broadcast_arrays(*(np.radians(np.asarray(v, dtype=np.float64)) for v in (pitch, yaw, roll)))
    sp, cp, sy, cy, sr, cr = np.sin(p), np.cos(p), np.sin(y), np.cos(y), np.sin(r), np.cos(r)
    out = np.empty(p.shape + (3, 3))
    out[..., 0, :] = np.stack([cp * cy, cp * sy, sp], -1)
    out[..., 1, :] = np.stack([sr * sp * cy - cr * sy, sr * sp * sy + cr * cy, -sr * cp], -1)
    out[..., 2, :] = np.stack([-(cr * sp * cy + sr * sy), cy * sr - cr * sp * sy, cr * cp], -1)
    return out


def axes_to_rotator(axes: np.ndarray) -> np.ndarray:
    """Rows (forward, right, up) -> Unreal rotator ``(pitch, yaw, roll)`` in degrees, as ``FMatrix::Rotator()``.

    Args:
        axes: ``(..., 3, 3)`` (or ``(..., 4, 4)`` FMatrix; only the top-left 3x3 is read), rows forward/right/up.

    Returns:
        ``(..., 3)`` float64 ``[pitch, yaw, roll]`` degrees; pitch in [-90, 90], yaw and roll in (-180, 180].
    """
    a = np.asarray(axes, dtype=np.float64)[..., :3, :3]
    x, y_axis, z_axis = a[..., 0, :], a[..., 1, :], a[..., 2, :]
    pitch = np.degrees(np.arctan2(x[..., 2], np.hypot(x[..., 0], x[..., 1])))
    yaw = np.degrees(np.arctan2(x[..., 1], x[..., 0]))
    sy_axis = rotator_to_axes(pitch, yaw, np.zeros_like(pitch))[..., 1, :]
    roll = np.degrees(np.arctan2(np.sum(z_axis * sy_axis, -1), np.sum(y_axis * sy_axis, -1)))
    return np.stack([pitch, yaw, roll], -1)


def rotator_to_quat(pitch, yaw, roll) -> np.ndarray:
    """Unreal rotator (degrees) -> quaternion ``(x, y, z, w)``, as ``FRotator::Quaternion()``.

    Returns ``(*S, 4)`` float64. Unreal builds actor and camera transforms through this quaternion; upstream's
    ``camera_extrinsics.json`` strings come from it (signed zeros such as ``"[-0 1 0 0]"`` included).
    """
    p, y, r = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (pitch, yaw, roll)))
    half = math.pi / 360.0
    p, y, r = np.fmod(p, 360.0) * half, np.fmod(y, 360.0) * half, np.fmod(r, 360.0) * half
    sp, cp, sy, cy, sr, cr = np.sin(p), np.cos(p), np.sin(y), np.cos(y), np.sin(r), np.cos(r)
    qx = cr * sp * sy - sr * cp * cy
    qy = -cr * sp * cy - sr * cp * sy
    qz = cr * cp * sy - sr * sp * cy
    qw = cr * cp * cy + sr * sp * sy
    return np.stack([qx, qy, qz, qw], -1)


def quat_to_axes(q: np.ndarray) -> np.ndarray:
    """Quaternion ``(x, y, z, w)`` -> rows (forward, right, up), as ``FTransform::ToMatrixWithScale`` (unit scale).

    Args:
        q: ``(..., 4)`` unit quaternion in Unreal's component order.

    Returns:
        ``(..., 3, 3)`` float64.
    """
    q = np.asarray(q, dtype=np.float64)
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    x2, y2, z2 = x + x, y + y, z + z
    xx2, yy2, zz2 = x * x2, y * y2, z * z2
    yz2, wx2, xy2, wz2, xz2, wy2 = y * z2, w * x2, x * y2, w * z2, x * z2, w * y2
    out = np.empty(q.shape[:-1] + (3, 3))
    out[..., 0, 0] = 1.0 - (yy2 + zz2)
    out[..., 1, 1] = 1.0 - (xx2 + zz2)
    out[..., 2, 2] = 1.0 - (xx2 + yy2)
    out[..., 2, 1] = yz2 - wx2
    out[..., 1, 2] = yz2 + wx2
    out[..., 1, 0] = xy2 - wz2
    out[..., 0, 1] = xy2 + wz2
    out[..., 2, 0] = xz2 + wy2
    out[..., 0, 2] = xz2 - wy2
    return out


def unreal_pose_to_fmatrix(location_cm, rotator_deg) -> np.ndarray:
    """Unreal camera pose -> FMatrix (rows forward, right, up, location), via Unreal's quaternion transform path.

    Args:
        location_cm: ``(..., 3)`` Unreal world location, centimetres.
        rotator_deg: ``(..., 3)`` ``[pitch, yaw, roll]`` degrees.

    Returns:
        ``(..., 4, 4)`` float64 FMatrix, equal to ``FTransform(Rotator, Location).ToMatrixWithScale()``.
    """
    loc = np.asarray(location_cm, dtype=np.float64)
    rot = np.asarray(rotator_deg, dtype=np.float64)
    axes = quat_to_axes(rotator_to_quat(rot[..., 0], rot[..., 1], rot[..., 2]))
    shape = np.broadcast_shapes(loc.shape[:-1], axes.shape[:-2])
    m = np.zeros(shape + (4, 4))
    m[..., :3, :3] = axes
    m[..., 3, :3] = loc
    m[..., 3, 3] = 1.0
    return m


def fmatrix_to_unreal_pose(m: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """FMatrix ``(..., 4, 4)`` -> (location_cm ``(..., 3)``, rotator_deg ``(..., 3)``)."""
    m = np.asarray(m, dtype=np.float64)
    return m[..., 3, :3].copy(), axes_to_rotator(m)



# ------------------------------------------------------------------------------------------------------------------
# FMatrix <-> OpenCV c2w (upstream ReCamMaster's conversion).
# ------------------------------------------------------------------------------------------------------------------

def fmatrix_to_c2w(m: np.ndarray) -> np.ndarray:
    """FMatrix ``(..., 4, 4)`` -> OpenCV c2w ``(..., 4, 4)`` in metres, exactly upstream's conversion.

    ``c2w = M.T; c2w = c2w[:, [1, 2, 0, 3]]; c2w[:3, 1] *= -1; c2w[:3, 3] /= 100``
    (ReCamMaster ``train_recammaster.py`` / ``inference_recammaster.py``). World axes stay Unreal's.
    """
    m = np.asarray(m, dtype=np.float64)
    c2w = np.swapaxes(m, -1, -2)[..., [1, 2, 0, 3]].copy()
    c2w[..., :3, 1] *= -1.0
    c2w[..., :3, 3] /= CM_PER_M
    return c2w


def c2w_to_fmatrix(c2w: np.ndarray) -> np.ndarray:
    """Inverse of :func:`fmatrix_to_c2w`: OpenCV c2w (metres) -> FMatrix (cm)."""
    c = np.asarray(c2w, dtype=np.float64).copy()
    c[..., :3, 3] *= CM_PER_M
    c[..., :3, 1] *= -1.0
    m_t = np.empty_like(c)
    m_t[..., [1, 2, 0, 3]] = c
    return np.swapaxes(m_t, -1, -2).copy()


def look_at_rotator(eye, target, roll_deg=0.0) -> np.ndarray:
    """Rotator ``[pitch, yaw, roll]`` (deg) of a camera at ``eye`` whose forward axis points at ``target``.

    Args:
        eye, target: ``(..., 3)`` Unreal world positions (any common unit).
        roll_deg: roll to apply, degrees.
    """
    d = np.asarray(target, dtype=np.float64) - np.asarray(eye, dtype=np.float64)
    yaw = np.degrees(np.arctan2(d[..., 1], d[..., 0]))
    pitch = np.degrees(np.arctan2(d[..., 2], np.hypot(d[..., 0], d[..., 1])))
    return np.stack(np.broadcast_arrays(pitch, yaw, np.asarray(roll_deg, dtype=np.float64)), -1)



def unreal_points_to_world(points_cm) -> np.ndarray:
    """Unreal world points ``(..., 3)`` in cm -> the right-handed world of :class:`synth.core.poses.Poses` (X forward,
    Y left, Z up), metres: ``[x, -y, z] / 100``."""
    p = np.asarray(points_cm, dtype=np.float64) / CM_PER_M
    return p * _MIRROR_ROWS[:3, 0]
