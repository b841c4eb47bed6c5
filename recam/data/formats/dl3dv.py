"""DL3DV-10K (REFERENCE §3): nerfstudio ``<scene>/transforms.json`` (c2w 4x4 in **OpenGL** camera axes, intrinsics
``fl_x fl_y cx cy w h``, OPENCV distortion ``k1 k2 p1 p2``) + images. Converted to OpenCV c2w; relative scale unless
``metric_scale.json``.

Images: the 480P / 960P releases keep them in ``images_8/`` / ``images_4/`` while ``transforms.json`` names
``images/<file>`` (as depthsplat's ``convert_dl3dv_train.py`` and gsplat's DL3DV loader do, the file name is read
from the resolution folder): the folder named in ``transforms.json`` when it holds the files, else the first of
``images_4``, ``images_8``, ``images_2`` that does, or the one ``--dl3dv-images`` names. Intrinsics are normalised
(``fl_x / w`` ...), so they hold at any of these resolutions.

Distortion: frames are undistorted with OpenCV's model (``cv2.undistort`` with the same ``K``, before upstream's
resize + crop; :func:`recam.data.clips.load_frames`), so the clip is pinhole with the stated intrinsics. Clips whose
distortion moves a point of the image border by more than ``--dl3dv-distortion`` of the image width (default
5%) are refused: undistorting them into the same ``K`` would leave large empty borders.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from synth.core.poses import Poses
from synth.core.multicam_format import DatasetFormatError

from pydantic import Field

from .base import (SCALE_FILE, DatasetKind, KindOptions, Problem, VideoItem, pose_problem, read_scale_file,
                   register_kind, safe_join, window)

#: resolution folders of the DL3DV releases, tried in this order when the named folder lacks the images
RESOLUTION_DIRS = ("images_4", "images_8", "images_2")
#: distortion coefficients of the OPENCV camera model, as transforms.json names them
DISTORTION_KEYS = ("k1", "k2", "p1", "p2")


def distortion_shift(k_norm: np.ndarray, dist: np.ndarray, aspect: float, n: int = 64) -> float:
    """Largest displacement (fraction of the image width) that OpenCV's distortion ``dist = [k1, k2, p1, p2]`` gives
    a point of the image border; ``k_norm = [fx/W, fy/H, cx/W, cy/H]``, ``aspect = H / W``."""
    t = np.linspace(0.0, 1.0, n)
    u = np.concatenate([t, t, np.zeros(n), np.ones(n)])
    v = np.concatenate([np.zeros(n), np.ones(n), t, t]) * aspect  # in units of the width
    fx, fy, cx, cy = k_norm[0], k_norm[1] * aspect, k_norm[2], k_norm[3] * aspect
    x, y = (u - cx) / fx, (v - cy) / fy
    k1, k2, p1, p2 = dist
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2 * r2
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return float(np.max(np.hypot((xd - x) * fx, (yd - y) * fy)))


def _image_files(scene: Path, rels, frames, folder: Optional[str]):
    """``(files, None, None)``: the image files (in ``rels`` order) from the folder ``transforms.json`` names or a
    resolution folder (the first that holds every window frame), or ``(None, path, message)`` naming the first
    window image missing from the folder that holds most of them."""
    names = [Path(r).name for r in rels]
    named = [scene / r for r in rels]
    tried = [named] if folder is None else []
    tried += [[scene / d / n for n in names] for d in ([folder] if folder else RESOLUTION_DIRS)]
    for files in tried:
        if all(files[i].is_file() for i in frames):
            return files, None, None
    best = max(tried, key=lambda fs: sum(fs[i].is_file() for i in frames))
    missing = next(best[i] for i in frames if not best[i].is_file())
    where = ", ".join(sorted({fs[0].parent.relative_to(scene).as_posix() + "/" for fs in tried}))
    return None, missing, f"image file missing (looked in {where}; the 480P / 960P releases keep images in " \
                          f"images_8/ / images_4/; --dl3dv-images names another folder)"


def read(root: Path, num_frames: int, stride: int, dl3dv_images: Optional[str] = None,
         dl3dv_distortion: float = 0.05) -> Tuple[List[VideoItem], List[Problem]]:
    if dl3dv_images is not None and (Path(dl3dv_images).name != dl3dv_images or dl3dv_images in ("", ".", "..")):
        raise ValueError(f"--dl3dv-images: {dl3dv_images!r}; expected a folder name inside each scene, e.g. images_4")
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
        found, missing, err = _image_files(scene, [rels[i] for i in order], frames, dl3dv_images)
        if err:
            problems.append(Problem(str(missing), err))
            continue
        files = found
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
        extra = {}
        try:
            dist = np.array([float(meta.get(k, 0.0)) for k in DISTORTION_KEYS])
        except (TypeError, ValueError):
            dist = np.array([np.nan])
        if not np.all(np.isfinite(dist)):
            problems.append(Problem(str(tf), "k1, k2, p1, p2 must be finite numbers"))
            continue
        if np.any(dist != 0):
            if k_norm is None:
                problems.append(Problem(str(tf), "distortion k1 k2 p1 p2 without fl_x fl_y cx cy w h: cannot "
                                                 "undistort"))
                continue
            shift = distortion_shift(k_norm, dist, h / w)
            if shift > dl3dv_distortion:
                problems.append(Problem(str(tf), f"distortion k1 k2 p1 p2 = {dist.tolist()} moves the image border by "
                                                 f"{100 * shift:.1f}% of the width; at most "
                                                 f"{100 * dl3dv_distortion:g}% (--dl3dv-distortion) is "
                                                 f"undistorted"))
                continue
            extra = {"distortion": dist}  # recam.data.clips.load_frames undistorts (cv2, same K)
        items.append(VideoItem("dl3dv", key, files, frames, "", poses, scale, k_norm, key,
                               expected_video_frames=len(files), scale_file=scene / SCALE_FILE, extra=extra))
    return items, problems


class Dl3dvOptions(KindOptions):
    """DL3DV's reader options (``recam prepare --dl3dv-images --dl3dv-distortion``)."""

    dl3dv_images: Optional[str] = Field(None, description="DL3DV image folder inside each scene (e.g. images_4); "
                                                          "default: the one transforms.json names, else images_4, "
                                                          "images_8, images_2.")
    dl3dv_distortion: float = Field(0.05, gt=0, le=1, description="DL3DV: refuse clips whose k1 k2 p1 p2 move "
                                                                      "the image border by more than this fraction "
                                                                      "of the width.")


KIND = register_kind(DatasetKind("dl3dv", read, Options=Dl3dvOptions, summary="DL3DV transforms.json: c2w OpenGL -> OpenCV; metric via "
                                                        "metric_scale.json",
                                 layout="<scene>/transforms.json (nerfstudio, any depth) + the images it names"))
