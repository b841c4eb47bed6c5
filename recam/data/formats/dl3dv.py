"""DL3DV-10K (REFERENCE §3): nerfstudio ``<scene>/transforms.json`` (c2w 4x4 in **OpenGL** camera axes, intrinsics
``fl_x fl_y cx cy w h``) + images. Converted to OpenCV c2w; relative scale unless ``metric_scale.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Tuple

import numpy as np

from synth.core.poses import Poses
from synth.core.multicam_format import DatasetFormatError

from .base import (SCALE_FILE, DatasetKind, Problem, VideoItem, pose_problem, read_scale_file, register_kind,
                   safe_join, window)


def read(root: Path, num_frames: int, stride: int) -> Tuple[List[VideoItem], List[Problem]]:
    items, problems = [], []
    frames = window(num_frames, stride)
    for tf in sorted(root.rglob("transforms.json")):
        scene = tf.parent
        key = scene.relative_to(root).as_posix()
        try:
            meta = json.loads(tf.read_text(encoding="utf-8"))
            fr = meta["frames"]
            rels = [str(f["file_path"]) for f in fr]
            files = [scene / r for r in rels]
            c2w_gl = np.array([f["transform_matrix"] for f in fr], dtype=np.float64)
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as e:
            problems.append(Problem(str(tf), f"unreadable transforms.json ({type(e).__name__}: {e}); expected "
                                             f"frames[].file_path and 4x4 frames[].transform_matrix"))
            continue
        if any(safe_join(scene, r) is None for r in rels):
            problems.append(Problem(str(tf), "a file_path escapes the scene folder"))
            continue
        order = np.argsort([p.name for p in files], kind="stable")
        files = [files[i] for i in order]
        c2w_gl = c2w_gl[order]
        if c2w_gl.ndim != 3 or c2w_gl.shape[1:] != (4, 4):
            problems.append(Problem(str(tf), f"transform_matrix must be 4x4, got {c2w_gl.shape[1:]}"))
            continue
        if len(files) <= frames[-1]:
            problems.append(Problem(str(tf), f"{len(files)} frames; the window needs {frames[-1] + 1}"))
            continue
        bad = pose_problem(c2w_gl[frames], frames, "transform_matrix")
        if bad:
            problems.append(Problem(str(tf), bad))
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
        poses = Poses.from_opengl(c2w_gl[frames], str(tf))
        if scale is not None:
            poses = poses.scaled(scale)
        k_norm = None
        if all(k in meta for k in ("fl_x", "fl_y", "cx", "cy", "w", "h")):
            try:
                w, h = float(meta["w"]), float(meta["h"])
                k_norm = np.array([float(meta["fl_x"]) / w, float(meta["fl_y"]) / h, float(meta["cx"]) / w,
                                   float(meta["cy"]) / h])
            except (TypeError, ValueError, ZeroDivisionError):
                k_norm = np.array([np.nan])
            if not (np.all(np.isfinite(k_norm)) and w > 0 and h > 0):
                problems.append(Problem(str(tf), "fl_x, fl_y, cx, cy must be finite numbers and w, h positive"))
                continue
        items.append(VideoItem("dl3dv", key, files, frames, "", poses, scale, k_norm, key,
                               expected_video_frames=len(files), scale_file=scene / SCALE_FILE))
    return items, problems


KIND = register_kind(DatasetKind("dl3dv", read, summary="DL3DV transforms.json: c2w OpenGL -> OpenCV; metric via "
                                                        "metric_scale.json",
                                 layout="<scene>/transforms.json (nerfstudio, any depth) + the images it names"))
