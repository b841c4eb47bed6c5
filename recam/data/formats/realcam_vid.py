"""RealCam-Vid (ZGCTroy/RealCam-Vid, REFERENCE §3): ``RealCam-Vid_{train,test}.npz`` whose ``arr_0`` is an array of
dicts (``video_path``, captions, ``camera_intrinsics`` (4,), ``camera_extrinsics`` (F, 4, 4) w2c OpenCV,
``align_factor``). Metric: translation x ``align_factor``. The index is read without running code
(:func:`recam.data.safe_npz.load_npz_safe`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import List, Literal, Optional, Tuple

import numpy as np
from pydantic import Field

from synth.core.poses import Poses
from synth.core.multicam_format import DatasetFormatError

from ..safe_npz import load_npz_safe
from .base import DatasetKind, KindOptions, Problem, VideoItem, pose_problem, register_kind, safe_join, window

INDEX_FILE = "RealCam-Vid_train.npz"


def read_index(path: Path) -> np.ndarray:
    """The records (``arr_0``) of a RealCam-Vid index.

    Raises:
        DatasetFormatError: missing, unreadable or unsafe file (a pickle referencing anything but numpy arrays and
            plain containers is refused before it can run code).
    """
    try:
        records = load_npz_safe(path)["arr_0"]
    except FileNotFoundError:
        raise DatasetFormatError(f"{path}: RealCam-Vid metadata not found (expected {INDEX_FILE} with arr_0 = "
                                 f"array of dicts)") from None
    except KeyError:
        raise DatasetFormatError(f"{path}: no arr_0 in the RealCam-Vid metadata (expected arr_0 = array of dicts)") \
            from None
    except (ValueError, OSError) as e:
        raise DatasetFormatError(f"{path}: unreadable RealCam-Vid metadata ({e})" if str(path) not in str(e)
                                 else str(e)) from None
    return records


def read(root: Path, num_frames: int, stride: int, index: Optional[str] = None, caption: str = "long"
         ) -> Tuple[List[VideoItem], List[Problem]]:
    if caption not in ("long", "short"):
        raise ValueError(f"RealCam-Vid caption must be long or short, got {caption!r}")
    items, problems = [], []
    index_path = Path(index) if index else root / INDEX_FILE
    if not index_path.is_absolute() and not index_path.exists():
        index_path = root / index_path
    records = read_index(index_path)
    frames = window(num_frames, stride)
    for i, rec in enumerate(records.reshape(-1)):
        where = f"{index_path}[{i}]"
        try:
            rel = str(rec["video_path"])
            w2c = np.asarray(rec["camera_extrinsics"], dtype=np.float64)
            align = float(rec["align_factor"])
            k_norm = np.asarray(rec["camera_intrinsics"], dtype=np.float64).reshape(4)
            text = str(rec["long_caption" if caption == "long" else "short_caption"])
        except (KeyError, TypeError, ValueError, IndexError) as e:
            problems.append(Problem(where, f"malformed record ({type(e).__name__}: {e})"))
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
        bad = pose_problem(w2c[frames], frames, "camera_extrinsics")
        if bad:
            problems.append(Problem(where, bad))
            continue
        if not (math.isfinite(align) and align > 0):
            problems.append(Problem(where, f"align_factor must be a positive finite number, got {align}"))
            continue
        if not np.all(np.isfinite(k_norm)):
            problems.append(Problem(where, f"camera_intrinsics must be finite, got {k_norm.tolist()}"))
            continue
        poses = Poses.from_w2c(w2c[frames], where).scaled(align)  # metric (RealCam-Vid: translation x align_factor)
        items.append(VideoItem("realcam-vid", rel, video, frames, text, poses, align, k_norm, rel,
                               expected_video_frames=len(w2c)))
    return items, problems


class RealCamVidOptions(KindOptions):
    """RealCam-Vid's reader options (``recam prepare --index --caption``)."""

    index: Optional[str] = Field(None, description="RealCam-Vid metadata npz (relative to --dataset).")
    caption: Literal["long", "short"] = Field("long", description="RealCam-Vid caption: long | short.")


KIND = register_kind(DatasetKind("realcam-vid", read, Options=RealCamVidOptions,
                                 summary="RealCam-Vid npz index: w2c OpenCV, metric via align_factor",
                                 layout=f"{INDEX_FILE} (arr_0 = array of records) + the videos its video_path "
                                        f"entries name"))
