"""Decoding a clip window into model-sized frames: one streaming path for ``recam prepare`` and the raw-video
datasets. Each frame is converted as it is decoded (upright, resized, centre-cropped: :mod:`recam.video`) and
written into one preallocated ``[F, height, width, 3]`` array; the video's frame count is checked against the
poses in the same pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synth.core.video_io import VideoReadError, stream_video

from ..video import frame_converter, resize_center_crop_image
from .formats import VideoItem

__all__ = ["load_frames"]


def undistort_image(rgb: np.ndarray, k_norm: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 undistorted with OpenCV's camera model (``cv2.undistort``; ``dist = [k1, k2, p1, p2]``)
    into the same intrinsics ``K = k_norm x (W, H)`` (``k_norm = [fx/W, fy/H, cx/W, cy/H]``; OpenCV's pixel centres
    are integers, ours half-integers: ``cx - 0.5``)."""
    import cv2

    h, w = rgb.shape[:2]
    K = np.array([[k_norm[0] * w, 0.0, k_norm[2] * w - 0.5], [0.0, k_norm[1] * h, k_norm[3] * h - 0.5],
                  [0.0, 0.0, 1.0]])
    return cv2.undistort(np.ascontiguousarray(rgb), K, np.asarray(dist, np.float64))


def load_frames(item: VideoItem, height: int, width: int, resize: str = "exact") -> np.ndarray:
    """The item's window frames, upright, resized and centre-cropped like upstream: ``[F, height, width, 3]``
    uint8 (:func:`load_frames_sized` without the source size)."""
    return load_frames_sized(item, height, width, resize)[0]


def load_frames_sized(item: VideoItem, height: int, width: int, resize: str = "exact"):
    """The item's window frames, upright, resized and centre-cropped like upstream: ``[F, height, width, 3]``
    uint8, and the upright source frame size ``(W, H)`` in pixels (what the clip's intrinsics are converted from,
    :func:`recam.data.formats.base.clip_intrinsics`).

    Args:
        resize: ``exact`` (PIL bilinear, upstream's pixels) or ``fast`` (swscale in the decoder; images use PIL).

    Raises:
        VideoReadError: unreadable video/images, too few frames, or a frame count that differs from the poses.
    """
    from PIL import Image

    frames = np.asarray(item.frames)
    if isinstance(item.video, (list, tuple)):
        files = item.video
        if item.expected_video_frames is not None and len(files) != item.expected_video_frames:
            raise VideoReadError(f"{files[0].parent}: {len(files)} images for {item.expected_video_frames} poses")
        out = np.empty((len(frames), height, width, 3), np.uint8)
        dist = item.extra.get("distortion") if isinstance(item.extra, dict) else None
        size = None
        for k, i in enumerate(frames):
            try:
                with Image.open(files[i]) as img:
                    img = img.convert("RGB")
                    size = size or img.size
                    if dist is not None:  # DL3DV: OpenCV's model, undistorted into the same K (pinhole clip)
                        img = Image.fromarray(undistort_image(np.asarray(img), item.intrinsics[k], dist))
                    out[k] = resize_center_crop_image(img, height, width)
            except (OSError, ValueError) as e:
                raise VideoReadError(f"{files[i]}: unreadable image ({e})") from None
        return out, size
    path = Path(item.video)
    stride = int(frames[1] - frames[0]) if len(frames) > 1 else 1
    convert, seen = frame_converter(height, width, resize), []

    def sized(frame, rotation: int):
        if not seen:  # upright size: a quarter turn swaps width and height
            seen.append((frame.height, frame.width) if (rotation // 90) % 2 else (frame.width, frame.height))
        return convert(frame, rotation)

    v = stream_video(path, len(frames), start=int(frames[0]), stride=stride, convert=sized,
                     count_frames=item.expected_video_frames is not None)
    if item.expected_video_frames is not None and v.total_frames != item.expected_video_frames:
        raise VideoReadError(f"{path}: {v.total_frames} video frames but {item.expected_video_frames} poses "
                             f"(frame-count mismatch)")
    return v.frames, (seen[0] if seen else None)
