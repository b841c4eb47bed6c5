"""SpatialVID(-HQ) (NJU-3DV/SpatialVID, REFERENCE §3): ``annotations/group_XXXX/<id>/{poses.npy (N, 7) w2c
[t, q_xyzw] OpenCV at a ~5 fps subset, intrinsics.npy (N, 4), indexes.txt, caption.json, dyn_masks.npz}`` and
``videos/group_XXXX/<id>.mp4``. Poses are interpolated to video frames (SE(3)); not metric unless a
``metric_scale.json`` (``recam align``) sits beside the annotations.

``indexes.txt`` maps annotated frame ``i`` (the row of ``poses.npy`` / ``intrinsics.npy`` and the mask ``f_{i}`` of
``dyn_masks.npz``) to its video frame (2nd token; maintainers, issue #19). The dataset card's tree does not list it;
without it nothing says which video frame an annotation belongs to, so such a clip is **refused** with a problem
naming the file (never guessed as "every frame" or "uniform"). Intrinsics (``[fx/W, fy/H, cx/W, cy/H]``) are
interpolated linearly to every window frame (held at the ends).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import List, Tuple

import numpy as np

from synth.core.pose_formats import w2c_quat_to_c2w
from synth.core.poses import Poses
from synth.core.rigid import interpolate_c2w
from synth.core.multicam_format import DatasetFormatError

from .base import SCALE_FILE, DatasetKind, Problem, VideoItem, pose_problem, read_scale_file, register_kind, window


def _caption(clip: Path) -> str:
    p = clip / "caption.json"
    if not p.exists():
        return ""
    data = json.loads(p.read_text(encoding="utf-8"))
    if isinstance(data, str):
        return data
    for k in ("caption", "long_caption", "SceneDescription", "text"):
        if isinstance(data, dict) and isinstance(data.get(k), str):
            return data[k]
    return ""


def _mask_file_problem(path: Path) -> str:
    """Why ``dyn_masks.npz`` cannot be what it should be (an npz with ``shape`` and per-frame CSR members), or ""
    (its contents are decoded, and checked, when the clip is cached)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except (OSError, zipfile.BadZipFile) as e:
        return f"not an .npz archive ({type(e).__name__}: {e})"
    return "" if "shape.npy" in names else "no shape member; expected shape and f_<i>_data / f_<i>_indices / " \
                                            "f_<i>_indptr"


def _numeric_npy(path: Path) -> np.ndarray:
    """A ``.npy`` of real numbers (no pickle), as float64.

    Raises:
        DatasetFormatError: not a file, not a ``.npy``, or not of a numeric dtype (named).
    """
    if not path.is_file():
        raise DatasetFormatError(f"{path}: {'a folder' if path.is_dir() else 'missing'}; expected a .npy file of "
                                 f"numbers")
    try:
        a = np.load(path, allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError, EOFError) as e:
        raise DatasetFormatError(f"{path}: not a readable .npy array ({type(e).__name__}: {e})") from None
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "fiu" or a.dtype.fields is not None:
        raise DatasetFormatError(f"{path}: dtype {getattr(a, 'dtype', type(a).__name__)}; expected a numeric "
                                 f"(float or int) array")
    return np.asarray(a, dtype=np.float64)


def read(root: Path, num_frames: int, stride: int) -> Tuple[List[VideoItem], List[Problem]]:
    items, problems = [], []
    ann_root = root / "annotations"
    if not ann_root.is_dir():
        raise DatasetFormatError(f"{ann_root}: missing (expected annotations/group_XXXX/<id>/poses.npy ...)")
    frames = window(num_frames, stride)
    for clip in sorted(p for g in sorted(ann_root.iterdir()) if g.is_dir() for p in sorted(g.iterdir()) if p.is_dir()):
        key = clip.relative_to(ann_root).as_posix()
        video = root / "videos" / f"{key}.mp4"
        try:
            poses = _numeric_npy(clip / "poses.npy")
            intr = _numeric_npy(clip / "intrinsics.npy")
            if not (clip / "indexes.txt").is_file():
                raise DatasetFormatError(f"{clip / 'indexes.txt'}: missing; it maps each annotated frame (poses.npy "
                                         f"rows, dyn_masks f_<i>) to its video frame, so the clip cannot be placed "
                                         f"on the video and is skipped")
            idx_lines = [ln.split() for ln in (clip / "indexes.txt").read_text().splitlines() if ln.strip()]
            idx = np.array([int(t[1]) if len(t) > 1 else int(t[0]) for t in idx_lines])
            caption = _caption(clip)
        except DatasetFormatError as e:
            problems.append(Problem(str(e).split(": ", 1)[0], str(e).split(": ", 1)[-1]))
            continue
        except (OSError, ValueError, IndexError, UnicodeDecodeError, AttributeError) as e:
            problems.append(Problem(str(clip), f"unreadable annotation ({type(e).__name__}: {e})"))
            continue
        if not video.is_file():
            problems.append(Problem(str(video), "video file missing"))
            continue
        if poses.ndim != 2 or poses.shape[1] != 7 or intr.ndim != 2 or intr.shape[1] != 4:
            problems.append(Problem(str(clip), f"poses.npy must be (N, 7) and intrinsics.npy (N, 4), got "
                                               f"{poses.shape} and {intr.shape}"))
            continue
        if len(poses) != len(idx) or len(intr) != len(idx) or len(idx) == 0:
            problems.append(Problem(str(clip), f"{len(poses)} poses, {len(intr)} intrinsics, {len(idx)} indexes: "
                                               f"counts differ"))
            continue
        if not (np.all(np.isfinite(poses)) and np.all(np.isfinite(intr))):
            problems.append(Problem(str(clip / "poses.npy"), "non-finite pose or intrinsics"))
            continue
        if np.any(np.linalg.norm(poses[:, 3:], axis=1) < 1e-8):
            problems.append(Problem(str(clip / "poses.npy"), "a zero quaternion (columns 3..6 = qx qy qz qw)"))
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
        bad = pose_problem(c2w, frames, "poses")
        if bad:
            problems.append(Problem(str(clip / "poses.npy"), bad))
            continue
        poses = Poses.from_c2w(c2w, str(clip / "poses.npy"))
        if scale is not None:
            poses = poses.scaled(scale)
        k = np.stack([np.interp(frames, idx, intr[:, c]) for c in range(4)], -1)  # (F, 4) per window frame
        dyn = clip / "dyn_masks.npz"
        bad_mask = _mask_file_problem(dyn) if dyn.exists() else None
        if bad_mask:
            problems.append(Problem(str(dyn), bad_mask))
            continue
        items.append(VideoItem("spatialvid", key, video, frames, caption, poses, scale, k[0], key, intrinsics=k,
                               dyn_mask=dyn if dyn.exists() else None, extra={"annotated_frames": idx},
                               scale_file=clip / SCALE_FILE))
    return items, problems


KIND = register_kind(DatasetKind("spatialvid", read, summary="SpatialVID(-HQ): w2c [t, q] OpenCV at ~5 fps, "
                                                             "interpolated; metric via metric_scale.json",
                                 layout="annotations/group_XXXX/<id>/{poses.npy, intrinsics.npy, indexes.txt} + "
                                        "videos/group_XXXX/<id>.mp4"))
