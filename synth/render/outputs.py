"""Scene output writers: videos, optional depth, masks and joints (formats documented in ``docs/dataset.md``).

Per scene folder (all optional outputs only when requested)::

    videos/camNN.mp4              H.264, yuv420p, the video fps, exactly `frames` frames
    depth/camNN/FFFFF.png         16-bit PNG, planar depth in millimetres (0 = nothing hit / beyond 65.535 m)
    masks/camNN/FFFFF.png         8-bit PNG, 255 on the character, 0 elsewhere
    joints/joints.npz             names (J,), positions_cm (F, J, 3) Unreal world cm,
                                  uv (C, F, J, 2) pixels (K convention of synth.core.intrinsics), depth_m (C, F, J),
                                  in_frame (C, F, J), visible (C, F, J) (in frame, in front, not occluded)
"""

from __future__ import annotations

import io
import os
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
from PIL import Image

from ..core.atomic import atomic_write_bytes
from ..core.projection import project_points
from ..core.units import CM_PER_M
from ..core.unreal import fmatrix_to_c2w
from ..core.layout import VIDEOS_DIR
from ..core.video_io import VideoWriter
from .backend import CameraCapture

__all__ = ["OutputSpec", "SceneWriter", "expected_files", "OCCLUSION_TOLERANCE_M", "resolve_encode_threads",
           "resolve_flush_threads"]

#: a joint counts as visible if the rendered surface at its pixel is no more than this in front of it (the body's
#: own surface lies in front of its joints)
OCCLUSION_TOLERANCE_M = 0.25


@dataclass(frozen=True)
class OutputSpec:
    depth: bool = False
    masks: bool = False
    joints: bool = False
    crf: int = 18
    preset: str = "veryfast"
    #: H.264 encoder of the videos: ``libx264`` or ``h264_nvenc`` (resolved: never ``auto`` here)
    encoder: str = "libx264"
    #: x264 threads per stream: one is the most CPU-efficient (a scene has 10 streams, and the renderer needs the
    #: remaining cores); 0 lets FFmpeg choose
    encoder_threads: int = 1
    #: threads encoding the scene's streams in parallel (each owns every N-th camera's video and PNGs; PyAV and
    #: zlib release the GIL); 1 = encode in the calling thread, 0 = automatic (:func:`resolve_encode_threads`)
    encode_threads: int = 1
    #: frames each encode thread may hold before ``write_frame`` blocks (bounds memory: a 1280x1280 frame of 10
    #: cameras is 66 MB as the embedded renderer's BGRA read-back)
    encode_queue_frames: int = 4
    #: threads flushing the streams' last frames at the end of a scene (x264 holds back ~11 frames per stream):
    #: 0 = one per core (the renderer is idle then), 1 = serial
    flush_threads: int = 0


def resolve_encode_threads(requested: int, streams: int) -> int:
    """Encode threads for ``streams`` videos: ``requested`` if > 0, else the cores left after the renderer and
    the frame loop (``cpu_count - 2``), at least 1; never more than ``streams``."""
    n = requested if requested > 0 else (os.cpu_count() or 1) - 2
    return int(max(1, min(n, streams)))


def resolve_flush_threads(requested: int, streams: int) -> int:
    """Threads flushing ``streams`` videos at a scene's end: ``requested`` if > 0, else one per core; never more
    than ``streams``."""
    n = requested if requested > 0 else (os.cpu_count() or 1)
    return int(max(1, min(n, streams)))


def expected_files(cameras: Sequence[str], frames: int, spec: OutputSpec) -> List[str]:
    """Relative paths whose presence means the scene's requested outputs are complete."""
    files = [f"{VIDEOS_DIR}/{c}.mp4" for c in cameras]
    if spec.depth:
        files += [f"depth/{c}/{frames - 1:05d}.png" for c in cameras]
    if spec.masks:
        files += [f"masks/{c}/{frames - 1:05d}.png" for c in cameras]
    if spec.joints:
        files.append("joints/joints.npz")
    return files


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


class SceneWriter:
    """Writes one scene's captures into ``scene_dir`` as they arrive (called from the writer thread).

    Args:
        scene_dir: the scene's staging folder.
        cameras: camera names in capture order.
        fmatrices: ``(C, F, 4, 4)`` the written poses (for joint projection).
        K: ``(3, 3)`` intrinsics of every camera and frame, or ``(C, F, 3, 3)`` per camera and frame (zooming
            cameras, ``SceneSpec.camera_intrinsics``).
        fps, width, height, frames: video settings.
        spec: requested outputs.
    """

    def __init__(self, scene_dir: Path, cameras: Sequence[str], fmatrices: np.ndarray, K: np.ndarray, fps: float,
                 width: int, height: int, frames: int, spec: OutputSpec):
        self.dir = Path(scene_dir)
        self.cameras = list(cameras)
        self.spec = spec
        self.frames = frames
        self.K = K
        self.c2w = fmatrix_to_c2w(fmatrices)  # (C, F, 4, 4) metres
        self.videos = {c: VideoWriter(self.dir / VIDEOS_DIR / f"{c}.mp4", fps, width, height, crf=spec.crf,
                                      preset=spec.preset, threads=spec.encoder_threads, encoder=spec.encoder)
                       for c in self.cameras}
        self.threads = resolve_encode_threads(spec.encode_threads, len(self.cameras))
        self._errors: List[BaseException] = []
        self._workers: List[threading.Thread] = []
        self._queues: List["queue.Queue"] = []
        if self.threads > 1:
            for t in range(self.threads):
                q: "queue.Queue" = queue.Queue(maxsize=max(1, spec.encode_queue_frames))
                th = threading.Thread(target=self._encode_loop, args=(q,), name=f"encode{t}", daemon=True)
                th.start()
                self._queues.append(q)
                self._workers.append(th)
        self.joint_names: Optional[List[str]] = None
        self.joints_cm: List[np.ndarray] = []
        self._uv: List[List[np.ndarray]] = [[] for _ in self.cameras]
        self._z: List[List[np.ndarray]] = [[] for _ in self.cameras]
        self._vis: List[List[np.ndarray]] = [[] for _ in self.cameras]
        self._inframe: List[List[np.ndarray]] = [[] for _ in self.cameras]

    def _encode(self, f: int, cam: str, cap: CameraCapture) -> None:
        """Everything written per camera and frame: the video frame, depth and mask PNGs."""
        self.videos[cam].write(cap.rgb)
        if self.spec.depth:
            mm = np.clip(np.round(cap.depth_m * 1000.0), 0, 65535).astype(np.uint16)
            mm[cap.depth_m * 1000.0 > 65535] = 0
            atomic_write_bytes(self.dir / "depth" / cam / f"{f:05d}.png", _png(mm))
        if self.spec.masks:
            atomic_write_bytes(self.dir / "masks" / cam / f"{f:05d}.png", _png(cap.mask.astype(np.uint8) * 255))

    def _encode_loop(self, q: "queue.Queue") -> None:
        while True:
            item = q.get()
            if item is None:
                return
            if self._errors:
                continue  # keep draining so the producer never blocks
            try:
                for f, cam, cap in item:
                    self._encode(f, cam, cap)
            except BaseException as e:  # noqa: BLE001 - re-raised by write_frame / close in the caller's thread
                self._errors.append(e)

    def _check(self) -> None:
        if self._errors:
            raise self._errors[0]

    def _stop_workers(self) -> None:
        for q in self._queues:
            q.put(None)
        for th in self._workers:
            th.join()
        self._queues, self._workers = [], []

    def write_frame(self, f: int, captures: Sequence[CameraCapture], joints: Optional[tuple] = None) -> None:
        """Write frame ``f`` of every camera (``captures`` in camera order) and record its joints.

        With ``encode_threads > 1`` the frame is handed to the encode threads (blocking while their bounded
        queues are full) and errors of earlier frames are raised here or by :meth:`close`."""
        h, w = captures[0].rgb.shape[:2]
        if self._queues:
            self._check()
            jobs: List[list] = [[] for _ in self._queues]
            for ci, (cam, cap) in enumerate(zip(self.cameras, captures)):
                jobs[ci % len(self._queues)].append((f, cam, cap))
            for q, job in zip(self._queues, jobs):
                if job:
                    q.put(job)
        for ci, (cam, cap) in enumerate(zip(self.cameras, captures)):
            if not self._queues:
                self._encode(f, cam, cap)
            if self.spec.joints and joints is not None:
                names, pos_cm = joints
                K = self.K if np.ndim(self.K) == 2 else self.K[ci, f]
                uv, z = project_points(K, self.c2w[ci, f], pos_cm / CM_PER_M)
                inframe = (z > 0) & np.all((uv >= 0) & (uv < [w, h]), axis=1)
                vis = inframe.copy()
                if cap.depth_m is not None:
                    px = np.clip(np.floor(uv[inframe]).astype(int), 0, [w - 1, h - 1])
                    surf = cap.depth_m[px[:, 1], px[:, 0]]
                    vis[inframe] = (surf == 0) | (surf >= z[inframe] - OCCLUSION_TOLERANCE_M)
                self._uv[ci].append(uv)
                self._z[ci].append(z)
                self._vis[ci].append(vis)
                self._inframe[ci].append(inframe)
        if self.spec.joints and joints is not None:
            self.joint_names = list(joints[0])
            self.joints_cm.append(np.asarray(joints[1], float))

    def close(self) -> None:
        """Finish every output. The videos are flushed in parallel (``spec.flush_threads``): x264 holds back its
        last ~11 frames per stream (lookahead and B-frames) until the flush, and the renderer is idle by now."""
        self._stop_workers()
        self._check()
        n = resolve_flush_threads(self.spec.flush_threads, len(self.videos))
        if n > 1:
            with ThreadPoolExecutor(n, thread_name_prefix="flush") as pool:
                list(pool.map(VideoWriter.close, self.videos.values()))  # PyAV releases the GIL; first error raised
        else:
            for v in self.videos.values():
                v.close()
        if self.spec.joints:
            buf = io.BytesIO()
            np.savez_compressed(buf, names=np.array(self.joint_names or []),
                                positions_cm=np.stack(self.joints_cm).astype(np.float32),
                                uv=np.stack([np.stack(u) for u in self._uv]).astype(np.float32),
                                depth_m=np.stack([np.stack(z) for z in self._z]).astype(np.float32),
                                in_frame=np.stack([np.stack(v) for v in self._inframe]),
                                visible=np.stack([np.stack(v) for v in self._vis]))
            atomic_write_bytes(self.dir / "joints" / "joints.npz", buf.getvalue())

    def abort(self) -> None:
        self._errors.append(RuntimeError("aborted"))  # workers drop what is still queued
        self._stop_workers()
        for v in self.videos.values():
            v.abort()
