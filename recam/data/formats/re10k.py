"""RealEstate10K (REFERENCE §3): ``poses/<clip>.txt`` (line 1 URL; per frame ``timestamp fx fy cx cy 0 0`` + a
row-major 3x4 w2c, OpenCV, normalised intrinsics per frame: ``VideoItem.intrinsics``) with ``videos/<clip>.mp4`` or a frame folder
``frames/<clip>/``. Relative scale unless ``<clip>.scale.json`` (``recam align``) is present."""

from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

import numpy as np

from synth.core.poses import Poses
from synth.core.multicam_format import DatasetFormatError

from .base import DatasetKind, Problem, VideoItem, pose_problem, read_scale_file, register_kind, window
from ._frames import frames_source


def read(root: Path, num_frames: int, stride: int) -> Tuple[List[VideoItem], List[Problem]]:
    items, problems = [], []
    txts = sorted((root / "poses").glob("*.txt")) if (root / "poses").is_dir() else sorted(root.glob("*.txt"))
    frames = window(num_frames, stride)
    for txt in txts:
        try:
            lines = [ln for ln in txt.read_text(encoding="utf-8").splitlines() if ln.strip()]
        except UnicodeDecodeError as e:
            problems.append(Problem(str(txt), f"not UTF-8 text ({e})"))
            continue
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
        bad_pose = pose_problem(w2c[frames], frames, "w2c")
        if bad_pose:
            problems.append(Problem(str(txt), bad_pose))
            continue
        if not np.all(np.isfinite(rows[frames, 1:5])):
            problems.append(Problem(str(txt), "intrinsics fx fy cx cy must be finite"))
            continue
        src, err = frames_source(root, txt.stem, len(rows))
        if err:
            problems.append(Problem(str(txt), err))
            continue
        scale_file = txt.with_suffix(".scale.json")
        try:
            scale = read_scale_file(scale_file)
        except DatasetFormatError as e:
            problems.append(Problem(str(txt), str(e)))
            continue
        poses = Poses.from_w2c(w2c[frames], str(txt))
        if scale is not None:
            poses = poses.scaled(scale)
        items.append(VideoItem("re10k", txt.stem, src, frames, "", poses, scale, rows[frames[0], 1:5], txt.stem,
                               intrinsics=rows[frames, 1:5].copy(),
                               expected_video_frames=len(rows), extra={"url": lines[0].strip()},
                               scale_file=scale_file))
    return items, problems


KIND = register_kind(DatasetKind("re10k", read, summary="RealEstate10K txt: w2c 3x4 OpenCV; metric via "
                                                        "<clip>.scale.json",
                                 layout="poses/<clip>.txt (or <clip>.txt at the root: one split such as test/, "
                                        "not its parent) + videos/<clip>.mp4 or frames/<clip>/"))
