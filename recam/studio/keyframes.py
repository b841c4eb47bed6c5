"""Keyframed camera paths for ``recam studio``, interpolated by the YAML moves of ``recam infer --trajectory``.

A keyframe is a frame index and a camera pose (``(4, 4)`` OpenCV c2w in metres, relative to the source camera at
frame 0). Frame 0 is always the source camera (identity): ReCamMaster's ``cam_emb`` is relative to the trajectory's
frame 0. Between two keyframes the path is ONE segment of :func:`recam.cameras.trajectory_from_moves` (its pan /
tilt / roll and truck / pedestal / dolly, expressed in the camera frame at the earlier keyframe, with the segment's
speed profile), so the studio's path and what ``recam infer`` renders are the same code: :func:`moves_from_keyframes`
decomposes each keyframe-to-keyframe motion into those moves exactly (rotation = ``R_y(pan) R_x(tilt) R_z(roll)``,
translation = ``[truck, -pedestal, dolly]``), and :func:`trajectory_from_keyframes` is ``trajectory_from_moves`` of
the result. Each keyframe's pose is reproduced to ~1e-12; between keyframes the camera moves on a straight line
and its Euler angles change linearly with the speed profile's progress.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np
import yaml
from scipy.spatial.transform import Rotation

from synth.core.atomic import atomic_write_text

from ..cameras import preset_trajectory, relative_poses, trajectory_from_moves

__all__ = ["Keyframe", "moves_from_keyframes", "trajectory_from_keyframes", "keyframes_from_trajectory",
           "preset_keyframes", "preset_relative", "export_moves_yaml", "SPEED_PROFILES"]

#: speed profiles a segment can have (``synth.core.speed``): constant, or eased with upstream's parameter ``a``
SPEED_PROFILES = ("constant", "eased")


@dataclass
class Keyframe:
    """One keyframe: ``frame`` (video frame index, 0-based), ``c2w`` ``(4, 4)`` float64 OpenCV c2w in metres relative
    to the source camera at frame 0, and the speed profile of the segment that ENDS at this keyframe
    (``{"profile": "constant"}`` or ``{"profile": "eased", "a": 2.0}``)."""

    frame: int
    c2w: np.ndarray
    speed: Dict[str, Any] = field(default_factory=lambda: {"profile": "constant"})


def _segment_moves(rel: np.ndarray) -> Dict[str, float]:
    """The moves of one segment whose end pose, in the segment-start camera's frame, is ``rel`` ``(4, 4)``."""
    pan, tilt, roll = np.degrees(Rotation.from_matrix(rel[:3, :3]).as_euler("YXZ"))
    truck, down, dolly = rel[:3, 3]
    moves = {"pan": pan, "tilt": tilt, "roll": roll, "truck": truck, "pedestal": -down, "dolly": dolly}
    return {k: float(v) for k, v in moves.items() if v != 0.0}


def moves_from_keyframes(keyframes: Sequence[Keyframe], num_frames: int) -> Dict[str, Any]:
    """The moves spec (``recam infer --trajectory`` YAML, as a dict) passing through ``keyframes``.

    Args:
        keyframes: frame-sorted or not; frame 0 must hold the identity (the source camera) and may be omitted;
            frames must be distinct and in ``[0, num_frames - 1]``.
        num_frames: frames of the trajectory (``recam infer --num-frames``). After the last keyframe the camera
            holds still.

    Returns:
        ``{"num_frames": N, "segments": [{"frames": n, "pan": deg, ..., "speed": {...}}, ...]}``.

    Raises:
        ValueError: a frame out of range or repeated, or a frame-0 keyframe that is not the identity.
    """
    kfs = sorted(keyframes, key=lambda k: k.frame)
    frames = [k.frame for k in kfs]
    if len(set(frames)) != len(frames):
        raise ValueError(f"keyframes at the same frame: {frames}")
    if any(not 0 <= f <= num_frames - 1 for f in frames):
        raise ValueError(f"keyframe frames must be in 0..{num_frames - 1}, got {frames}")
    if kfs and kfs[0].frame == 0:
        if not np.allclose(kfs[0].c2w, np.eye(4), atol=1e-9):
            raise ValueError("the keyframe at frame 0 must be the source camera (identity)")
        kfs = kfs[1:]
    segments: List[Dict[str, Any]] = []
    prev_frame, prev = 0, np.eye(4)
    for k in kfs:
        c2w = np.asarray(k.c2w, dtype=np.float64)
        seg: Dict[str, Any] = {"frames": int(k.frame - prev_frame), **_segment_moves(np.linalg.inv(prev) @ c2w)}
        if k.speed.get("profile", "constant") != "constant":
            seg["speed"] = dict(k.speed)
        segments.append(seg)
        prev_frame, prev = k.frame, c2w
    if prev_frame < num_frames - 1:
        segments.append({"frames": int(num_frames - 1 - prev_frame)})  # hold the last pose
    return {"num_frames": int(num_frames), "speed": {"profile": "constant"}, "segments": segments}


def trajectory_from_keyframes(keyframes: Sequence[Keyframe], num_frames: int) -> np.ndarray:
    """``(num_frames, 4, 4)`` OpenCV c2w (metres, source frame 0 = identity): ``trajectory_from_moves`` of
    :func:`moves_from_keyframes` (the same code ``recam infer --trajectory`` runs)."""
    return trajectory_from_moves(moves_from_keyframes(keyframes, num_frames), num_frames)


def keyframes_from_trajectory(c2w: np.ndarray, count: int = 5) -> List[Keyframe]:
    """``count`` keyframes (frame 0 and the last included, evenly spaced) sampled from a ``(F, 4, 4)`` trajectory
    relative to its frame 0 (constant speed between them)."""
    c2w = np.asarray(c2w, dtype=np.float64)
    idx = np.unique(np.round(np.linspace(0, len(c2w) - 1, max(2, count))).astype(int))
    return [Keyframe(int(i), c2w[i].copy()) for i in idx]


def preset_relative(cam_type: int, num_frames: int) -> np.ndarray:
    """Upstream preset ``cam_type`` (1..10) as ``(num_frames, 4, 4)`` OpenCV c2w relative to its frame 0 (metres;
    the frame ``recam infer`` conditions on)."""
    c = preset_trajectory(cam_type, num_frames)
    return relative_poses(c[0], c)


def preset_keyframes(cam_type: int, num_frames: int, count: int = 5) -> List[Keyframe]:
    """Keyframes to start from a preset: :func:`keyframes_from_trajectory` of :func:`preset_relative` (pans, tilts
    and dollies are reproduced exactly; the look-at presets 7..10 to within millimetres)."""
    return keyframes_from_trajectory(preset_relative(cam_type, num_frames), count)


def export_moves_yaml(path: Path, keyframes: Sequence[Keyframe], num_frames: int,
                      header: Optional[str] = None) -> Dict[str, Any]:
    """Write the moves YAML of ``keyframes`` atomically (floats written with ``repr``: reloading gives the same
    poses) and return the spec. ``recam infer --trajectory PATH --num-frames num_frames`` reads it unchanged."""
    spec = moves_from_keyframes(keyframes, num_frames)
    text = yaml.safe_dump(spec, sort_keys=False, default_flow_style=None)
    lines = [f"# {line}" for line in (header or "").splitlines()]
    lines.append(f"# recam studio trajectory: recam infer --trajectory {Path(path).name} --num-frames {num_frames}")
    atomic_write_text(Path(path), "\n".join(lines) + "\n" + text)
    return spec


def keyframes_to_json(keyframes: Sequence[Keyframe]) -> List[Mapping[str, Any]]:
    """Keyframes as JSON-ready dicts (the studio's session file)."""
    return [{"frame": k.frame, "c2w": np.asarray(k.c2w).tolist(), "speed": k.speed} for k in keyframes]
