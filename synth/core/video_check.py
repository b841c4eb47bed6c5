"""Checking written videos: frame counts (resume decides a scene is complete) and full decodes (``synth validate
--decode``). Reading itself lives in :mod:`synth.core.video_io`."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence

from .layout import VIDEOS_DIR
from .video_io import VideoReadError, probe_video

__all__ = ["video_problem", "scene_videos_intact", "decode_video_problems"]


def video_problem(path: Path, frames: int) -> Optional[str]:
    """Why the video at ``path`` is not a readable video of ``frames`` frames (None if it is). Demuxes every packet
    (no decoding): a truncated file, a missing index (``moov``) or missing frames are found in milliseconds."""
    try:
        info = probe_video(path)
    except VideoReadError as e:
        return str(e)
    if info.frames != frames:
        return f"{path}: {info.frames} frames; expected {frames}"
    return None


def scene_videos_intact(scene_dir: Path, cameras: Sequence[str], frames: int) -> bool:
    """True if ``<scene_dir>/videos/<camera>.mp4`` exists and holds ``frames`` frames for every camera.

    Used when a resumed render decides whether a finished scene is complete: a video truncated after the scene was
    written (a full disk, a copy cut short) makes the scene render again instead of being skipped.
    """
    vdir = Path(scene_dir) / VIDEOS_DIR
    return all(video_problem(vdir / f"{cam}.mp4", frames) is None for cam in cameras)


def decode_video_problems(path: Path, expected_frames: Optional[int] = None, limit: int = 5) -> List[str]:
    """Decode every frame of a video with FFmpeg's error detection on (``err_detect=explode``); return what is
    wrong (empty if nothing): decoder errors with the frame index reached, frames the decoder flags corrupt, and
    fewer decoded frames than ``expected_frames``. At most ``limit`` problems per video."""
    import av

    decoded = 0
    problems: List[str] = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.codec_context.options = {"err_detect": "crccheck+bitstream+buffer+explode"}
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as e:
                    problems.append(f"frame {decoded}: garbled (decoder error: {e})")
                    if len(problems) >= limit:
                        break
                    continue
                for fr in frames:
                    if getattr(fr, "corrupt", False):
                        problems.append(f"frame {decoded}: garbled (flagged corrupt by the decoder)")
                    decoded += 1
    except Exception as e:  # noqa: BLE001 - av raises many types; all mean the payload is unreadable
        problems.append(f"decoding stopped at frame {decoded} ({type(e).__name__}: {e})")
    if not problems and expected_frames is not None and decoded != expected_frames:
        problems.append(f"{decoded} frames decoded; expected {expected_frames} (garbled or missing frames)")
    return problems[:limit]
