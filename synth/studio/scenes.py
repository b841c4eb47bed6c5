"""What ``synth studio`` shows of a dataset: scenes, their cameras in a right-handed world, the character, and
per-camera check results.

World: :class:`synth.core.poses.Poses`' right-handed world (X forward, Y left, Z up, metres; Unreal's Y mirrored),
OpenCV camera axes. Check status per camera: ``ok`` (validated, and verified when a ``verify.csv`` is given),
``invalid`` (a ``synth validate`` problem names the camera or the whole scene), ``flagged`` (``synth verify``
flagged it), ``unverified`` (no verify row for it).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from ..core.layout import CAMERA_JSON, VIDEOS_DIR
from ..core.multicam_format import iter_scene_dirs, load_camera_extrinsics
from ..core.poses import Poses
from ..core.unreal import unreal_points_to_world
from ..dataset.validate import load_recipe, validate_scene
from ..dataset.writer import read_spec_or_none

__all__ = ["SceneView", "list_scenes", "load_scene_view", "read_verify_csv", "STATUS_COLORS"]

#: RGB of each camera status in the 3D view
STATUS_COLORS = {"ok": (40, 170, 80), "invalid": (230, 140, 0), "flagged": (220, 30, 30), "unverified": (90, 120, 200)}


@dataclass
class SceneView:
    """One scene as drawn.

    Attributes:
        name: ``<lens>/scene<N>`` (relative to ``<dataset>/train``).
        cameras: ``{camNN: (F, 4, 4)}`` OpenCV c2w, right-handed world, metres.
        videos: ``{camNN: path}`` of the videos that exist.
        character: ``(3,)`` character base (metres, same world) or None; ``height_m`` its height.
        status: ``{camNN: ok | invalid | flagged | unverified}``; ``notes``: ``{camNN: [messages]}``.
        hfov_deg / aspect: the lens's horizontal field of view and the video's width / height.
        captions: ``{camNN: caption}`` of scene.json (empty for official data).
    """

    name: str
    cameras: Dict[str, np.ndarray]
    videos: Dict[str, Path]
    character: Optional[np.ndarray]
    height_m: float
    status: Dict[str, str]
    notes: Dict[str, List[str]] = field(default_factory=dict)
    hfov_deg: float = 60.0
    aspect: float = 1.0
    captions: Dict[str, str] = field(default_factory=dict)


def list_scenes(root: Path) -> List[Path]:
    """Scene folders of a dataset (``<root>/train/<lens>/scene<N>``) in order."""
    return list(iter_scene_dirs(root))


def read_verify_csv(path: Optional[Path]) -> Dict[tuple, Dict[str, str]]:
    """Rows of ``synth verify``'s ``verify.csv`` by ``(scene, camera)`` (empty when ``path`` is None or absent)."""
    if path is None or not Path(path).is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        return {(r["scene"], r["camera"]): r for r in csv.DictReader(f)}


def load_scene_view(root: Path, scene_dir: Path, verify_rows: Optional[Dict[tuple, Dict[str, str]]] = None,
                    validate: bool = True) -> SceneView:
    """Read one scene for drawing; ``validate``: run ``synth validate``'s scene checks (format and the recipe of
    the dataset's ``synth_run.json``; videos probed).

    Raises:
        DatasetFormatError: the camera file cannot be read (the message names it).
    """
    scene_dir = Path(scene_dir)
    name = f"{scene_dir.parent.name}/{scene_dir.name}"
    raw = load_camera_extrinsics(scene_dir / CAMERA_JSON)
    cams = {c: Poses.from_upstream_c2w(m, f"{scene_dir / CAMERA_JSON}: {c}").c2w for c, m in raw.items()}
    videos = {c: scene_dir / VIDEOS_DIR / f"{c}.mp4" for c in cams}
    videos = {c: p for c, p in videos.items() if p.is_file()}
    spec = read_spec_or_none(scene_dir)
    character, height, hfov, aspect, caption = None, 1.8, 60.0, 1.0, {}
    if spec is not None:
        character = unreal_points_to_world(np.asarray(spec.character_location_cm, float))
        height = float(spec.character_height_m)
        K = spec.intrinsics()
        hfov = float(np.degrees(2 * np.arctan(spec.video.width / 2 / K[0, 0])))
        aspect = spec.video.width / spec.video.height
        caption = {c.name: c.caption for c in spec.cameras}
    notes: Dict[str, List[str]] = {c: [] for c in cams}
    status = {c: "ok" for c in cams}
    if validate:
        recipe, _ = load_recipe(Path(root))
        for p in validate_scene(scene_dir, recipe=recipe):
            hit = [c for c in cams if c in str(p)] or list(cams)  # a scene-wide problem marks every camera
            for c in hit:
                status[c] = "invalid"
                notes[c].append(str(p))
    if verify_rows:
        for c in cams:
            row = verify_rows.get((name, c))  # verify.csv's scene: <lens>/scene<N>
            if row is None:
                if status[c] == "ok":
                    status[c] = "unverified"
            elif row.get("flagged") == "True":
                status[c] = "flagged"
                notes[c].append(f"synth verify: flagged ({row.get('reasons', '')})")
    return SceneView(name, cams, videos, character, height, status, notes, hfov, aspect, caption)
