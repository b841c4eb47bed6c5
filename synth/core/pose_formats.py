"""Camera conventions of real camera-annotated datasets (REFERENCE §3) -> OpenCV c2w.

OpenGL/nerfstudio axes (DL3DV) and SpatialVID's w2c ``[t, q]`` rows; both keep the dataset's world and unit. Readers
wrap the result in :class:`synth.core.poses.Poses`.
"""

from __future__ import annotations

import numpy as np

from .rigid import invert_rigid

__all__ = ["w2c_quat_to_c2w", "GL_TO_CV"]

#: OpenGL/nerfstudio camera axes (x right, y up, z backward) <-> OpenCV ones (x right, y down, z forward), by right
#: multiplication of a c2w (its own inverse); :meth:`synth.core.poses.Poses.from_opengl` applies it.
GL_TO_CV = np.diag([1.0, -1.0, -1.0, 1.0])


def w2c_quat_to_c2w(poses: np.ndarray) -> np.ndarray:
    """SpatialVID poses ``(N, 7)`` = w2c ``[tx, ty, tz, qx, qy, qz, qw]`` (scipy's xyzw order, OpenCV axes) -> c2w
    ``(N, 4, 4)``. Raises ValueError on a wrong shape."""
    from scipy.spatial.transform import Rotation

    p = np.asarray(poses, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 7:
        raise ValueError(f"expected (N, 7) [tx ty tz qx qy qz qw] poses, got {p.shape}")
    w2c = np.zeros((len(p), 4, 4))
    w2c[:, :3, :3] = Rotation.from_quat(p[:, 3:7]).as_matrix()
    w2c[:, :3, 3] = p[:, :3]
    w2c[:, 3, 3] = 1.0
    return invert_rigid(w2c)

