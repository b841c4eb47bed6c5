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


def load_frames(item: VideoItem, height: int, width: int, resize: str = "exact") -> np.ndarray:
    """The item's window frames, upright, resized and centre-cropped like upstream: ``[F, height, width, 3]``
    uint8.

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
        for k, i in enumerate(frames):
            try:
                with Image.open(files[i]) as img:
                    out[k] = resize_center_crop_image(img.convert("RGB"), height, width)
            except (OSError, ValueError) as e:
                raise VideoReadError(f"{files[i]}: unreadable image ({e})") from None
        return out
    path = Path(item.video)
    stride = int(frames[1] - frames[0]) if len(frames) > 1 else 1
    v = stream_video(path, len(frames), start=int(frames[0]), stride=stride,
                     convert=frame_converter(height, width, resize),
                     count_frames=item.expected_video_frames is not None)
    if item.expected_video_frames is not None and v.total_frames != item.expected_video_frames:
        raise VideoReadError(f"{path}: {v.total_frames} video frames but {item.expected_video_frames} poses "
                             f"(frame-count mismatch)")
    return v.frames
