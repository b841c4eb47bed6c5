"""Rigid transforms of camera poses: inversion (c2w <-> w2c), relative poses and ReCamMaster's ``cam_emb``,
rotation distances, the nearest rotation, and SE(3) interpolation.

Poses are ``(..., 4, 4)`` float64 camera-to-world (or world-to-camera) matrices, OpenCV camera axes (x right, y down,
z forward). The functions do not care about the world's handedness unless stated (upstream's Unreal-world c2w has
``det R = -1``; relative poses between two of them are proper rotations).
"""

from __future__ import annotations

import numpy as np

__all__ = ["invert_rigid", "relative_poses", "relative_cam_emb", "rotation_angle_deg", "nearest_rotation",
           "interpolate_c2w"]

def invert_rigid(t: np.ndarray) -> np.ndarray:
    """Inverse of rigid (or improper-rotation) 4x4 transforms ``(..., 4, 4)``: c2w <-> w2c."""
    t = np.asarray(t, dtype=np.float64)
    r = t[..., :3, :3]
    out = np.zeros_like(t)
    rt = np.swapaxes(r, -1, -2)
    out[..., :3, :3] = rt
    out[..., :3, 3] = -np.einsum("...ij,...j->...i", rt, t[..., :3, 3])
    out[..., 3, 3] = 1.0
    return out



def relative_poses(ref_c2w: np.ndarray, c2ws: np.ndarray) -> np.ndarray:
    """``inv(ref_c2w) @ c2w`` for each pose: poses expressed in the reference camera's frame.

    Args:
        ref_c2w: ``(4, 4)`` reference camera-to-world.
        c2ws: ``(N, 4, 4)`` camera-to-world poses (same world and units).

    Returns:
        ``(N, 4, 4)`` float64 relative c2w (OpenCV camera axes of the reference camera).
    """
    ref = np.asarray(ref_c2w, dtype=np.float64)
    if ref.shape != (4, 4):
        raise ValueError(f"ref_c2w must be (4, 4), got {ref.shape}")
    c = np.asarray(c2ws, dtype=np.float64)
    if c.ndim != 3 or c.shape[1:] != (4, 4):
        raise ValueError(f"c2ws must be (N, 4, 4), got {c.shape}")
    return np.linalg.inv(ref) @ c


def relative_cam_emb(ref_c2w: np.ndarray, c2ws: np.ndarray) -> np.ndarray:
    """ReCamMaster ``cam_emb``: ``inv(ref) @ c2w``, top 3x4, flattened row-major.

    Args:
        ref_c2w: ``(4, 4)`` OpenCV c2w of the reference (training: the condition camera's frame 0; inference: the
            target trajectory's frame 0), metres.
        c2ws: ``(N, 4, 4)`` OpenCV c2w of the target camera (N = 21 latent frames upstream), metres.

    Returns:
        ``(N, 12)`` float32 ``[r00 r01 r02 tx r10 r11 r12 ty r20 r21 r22 tz]`` (translations in metres).
        Follows upstream ``get_relative_pose`` + ``rearrange('b c d -> b (c d)')``.
    """
    rel = relative_poses(ref_c2w, c2ws)
    return rel[:, :3, :].reshape(len(rel), 12).astype(np.float32)



def rotation_angle_deg(r_a: np.ndarray, r_b: np.ndarray) -> np.ndarray:
    """Geodesic angle (degrees) between rotations ``(..., 3, 3)`` (both proper or both improper); the atan2 form
    stays accurate near zero, where ``arccos((tr - 1) / 2)`` loses precision."""
    r = np.swapaxes(np.asarray(r_a, dtype=np.float64), -1, -2) @ np.asarray(r_b, dtype=np.float64)
    w = np.stack([r[..., 2, 1] - r[..., 1, 2], r[..., 0, 2] - r[..., 2, 0], r[..., 1, 0] - r[..., 0, 1]], -1)
    return np.degrees(np.arctan2(np.linalg.norm(w, axis=-1) / 2.0, (np.trace(r, axis1=-2, axis2=-1) - 1.0) / 2.0))



def nearest_rotation(m: np.ndarray) -> np.ndarray:
    """The proper rotation (det +1) closest to ``m`` ``(3, 3)`` in the Frobenius norm (SVD projection onto SO(3))."""
    u, _, vt = np.linalg.svd(np.asarray(m, dtype=np.float64))
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    return u @ np.diag([1.0, 1.0, d]) @ vt


def interpolate_c2w(times: np.ndarray, c2w: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Interpolate proper rigid poses on SE(3) as rotation slerp + linear camera centres.

    Args:
        times: ``(N,)`` strictly increasing sample times (e.g. annotated frame indices), N >= 1.
        c2w: ``(N, 4, 4)`` proper rigid c2w (det +1).
        query: ``(M,)`` times inside ``[times[0], times[-1]]``.

    Returns:
        ``(M, 4, 4)``.

    Raises:
        ValueError: unsorted times, queries outside the annotated range, improper rotations.
    """
    from scipy.spatial.transform import Rotation, Slerp

    t = np.asarray(times, dtype=np.float64)
    q = np.asarray(query, dtype=np.float64)
    c2w = np.asarray(c2w, dtype=np.float64)
    if len(t) != len(c2w) or len(t) == 0:
        raise ValueError(f"{len(t)} times for {len(c2w)} poses")
    if np.any(np.diff(t) <= 0):
        raise ValueError("pose times must be strictly increasing")
    if q.min() < t[0] - 1e-9 or q.max() > t[-1] + 1e-9:
        raise ValueError(f"query times [{q.min()}, {q.max()}] outside the annotated range [{t[0]}, {t[-1]}]")
    if np.any(np.linalg.det(c2w[:, :3, :3]) < 0):
        raise ValueError("interpolate_c2w needs proper rotations (det +1)")
    out = np.zeros((len(q), 4, 4))
    out[:, 3, 3] = 1.0
    if len(t) == 1:
        out[:] = c2w[0]
        return out
    qc = np.clip(q, t[0], t[-1])
    out[:, :3, :3] = Slerp(t, Rotation.from_matrix(c2w[:, :3, :3]))(qc).as_matrix()
    for k in range(3):
        out[:, k, 3] = np.interp(qc, t, c2w[:, k, 3])
    return out

