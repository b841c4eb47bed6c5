"""Readers of camera-annotated video datasets -> :class:`VideoItem` records with OpenCV c2w poses.

Every reader is pure (no model, no video decoding) and returns ``(items, problems)``: broken samples are reported
with their path and reason, never silently dropped. Conventions (REFERENCE §1, §3):

=============  ===========================================  =========================  ======================
kind           poses on disk                                scale                      poses per
=============  ===========================================  =========================  ======================
multicam       Unreal FMatrix strings -> upstream c2w        metric (cm -> m)           video frame
realcam-vid    w2c 4x4 OpenCV (npz)                          x ``align_factor``         video frame
spatialvid     w2c [t, q_xyzw] OpenCV, ~5 fps subset         per-clip scale file        interpolated (SE(3))
re10k          w2c 3x4 rows in txt, OpenCV                   relative / scale file      video frame
dl3dv          c2w 4x4 OpenGL (transforms.json)              relative / scale file      image
=============  ===========================================  =========================  ======================

Scale files (``metric_scale.json``, written by ``recam align``) multiply translations to metres.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from synth.core.geometry import (SENSOR_MM, interpolate_c2w, invert_rigid, opengl_to_opencv_c2w, w2c_quat_to_c2w)
from synth.core.multicam_format import DatasetFormatError, iter_scene_dirs, load_camera_extrinsics, read_metadata_csv
from synth.core.layout import CAMERA_JSON, parse_lens_dir_name

__all__ = ["VideoItem", "Problem", "KINDS", "enumerate_items", "SCALE_FILE", "read_scale_file", "safe_join"]

KINDS = ("multicam", "realcam-vid", "spatialvid", "re10k", "dl3dv")
SCALE_FILE = "metric_scale.json"
IMAGE_EXT = (".png", ".jpg", ".jpeg", ".webp")


@dataclass(frozen=True)
class Problem:
    """A broken sample: where and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class VideoItem:
    """One clip window to train on.

    Attributes:
        kind, key: dataset kind and a unique key (relative path-like).
        video: an mp4 file, or a list of image files (frame sequences).
        frames: ``(F,)`` source frame indices used (start + k * stride).
        caption: text.
        c2w: ``(F, 4, 4)`` OpenCV c2w at ``frames``; translations in metres when ``metric_scale`` is set (already
            applied), else in the dataset's relative unit.
        metric_scale: factor applied to reach metres (1.0 for MultiCamVideo), or None (relative scale).
        k_norm: ``(4,)`` normalised intrinsics ``[fx/W, fy/H, cx/W, cy/H]`` (None if unknown).
        group, camera: scene and camera (MultiCamVideo pairs); group = key for single-view kinds.
        expected_video_frames: the number of frames the video must have (pose count), checked when decoding.
        dyn_mask: SpatialVID ``dyn_masks.npz`` path, or None.
    """

    kind: str
    key: str
    video: object
    frames: np.ndarray
    caption: str
    c2w: np.ndarray
    metric_scale: Optional[float]
    k_norm: Optional[np.ndarray] = None
    group: str = ""
    camera: str = ""
    expected_video_frames: Optional[int] = None
    dyn_mask: Optional[Path] = None
    extra: Dict = field(default_factory=dict)

    @property
    def metric(self) -> bool:
        return self.metric_scale is not None


def safe_join(root: Path, rel: str) -> Optional[Path]:
    """``root / rel`` if it stays inside ``root`` (no absolute paths, no ``..`` escapes), else None."""
    if not rel or Path(rel).is_absolute():
        return None
    p = (Path(root) / rel).resolve()
    try:
        p.relative_to(Path(root).resolve())
    except ValueError:
        return None
    return p


def read_scale_file(path: Path) -> Optional[float]:
    """The ``scale`` of a ``metric_scale.json`` (``recam align``), or None if there is no such file.

    Raises:
        DatasetFormatError: unreadable file or a non-positive / non-finite scale.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        s = float(json.loads(path.read_text())["scale"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise DatasetFormatError(f"{path}: unreadable scale file ({e}); expected {{\"scale\": <float>, ...}}") \
            from None
    if not (math.isfinite(s) and s > 0):
        raise DatasetFormatError(f"{path}: scale must be a positive finite number, got {s}")
    return s


def _window(num_frames: int, stride: int, start: int = 0) -> np.ndarray:
    return start + stride * np.arange(num_frames)


def _finite_poses(c2w: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(c2w)))


# ------------------------------------------------------------------------------------------------------------------
# MultiCamVideo (upstream's and ours)
# ------------------------------------------------------------------------------------------------------------------


def _multicam(root: Path, num_frames: int, stride: int, **_) -> Tuple[List[VideoItem], List[Problem]]:
    items, problems = [], []
    meta_path = root / "metadata.csv"
    if meta_path.exists():
        rows = [(r.file_name, r.text) for r in read_metadata_csv(meta_path)]
    else:  # the official release ships no captions: every camera video of every scene, empty caption
        rows = [(f"{d.relative_to(root / 'train').as_posix()}/videos/{c}.mp4", "")
                for d in iter_scene_dirs(root) for c in sorted(p.stem for p in (d / "videos").glob("cam*.mp4"))]
    cameras: Dict[Path, object] = {}
    for rel, text in rows:
        video = safe_join(root / "train", rel)
        where = f"{meta_path}: {rel}"
        parts = Path(rel).parts
        if video is None or len(parts) < 3 or parts[-2] != "videos":
            problems.append(Problem(where, "file_name escapes the dataset root or is not <lens>/<scene>/videos/camNN.mp4"))
            continue
        if not video.is_file():
            problems.append(Problem(str(video), "video file missing"))
            continue
        scene = video.parent.parent
        if scene not in cameras:
            try:
                cameras[scene] = load_camera_extrinsics(scene / CAMERA_JSON)
            except DatasetFormatError as e:
                cameras[scene] = e
        cams = cameras[scene]
        if isinstance(cams, DatasetFormatError):
            problems.append(Problem(str(scene / CAMERA_JSON), str(cams).split(": ", 1)[-1]))
            continue
        cam = video.stem
        if cam not in cams:
            problems.append(Problem(str(scene / CAMERA_JSON), f"no camera {cam}"))
            continue
        frames = _window(num_frames, stride)
        if len(cams[cam]) <= frames[-1]:
            problems.append(Problem(str(scene / CAMERA_JSON), f"{cam} has {len(cams[cam])} frames; "
                                                               f"{frames[-1] + 1} needed"))
            continue
        c2w = cams[cam][frames]
        if not _finite_poses(c2w):
            problems.append(Problem(str(scene / CAMERA_JSON), f"{cam}: non-finite pose"))
            continue
        lens = parse_lens_dir_name(scene.parent.name)  # square videos and sensor: fx/W = fy/H = f / sensor
        k_norm = None if lens is None else np.array([lens[0] / SENSOR_MM, lens[0] / SENSOR_MM, 0.5, 0.5])
        group = scene.relative_to(root / "train").as_posix()
        items.append(VideoItem("multicam", f"{group}/{cam}", video, frames, text, c2w, 1.0, k_norm, group, cam,
                               expected_video_frames=len(cams[cam])))
    return items, problems


# ------------------------------------------------------------------------------------------------------------------
# RealCam-Vid
# ------------------------------------------------------------------------------------------------------------------


def _realcam(root: Path, num_frames: int, stride: int, index: Optional[str] = None, caption: str = "long",
             **_) -> Tuple[List[VideoItem], List[Problem]]:
    items, problems = [], []
    index_path = Path(index) if index else root / "RealCam-Vid_train.npz"
    if not index_path.is_absolute() and not index_path.exists():
        index_path = root / index_path
    try:
        records = np.load(index_path, allow_pickle=True)["arr_0"]
    except FileNotFoundError:
        raise DatasetFormatError(f"{index_path}: RealCam-Vid metadata not found (expected RealCam-Vid_train.npz "
                                 f"with arr_0 = array of dicts)") from None
    except (KeyError, ValueError, OSError) as e:
        raise DatasetFormatError(f"{index_path}: unreadable RealCam-Vid metadata ({e})") from None
    frames = _window(num_frames, stride)
    for i, rec in enumerate(records):
        where = f"{index_path}[{i}]"
        try:
            rel = str(rec["video_path"])
            w2c = np.asarray(rec["camera_extrinsics"], dtype=np.float64)
            align = float(rec["align_factor"])
            k_norm = np.asarray(rec["camera_intrinsics"], dtype=np.float64).reshape(4)
            text = str(rec["long_caption" if caption == "long" else "short_caption"])
        except (KeyError, TypeError, ValueError) as e:
            problems.append(Problem(where, f"malformed record ({e})"))
            continue
        video = safe_join(root, rel)
        if video is None:
            problems.append(Problem(where, f"video_path {rel!r} escapes the dataset root"))
            continue
        if not video.is_file():
            problems.append(Problem(str(video), "video file missing"))
            continue
        if w2c.ndim != 3 or w2c.shape[1:] != (4, 4):
            problems.append(Problem(where, f"camera_extrinsics must be (F, 4, 4), got {w2c.shape}"))
            continue
        if len(w2c) <= frames[-1]:
            problems.append(Problem(where, f"{len(w2c)} poses; the window needs {frames[-1] + 1}"))
            continue
        if not (_finite_poses(w2c) and math.isfinite(align) and align > 0 and np.all(np.isfinite(k_norm))):
            problems.append(Problem(where, "non-finite pose, intrinsics or align_factor"))
            continue
        c2w = invert_rigid(w2c[frames])
        c2w[:, :3, 3] *= align  # metric (RealCam-Vid: translation x align_factor)
        items.append(VideoItem("realcam-vid", rel, video, frames, text, c2w, align, k_norm, rel,
                               expected_video_frames=len(w2c)))
    return items, problems


# ------------------------------------------------------------------------------------------------------------------
# SpatialVID(-HQ)
# ------------------------------------------------------------------------------------------------------------------


def _spatialvid_caption(clip: Path) -> str:
    p = clip / "caption.json"
    if not p.exists():
        return ""
    data = json.loads(p.read_text())
    if isinstance(data, str):
        return data
    for k in ("caption", "long_caption", "SceneDescription", "text"):
        if isinstance(data, dict) and isinstance(data.get(k), str):
            return data[k]
    return ""


def _spatialvid(root: Path, num_frames: int, stride: int, require_metric: bool = False, **_):
    items, problems = [], []
    ann_root = root / "annotations"
    if not ann_root.is_dir():
        raise DatasetFormatError(f"{ann_root}: missing (expected annotations/group_XXXX/<id>/poses.npy ...)")
    frames = _window(num_frames, stride)
    for clip in sorted(p for g in sorted(ann_root.iterdir()) if g.is_dir() for p in sorted(g.iterdir()) if p.is_dir()):
        key = clip.relative_to(ann_root).as_posix()
        video = root / "videos" / f"{key}.mp4"
        try:
            poses = np.load(clip / "poses.npy")
            intr = np.load(clip / "intrinsics.npy")
            idx_lines = [ln.split() for ln in (clip / "indexes.txt").read_text().splitlines() if ln.strip()]
            idx = np.array([int(t[1]) if len(t) > 1 else int(t[0]) for t in idx_lines])
        except (FileNotFoundError, ValueError, IndexError) as e:
            problems.append(Problem(str(clip), f"unreadable annotation ({e})"))
            continue
        if not video.is_file():
            problems.append(Problem(str(video), "video file missing"))
            continue
        if len(poses) != len(idx) or len(intr) != len(idx) or len(idx) == 0:
            problems.append(Problem(str(clip), f"{len(poses)} poses, {len(intr)} intrinsics, {len(idx)} indexes: "
                                               f"counts differ"))
            continue
        if not (_finite_poses(poses) and np.all(np.isfinite(intr))):
            problems.append(Problem(str(clip / "poses.npy"), "non-finite pose or intrinsics"))
            continue
        if frames[-1] > idx[-1] or frames[0] < idx[0]:
            problems.append(Problem(str(clip / "indexes.txt"), f"annotated frames {idx[0]}..{idx[-1]} do not cover "
                                                               f"the window {frames[0]}..{frames[-1]}"))
            continue
        try:
            c2w = interpolate_c2w(idx, w2c_quat_to_c2w(poses), frames)
            scale = read_scale_file(clip / SCALE_FILE)
        except (ValueError, DatasetFormatError) as e:
            problems.append(Problem(str(clip), str(e)))
            continue
        if scale is None and require_metric:
            problems.append(Problem(str(clip / SCALE_FILE), "no metric scale (run `recam align`); SpatialVID poses "
                                                            "are not metric"))
            continue
        if scale is not None:
            c2w[:, :3, 3] *= scale
        k = intr[np.searchsorted(idx, frames[0], side="right") - 1]
        dyn = clip / "dyn_masks.npz"
        items.append(VideoItem("spatialvid", key, video, frames, _spatialvid_caption(clip), c2w, scale,
                               np.asarray(k, float), key, dyn_mask=dyn if dyn.exists() else None,
                               extra={"annotated_frames": idx}))
    return items, problems


# ------------------------------------------------------------------------------------------------------------------
# RealEstate10K and DL3DV
# ------------------------------------------------------------------------------------------------------------------


def _frames_source(root: Path, key: str, n: int) -> Tuple[object, Optional[str]]:
    """A clip's frames: ``videos/<key>.mp4`` or an image folder ``frames/<key>/``."""
    video = root / "videos" / f"{key}.mp4"
    if video.is_file():
        return video, None
    d = root / "frames" / key
    imgs = sorted(p for p in d.glob("*") if p.suffix.lower() in IMAGE_EXT) if d.is_dir() else []
    if imgs:
        if len(imgs) != n:
            return None, f"{len(imgs)} images in {d} for {n} poses"
        return imgs, None
    return None, f"no video {video} and no frames in {d}"


def _re10k(root: Path, num_frames: int, stride: int, require_metric: bool = False, **_):
    items, problems = [], []
    txts = sorted((root / "poses").glob("*.txt")) if (root / "poses").is_dir() else sorted(root.glob("*.txt"))
    frames = _window(num_frames, stride)
    for txt in txts:
        lines = [ln for ln in txt.read_text().splitlines() if ln.strip()]
        bad = [(n + 2, len(ln.split())) for n, ln in enumerate(lines[1:]) if len(ln.split()) != 19]
        if bad or len(lines) < 2:
            where = f"line {bad[0][0]} has {bad[0][1]} numbers" if bad else "no frame lines"
            problems.append(Problem(str(txt), f"{where}; expected 19 numbers per frame line (timestamp fx fy cx cy "
                                              f"0 0 + 3x4 w2c)"))
            continue
        try:
            rows = np.array([[float(v) for v in ln.split()] for ln in lines[1:]])
        except ValueError as e:
            problems.append(Problem(str(txt), f"unreadable pose line ({e})"))
            continue
        if len(rows) <= frames[-1]:
            problems.append(Problem(str(txt), f"{len(rows)} frames; the window needs {frames[-1] + 1}"))
            continue
        w2c = np.tile(np.eye(4), (len(rows), 1, 1))
        w2c[:, :3, :] = rows[:, 7:19].reshape(-1, 3, 4)
        if not _finite_poses(w2c):
            problems.append(Problem(str(txt), "non-finite pose"))
            continue
        src, err = _frames_source(root, txt.stem, len(rows))
        if err:
            problems.append(Problem(str(txt), err))
            continue
        try:
            scale = read_scale_file(txt.with_suffix(".scale.json"))
        except DatasetFormatError as e:
            problems.append(Problem(str(txt), str(e)))
            continue
        if scale is None and require_metric:
            problems.append(Problem(str(txt), "no metric scale (run `recam align`)"))
            continue
        c2w = invert_rigid(w2c[frames])
        if scale is not None:
            c2w[:, :3, 3] *= scale
        items.append(VideoItem("re10k", txt.stem, src, frames, "", c2w, scale, rows[frames[0], 1:5], txt.stem,
                               expected_video_frames=len(rows), extra={"url": lines[0].strip()}))
    return items, problems


def _dl3dv(root: Path, num_frames: int, stride: int, require_metric: bool = False, **_):
    items, problems = [], []
    frames = _window(num_frames, stride)
    for tf in sorted(root.rglob("transforms.json")):
        scene = tf.parent
        key = scene.relative_to(root).as_posix()
        try:
            meta = json.loads(tf.read_text())
            fr = meta["frames"]
            files = [scene / f["file_path"] for f in fr]
            c2w_gl = np.array([f["transform_matrix"] for f in fr], dtype=np.float64)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            problems.append(Problem(str(tf), f"unreadable transforms.json ({e})"))
            continue
        if any(safe_join(scene, f["file_path"]) is None for f in fr):
            problems.append(Problem(str(tf), "a file_path escapes the scene folder"))
            continue
        order = np.argsort([p.name for p in files], kind="stable")
        files = [files[i] for i in order]
        c2w_gl = c2w_gl[order]
        if c2w_gl.ndim != 3 or c2w_gl.shape[1:] != (4, 4) or not _finite_poses(c2w_gl):
            problems.append(Problem(str(tf), "transform_matrix must be finite 4x4"))
            continue
        if len(files) <= frames[-1]:
            problems.append(Problem(str(tf), f"{len(files)} frames; the window needs {frames[-1] + 1}"))
            continue
        missing = [str(p) for p in (files[i] for i in frames) if not p.is_file()]
        if missing:
            problems.append(Problem(missing[0], "image file missing"))
            continue
        try:
            scale = read_scale_file(scene / SCALE_FILE)
        except DatasetFormatError as e:
            problems.append(Problem(str(tf), str(e)))
            continue
        if scale is None and require_metric:
            problems.append(Problem(str(tf), "no metric scale (run `recam align`)"))
            continue
        c2w = opengl_to_opencv_c2w(c2w_gl[frames])
        if scale is not None:
            c2w[:, :3, 3] *= scale
        w, h = meta.get("w"), meta.get("h")
        k_norm = (np.array([meta["fl_x"] / w, meta["fl_y"] / h, meta["cx"] / w, meta["cy"] / h])
                  if all(k in meta for k in ("fl_x", "fl_y", "cx", "cy", "w", "h")) else None)
        items.append(VideoItem("dl3dv", key, files, frames, "", c2w, scale, k_norm, key,
                               expected_video_frames=len(files)))
    return items, problems


_READERS = {"multicam": _multicam, "realcam-vid": _realcam, "spatialvid": _spatialvid, "re10k": _re10k,
            "dl3dv": _dl3dv}


def enumerate_items(kind: str, root: Path | str, num_frames: int, stride: int = 1,
                    **options) -> Tuple[List[VideoItem], List[Problem]]:
    """All usable clip windows of a dataset, and the broken ones with their reasons.

    Options: ``index`` (RealCam-Vid npz), ``caption`` (``long`` | ``short``, RealCam-Vid), ``require_metric``
    (drop clips without a metric scale).

    Raises:
        ValueError: unknown kind. DatasetFormatError: the dataset's root-level metadata is unreadable.
    """
    if kind not in _READERS:
        raise ValueError(f"unknown dataset kind {kind!r}; expected one of {KINDS}")
    if not Path(root).is_dir():
        raise DatasetFormatError(f"{root}: dataset folder not found")
    return _READERS[kind](Path(root).resolve(), num_frames, stride, **options)
