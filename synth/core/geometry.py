"""Camera-geometry core shared by ``synth`` and ``recam``.

This module is the **one place** where camera conventions are converted. Everything else calls it.

Conventions (see README "Conventions" and REFERENCE §1):

* **Unreal world**: left-handed, X forward, Y right, Z up, centimetres. A camera pose is a location (cm) and a
  rotator ``(pitch, yaw, roll)`` in degrees. Positive yaw pans right (X towards Y), positive pitch tilts up,
  positive roll rotates the right axis down (Unreal's ``FRotator``).
* **FMatrix**: Unreal's row-vector 4x4 matrix of a camera transform: row 0 = forward axis, row 1 = right axis,
  row 2 = up axis (each padded with 0), row 3 = location in cm (padded with 1). Serialised as
  ``FMatrix::ToString()``: ``"[%g %g %g %g] "`` four times (note the trailing space).
* **OpenCV c2w** (the contract of upstream ReCamMaster training and inference): ``c2w = M.T``, columns reordered to
  (right, up, forward, position), the up column negated (-> down), position divided by 100. Columns are the camera's
  x (right), y (down), z (forward) axes and its centre, **expressed in Unreal world axes, in metres**. The world is not
  converted, so ``det(c2w[:3, :3]) == -1``; relative poses ``inv(A) @ B`` are proper rotations.
* **Intrinsics K** map camera coordinates to continuous pixel coordinates in which pixel ``(i, j)`` (column, row)
  covers ``[i, i+1) x [j, j+1)``; ``cx = W/2``, ``cy = H/2`` is the image centre. Subtract 0.5 for OpenCV's
  integer-centred pixel convention. Sensor width is horizontal; pixels are square (``fy = fx``).

All functions accept leading batch dimensions unless stated and return ``float64`` arrays.
"""

from __future__ import annotations

import math
import re
from typing import Tuple

import numpy as np

__all__ = [
    "SENSOR_MM",
    "CM_PER_M",
    "PoseError",
    "pose_problems",
    "check_poses",
    "rotator_to_axes",
    "axes_to_rotator",
    "rotator_to_quat",
    "quat_to_axes",
    "unreal_pose_to_fmatrix",
    "fmatrix_to_unreal_pose",
    "format_fmatrix",
    "parse_fmatrix",
    "parse_fmatrix_strict",
    "strict_fmatrix_problem",
    "FMATRIX_STRICT_RE",
    "FMatrixParseError",
    "fmatrix_to_c2w",
    "c2w_to_fmatrix",
    "unreal_pose_to_c2w",
    "c2w_to_unreal_pose",
    "invert_rigid",
    "look_at_rotator",
    "intrinsics_from_lens",
    "horizontal_fov_deg",
    "focal_mm_from_hfov",
    "relative_poses",
    "relative_cam_emb",
    "project_points",
    "rotation_angle_deg",
    "opengl_to_opencv_c2w",
    "w2c_quat_to_c2w",
    "interpolate_c2w",
    "intrinsics_from_normalized",
]

#: Sensor size of the MultiCamVideo cameras (square), millimetres. REFERENCE §1.
SENSOR_MM = 23.76

#: Unreal works in centimetres, everything else here in metres.
CM_PER_M = 100.0


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
# FMatrix::ToString and a tolerant parser.
# ------------------------------------------------------------------------------------------------------------------

_ROW_FMT = "[%g %g %g %g] "
_MATRIX_FMT = _ROW_FMT * 4
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:inf|nan)"
_ROW_RE = re.compile(r"\[\s*(" + _NUM + r")[\s,]+(" + _NUM + r")[\s,]+(" + _NUM + r")[\s,]+(" + _NUM + r")\s*\]",
                     re.IGNORECASE)


class FMatrixParseError(ValueError):
    """A matrix string is not four bracketed rows of four numbers."""


def format_fmatrix(m: np.ndarray) -> str:
    """4x4 FMatrix -> string exactly as Unreal's ``FMatrix::ToString()`` (``"[%g %g %g %g] "`` x 4).

    Example: identity rotation at (3390, 1380, 240) cm from Unreal's transform path gives
    ``"[1 0 0 0] [-0 1 0 0] [0 -0 1 0] [3390 1380 240 1] "``.
    """
    m = np.asarray(m, dtype=np.float64)
    if m.shape != (4, 4):
        raise ValueError(f"format_fmatrix expects a (4, 4) matrix, got shape {m.shape}")
    return _MATRIX_FMT % tuple(m.ravel().tolist())


def parse_fmatrix(text: str) -> np.ndarray:
    """Parse an ``FMatrix::ToString()`` string (tolerant of spacing, commas, exponents) -> ``(4, 4)`` float64.

    Raises:
        FMatrixParseError: if the text is not exactly four bracketed rows of four numbers.
    """
    if not isinstance(text, str):
        raise FMatrixParseError(f"expected a matrix string, got {type(text).__name__}")
    rows = _ROW_RE.findall(text)
    rest = _ROW_RE.sub("", text).strip()
    if len(rows) != 4 or rest:
        raise FMatrixParseError(
            f"expected four rows '[a b c d]' as written by FMatrix::ToString(), got {text[:120]!r}")
    return np.array([[float(v) for v in row] for row in rows], dtype=np.float64)


#: One number as C's ``%g`` writes it (no ``+``, no leading ``.``, lower-case exponent of >= 2 digits, inf/nan).
_G_NUM = r"-?(?:\d+(?:\.\d+)?(?:e[-+]\d{2,})?|inf|nan)"
_G_ROW = r"\[" + _G_NUM + " " + _G_NUM + " " + _G_NUM + " " + _G_NUM + r"\] "
#: The exact ``FMatrix::ToString()`` grammar: ``"[%g %g %g %g] "`` four times, single spaces, trailing space.
FMATRIX_STRICT_RE = re.compile("(?:" + _G_ROW + "){4}", re.ASCII)
_STRICT_EXPECTED = ("expected exactly '[%g %g %g %g] ' four times as written by FMatrix::ToString() (single spaces, "
                    "no commas or tabs, a space after each ']')")


def strict_fmatrix_problem(text) -> str | None:
    """Why ``text`` is not exactly an ``FMatrix::ToString()`` string, or None if it is.

    Upstream's reader (``parse_matrix``: ``strip().split('] [')`` then ``float`` of whitespace-split fields) cannot
    read commas, and misreads double spaces or tabs between rows; ``synth validate`` therefore insists on the exact
    grammar Unreal writes. The message names the first offending character.
    """
    if not isinstance(text, str):
        return f"expected a matrix string, got {type(text).__name__}"
    if FMATRIX_STRICT_RE.fullmatch(text):
        return None
    pos = 0
    row_re = re.compile(_G_ROW, re.ASCII)
    for _ in range(4):
        m = row_re.match(text, pos)
        if not m:
            break
        pos = m.end()
    what = ("a comma" if "," in text else "a tab" if "\t" in text else "a double space" if "  " in text else
            "no space after the last ']'" if FMATRIX_STRICT_RE.fullmatch(text + " ") else
            f"{text[pos:pos + 12]!r} at character {pos}")
    return f"{_STRICT_EXPECTED}; found {what} in {text[:120]!r}"


def parse_fmatrix_strict(text: str) -> np.ndarray:
    """Parse a string that must follow the exact ``FMatrix::ToString()`` grammar -> ``(4, 4)`` float64.

    Used by ``synth validate``; readers keep the tolerant :func:`parse_fmatrix`.

    Raises:
        FMatrixParseError: any deviation (commas, tabs, double spaces, missing trailing space, ``+1``, ``1.``,
            ``1E5``, wrong row count); the message says what was found.
    """
    problem = strict_fmatrix_problem(text)
    if problem is not None:
        raise FMatrixParseError(problem)
    return np.array([float(v) for v in text.replace("[", "").replace("]", "").split()]).reshape(4, 4)


# ------------------------------------------------------------------------------------------------------------------
# FMatrix <-> OpenCV c2w (upstream ReCamMaster's conversion) and Unreal pose <-> c2w.
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


def unreal_pose_to_c2w(location_cm, rotator_deg) -> np.ndarray:
    """Unreal pose (location cm ``(..., 3)``, rotator deg ``(..., 3)``) -> OpenCV c2w ``(..., 4, 4)``, metres."""
    return fmatrix_to_c2w(unreal_pose_to_fmatrix(location_cm, rotator_deg))


def c2w_to_unreal_pose(c2w: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """OpenCV c2w ``(..., 4, 4)`` (metres) -> (location_cm ``(..., 3)``, rotator_deg ``(..., 3)``)."""
    return fmatrix_to_unreal_pose(c2w_to_fmatrix(c2w))


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


# ------------------------------------------------------------------------------------------------------------------
# Intrinsics.
# ------------------------------------------------------------------------------------------------------------------


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


# ------------------------------------------------------------------------------------------------------------------
# Relative poses and the camera embedding.
# ------------------------------------------------------------------------------------------------------------------


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


# ------------------------------------------------------------------------------------------------------------------
# Projection and small helpers used by checks.
# ------------------------------------------------------------------------------------------------------------------


def project_points(K: np.ndarray, c2w: np.ndarray, points_world: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Project world points into a camera.

    Args:
        K: ``(3, 3)`` intrinsics (continuous pixel coordinates, see module docstring).
        c2w: ``(4, 4)`` OpenCV c2w in the same world and units as the points.
        points_world: ``(N, 3)``.

    Returns:
        ``uv`` ``(N, 2)`` pixel coordinates (column, row) and ``z`` ``(N,)`` depth along the optical axis
        (same unit as the points); points with ``z <= 0`` are behind the camera.
    """
    w2c = invert_rigid(c2w)
    p = np.asarray(points_world, dtype=np.float64)
    pc = p @ w2c[:3, :3].T + w2c[:3, 3]
    z = pc[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = (pc[:, :2] / z[:, None]) @ np.asarray(K)[:2, :2].T + np.asarray(K)[:2, 2]
    return uv, z


def rotation_angle_deg(r_a: np.ndarray, r_b: np.ndarray) -> np.ndarray:
    """Geodesic angle (degrees) between rotations ``(..., 3, 3)`` (both proper or both improper); the atan2 form
    stays accurate near zero, where ``arccos((tr - 1) / 2)`` loses precision."""
    r = np.swapaxes(np.asarray(r_a, dtype=np.float64), -1, -2) @ np.asarray(r_b, dtype=np.float64)
    w = np.stack([r[..., 2, 1] - r[..., 1, 2], r[..., 0, 2] - r[..., 2, 0], r[..., 1, 0] - r[..., 0, 1]], -1)
    return np.degrees(np.arctan2(np.linalg.norm(w, axis=-1) / 2.0, (np.trace(r, axis1=-2, axis2=-1) - 1.0) / 2.0))


# ------------------------------------------------------------------------------------------------------------------
# Conventions of real camera-annotated datasets (REFERENCE §3).
# ------------------------------------------------------------------------------------------------------------------

_GL_TO_CV = np.diag([1.0, -1.0, -1.0, 1.0])


def opengl_to_opencv_c2w(c2w_gl: np.ndarray) -> np.ndarray:
    """c2w with OpenGL/nerfstudio camera axes (x right, y up, z backward; DL3DV ``transforms.json``) -> OpenCV camera
    axes (x right, y down, z forward): ``c2w_gl @ diag(1, -1, -1, 1)``. Shapes ``(..., 4, 4)``; units unchanged."""
    return np.asarray(c2w_gl, dtype=np.float64) @ _GL_TO_CV


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


def intrinsics_from_normalized(k_norm, width: int, height: int) -> np.ndarray:
    """``[fx/W, fy/H, cx/W, cy/H]`` (RealCam-Vid, SpatialVID, RealEstate10K) -> K in pixels for a ``width x height``
    image (continuous pixel coordinates, see the module docstring)."""
    fx, fy, cx, cy = np.asarray(k_norm, dtype=np.float64)
    return np.array([[fx * width, 0.0, cx * width], [0.0, fy * height, cy * height], [0.0, 0.0, 1.0]])


# ------------------------------------------------------------------------------------------------------------------
# Pose checks: every place a pose enters (camera files, trajectories, dataset readers, training samples).
# ------------------------------------------------------------------------------------------------------------------

#: |R^T R - I| tolerance of :func:`pose_problems`: loose enough for poses written with 6 significant digits.
ORTHO_TOL = 1e-4


class PoseError(ValueError):
    """A camera pose is not a usable rigid transform; the message names where it came from and what is wrong."""


def pose_problems(poses: np.ndarray, det_sign: int | None = 1, tol: float = ORTHO_TOL, item: str = "pose",
                  max_translation: float | None = None) -> list:
    """What is wrong with rigid 4x4 transforms ``(..., 4, 4)`` (c2w or w2c), as short messages (empty if valid).

    Checks: shape, finite values, bottom row ``[0 0 0 1]``, orthonormal rotation (``max |R^T R - I| <= tol``) and
    the sign of ``det(R)``: ``+1`` for a proper rotation in OpenCV camera axes with a right-handed world (real
    datasets, relative poses), ``-1`` for upstream's c2w in Unreal's left-handed world
    (:func:`fmatrix_to_c2w`), ``None`` to accept either. A non-orthonormal rotation (all zeros, a scale) also
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
    if det_sign is not None:
        det = np.linalg.det(r)
        wrong = np.sign(det) != det_sign
        if wrong.any():
            i = int(np.argmax(wrong))
            out.append(f"det(R) of {item} {i} is {det[i]:+.3f}; expected {det_sign:+d} "
                       + ("(a proper rotation in OpenCV axes)" if det_sign > 0 else
                          "(upstream c2w in Unreal's left-handed world)"))
    if max_translation is not None:
        dist = np.hypot(np.hypot(flat[:, 0, 3], flat[:, 1, 3]), flat[:, 2, 3])  # no overflow for 1e300
        if (dist > max_translation).any():
            i = int(np.argmax(dist))
            out.append(f"translation of {item} {i} is {dist[i]:.3g} away; expected at most {max_translation:g}")
    return out


def check_poses(poses: np.ndarray, where: str, det_sign: int | None = 1, tol: float = ORTHO_TOL,
                item: str = "pose", max_translation: float | None = None) -> np.ndarray:
    """Return ``poses`` as float64 if :func:`pose_problems` finds nothing, else raise :class:`PoseError`.

    Args:
        where: names the source in the message (file, camera, field), e.g. ``"traj.json: cam09"``.
        item, max_translation: see :func:`pose_problems`.
    """
    problems = pose_problems(poses, det_sign, tol, item, max_translation)
    if problems:
        raise PoseError(f"{where}: " + "; ".join(problems))
    return np.asarray(poses, dtype=np.float64)
