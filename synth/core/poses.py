"""One camera-pose type, :class:`Poses`: a frame sequence of OpenCV camera-to-world poses, checked on construction.

Inside, always: ``c2w`` ``(F, 4, 4)`` float64, OpenCV camera axes (x right, y down, z forward), a right-handed world,
proper rotations (``det R = +1``), translations in metres (or a dataset's relative unit where no metric scale is
known). The array is read-only; every conversion is a constructor (``from_*``) or an exporter (``to_*`` / a property):

==================  ==========================================================================================
convention          constructor / exporter
==================  ==========================================================================================
Unreal FMatrix cm   :meth:`Poses.from_fmatrix` / :meth:`Poses.to_fmatrix` (``camera_extrinsics.json`` rows)
Unreal loc + rot    :meth:`Poses.from_unreal` / :meth:`Poses.to_unreal`
upstream c2w        :meth:`Poses.from_upstream_c2w` / :meth:`Poses.upstream_c2w` (Unreal world, det -1, metres)
OpenCV w2c          :meth:`Poses.from_w2c` / :attr:`Poses.w2c`
OpenGL c2w          :meth:`Poses.from_opengl` / :meth:`Poses.to_opengl` (x right, y up, z backward)
==================  ==========================================================================================

Poses that come from Unreal live in the right-handed world X forward, Y left, Z up (Unreal's axes with Y mirrored,
:func:`synth.core.unreal.mirror_world`); Unreal points map into it with
:func:`synth.core.unreal.unreal_points_to_world`. Relative poses (:meth:`Poses.relative_to`, :meth:`Poses.cam_emb`) do
not depend on the world, and equal upstream's bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple, Union

import numpy as np

from .pose_checks import PROPER, PoseError, check_poses
from .pose_formats import GL_TO_CV
from .rigid import invert_rigid, relative_cam_emb, relative_poses
from .unreal import c2w_to_fmatrix, fmatrix_to_c2w, fmatrix_to_unreal_pose, mirror_world, unreal_pose_to_fmatrix

__all__ = ["Poses", "PoseError"]


def _frames(m, where: str) -> np.ndarray:
    """``(4, 4)`` or ``(F, 4, 4)`` -> a float64 ``(F, 4, 4)`` copy; anything else raises :class:`PoseError`."""
    a = np.array(m, dtype=np.float64)
    if a.shape == (4, 4):
        a = a[None]
    if a.ndim != 3 or a.shape[1:] != (4, 4) or not len(a):
        raise PoseError(f"{where}: expected (F, 4, 4) matrices with F >= 1, got shape {a.shape}")
    return a


@dataclass(frozen=True, eq=False)
class Poses:
    """``F`` camera poses: OpenCV c2w ``(F, 4, 4)`` float64 in a right-handed world (see the module docstring).

    Construction checks every pose (finite, bottom row ``[0 0 0 1]``, orthonormal, ``det R = +1``) and raises
    :class:`synth.core.pose_checks.PoseError` naming the frame; the constructors take ``where`` (file, field) for that
    message. The stored array is a read-only copy.
    """

    c2w: np.ndarray

    def __post_init__(self):
        a = _frames(self.c2w, "Poses")
        check_poses(a, "Poses", PROPER, item="frame")
        a.setflags(write=False)
        object.__setattr__(self, "c2w", a)

    # -- constructors -------------------------------------------------------------------------------------------

    @classmethod
    def from_c2w(cls, c2w, where: str = "poses") -> "Poses":
        """OpenCV c2w ``(F, 4, 4)`` or ``(4, 4)`` in a right-handed world (proper rotations)."""
        return cls(check_poses(_frames(c2w, where), where, PROPER, item="frame"))

    @classmethod
    def from_w2c(cls, w2c, where: str = "poses") -> "Poses":
        """OpenCV w2c ``(F, 4, 4)`` or ``(4, 4)`` (RealCam-Vid, RealEstate10K), right-handed world."""
        return cls(invert_rigid(check_poses(_frames(w2c, where), where, PROPER, item="frame")))

    @classmethod
    def from_opengl(cls, c2w_gl, where: str = "poses") -> "Poses":
        """c2w with OpenGL/nerfstudio camera axes (x right, y up, z backward; DL3DV): ``c2w_gl @ diag(1,-1,-1,1)``."""
        return cls(check_poses(_frames(c2w_gl, where), where, PROPER, item="frame") @ GL_TO_CV)

    @classmethod
    def from_upstream_c2w(cls, c2w, where: str = "poses") -> "Poses":
        """Upstream ReCamMaster's c2w ``(F, 4, 4)`` (Unreal world axes, ``det R = -1``, metres)."""
        return cls.from_c2w(mirror_world(_frames(c2w, where)), where)

    @classmethod
    def from_fmatrix(cls, fmatrices, where: str = "poses") -> "Poses":
        """Unreal FMatrix ``(F, 4, 4)`` or ``(4, 4)``: rows forward, right, up (padded with 0), location in cm
        (padded with 1), as in ``camera_extrinsics.json``; converted exactly as upstream, then into the right-handed
        world (Y mirrored)."""
        return cls.from_upstream_c2w(fmatrix_to_c2w(_frames(fmatrices, where)), where)

    @classmethod
    def from_unreal(cls, location_cm, rotator_deg, where: str = "poses") -> "Poses":
        """Unreal locations ``(F, 3)`` (cm) and rotators ``(F, 3)`` ``[pitch, yaw, roll]`` (degrees), through Unreal's
        quaternion transform path (:func:`synth.core.unreal.unreal_pose_to_fmatrix`)."""
        return cls.from_fmatrix(unreal_pose_to_fmatrix(location_cm, rotator_deg), where)

    # -- exporters ----------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.c2w)

    def __getitem__(self, index) -> "Poses":
        """Frames ``index`` (an int, a slice or an index array) as :class:`Poses`."""
        return Poses(self.c2w[index])

    @property
    def rotations(self) -> np.ndarray:
        """``(F, 3, 3)`` camera-to-world rotations (columns: camera x, y, z axes in world coordinates)."""
        return self.c2w[:, :3, :3]

    @property
    def centres(self) -> np.ndarray:
        """``(F, 3)`` camera centres in world coordinates."""
        return self.c2w[:, :3, 3]

    @property
    def w2c(self) -> np.ndarray:
        """``(F, 4, 4)`` OpenCV world-to-camera."""
        return invert_rigid(self.c2w)

    def to_opengl(self) -> np.ndarray:
        """``(F, 4, 4)`` c2w with OpenGL camera axes (x right, y up, z backward)."""
        return self.c2w @ GL_TO_CV

    def upstream_c2w(self) -> np.ndarray:
        """``(F, 4, 4)`` upstream ReCamMaster c2w (Unreal world axes, ``det R = -1``, metres)."""
        return mirror_world(self.c2w)

    def to_fmatrix(self) -> np.ndarray:
        """``(F, 4, 4)`` Unreal FMatrix (rows forward, right, up, location in cm), as ``camera_extrinsics.json``."""
        return c2w_to_fmatrix(self.upstream_c2w())

    def to_unreal(self) -> Tuple[np.ndarray, np.ndarray]:
        """(locations ``(F, 3)`` cm, rotators ``(F, 3)`` ``[pitch, yaw, roll]`` degrees) in the Unreal world."""
        return fmatrix_to_unreal_pose(self.to_fmatrix())

    # -- relative poses and projection --------------------------------------------------------------------------

    def _ref(self, ref: Union[int, "Poses"]) -> np.ndarray:
        if isinstance(ref, Poses):
            if len(ref) != 1:
                raise ValueError(f"the reference must be one pose, got {len(ref)}")
            return ref.c2w[0]
        return self.c2w[ref]

    def relative_to(self, ref: Union[int, "Poses"] = 0) -> "Poses":
        """Poses in the frame of a reference camera: ``inv(ref) @ c2w``. ``ref``: a frame index of these poses or a
        one-pose :class:`Poses` (e.g. the source camera's frame 0 in training)."""
        return Poses(relative_poses(self._ref(ref), self.c2w))

    def cam_emb(self, ref: Union[int, "Poses"] = 0) -> np.ndarray:
        """ReCamMaster's ``cam_emb`` ``(F, 12)`` float32: :meth:`relative_to` ``ref``, top 3x4 flattened row-major
        (translations in the poses' unit), exactly :func:`synth.core.rigid.relative_cam_emb`."""
        return relative_cam_emb(self._ref(ref), self.c2w)

    def scaled(self, factor: float) -> "Poses":
        """The same rotations with translations times ``factor`` (e.g. a dataset's metric scale)."""
        c = self.c2w.copy()
        c[:, :3, 3] *= factor
        return Poses(c)

    def project(self, K: np.ndarray, points_world: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Project world points into every frame.

        Args:
            K: ``(3, 3)`` intrinsics (continuous pixel coordinates, :mod:`synth.core.intrinsics`).
            points_world: ``(N, 3)`` in this world and unit.

        Returns:
            ``uv`` ``(F, N, 2)`` pixels (column, row) and ``z`` ``(F, N)`` depth along the optical axis; ``z <= 0`` is
            behind the camera.
        """
        w2c = self.w2c
        pc = np.einsum("fij,nj->fni", w2c[:, :3, :3], np.asarray(points_world, dtype=np.float64)) \
            + w2c[:, None, :3, 3]
        z = pc[..., 2]
        k = np.asarray(K, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = (pc[..., :2] / z[..., None]) @ k[:2, :2].T + k[:2, 2]
        return uv, z
