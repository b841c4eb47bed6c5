"""Cameras for ReCamMaster: trajectories, the ``cam_emb`` contract, the 10 presets and custom trajectories.

Built on the shared camera-geometry core :mod:`synth.core.geometry` (conventions documented there). Every trajectory here
is ``(num_frames, 4, 4)`` OpenCV c2w (x right, y down, z forward) in metres.

* Presets (``cam_type`` 1..10) reproduce upstream's ``example_test_data/cameras/camera_extrinsics.json`` (Unreal
  world, start (3390, 1380, 240) cm) analytically.
* Custom trajectories: a ``camera_extrinsics.json`` (one camera of it) or a YAML of moves (see
  :func:`trajectory_from_moves` and ``configs/recam/trajectory_example.yaml``) relative to the source camera.
* Inference ``cam_emb``: poses at frames ``range(num_frames)[::4]`` relative to the trajectory's frame 0
  (upstream ``inference_recammaster.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Mapping, Optional, Union

import numpy as np
import yaml

from synth.core.geometry import (look_at_rotator, relative_cam_emb, relative_poses,  # noqa: F401 (public re-exports)
                            unreal_pose_to_c2w)
from synth.core.multicam_format import load_camera_extrinsics  # noqa: F401
from synth.core.speed import speed_progress

__all__ = ["load_camera_extrinsics", "relative_cam_emb", "relative_poses", "PRESET_NAMES", "preset_trajectory",
           "trajectory_from_moves", "load_trajectory", "inference_cam_emb", "latent_frame_indices",
           "TrajectoryError"]

PRESET_NAMES = {1: "Pan Right", 2: "Pan Left", 3: "Tilt Up", 4: "Tilt Down", 5: "Zoom In", 6: "Zoom Out",
                7: "Translate Up (with rotation)", 8: "Translate Down (with rotation)",
                9: "Arc Left (with rotation)", 10: "Arc Right (with rotation)"}

# Upstream's presets (measured from example_test_data, REFERENCE §1): start pose, nominal amounts, look-at distance.
_PRESET_START_CM = np.array([3390.0, 1380.0, 240.0])
_PAN_DEG, _TILT_DEG, _DOLLY_CM, _PEDESTAL_CM, _ARC_DEG, _PIVOT_CM = 20.0, 10.0, 200.0, 100.0, 30.0, 400.0


class TrajectoryError(ValueError):
    """A trajectory specification is invalid (the message names the file and the field)."""


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
    return unreal_pose_to_c2w(loc, rot)


# ------------------------------------------------------------------------------------------------------------------
# Custom trajectories from moves
# ------------------------------------------------------------------------------------------------------------------

_MOVE_KEYS = {"pan", "tilt", "roll", "dolly", "truck", "pedestal", "arc"}
_SEGMENT_KEYS = _MOVE_KEYS | {"frames", "speed"}


def _rot_x(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _rot_y(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rot_z(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _num(seg: Mapping[str, Any], key: str, where: str) -> float:
    v = seg.get(key, 0.0)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
        raise TrajectoryError(f"{where}.{key}: expected a number, got {v!r}")
    return float(v)


def _segment_delta(seg: Mapping[str, Any], u: float, where: str) -> np.ndarray:
    """Relative c2w (segment-start camera frame, OpenCV axes) after progress ``u`` of a segment's moves."""
    pan, tilt, roll = (np.radians(_num(seg, k, where)) for k in ("pan", "tilt", "roll"))
    t = u * np.array([_num(seg, "truck", where), -_num(seg, "pedestal", where), _num(seg, "dolly", where)])
    r = _rot_y(u * pan) @ _rot_x(u * tilt) @ _rot_z(u * roll)
    arc = seg.get("arc")
    if arc is not None:
        if not isinstance(arc, Mapping) or set(arc) - {"deg", "distance"} or "deg" not in arc:
            raise TrajectoryError(f"{where}.arc: expected {{deg: <degrees, + = left>, distance: <metres to the "
                                  f"pivot ahead, default 4>}}, got {arc!r}")
        phi = u * np.radians(_num(arc, "deg", f"{where}.arc"))
        d = float(arc.get("distance", 4.0))
        if not d > 0:
            raise TrajectoryError(f"{where}.arc.distance: must be > 0, got {d}")
        t = t + np.array([-d * np.sin(phi), 0.0, d - d * np.cos(phi)])
        r = _rot_y(phi) @ r
    out = np.eye(4)
    out[:3, :3], out[:3, 3] = r, t
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
        TrajectoryError: unknown keys, non-numeric amounts, frames that do not add up.
    """
    where = "trajectory"
    if isinstance(spec, (str, Path)):
        where = str(spec)
        try:
            spec = yaml.safe_load(Path(spec).read_text())
        except FileNotFoundError:
            raise TrajectoryError(f"{where}: file not found") from None
        except yaml.YAMLError as e:
            raise TrajectoryError(f"{where}: not valid YAML ({e})") from None
    if not isinstance(spec, Mapping) or not isinstance(spec.get("segments"), list) or not spec["segments"]:
        raise TrajectoryError(f"{where}: expected a mapping with a non-empty 'segments' list")
    unknown = set(spec) - {"segments", "speed", "num_frames"}
    if unknown:
        raise TrajectoryError(f"{where}: unknown keys {sorted(unknown)}")
    segs: List[Mapping[str, Any]] = spec["segments"]
    steps = num_frames - 1
    fixed = [s.get("frames") for s in segs]
    for i, s in enumerate(segs):
        if not isinstance(s, Mapping):
            raise TrajectoryError(f"{where}.segments[{i}]: expected a mapping of moves")
        bad = set(s) - _SEGMENT_KEYS
        if bad:
            raise TrajectoryError(f"{where}.segments[{i}]: unknown keys {sorted(bad)}; moves are {sorted(_MOVE_KEYS)}")
        if fixed[i] is not None and (not isinstance(fixed[i], int) or fixed[i] < 1):
            raise TrajectoryError(f"{where}.segments[{i}].frames: expected a positive integer")
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
        try:
            u = speed_progress(n + 1, sp.get("profile", "constant"), sp.get("a"))
        except (ValueError, AttributeError) as e:
            raise TrajectoryError(f"{where}.segments[{i}].speed: {e}") from None
        deltas = [_segment_delta(s, float(x), f"{where}.segments[{i}]") for x in u]
        poses += [base @ d for d in deltas[1:]]
        base = base @ deltas[-1]
    return np.stack(poses)


def load_trajectory(spec: Union[int, str, Path], num_frames: int = 81, camera: Optional[str] = None) -> np.ndarray:
    """A trajectory from a preset number, a ``camera_extrinsics.json`` (``camera`` selects which; required when it
    holds several) or a moves YAML. Returns ``(num_frames, 4, 4)`` OpenCV c2w in metres.

    Raises:
        TrajectoryError: unknown spec, too few frames in the JSON, ambiguous camera.
    """
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        return preset_trajectory(int(spec), num_frames)
    path = Path(spec)
    if path.suffix == ".json":
        cams = load_camera_extrinsics(path)
        if camera is None:
            if len(cams) != 1:
                raise TrajectoryError(f"{path}: holds cameras {list(cams)}; choose one (--camera camNN)")
            camera = next(iter(cams))
        if camera not in cams:
            raise TrajectoryError(f"{path}: no camera {camera!r}; it has {list(cams)}")
        c2w = cams[camera]
        if len(c2w) < num_frames:
            raise TrajectoryError(f"{path}: {camera} has {len(c2w)} frames; {num_frames} needed")
        return c2w[:num_frames]
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
