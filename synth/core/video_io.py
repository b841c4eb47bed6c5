"""Video reading and writing through PyAV (FFmpeg): H.264 / yuv420p mp4 out, RGB uint8 frames in.

One place for video I/O, used by the renderers' writers, ``synth validate`` and ``recam``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Optional, Tuple

import numpy as np

from .atomic import atomic_output_path

__all__ = ["VideoWriter", "av_frame", "write_video", "read_video", "stream_video", "StreamedVideo", "upright_rgb",
           "probe_video", "VideoInfo", "VideoReadError", "ENCODERS", "encoder_usable", "resolve_encoder",
           "encoder_options"]

#: H.264 encoders a writer can use (``auto``: :func:`resolve_encoder`)
ENCODERS = ("auto", "libx264", "h264_nvenc")
_USABLE: dict = {}


def encoder_usable(name: str) -> Tuple[bool, str]:
    """Whether this process's FFmpeg (PyAV) can encode H.264 with ``name`` (``libx264`` / ``h264_nvenc``), and
    why not. NVENC is listed by most FFmpeg builds whether or not an NVIDIA GPU and driver are there, so it is
    probed by encoding two 256 x 256 frames in memory (once per process, cached)."""
    if name not in _USABLE:
        import io

        import av

        if name not in av.codecs_available:
            _USABLE[name] = (False, f"{name} is not in this FFmpeg (PyAV {av.__version__})")
        else:
            try:
                with av.open(io.BytesIO(), mode="w", format="mp4") as c:
                    st = c.add_stream(name, rate=15)
                    st.width, st.height, st.pix_fmt = 256, 256, "yuv420p"
                    for _ in range(2):
                        for p in st.encode(av.VideoFrame.from_ndarray(np.zeros((256, 256, 3), np.uint8),
                                                                      format="rgb24")):
                            c.mux(p)
                    for p in st.encode():
                        c.mux(p)
                _USABLE[name] = (True, "")
            except Exception as e:  # noqa: BLE001 - av raises many types; no device / driver / session
                _USABLE[name] = (False, f"{name} cannot open here ({type(e).__name__}: {e})")
    return _USABLE[name]


def resolve_encoder(name: str) -> str:
    """``auto`` -> ``h264_nvenc`` when PyAV can use it here (:func:`encoder_usable`), else ``libx264``; a named
    encoder is returned as is after checking it is usable.

    Raises:
        ValueError: an unknown name, or a named encoder this machine cannot use (the message says why).
    """
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; expected one of {', '.join(ENCODERS)}")
    if name == "auto":
        return "h264_nvenc" if encoder_usable("h264_nvenc")[0] else "libx264"
    ok, why = encoder_usable(name)
    if not ok:
        raise ValueError(f"{why}; use --encoder libx264 or auto")
    return name


def encoder_options(encoder: str, crf: int, preset: str) -> dict:
    """FFmpeg options of ``encoder`` for a quality ``crf`` (x264's scale, 0-51) and an x264 speed ``preset``.

    ``libx264``: ``crf`` and ``preset`` as given. ``h264_nvenc``: variable bit rate at constant quality
    ``cq = crf`` (NVENC's quality scale is close to x264's CRF) and NVENC's middle preset ``p4`` (x264 preset
    names do not apply); decoded NVENC frames are checked against libx264's in ``tests/test_encoder.py``
    (mean absolute difference and PSNR tolerances documented there).
    """
    if encoder == "h264_nvenc":
        return {"rc": "vbr", "cq": str(crf), "preset": "p4", "b": "0"}
    return {"crf": str(crf), "preset": preset}


class VideoReadError(ValueError):
    """A video cannot be read, or holds fewer frames than needed; the message names the file."""


@dataclass(frozen=True)
class VideoInfo:
    frames: int
    fps: float
    width: int
    height: int
    codec: str
    pix_fmt: str


def _rate(fps: float) -> Fraction:
    return Fraction(fps).limit_denominator(1001)


def av_frame(rgb: np.ndarray):
    """An ``av.VideoFrame`` holding the ``(H, W, 3)`` uint8 RGB image ``rgb``.

    When ``rgb`` is the RGB view ``bgra[:, :, 2::-1]`` of a ``(H, W, 4)`` uint8 BGRA array with contiguous rows (what
    the embedded renderer's read-back gives), the frame wraps that BGRA memory without a copy (format ``bgra``; the
    alpha byte is ignored by the conversion to YUV, and swscale's BGRA and RGB24 readers compute the same YUV);
    otherwise the pixels are copied into an ``rgb24`` frame. The array must stay unchanged until the frame is encoded.
    """
    import av

    base = rgb.base
    if (isinstance(base, np.ndarray) and base.dtype == np.uint8 and base.shape == rgb.shape[:2] + (4,)
            and base.strides[0] > 0 and base.strides[1:] == (4, 1) and rgb.strides == (base.strides[0], 4, -1)
            and rgb.__array_interface__["data"][0] == base.__array_interface__["data"][0] + 2):
        return av.VideoFrame.from_numpy_buffer(base, format="bgra")
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")


class VideoWriter:
    """Stream RGB frames into an H.264 mp4 (yuv420p), written to a temporary file and renamed on :meth:`close`.

    Args:
        path: destination ``.mp4``.
        fps: frame rate (Hz).
        width, height: frame size in pixels (even).
        crf: x264 constant rate factor (lower = better; 18 is visually lossless); NVENC's ``cq``.
        preset: x264 speed preset (ignored by NVENC: :func:`encoder_options`).
        threads: encoder threads (0 = FFmpeg's choice).
        encoder: ``libx264`` (default), ``h264_nvenc`` or ``auto`` (:func:`resolve_encoder`).

    Frames must be ``(height, width, 3)`` uint8. Nothing appears under ``path`` unless :meth:`close` succeeds;
    :meth:`abort` (or an exception inside a ``with`` block) removes the partial file.
    """

    def __init__(self, path: Path, fps: float, width: int, height: int, crf: int = 18, preset: str = "veryfast",
                 threads: int = 0, encoder: str = "libx264"):
        import av

        encoder = resolve_encoder(encoder) if encoder != "libx264" else encoder
        if width % 2 or height % 2:
            raise ValueError(f"{path}: H.264 yuv420p needs even width and height, got {width}x{height}")
        self.path, self.width, self.height = Path(path), width, height
        self._ctx = atomic_output_path(self.path)
        self._tmp = self._ctx.__enter__()
        self._container = av.open(str(self._tmp), mode="w", format="mp4")
        self.encoder = encoder
        self._stream = self._container.add_stream(encoder, rate=_rate(fps))
        self._stream.width, self._stream.height, self._stream.pix_fmt = width, height, "yuv420p"
        self._stream.options = encoder_options(encoder, crf, preset)
        if encoder == "libx264":
            self._stream.codec_context.thread_count = threads
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        """Encode one ``(height, width, 3)`` uint8 RGB frame (any strides; see :func:`av_frame`)."""
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"{self.path}: frame must be ({self.height}, {self.width}, 3) uint8, got "
                             f"{frame.shape} {frame.dtype}")
        for packet in self._stream.encode(av_frame(frame)):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> Path:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._ctx.__exit__(None, None, None)
        return self.path

    def abort(self) -> None:
        try:
            self._container.close()
        except Exception:  # noqa: BLE001 - the file is discarded anyway
            pass
        self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_video(path: Path, frames: Iterable[np.ndarray], fps: float, crf: int = 18, preset: str = "veryfast",
                encoder: str = "libx264") -> Path:
    """Write RGB uint8 frames ``(H, W, 3)`` to an H.264 mp4 atomically (``encoder``: see :class:`VideoWriter`)."""
    it = iter(frames)
    first = next(it)
    with VideoWriter(path, fps, first.shape[1], first.shape[0], crf=crf, preset=preset, encoder=encoder) as w:
        w.write(first)
        for f in it:
            w.write(f)
    return Path(path)


def probe_video(path: Path) -> VideoInfo:
    """Frame count (by demuxing every packet), frame rate, size, codec and pixel format.

    ``width`` / ``height`` are the coded size; a phone video's display rotation (``rotation``, degrees
    counter-clockwise, from the stream's display matrix) is what :func:`read_video` applies to return frames
    upright.

    Raises:
        VideoReadError: missing, truncated or not a video.
    """
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise _NoVideo()
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or Fraction(0)
            frames = sum(1 for p in container.demux(stream) if p.size)
            cc = stream.codec_context
            return VideoInfo(frames, float(rate), cc.width, cc.height, cc.name, str(cc.format.name if cc.format else ""))
    except _NoVideo:
        raise VideoReadError(f"{path}: no video stream") from None
    except Exception as e:  # av raises many error types (InvalidDataError, EOFError, OSError ...)
        raise VideoReadError(f"{path}: unreadable video ({type(e).__name__}: {e})") from None


class _NoVideo(Exception):
    pass


def upright_rgb(frame, rotation: int) -> np.ndarray:
    """A decoded frame as RGB uint8 ``(H, W, 3)``, turned upright by its display rotation (``rotation`` degrees
    counter-clockwise, :attr:`av.VideoFrame.rotation`), as FFmpeg's autorotate (and so upstream's imageio) does."""
    rgb = frame.to_ndarray(format="rgb24")
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, k)) if k else rgb


#: ``convert(frame: av.VideoFrame, rotation_deg: int) -> (h, w, 3) uint8`` applied to each wanted frame
FrameConvert = Callable[[object, int], np.ndarray]


@dataclass
class StreamedVideo:
    """What :func:`stream_video` returns.

    Attributes:
        frames: ``(N, h, w, 3)`` uint8, the converted frames in window order.
        fps: the stream's frame rate (Hz).
        total_frames: every frame of the file (counted in the same pass), or None if not asked for.
        rotation: display rotation applied by the default conversion (degrees counter-clockwise).
    """

    frames: np.ndarray
    fps: float
    total_frames: Optional[int]
    rotation: int


def stream_video(path: Path, num_frames: Optional[int] = None, start: int = 0, stride: int = 1,
                 convert: Optional[FrameConvert] = None, count_frames: bool = False) -> StreamedVideo:
    """Decode frames ``start, start + stride, ...`` (``num_frames`` of them; all when None) in one pass, each
    converted as it is decoded and written into one preallocated array (no list of full-size frames).

    Args:
        convert: per-frame conversion (e.g. resize + crop straight from the decoded frame); default
            :func:`upright_rgb`. Every converted frame must have the shape of the first.
        count_frames: also count the file's frames: the rest of the file is demuxed without decoding, in the
            same pass (for checking a pose count against the video).

    Raises:
        VideoReadError: unreadable file, fewer frames than requested (the message says how many it has), or
            frames of changing size.
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise VideoReadError(f"{path}: file not found")
    convert = convert or upright_rgb
    out: Optional[np.ndarray] = None
    chunks = []  # num_frames None: frames are appended (count unknown up front)
    got, index, total, rotation = 0, 0, 0, 0
    last = None if num_frames is None else start + (num_frames - 1) * stride
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError(f"{path}: no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            for packet in container.demux(stream):
                if packet.size:
                    total += 1
                if last is not None and index > last:
                    if not count_frames:
                        break
                    continue  # counting only: no decoding
                for frame in packet.decode():
                    i, index = index, index + 1
                    if i < start or (i - start) % stride or (last is not None and i > last):
                        continue
                    rotation = int(round(frame.rotation or 0))
                    img = convert(frame, rotation)
                    if num_frames is None:
                        chunks.append(img)
                    else:
                        if out is None:
                            out = np.empty((num_frames,) + img.shape, img.dtype)
                        elif img.shape != out.shape[1:]:
                            raise VideoReadError(f"{path}: frame {i} is {img.shape[1]}x{img.shape[0]}, frame "
                                                 f"{start} was {out.shape[2]}x{out.shape[1]}")
                        out[got] = img
                    got += 1
    except VideoReadError:
        raise
    except Exception as e:
        raise VideoReadError(f"{path}: unreadable video ({type(e).__name__}: {e})") from None
    if num_frames is not None and got < num_frames:
        raise VideoReadError(f"{path}: needs {num_frames} frames from frame {start} with stride {stride} "
                             f"(up to frame {start + (num_frames - 1) * stride}); it has {got} of them")
    if not got:
        raise VideoReadError(f"{path}: no frames")
    if num_frames is None:
        if any(c.shape != chunks[0].shape for c in chunks):
            raise VideoReadError(f"{path}: frames change size")
        out = np.stack(chunks)
    return StreamedVideo(out, fps, total if count_frames else None, rotation)


def read_video(path: Path, num_frames: Optional[int] = None, start: int = 0, stride: int = 1
               ) -> Tuple[np.ndarray, float]:
    """Decode frames ``start, start + stride, ...`` (``num_frames`` of them; all when None) as upright RGB uint8
    (display rotation applied, as FFmpeg / imageio do).

    Returns:
        ``(frames [N, H, W, 3] uint8, fps)``.

    Raises:
        VideoReadError: unreadable file, or fewer frames than requested (the message says how many it has).
    """
    v = stream_video(path, num_frames, start, stride)
    return v.frames, v.fps
