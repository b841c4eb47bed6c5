"""The source video as ``recam studio`` shows it: frames, camera path, sparse point cloud, intrinsics and scale.

Coordinates: OpenCV axes of the source camera at frame 0 (x right, y down, z forward), in METRES once
:attr:`SourceScene.scale` (metres per SfM unit) is applied; SfM itself has an arbitrary scale. The scale comes from
``recam align``'s ``metric_scale.json`` when given, else a user-set number, else a guess that puts the median depth
of frame 0 at :data:`DEFAULT_DEPTH_M` (the presets' pivot is 4 m ahead).

A video from which no poses can be estimated still opens: identity source poses, no points, and
:attr:`SourceScene.message` saying why.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from synth.core.pose_estimation import PoseOptions, estimate_poses
from synth.core.run_errors import UserError
from synth.core.video_io import VideoReadError, read_video

__all__ = ["SourceScene", "load_source", "default_intrinsics", "read_metric_scale", "DEFAULT_DEPTH_M",
           "DEFAULT_HFOV_DEG", "studio_num_frames"]

#: metres the median depth of frame 0 is assumed to be when no metric scale is known
DEFAULT_DEPTH_M = 4.0
#: horizontal field of view (degrees) assumed for a video whose intrinsics are not given
DEFAULT_HFOV_DEG = 60.0


@dataclass
class SourceScene:
    """What the studio knows of the source video.

    Attributes:
        frames: ``(N, h, w, 3)`` uint8 RGB of the video frames ``frame_indices`` (downscaled for display).
        frame_indices: ``(N,)`` int video frame of each entry of ``frames`` / ``c2w``.
        c2w: ``(N, 4, 4)`` float64 OpenCV c2w in SfM units relative to frame 0 (identity where unknown).
        K: ``(3, 3)`` intrinsics in pixels of ``frames``.
        points: ``(P, 3)`` float64 sparse points (SfM units, frame-0 camera frame); ``(0, 3)`` without SfM.
        colors: ``(P, 3)`` uint8.
        scale: metres per SfM unit.
        scale_source: where ``scale`` came from (``metric_scale.json``, ``--scale``, ``guess``, ``none``).
        num_frames: frames of the trajectory to design (4k + 1, at most the video's).
        fps: frames per second of the video.
        status: the pose estimator's status (``ok``, ``rotation_only``, ``not_estimable`` ...).
        message: why there is no point cloud / path, or ``""``.
    """

    frames: np.ndarray
    frame_indices: np.ndarray
    c2w: np.ndarray
    K: np.ndarray
    points: np.ndarray
    colors: np.ndarray
    scale: float
    scale_source: str
    num_frames: int
    fps: float
    status: str
    message: str = ""

    def c2w_metric(self) -> np.ndarray:
        """``(N, 4, 4)`` source c2w with translations in metres."""
        out = self.c2w.copy()
        out[:, :3, 3] *= self.scale
        return out

    def points_metric(self) -> np.ndarray:
        """``(P, 3)`` points in metres."""
        return self.points * self.scale


def default_intrinsics(width: int, height: int, hfov_deg: float = DEFAULT_HFOV_DEG) -> np.ndarray:
    """Pinhole ``K`` ``(3, 3)`` of a ``width`` x ``height`` image with horizontal field of view ``hfov_deg``
    (degrees), principal point at the centre."""
    f = 0.5 * width / math.tan(math.radians(hfov_deg) / 2)
    return np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1.0]])


def studio_num_frames(video_frames: int, wanted: int = 81) -> int:
    """The trajectory length: the largest ``4k + 1 <= min(video_frames, wanted)`` (Wan's VAE), at least 5."""
    n = min(video_frames, wanted)
    return max(5, (n - 1) // 4 * 4 + 1)


def read_metric_scale(path: Path) -> float:
    """``scale`` of ``recam align``'s ``metric_scale.json`` (metres per SfM unit).

    Raises:
        UserError: unreadable file, not JSON, or no positive finite ``scale`` (names the file and the field).
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: cannot read a metric_scale.json ({e})") from None
    s = data.get("scale") if isinstance(data, dict) else None
    if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s) or s <= 0:
        raise UserError(f"{path}: field 'scale': expected a positive number (metres per SfM unit), got {s!r}")
    return float(s)


def load_source(video: Path, *, num_frames: int = 81, stride: int = 4, max_size: int = 256,
                hfov_deg: float = DEFAULT_HFOV_DEG, scale: Optional[float] = None,
                metric_scale: Optional[Path] = None, options: Optional[PoseOptions] = None) -> SourceScene:
    """Read ``video`` and estimate its camera path and point cloud (COLMAP through :mod:`synth.core.pose_estimation`).

    Args:
        video: the source video file.
        num_frames: trajectory length wanted (``recam infer --num-frames``; cut to the video, 4k + 1).
        stride: every ``stride``-th frame is shown and used for pose estimation.
        max_size: long side (pixels) frames are downscaled to for display and estimation.
        hfov_deg: horizontal field of view assumed (degrees).
        scale / metric_scale: metres per SfM unit, or ``recam align``'s JSON holding it (the JSON wins).

    Raises:
        UserError: the video cannot be read (names it and why). Failing pose estimation is not an error.
    """
    try:
        frames, fps = read_video(Path(video))
    except VideoReadError as e:
        raise UserError(f"{video}: cannot open the source video ({e})") from None
    n = studio_num_frames(len(frames), num_frames)
    if len(frames) < 5:
        raise UserError(f"{video}: has {len(frames)} frames; recam studio needs at least 5")
    idx = np.arange(0, n, stride)
    small = _downscale(frames[idx], max_size)
    K = default_intrinsics(small.shape[2], small.shape[1], hfov_deg)
    opts = (options or PoseOptions()).replace(stride=stride, max_size=0)
    est = estimate_poses(small, K, opts, idx)
    c2w = np.repeat(np.eye(4)[None], len(idx), 0)
    points, colors = np.zeros((0, 3)), np.zeros((0, 3), np.uint8)
    message = ""
    if est.has_rotation:
        ok = est.registered
        c2w[ok, :3, :3] = est.c2w[ok, :3, :3]
        if est.has_translation:
            c2w[ok, :3, 3] = est.c2w[ok, :3, 3]
            points = est.extra.get("points_xyz", points)
            colors = est.extra.get("points_rgb", colors)
        else:
            message = (f"pose estimation: {est.status} ({est.message or 'no parallax'}): rotations only, no point "
                       f"cloud")
    else:
        message = (f"pose estimation: {est.status} ({est.message or 'no poses'}): no point cloud; presets are drawn "
                   f"relative to an identity source camera")
    src = "none"
    if metric_scale is not None:
        scale, src = read_metric_scale(metric_scale), "metric_scale.json"
    elif scale is not None:
        src = "--scale"
    elif math.isfinite(est.frame0_depth) and est.frame0_depth > 0:
        scale, src = DEFAULT_DEPTH_M / est.frame0_depth, "guess"
    else:
        scale = 1.0
    return SourceScene(small, idx, c2w, K, points, colors, float(scale), src, n, float(fps), est.status, message)


def _downscale(frames: np.ndarray, max_size: int) -> np.ndarray:
    h, w = frames.shape[1:3]
    f = max_size / max(h, w)
    if f >= 1:
        return frames
    from PIL import Image

    size = (max(2, round(w * f / 2) * 2), max(2, round(h * f / 2) * 2))
    return np.stack([np.asarray(Image.fromarray(x).resize(size, Image.BILINEAR)) for x in frames])
