"""Names of the MultiCamVideo layout (ReCamMaster, REFERENCE §1) — every file and folder name lives here.

::

    <root>/metadata.csv                                   METADATA_CSV: file_name,text (file_name relative to train/)
    <root>/synth_run.json                                 RUN_MANIFEST (ours): seed, config, catalog of the run
    <root>/.partial/                                      PARTIAL_DIR (ours): scenes being written
    <root>/train/f{focal}_aperture{aperture}/scene{N}/    TRAIN_DIR / lens_dir_name / scene_dir_name
        videos/camNN.mp4                                  VIDEOS_DIR / camera_name
        cameras/camera_extrinsics.json                    CAMERA_JSON
        cameras/camera_intrinsics.json                    CAMERA_INTRINSICS_JSON (ours): per-frame K, zoom scenes only
        scene.json                                        SCENE_JSON (ours)
    <root>/val/10basic_trajectories/                      VAL_BASIC (upstream's reference trajectories)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence, Tuple

__all__ = ["CAMERA_JSON", "SCENE_JSON", "VIDEOS_DIR", "METADATA_CSV", "RUN_MANIFEST", "PARTIAL_DIR", "TRAIN_DIR",
           "VAL_BASIC", "CAMERA_INTRINSICS_JSON", "camera_name", "camera_names", "lens_dir_name", "parse_lens_dir_name", "scene_dir_name",
           "scene_relpath", "scene_index_from_dir", "video_relpath", "CAMERA_RE", "SCENE_RE"]

METADATA_CSV = "metadata.csv"
RUN_MANIFEST = "synth_run.json"
PARTIAL_DIR = ".partial"
TRAIN_DIR = "train"
VAL_BASIC = Path("val") / "10basic_trajectories"
CAMERA_JSON = Path("cameras") / "camera_extrinsics.json"
CAMERA_INTRINSICS_JSON = Path("cameras") / "camera_intrinsics.json"
SCENE_JSON = "scene.json"
VIDEOS_DIR = "videos"
CAMERA_RE = re.compile(r"^cam(\d+)$")
SCENE_RE = re.compile(r"^scene(\d+)$")
_LENS_RE = re.compile(r"^f(\d+(?:\.\d+)?)_aperture(\d+(?:\.\d+)?)$")

def camera_name(j: int) -> str:
    """1-based camera number -> ``camNN`` (``cam01`` .. ``cam10``)."""
    if j < 1:
        raise ValueError(f"camera numbers start at 1, got {j}")
    return f"cam{j:02d}"


def lens_dir_name(focal_mm: float, aperture_f: float) -> str:
    """``f{focal}_aperture{aperture}`` as upstream names lens folders, e.g. ``f35_aperture2.4``."""
    return f"f{focal_mm:g}_aperture{aperture_f:g}"


def parse_lens_dir_name(name: str) -> Tuple[float, float] | None:
    """``f35_aperture2.4`` -> ``(35.0, 2.4)``; None if the name is not a lens folder."""
    m = _LENS_RE.match(name)
    return (float(m.group(1)), float(m.group(2))) if m else None


def scene_dir_name(index: int) -> str:
    """Scene index -> folder name ``scene{index}``."""
    return f"scene{index}"


def scene_relpath(index: int, focal_mm: float, aperture_f: float) -> Path:
    """Path of a scene relative to the dataset root: ``train/f{focal}_aperture{aperture}/scene{index}``."""
    return Path(TRAIN_DIR) / lens_dir_name(focal_mm, aperture_f) / scene_dir_name(index)




def scene_index_from_dir(path: Path) -> int | None:
    """``.../scene17`` -> 17, else None."""
    m = SCENE_RE.match(Path(path).name)
    return int(m.group(1)) if m else None


def camera_names(num: int) -> Sequence[str]:
    """``['cam01', ..., 'camNN']``."""
    return [camera_name(j) for j in range(1, num + 1)]


def video_relpath(scene_rel: str, camera: str) -> str:
    """``metadata.csv`` file_name of a camera's video: ``<lens>/scene<N>/videos/<camera>.mp4`` (relative to train/)."""
    return f"{scene_rel}/{VIDEOS_DIR}/{camera}.mp4"
