"""MultiCamVideo (upstream's release and ``synth`` output): ``metadata.csv`` + ``train/<lens>/<scene>/videos/camNN.mp4``
+ ``cameras/camera_extrinsics.json`` (Unreal FMatrix strings, cm). Poses: upstream's c2w in metres (REFERENCE §1),
``det R = -1`` (Unreal's left-handed world). Samples are pairs of cameras of one scene.

Intrinsics: a scene with zooming cameras (``synth``'s zoom recipe) has ``cameras/camera_intrinsics.json`` (per frame
and camera, pixels of its ``width x height``; :mod:`synth.core.intrinsics_file`); otherwise the lens folder's focal
length on the 23.76 mm sensor of upstream's square videos (``fx/W = fy/H = f / sensor``)."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from synth.core.poses import Poses
from synth.core.units import SENSOR_MM
from synth.core.unreal import UNREAL_C2W
from synth.core.intrinsics_file import read_camera_intrinsics
from synth.core.layout import (CAMERA_INTRINSICS_JSON, CAMERA_JSON, METADATA_CSV, TRAIN_DIR, VIDEOS_DIR,
                               parse_lens_dir_name)
from synth.core.multicam_format import DatasetFormatError, iter_scene_dirs, load_camera_extrinsics, read_metadata_csv

from .base import DatasetKind, Problem, VideoItem, pose_problem, register_kind, safe_join, window


def read(root: Path, num_frames: int, stride: int) -> Tuple[List[VideoItem], List[Problem]]:
    items, problems = [], []
    meta_path = root / METADATA_CSV
    if meta_path.exists():
        try:
            rows = [(r.file_name, r.text) for r in read_metadata_csv(meta_path)]
        except UnicodeDecodeError as e:
            raise DatasetFormatError(f"{meta_path}: not UTF-8 text ({e}); expected a UTF-8 CSV with columns "
                                     f"file_name,text") from None
    else:  # the official release ships no captions: every camera video of every scene, empty caption
        rows = [(f"{d.relative_to(root / TRAIN_DIR).as_posix()}/{VIDEOS_DIR}/{c}.mp4", "")
                for d in iter_scene_dirs(root) for c in sorted(p.stem for p in (d / VIDEOS_DIR).glob("cam*.mp4"))]
    cameras: Dict[Path, object] = {}
    intrinsics: Dict[Path, object] = {}
    frames = window(num_frames, stride)
    for rel, text in rows:
        video = safe_join(root / TRAIN_DIR, rel)
        parts = Path(rel).parts
        if video is None or len(parts) < 3 or parts[-2] != VIDEOS_DIR:
            problems.append(Problem(f"{meta_path}: {rel}", "file_name escapes the dataset root or is not "
                                                           "<lens>/<scene>/videos/camNN.mp4"))
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
        if len(cams[cam]) <= frames[-1]:
            problems.append(Problem(str(scene / CAMERA_JSON), f"{cam} has {len(cams[cam])} frames; "
                                                               f"{frames[-1] + 1} needed"))
            continue
        c2w = cams[cam][frames]
        bad = pose_problem(c2w, frames, cam, UNREAL_C2W)
        if bad:
            problems.append(Problem(str(scene / CAMERA_JSON), bad))
            continue
        if scene not in intrinsics:
            try:
                intrinsics[scene] = read_camera_intrinsics(scene / CAMERA_INTRINSICS_JSON)
            except FileNotFoundError:
                intrinsics[scene] = None
            except DatasetFormatError as e:
                intrinsics[scene] = e
        intr = intrinsics[scene]
        if isinstance(intr, DatasetFormatError):
            problems.append(Problem(str(scene / CAMERA_INTRINSICS_JSON), str(intr).split(": ", 1)[-1]))
            continue
        k_frames = None
        if intr is not None:
            if cam not in intr.cameras or intr.K.shape[1] <= frames[-1]:
                problems.append(Problem(str(scene / CAMERA_INTRINSICS_JSON), f"no intrinsics of {cam} for frames "
                                                                             f"0..{frames[-1]}"))
                continue
            K = intr.camera(cam)[frames]
            k_frames = np.stack([K[:, 0, 0] / intr.width, K[:, 1, 1] / intr.height, K[:, 0, 2] / intr.width,
                                 K[:, 1, 2] / intr.height], -1)
        lens = parse_lens_dir_name(scene.parent.name)  # square videos and sensor: fx/W = fy/H = f / sensor
        k_norm = None if lens is None else np.array([lens[0] / SENSOR_MM, lens[0] / SENSOR_MM, 0.5, 0.5])
        if k_frames is not None:
            k_norm = k_frames[0]
        group = scene.relative_to(root / TRAIN_DIR).as_posix()
        poses = Poses.from_upstream_c2w(c2w, f"{scene / CAMERA_JSON}: {cam}")  # relative poses are upstream's
        items.append(VideoItem("multicam", f"{group}/{cam}", video, frames, text, poses, 1.0, k_norm, group, cam,
                               expected_video_frames=len(cams[cam]), intrinsics=k_frames))
    return items, problems


KIND = register_kind(DatasetKind("multicam", read, paired=True,
                                 summary="MultiCamVideo layout (upstream and synth): camera pairs, metric",
                                 layout="metadata.csv and/or train/<lens>/<scene>/videos/camNN.mp4 + "
                                        "cameras/camera_extrinsics.json"))
