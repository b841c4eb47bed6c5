"""``synth validate``: check a MultiCamVideo-format dataset (ours or the official one) and report every problem.

Checks: layout (lens folders, scene folders, ``val/`` reference trajectories), camera JSON completeness (frames x
cameras, parseable, finite, orthonormal right-handed Unreal axes, FMatrix padding), ``scene.json`` consistency
(ours), ``metadata.csv`` references and, where videos exist, their frame count, fps, size and readability.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

from .core.multicam_format import (DatasetFormatError, iter_scene_dirs, read_camera_fmatrices, read_metadata_csv,
                                   read_scene_spec)

from .core.layout import CAMERA_JSON, SCENE_JSON, VIDEOS_DIR, camera_names, parse_lens_dir_name
from .core.video_io import VideoReadError, probe_video
from .core.layout import METADATA_CSV, PARTIAL_DIR, RUN_MANIFEST, TRAIN_DIR, VAL_BASIC
from .core.scene_spec import SceneSpec
from .families import families

__all__ = ["Problem", "validate_dataset", "validate_scene"]

#: |R R^T - I| tolerance: the strings carry 6 significant digits.
ORTHO_TOL = 2e-5
OFFICIAL = {"frames": 81, "cameras": 10, "fps": 15.0, "width": 1280, "height": 1280}


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _check_matrices(path: Path, mats: Dict[str, np.ndarray], frames: int, cams: List[str]) -> Iterator[Problem]:
    p = str(path)
    if list(mats) != cams:
        yield Problem(p, f"cameras {list(mats)}; expected {cams[0]}..{cams[-1]} ({len(cams)})")
    for cam, m in mats.items():
        if len(m) != frames:
            yield Problem(p, f"{cam}: {len(m)} frames; expected {frames}")
        bad = ~np.all(np.isfinite(m.reshape(len(m), -1)), axis=1)
        if bad.any():
            yield Problem(p, f"{cam}: non-finite values on frames {np.flatnonzero(bad)[:5].tolist()}")
            continue
        r = m[:, :3, :3]
        err = np.abs(r @ np.swapaxes(r, 1, 2) - np.eye(3)).max(axis=(1, 2))
        if (err > ORTHO_TOL).any():
            f = int(np.argmax(err))
            yield Problem(p, f"{cam}: axes not orthonormal on frame{f} (max |R R^T - I| = {err[f]:.2e})")
        det = np.linalg.det(r)
        if (det < 0).any():
            yield Problem(p, f"{cam}: rows (forward, right, up) are not right-handed-in-Unreal on frame "
                             f"{int(np.argmin(det))} (det {det.min():.3f})")
        if np.abs(m[:, :3, 3]).max() > 1e-6 or np.abs(m[:, 3, 3] - 1).max() > 1e-6:
            yield Problem(p, f"{cam}: FMatrix padding must be [.. 0] rows and a final 1")


def _scene_expectations(spec: Optional[SceneSpec]) -> Dict[str, Any]:
    if spec is None:
        return dict(OFFICIAL)
    v = spec.video
    return {"frames": v.frames, "cameras": len(spec.cameras), "fps": v.fps, "width": v.width, "height": v.height}


def _check_scene_spec(scene_dir: Path, spec: SceneSpec) -> Iterator[Problem]:
    p = str(scene_dir / SCENE_JSON)
    lens = parse_lens_dir_name(scene_dir.parent.name)
    if lens is not None and (abs(lens[0] - spec.lens.focal_length_mm) > 1e-9 or abs(lens[1] - spec.lens.aperture_f) > 1e-9):
        yield Problem(p, f"lens {spec.lens.to_json()} does not match folder {scene_dir.parent.name}")
    for c in spec.cameras:
        if c.family not in families():
            yield Problem(p, f"cameras.{c.name}.trajectory: unknown {c.family!r}")


def validate_scene(scene_dir: Path, check_videos: bool = True, official_ok: bool = True) -> List[Problem]:
    """Problems of one scene folder (``cameras/`` + optional ``videos/`` + optional ``scene.json``)."""
    scene_dir = Path(scene_dir)
    problems: List[Problem] = []
    meta: Optional[SceneSpec] = None
    try:
        meta = read_scene_spec(scene_dir)
    except FileNotFoundError:
        if not official_ok:
            problems.append(Problem(str(scene_dir), f"missing {SCENE_JSON}"))
    except DatasetFormatError as e:
        return [Problem(str(scene_dir / SCENE_JSON), str(e).split(": ", 1)[-1])]
    if meta is not None:
        problems += list(_check_scene_spec(scene_dir, meta))
        if problems:
            return problems
    exp = _scene_expectations(meta)
    cams = list(camera_names(exp["cameras"]))
    try:
        mats = read_camera_fmatrices(scene_dir / CAMERA_JSON)
    except DatasetFormatError as e:
        return problems + [Problem(str(scene_dir / CAMERA_JSON), str(e).split(": ", 1)[-1])]
    if meta is not None and list(meta.camera_names()) != list(mats):
        problems.append(Problem(str(scene_dir / SCENE_JSON), f"cameras {list(meta.camera_names())} differ from the "
                                                             f"camera JSON's {list(mats)}"))
    problems += list(_check_matrices(scene_dir / CAMERA_JSON, mats, exp["frames"], cams))
    vdir = scene_dir / VIDEOS_DIR
    if check_videos and vdir.exists():
        sizes = set()
        for cam in mats:
            vp = vdir / f"{cam}.mp4"
            if not vp.is_file():
                problems.append(Problem(str(vp), "missing video"))
                continue
            try:
                info = probe_video(vp)
            except VideoReadError as e:
                problems.append(Problem(str(vp), str(e).split(": ", 1)[-1]))
                continue
            if info.frames != exp["frames"]:
                problems.append(Problem(str(vp), f"{info.frames} frames; expected {exp['frames']}"))
            if exp["fps"] and abs(info.fps - float(exp["fps"])) > 1e-3:
                problems.append(Problem(str(vp), f"{info.fps:g} fps; expected {exp['fps']:g}"))
            if (info.width, info.height) != (exp["width"], exp["height"]):
                problems.append(Problem(str(vp), f"size {info.width}x{info.height}; expected "
                                                 f"{exp['width']}x{exp['height']}"))
            sizes.add((info.width, info.height))
        extra = sorted(p.name for p in vdir.glob("*.mp4") if p.stem not in mats)
        if extra:
            problems.append(Problem(str(vdir), f"videos without cameras in the JSON: {extra}"))
    return problems


def validate_dataset(root: Path, check_videos: bool = True) -> Tuple[List[Problem], Dict[str, int]]:
    """Validate a dataset root (or a single scene folder). Returns (problems, counts)."""
    root = Path(root)
    counts = {"scenes": 0, "videos": 0, "metadata_rows": 0}
    if not root.exists():
        return [Problem(str(root), "does not exist")], counts
    if (root / CAMERA_JSON).exists():  # a single scene
        counts["scenes"] = 1
        return validate_scene(root, check_videos), counts
    problems: List[Problem] = []
    train = root / TRAIN_DIR
    if not train.is_dir():
        problems.append(Problem(str(train), "missing: expected train/<f{focal}_aperture{aperture}>/scene<N>/"))
    else:
        for lens_dir in sorted(p for p in train.iterdir() if not p.name.startswith(".")):
            if not lens_dir.is_dir() or parse_lens_dir_name(lens_dir.name) is None:
                problems.append(Problem(str(lens_dir), "not a lens folder f{focal}_aperture{aperture}"))
    ours = (root / RUN_MANIFEST).exists()
    scene_dirs = list(iter_scene_dirs(root))
    for scene_dir in scene_dirs:
        counts["scenes"] += 1
        problems += validate_scene(scene_dir, check_videos, official_ok=not ours)
        counts["videos"] += len(list((scene_dir / VIDEOS_DIR).glob("*.mp4"))) if (scene_dir / VIDEOS_DIR).exists() else 0
    if train.is_dir() and not scene_dirs:
        problems.append(Problem(str(train), "no scene folders"))
    val = root / VAL_BASIC
    if val.exists():
        problems += validate_scene(val, check_videos)
    meta_path = root / METADATA_CSV
    if meta_path.exists():
        try:
            rows = read_metadata_csv(meta_path)
        except DatasetFormatError as e:
            problems.append(Problem(str(meta_path), str(e).split(": ", 1)[-1]))
            rows = []
        counts["metadata_rows"] = len(rows)
        for i, r in enumerate(rows, start=2):
            video = train / r.file_name
            parts = Path(r.file_name).parts
            if len(parts) != 4 or parts[2] != VIDEOS_DIR or not r.file_name.endswith(".mp4") or ".." in parts:
                problems.append(Problem(f"{meta_path}:{i}", f"file_name {r.file_name!r} is not "
                                                            f"<lens>/scene<N>/videos/camNN.mp4"))
                continue
            scene_dir = video.parent.parent
            if not (scene_dir / CAMERA_JSON).exists():
                problems.append(Problem(f"{meta_path}:{i}", f"{r.file_name}: scene folder missing"))
            elif (scene_dir / VIDEOS_DIR).exists() and not video.exists():
                problems.append(Problem(f"{meta_path}:{i}", f"{r.file_name}: video missing"))
    elif ours:
        problems.append(Problem(str(meta_path), "missing (synth writes it at the end of every run; "
                                                "`synth index DIR` rebuilds it)"))
    partial = root / PARTIAL_DIR
    if partial.exists() and any(partial.iterdir()):
        problems.append(Problem(str(partial), "unfinished scenes from an interrupted run (not part of the "
                                              "dataset; a re-run of the same command finishes them)"))
    return problems, counts
