"""The ``synth studio`` viser app: one scene at a time, its cameras as frusta coloured by check status.

Scene: ``/scene/cams/camNN/path`` (the camera's path), ``/scene/cams/camNN/now`` (its frustum at the frame slider,
textured with the video's frame for the selected camera), ``/scene/character`` (a vertical bar of the character's
height at its base). World: right-handed, Z up, metres (:mod:`synth.studio.scenes`).
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
from scipy.spatial.transform import Rotation

from ..core.video_io import VideoReadError, read_video
from .scenes import STATUS_COLORS, SceneView, load_scene_view

__all__ = ["SynthStudio"]


def _wxyz(r: np.ndarray) -> np.ndarray:
    x, y, z, w = Rotation.from_matrix(r).as_quat()
    return np.array([w, x, y, z])


class SynthStudio:
    """Browse ``scenes`` (scene folders of ``root``) with check results (``verify_rows`` from ``verify.csv``)."""

    def __init__(self, server, root: Path, scenes: List[Path], verify_rows: Optional[Dict] = None,
                 validate: bool = True, thumb: int = 192):
        self.server, self.root, self.scenes, self.verify_rows = server, Path(root), scenes, verify_rows or {}
        self.validate, self.thumb = validate, thumb
        self._lock = threading.RLock()
        self._videos: Dict[Path, np.ndarray] = {}
        server.scene.set_up_direction("+z")
        g = server.gui
        g.add_markdown(f"**synth studio**: `{self.root}`, {len(scenes)} scenes. Colours: "
                       + ", ".join(f"{k} = rgb{v}" for k, v in STATUS_COLORS.items()))
        self.gui_scene = g.add_dropdown("scene", [f"{p.parent.name}/{p.name}" for p in scenes])
        self.gui_frame = g.add_slider("frame", 0, 1, 1, 0)
        self.gui_cam = g.add_dropdown("camera", ["cam01"])
        self.gui_info = g.add_markdown("")
        self.gui_video = g.add_image(np.zeros((8, 8, 3), np.uint8), label="video")
        self.gui_scene.on_update(lambda _: self.show_scene(self.gui_scene.value))
        self.gui_frame.on_update(lambda _: self.show_frame())
        self.gui_cam.on_update(lambda _: self.show_frame())
        self.view: Optional[SceneView] = None
        self.show_scene(self.gui_scene.value)

    def show_scene(self, name: str) -> None:
        """Load and draw scene ``name`` (``<lens>/scene<N>``)."""
        with self._lock:
            scene_dir = next(p for p in self.scenes if f"{p.parent.name}/{p.name}" == name)
            self.view = v = load_scene_view(self.root, scene_dir, self.verify_rows, self.validate)
            sc = self.server.scene
            sc.remove_by_name("/scene")
            for cam, c2w in v.cameras.items():
                col = STATUS_COLORS[v.status[cam]]
                seg = np.stack([c2w[:-1, :3, 3], c2w[1:, :3, 3]], 1).astype(np.float32)
                sc.add_line_segments(f"/scene/cams/{cam}/path", seg, col, thickness=3.0, thickness_units="screen")
                sc.add_label(f"/scene/cams/{cam}/label", cam, position=c2w[0, :3, 3])
            if v.character is not None:
                base = v.character
                sc.add_line_segments("/scene/character", np.array([[base, base + [0, 0, v.height_m]]], np.float32),
                                     (20, 20, 20), thickness=12.0, thickness_units="screen")
            nf = len(next(iter(v.cameras.values())))
            self.gui_frame.max = max(1, nf - 1)
            self.gui_frame.value = min(int(self.gui_frame.value), nf - 1)
            self.gui_cam.options = list(v.cameras)
            self.show_frame()

    def _video(self, path: Path) -> Optional[np.ndarray]:
        if path not in self._videos:
            try:
                frames, _ = read_video(path)
            except VideoReadError:
                return None
            from PIL import Image

            h, w = frames.shape[1:3]
            f = self.thumb / max(h, w)
            size = (max(2, round(w * f)), max(2, round(h * f)))
            self._videos = {path: np.stack([np.asarray(Image.fromarray(x).resize(size)) for x in frames])}
        return self._videos[path]

    def show_frame(self) -> None:
        """Draw every camera's frustum at the slider's frame; the selected one textured with its video frame."""
        with self._lock:
            v, f, sel = self.view, int(self.gui_frame.value), self.gui_cam.value
            if v is None:
                return
            vfov = 2 * math.atan(math.tan(math.radians(v.hfov_deg) / 2) / v.aspect)  # viser: vertical fov
            img = None
            if sel in v.videos:
                frames = self._video(v.videos[sel])
                if frames is not None:
                    img = frames[min(f, len(frames) - 1)]
                    self.gui_video.image = img
            for cam, c2w in v.cameras.items():
                pose = c2w[min(f, len(c2w) - 1)]
                self.server.scene.add_camera_frustum(
                    f"/scene/cams/{cam}/now", vfov, v.aspect, scale=0.4,
                    color=STATUS_COLORS[v.status[cam]], image=img if cam == sel else None, format="jpeg",
                    wxyz=_wxyz(pose[:3, :3]), position=pose[:3, 3])
            notes = v.notes.get(sel, [])
            self.gui_info.content = (f"**{sel}**: {v.status.get(sel, '?')}. {v.captions.get(sel, '')}\n\n"
                                     + "\n".join(f"* {n}" for n in notes[:8]))
