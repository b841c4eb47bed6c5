"""Cameras for ReCamMaster: trajectories, the ``cam_emb`` contract, the 10 presets and custom trajectories.

Built on the shared camera-geometry core :mod:`synth.core.unreal`, :mod:`synth.core.rigid` and
:mod:`synth.core.poses` (conventions documented there). Every trajectory here
is ``(num_frames, 4, 4)`` OpenCV c2w (x right, y down, z forward) in metres.

* Presets (``cam_type`` 1..10) reproduce upstream's ``example_test_data/cameras/camera_extrinsics.json`` (Unreal
  world, start (3390, 1380, 240) cm) analytically.
* Custom trajectories: a ``camera_extrinsics.json`` (one camera of it) or a YAML of moves (see
  :func:`trajectory_from_moves` and ``configs/recam/trajectory_example.yaml``) relative to the source camera.
  A JSON trajectory longer than ``num_frames`` is resampled over its whole length (same first and last pose,
  :func:`resample_trajectory`), as presets cover their whole motion at any frame count; never cut.
* Every pose that enters here is checked (finite, orthonormal, handedness, at most :data:`MAX_TRANSLATION_M`
  away): :class:`TrajectoryError` names the file, the camera or YAML field, and the frame.
* Inference ``cam_emb``: poses at frames ``range(num_frames)[::4]`` relative to the trajectory's frame 0
  (upstream ``inference_recammaster.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Mapping, Optional, Union

import numpy as np
import yaml
from scipy.spatial.transform import Rotation, Slerp

from synth.core.pose_checks import PROPER, Handedness, pose_problems
from synth.core.rigid import relative_cam_emb, relative_poses  # noqa: F401 (re-exports)
from synth.core.poses import Poses
from synth.core.unreal import UNREAL_C2W, look_at_rotator  # noqa: F401 (re-exports)
from synth.core.multicam_format import DatasetFormatError, load_camera_extrinsics  # noqa: F401
from synth.core.paths import PATTERNS, is_valid_name
from synth.core.speed import speed_progress
from synth.core.yaml_safe import load_yaml

__all__ = ["load_camera_extrinsics", "relative_cam_emb", "relative_poses", "PRESET_NAMES", "preset_trajectory",
           "trajectory_from_moves", "load_trajectory", "inference_cam_emb", "latent_frame_indices",
           "TrajectoryError", "resample_trajectory", "MAX_TRANSLATION_M", "MAX_MOVE_DEG", "intrinsics_condition",
           "zoom_intrinsics", "trajectory_zoom"]

PRESET_NAMES = {1: "Pan Right", 2: "Pan Left", 3: "Tilt Up", 4: "Tilt Down", 5: "Zoom In", 6: "Zoom Out",
                7: "Translate Up (with rotation)", 8: "Translate Down (with rotation)",
                9: "Arc Left (with rotation)", 10: "Arc Right (with rotation)"}

# Upstream's presets (measured from example_test_data, REFERENCE §1): start pose, nominal amounts, look-at distance.
_PRESET_START_CM = np.array([3390.0, 1380.0, 240.0])
_PAN_DEG, _TILT_DEG, _DOLLY_CM, _PEDESTAL_CM, _ARC_DEG, _PIVOT_CM = 20.0, 10.0, 200.0, 100.0, 30.0, 400.0


class TrajectoryError(ValueError):
    """A trajectory specification is invalid (the message names the file and the field)."""


#: Camera centres farther than this from the world origin (metres) are refused: finite, but a pose 1e30 m away
#: turns every relative pose into noise and the video black.
MAX_TRANSLATION_M = 1e5


def _check_trajectory(c2w: np.ndarray, where: str, handedness: Handedness) -> np.ndarray:
    """Raise :class:`TrajectoryError` naming ``where`` and the frame if a pose is not a usable rigid transform
    (finite, orthonormal, of the given handedness, invertible, within :data:`MAX_TRANSLATION_M`)."""
    problems = pose_problems(c2w, handedness, item="frame", max_translation=MAX_TRANSLATION_M)
    if problems:
        raise TrajectoryError(f"{where}: " + "; ".join(problems))
    return c2w


def preset_trajectory(cam_type: int, num_frames: int = 81) -> np.ndarray:
    """One of upstream's 10 basic trajectories as ``(num_frames, 4, 4)`` OpenCV c2w (Unreal world axes, metres).

    Progress is linear in the frame index, ``u_f = f / (num_frames - 0.5)`` (upstream's frame 80 holds 80/80.5 of
    the nominal amount): pan +/-20 deg, tilt +/-10 deg, dolly +/-2 m, pedestal +/-1 m while aiming at the point 4 m
    ahead, arc: straight move to the point 30 deg around a pivot 4 m ahead while aiming at the pivot.
    Matches upstream's JSON to < 0.1 mm and < 1e-4 deg.

    Raises:
        ValueError: ``cam_type`` outside 1..10 or fewer than 2 frames.
    """
    if cam_type not in PRESET_NAMES:
        raise ValueError(f"cam_type must be 1..10 ({', '.join(f'{k}: {v}' for k, v in PRESET_NAMES.items())}), "
                         f"got {cam_type}")
    if num_frames < 2:
        raise ValueError(f"num_frames must be >= 2, got {num_frames}")
    u = np.arange(num_frames) / (num_frames - 0.5)
    start = _PRESET_START_CM
    loc = np.repeat(start[None], num_frames, 0)
    rot = np.zeros((num_frames, 3))
    if cam_type in (1, 2):
        rot[:, 1] = (1 if cam_type == 1 else -1) * _PAN_DEG * u
    elif cam_type in (3, 4):
        rot[:, 0] = (1 if cam_type == 3 else -1) * _TILT_DEG * u
    elif cam_type in (5, 6):
        loc[:, 0] += (1 if cam_type == 5 else -1) * _DOLLY_CM * u
    elif cam_type in (7, 8):
        loc[:, 2] += (1 if cam_type == 7 else -1) * _PEDESTAL_CM * u
        rot = look_at_rotator(loc, start + [_PIVOT_CM, 0.0, 0.0])
    else:
        side = 1 if cam_type == 9 else -1  # arc left: move left (-Y), yaw right
        th = np.radians(_ARC_DEG)
        pivot = start + [_PIVOT_CM, 0.0, 0.0]
        end = np.array([pivot[0] - _PIVOT_CM * np.cos(th), pivot[1] - side * _PIVOT_CM * np.sin(th), start[2]])
        loc = start + u[:, None] * (end - start)
        rot = look_at_rotator(loc, pivot[None])
    return Poses.from_unreal(loc, rot, f"preset {cam_type}").upstream_c2w()


# ------------------------------------------------------------------------------------------------------------------
# Custom trajectories from moves
# ------------------------------------------------------------------------------------------------------------------

_MOVE_KEYS = {"pan", "tilt", "roll", "dolly", "truck", "pedestal", "arc"}
_SEGMENT_KEYS = _MOVE_KEYS | {"frames", "speed"}


#: largest |angle| of one move in a segment (degrees: two full turns): a finite angle beyond it (``pan: 1.0e+300``)
#: is a typing slip, not a camera move. Distances are bounded by the pose check (:data:`MAX_TRANSLATION_M`).
MAX_MOVE_DEG = 720.0
_ANGLE_KEYS = {"pan", "tilt", "roll", "deg"}


def _num(seg: Mapping[str, Any], key: str, where: str, default: float = 0.0) -> float:
    v = seg.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
        raise TrajectoryError(f"{where}.{key}: expected a number (finite), got {v!r}")
    if key in _ANGLE_KEYS and abs(v) > MAX_MOVE_DEG:
        raise TrajectoryError(f"{where}.{key}: {v!r} is out of range; expected at most {MAX_MOVE_DEG:g} degrees in "
                              f"absolute value")
    return float(v)


def _segment_deltas(seg: Mapping[str, Any], u: np.ndarray, where: str) -> np.ndarray:
    """Relative c2w ``(len(u), 4, 4)`` (segment-start camera frame, OpenCV axes) after progress ``u`` of a segment's
    moves. Rotation = ``R_y(pan) R_x(tilt) R_z(roll)`` (intrinsic y-x-z Euler angles, scipy), arc first about the
    pivot."""
    pan, tilt, roll = (np.radians(_num(seg, k, where)) for k in ("pan", "tilt", "roll"))
    u = np.asarray(u, dtype=np.float64)
    t = u[:, None] * np.array([_num(seg, "truck", where), -_num(seg, "pedestal", where), _num(seg, "dolly", where)])
    r = Rotation.from_euler("YXZ", np.stack([u * pan, u * tilt, u * roll], -1)).as_matrix()
    arc = seg.get("arc")
    if arc is not None:
        if not isinstance(arc, Mapping) or set(arc) - {"deg", "distance"} or "deg" not in arc:
            raise TrajectoryError(f"{where}.arc: expected {{deg: <degrees, + = left>, distance: <metres to the "
                                  f"pivot ahead, default 4>}}, got {arc!r}")
        phi = u * np.radians(_num(arc, "deg", f"{where}.arc"))
        d = _num(arc, "distance", f"{where}.arc", 4.0)
        if not d > 0:
            raise TrajectoryError(f"{where}.arc.distance: must be > 0, got {d}")
        t = t + np.stack([-d * np.sin(phi), np.zeros_like(phi), d - d * np.cos(phi)], -1)
        r = Rotation.from_euler("Y", phi[:, None]).as_matrix() @ r
    out = np.zeros((len(u), 4, 4))
    out[:, :3, :3], out[:, :3, 3], out[:, 3, 3] = r, t, 1.0
    return out


def trajectory_from_moves(spec: Union[Mapping[str, Any], str, Path], num_frames: int = 81) -> np.ndarray:
    """A camera trajectory from a small YAML/dict of moves, relative to the source camera (frame 0 = identity).

    Format (all keys optional except ``segments``)::

        speed: {profile: constant}        # default for segments; or {profile: eased, a: 2.0} (upstream's formula)
        segments:                          # played one after another
          - frames: 40                     # frames this segment spans (default: an equal share of the rest)
            pan: 15                        # degrees, + = right          (rotation about the camera's y axis)
            tilt: -5                       # degrees, + = up             (about x)
            roll: 0                        # degrees, + = clockwise      (about z)
            dolly: 1.0                     # metres, + = forward         (along z)
            truck: 0.5                     # metres, + = right           (along x)
            pedestal: 0.2                  # metres, + = up              (along -y)
            arc: {deg: 30, distance: 4}    # orbit about a pivot `distance` m ahead, + = left, keeps facing it
            speed: {profile: eased, a: 3}

    Moves of a segment act together and are expressed in the camera frame at the segment's start.

    Returns:
        ``(num_frames, 4, 4)`` OpenCV c2w in metres, world = the source camera's frame.

    Raises:
        TrajectoryError: unreadable or non-UTF-8 file, invalid YAML, unknown keys, non-numeric or non-finite
            amounts, frames that do not add up, or resulting poses that are not usable (too far away); the message
            names the file and the field (``<file>.segments[1].pan``) or the frame.
    """
    where = "trajectory"
    if isinstance(spec, (str, Path)):
        where = str(spec)
        try:
            spec = load_yaml(spec)
        except FileNotFoundError:
            raise TrajectoryError(f"{where}: file not found") from None
        except IsADirectoryError:
            raise TrajectoryError(f"{where}: is a folder; expected a YAML file of moves") from None
        except UnicodeDecodeError as e:
            raise TrajectoryError(f"{where}: not UTF-8 text (byte offset {e.start}); expected a YAML file of "
                                  f"moves") from None
        except (yaml.YAMLError, RecursionError) as e:
            raise TrajectoryError(f"{where}: not valid YAML ({e})") from None
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 2:
        raise TrajectoryError(f"{where}: num_frames must be an integer >= 2, got {num_frames!r}")
    if not isinstance(spec, Mapping) or not isinstance(spec.get("segments"), list) or not spec["segments"]:
        raise TrajectoryError(f"{where}: expected a mapping with a non-empty 'segments' list")
    unknown = set(spec) - {"segments", "speed", "num_frames"}
    if unknown:
        raise TrajectoryError(f"{where}: unknown keys {sorted(map(str, unknown))}; expected segments, speed")
    segs: List[Mapping[str, Any]] = spec["segments"]
    steps = num_frames - 1
    for i, s in enumerate(segs):
        if not isinstance(s, Mapping):
            raise TrajectoryError(f"{where}.segments[{i}]: expected a mapping of moves, got {s!r}")
        bad = set(s) - _SEGMENT_KEYS
        if bad:
            raise TrajectoryError(f"{where}.segments[{i}]: unknown keys {sorted(map(str, bad))}; moves are "
                                  f"{sorted(_MOVE_KEYS)}")
    fixed = [s.get("frames") for s in segs]
    for i, f in enumerate(fixed):
        if f is not None and (isinstance(f, bool) or not isinstance(f, int) or f < 1):
            raise TrajectoryError(f"{where}.segments[{i}].frames: expected a positive integer, got {f!r}")
    rest = steps - sum(f for f in fixed if f is not None)
    free = [i for i, f in enumerate(fixed) if f is None]
    if rest < 0 or (free and rest < len(free)) or (not free and rest != 0):
        raise TrajectoryError(f"{where}: segment frames add up to {steps - rest}, the trajectory has {steps} "
                              f"steps ({num_frames} frames)")
    lengths = [f if f is not None else 0 for f in fixed]
    for j, i in enumerate(free):
        lengths[i] = rest // len(free) + (1 if j < rest % len(free) else 0)
    default_speed = spec.get("speed", {"profile": "constant"})
    poses = [np.eye(4)]
    base = np.eye(4)
    for i, (s, n) in enumerate(zip(segs, lengths)):
        sp = s.get("speed", default_speed)
        a = sp.get("a") if isinstance(sp, Mapping) else None
        if not isinstance(sp, Mapping) or (a is not None and (isinstance(a, bool) or not isinstance(a, (int, float)))):
            raise TrajectoryError(f"{where}.segments[{i}].speed: expected {{profile: constant}} or {{profile: eased, "
                                  f"a: <non-zero number>}}, got {sp!r}")
        if a is not None and not abs(a) <= 50:  # exp(50 x) still fits a float64; synth's speed.a_abs has the same cap
            raise TrajectoryError(f"{where}.segments[{i}].speed.a: {a!r} is out of range; expected a finite non-zero "
                                  f"number with |a| <= 50")
        try:
            u = speed_progress(n + 1, sp.get("profile", "constant"), a)
        except ValueError as e:
            raise TrajectoryError(f"{where}.segments[{i}].speed: {e}") from None
        deltas = _segment_deltas(s, u, f"{where}.segments[{i}]")
        poses += list(base @ deltas[1:])
        base = base @ deltas[-1]
    # relative to the source camera in OpenCV axes: proper rotations (det +1)
    return _check_trajectory(np.stack(poses), where, PROPER)


def resample_trajectory(c2w: np.ndarray, num_frames: int) -> np.ndarray:
    """Resample a trajectory ``(F, 4, 4)`` onto ``num_frames`` frames spanning the same start and end.

    Frame ``i`` takes the pose at time ``i (F - 1) / (num_frames - 1)`` of the input (rotation slerp, linear camera
    centre; an input frame itself where the time is an integer), so the first and last poses are kept exactly and
    the speed profile is kept in shape. This is how a longer camera JSON is fitted to ``--num_frames``, like a
    ``--cam_type`` preset, which also covers its whole motion whatever the frame count (presets follow upstream's ``u = i / (num_frames - 0.5)``, so a 9-frame preset
    ends at 8/8.5 of its nominal amount while an 81-frame JSON ends at 80/80.5: within 6 %). Works for both
    handednesses (upstream's Unreal-world c2w has ``det(R) = -1``: it is mirrored, interpolated and mirrored back).
    """
    c2w = np.asarray(c2w, dtype=np.float64)
    n = len(c2w)
    if num_frames == n:
        return c2w.copy()
    mirror = np.linalg.det(c2w[0, :3, :3]) < 0
    s = np.diag([1.0, -1.0, 1.0, 1.0]) if mirror else np.eye(4)
    m = s @ c2w  # proper rotations
    t = np.linspace(0.0, n - 1.0, num_frames)
    out = np.zeros((num_frames, 4, 4))
    out[:, 3, 3] = 1.0
    out[:, :3, :3] = Slerp(np.arange(n, dtype=np.float64), Rotation.from_matrix(m[:, :3, :3]))(t).as_matrix()
    for k in range(3):
        out[:, k, 3] = np.interp(t, np.arange(n), m[:, k, 3])
    k = np.round(t)
    exact = np.abs(t - k) < 1e-9  # frames that fall on input frames keep them bit for bit (no re-orthogonalisation)
    out[exact] = m[k[exact].astype(int)]
    return s @ out


def load_trajectory(spec: Union[int, str, Path], num_frames: int = 81, camera: Optional[str] = None) -> np.ndarray:
    """A trajectory from a preset number, a ``camera_extrinsics.json`` (``camera`` selects which; required when it
    holds several) or a moves YAML. Returns ``(num_frames, 4, 4)`` OpenCV c2w in metres.

    A camera JSON with more frames than ``num_frames`` is resampled over its whole length
    (:func:`resample_trajectory`: same first and last pose), as the presets are; one with fewer is refused.
    Every pose is checked (finite, orthonormal, ``det(R) = -1`` for upstream's Unreal-world c2w, within
    :data:`MAX_TRANSLATION_M`).

    Raises:
        TrajectoryError: unknown spec, unreadable or malformed file, a bad pose (names file, camera and frame), too
            few frames in the JSON, ambiguous camera.
    """
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        return preset_trajectory(int(spec), num_frames)
    path = Path(spec)
    if path.suffix == ".json":
        try:
            cams = load_camera_extrinsics(path)
        except DatasetFormatError as e:
            raise TrajectoryError(str(e)) from None
        if camera is None:
            if len(cams) != 1:
                raise TrajectoryError(f"{path}: holds cameras {list(cams)}; choose one (--camera camNN)")
            camera = next(iter(cams))
        if not is_valid_name(camera, "camera"):  # the name becomes part of an output folder (path policy)
            raise TrajectoryError(f"{path}: camera {camera!r} is not allowed; expected {PATTERNS['camera'][1]}")
        if camera not in cams:
            raise TrajectoryError(f"{path}: no camera {camera!r}; it has {list(cams)}")
        c2w = _check_trajectory(cams[camera], f"{path}: {camera}", UNREAL_C2W)
        if len(c2w) < num_frames:
            raise TrajectoryError(f"{path}: {camera} has {len(c2w)} frames; {num_frames} needed")
        if num_frames < 2:
            raise TrajectoryError(f"num_frames must be >= 2, got {num_frames}")
        return resample_trajectory(c2w, num_frames)
    if path.suffix in (".yaml", ".yml"):
        return trajectory_from_moves(path, num_frames)
    raise TrajectoryError(f"{spec}: expected a preset 1..10, a camera_extrinsics .json or a moves .yaml")


def latent_frame_indices(num_frames: int) -> List[int]:
    """Video frames that carry one latent frame each: ``range(num_frames)[::4]`` (Wan's VAE: 4k + 1 frames ->
    k + 1 latents)."""
    if num_frames < 1 or (num_frames - 1) % 4:
        raise ValueError(f"num_frames must be 4k + 1 (Wan VAE), got {num_frames}")
    return list(range(num_frames))[::4]


def inference_cam_emb(c2ws: np.ndarray) -> np.ndarray:
    """Upstream's inference ``cam_emb`` ``(F_latent, 12)``: the trajectory at :func:`latent_frame_indices`,
    relative to its own frame 0 (the source camera is assumed at the trajectory's start)."""
    c2ws = np.asarray(c2ws)
    idx = latent_frame_indices(len(c2ws))
    return relative_cam_emb(c2ws[0], c2ws[idx])


def intrinsics_condition(target_k: np.ndarray, source_k: np.ndarray) -> np.ndarray:
    """The optional intrinsics condition of the camera encoder (``model.intrinsics``; issue 24): ``(F, 4)`` float32
    ``[log(fx_t / fx_s), log(fy_t / fy_s), cx_t - cx_s, cy_t - cy_s]`` per frame, from normalised intrinsics
    ``[fx/W, fy/H, cx/W, cy/H]`` ``(F, 4)`` of the target and the source (clip frames; each target frame against the
    source frame of the same time). Zero when the target has the source's lens: the model is then exactly
    upstream's. A zoom-in by 2x gives ``log 2`` in the first two columns.

    Raises:
        ValueError: shapes differ or a focal length is not positive and finite.
    """
    t, s = np.asarray(target_k, np.float64), np.asarray(source_k, np.float64)
    if t.shape != s.shape or t.shape[-1:] != (4,):
        raise ValueError(f"target and source intrinsics must both be (F, 4), got {t.shape} and {s.shape}")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(s)) and np.all(t[..., :2] > 0) and np.all(s[..., :2] > 0)):
        raise ValueError("intrinsics must be finite with positive focal lengths")
    return np.concatenate([np.log(t[..., :2] / s[..., :2]), t[..., 2:] - s[..., 2:]], -1).astype(np.float32)


def zoom_intrinsics(spec: str, num_frames: int) -> np.ndarray:
    """``--zoom A:B``: the target's focal length relative to the source's, from ``A`` at the first frame to ``B``
    at the last, geometrically (a constant zoom rate): ``(num_frames,)`` float64 ratios ``A (B / A)^(i / (F - 1))``.

    Raises:
        TrajectoryError: not two positive numbers ``A:B`` within [0.1, 10].
    """
    try:
        a, b = (float(v) for v in str(spec).split(":"))
    except ValueError:
        raise TrajectoryError(f"--zoom: {spec!r}; expected START:END focal ratios, e.g. 1.0:2.0 (zoom in 2x)") \
            from None
    if not (0.1 <= a <= 10 and 0.1 <= b <= 10):
        raise TrajectoryError(f"--zoom: {spec!r}; the ratios must be within [0.1, 10]")
    u = np.linspace(0.0, 1.0, num_frames) if num_frames > 1 else np.zeros(1)
    return a * (b / a) ** u


def trajectory_zoom(spec: Union[int, str, Path], num_frames: int, camera: Optional[str] = None
                    ) -> Optional[np.ndarray]:
    """The focal-length change of a ``--trajectory`` ``camera_extrinsics.json`` whose folder also holds
    ``camera_intrinsics.json`` (a ``synth`` zoom scene): ``(num_frames,)`` float64 focal length of ``camera`` (the
    first one when None, as :func:`load_trajectory`) relative to its first frame, resampled over the whole
    trajectory like the poses. None for any other trajectory, or a camera whose focal length does not change.

    Raises:
        TrajectoryError: an unreadable intrinsics file or one without the camera (names the file).
    """
    from synth.core.intrinsics_file import read_camera_intrinsics
    from synth.core.layout import CAMERA_INTRINSICS_JSON
    from synth.core.multicam_format import DatasetFormatError

    if isinstance(spec, int) or Path(spec).suffix != ".json":
        return None
    path = Path(spec).parent / CAMERA_INTRINSICS_JSON.name
    if not path.is_file():
        return None
    try:
        intr = read_camera_intrinsics(path)
    except DatasetFormatError as e:
        raise TrajectoryError(str(e)) from None
    cam = camera if camera is not None else intr.cameras[0]
    if cam not in intr.cameras:
        raise TrajectoryError(f"{path}: no camera {cam!r}; it has {intr.cameras}")
    f = intr.focal_mm[intr.cameras.index(cam)]
    f = np.interp(np.linspace(0.0, len(f) - 1.0, num_frames), np.arange(len(f)), f)
    return None if np.allclose(f, f[0]) else f / f[0]
