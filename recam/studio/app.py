"""The ``recam studio`` viser app: the source in 3D, the 10 presets, keyframes, preview, export and run.

Scene (viser world = OpenCV axes of the source camera at frame 0, metres; "up" is ``-y``):

* ``/source/points``: the sparse point cloud; ``/source/frames/NNNN``: each estimated source camera as a frustum
  textured with its frame; ``/source/path``: the source camera path.
* ``/presets/typeN``: upstream's 10 ``--cam_type`` paths relative to the source camera (toggle in the GUI).
* ``/new/path``: the designed trajectory; ``/new/key_NNNN``: its keyframes (frustum); ``/new/gizmo``: transform
  controls on the selected keyframe; ``/new/current``: the new camera at the frame slider.

Every edit goes through :class:`StudioState` (pure, tested without a browser); the GUI only calls it and redraws.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Callable, List, Optional

import numpy as np
from scipy.spatial.transform import Rotation

from synth.core.paths import safe_join
from synth.core.video_io import VideoReadError, read_video

from ..cameras import PRESET_NAMES
from .infer_job import RunConfig, result_paths, run_infer
from .keyframes import (Keyframe, export_moves_yaml, preset_keyframes, preset_relative,
                        trajectory_from_keyframes)
from .preview import splat_view, trajectory_warnings
from .source import SourceScene

__all__ = ["StudioState", "RecamStudio", "wxyz_from_matrix", "matrix_from_wxyz", "look_at_c2w"]

PRESET_COLORS = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
                 (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212)]


def wxyz_from_matrix(r: np.ndarray) -> np.ndarray:
    """Quaternion ``(w, x, y, z)`` (viser's order) of a ``(3, 3)`` rotation."""
    x, y, z, w = Rotation.from_matrix(r).as_quat()
    return np.array([w, x, y, z])


def matrix_from_wxyz(wxyz) -> np.ndarray:
    """``(3, 3)`` rotation of a quaternion ``(w, x, y, z)``."""
    w, x, y, z = wxyz
    return Rotation.from_quat([x, y, z, w]).as_matrix()


def look_at_c2w(position, target, up=(0.0, -1.0, 0.0)) -> np.ndarray:
    """OpenCV c2w ``(4, 4)`` of a camera at ``position`` looking at ``target`` (metres), its ``-y`` towards ``up``.

    Raises:
        ValueError: ``target`` equals ``position`` or the view direction is parallel to ``up``.
    """
    p, t, up = (np.asarray(v, dtype=np.float64) for v in (position, target, up))
    z = t - p
    if np.linalg.norm(z) < 1e-9:
        raise ValueError("look-at point equals the camera position")
    z /= np.linalg.norm(z)
    x = np.cross(-up, z)  # OpenCV, right-handed: x (right) = y (down) x z (forward)
    if np.linalg.norm(x) < 1e-9:
        raise ValueError("the view direction is parallel to the up direction")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    out = np.eye(4)
    out[:3, :3] = np.stack([x, y, z], 1)
    out[:3, 3] = p
    return out


class StudioState:
    """The design: keyframes over ``num_frames`` frames (frame 0 = the source camera, fixed), the trajectory they
    give (:func:`trajectory_from_keyframes`: the moves of ``recam infer``), export."""

    def __init__(self, num_frames: int):
        self.num_frames = int(num_frames)
        self.keyframes: List[Keyframe] = [Keyframe(0, np.eye(4))]

    def trajectory(self) -> np.ndarray:
        """``(num_frames, 4, 4)`` OpenCV c2w in metres relative to the source camera at frame 0."""
        return trajectory_from_keyframes(self.keyframes, self.num_frames)

    def frames(self) -> List[int]:
        return [k.frame for k in self.keyframes]

    def index(self, frame: int) -> Optional[int]:
        return next((i for i, k in enumerate(self.keyframes) if k.frame == frame), None)

    def start_from_preset(self, cam_type: Optional[int], count: int = 5) -> None:
        """Replace the keyframes by ``count`` of preset ``cam_type`` (1..10), or by frame 0 only (``None``)."""
        self.keyframes = (preset_keyframes(cam_type, self.num_frames, count) if cam_type
                          else [Keyframe(0, np.eye(4))])

    def add(self, frame: int, c2w: Optional[np.ndarray] = None) -> int:
        """Add a keyframe at ``frame`` (default pose: where the current path is then); returns its index. A frame
        already keyed is only selected (its pose replaced when ``c2w`` is given)."""
        frame = int(frame)
        if not 0 < frame < self.num_frames:
            raise ValueError(f"a new keyframe's frame must be in 1..{self.num_frames - 1} (frame 0 is the source "
                             f"camera), got {frame}")
        i = self.index(frame)
        if i is not None:
            if c2w is not None:
                self.move(i, c2w)
            return i
        pose = self.trajectory()[frame] if c2w is None else np.asarray(c2w, dtype=np.float64)
        self.keyframes.append(Keyframe(frame, pose.copy()))
        self.keyframes.sort(key=lambda k: k.frame)
        return self.index(frame)

    def move(self, i: int, c2w: np.ndarray) -> None:
        """Set keyframe ``i``'s pose (``(4, 4)`` c2w, metres). Frame 0 cannot move."""
        if self.keyframes[i].frame == 0:
            raise ValueError("frame 0 is the source camera and cannot move")
        self.keyframes[i].c2w = np.asarray(c2w, dtype=np.float64).copy()

    def retime(self, i: int, frame: int) -> None:
        """Move keyframe ``i`` to another (free) frame."""
        frame = int(frame)
        if self.keyframes[i].frame == 0 or not 0 < frame < self.num_frames or self.index(frame) not in (None, i):
            raise ValueError(f"cannot move keyframe {self.keyframes[i].frame} to frame {frame}")
        self.keyframes[i].frame = frame
        self.keyframes.sort(key=lambda k: k.frame)

    def set_speed(self, i: int, profile: str, a: float = 2.0) -> None:
        """Speed profile of the segment ending at keyframe ``i``: ``constant`` or ``eased`` (upstream's ``a``)."""
        self.keyframes[i].speed = {"profile": "constant"} if profile == "constant" else {"profile": profile,
                                                                                          "a": float(a)}

    def delete(self, i: int) -> None:
        if self.keyframes[i].frame == 0:
            raise ValueError("frame 0 is the source camera and cannot be deleted")
        del self.keyframes[i]

    def export(self, path: Path, header: str = "") -> Path:
        """Write the moves YAML (atomic) that ``recam infer --trajectory path --num-frames N`` reads."""
        export_moves_yaml(path, self.keyframes, self.num_frames, header)
        return Path(path)


class RecamStudio:
    """The viser app over a :class:`SourceScene` (see the module docstring for the scene layout).

    Args:
        server: a ``viser.ViserServer``.
        source: the source video's scene.
        video: the source video file (for the run button).
        out_dir: where exports (and run results) go; file names from the GUI pass ``safe_join``.
        run: the run button's ``recam infer`` settings, or ``None`` (no button).
    """

    def __init__(self, server, source: SourceScene, video: Path, out_dir: Path, run: Optional[RunConfig] = None):
        self.server, self.source, self.video, self.out_dir, self.run_cfg = server, source, Path(video), out_dir, run
        self.state = StudioState(source.num_frames)
        self.selected: Optional[int] = None
        self.result_frames: Optional[np.ndarray] = None
        self.last_export: Optional[Path] = None
        self._lock = threading.RLock()
        self._quiet = False
        h, w = source.frames.shape[1:3]
        self.aspect, self.fov = w / h, 2 * math.atan(h / 2 / source.K[1, 1])
        server.scene.set_up_direction("-y")
        self._build_gui()
        self._draw_source()
        self._draw_presets()
        self.redraw()

    # ---------------------------------------------------------------- drawing
    def _pose_kw(self, c2w):
        return {"wxyz": wxyz_from_matrix(c2w[:3, :3]), "position": c2w[:3, 3]}

    def _draw_source(self) -> None:
        s, sc = self.source, self.server.scene
        c2w = s.c2w_metric()
        if len(s.points):
            sc.add_point_cloud("/source/points", s.points_metric().astype(np.float32), s.colors, point_size=0.03)
        for k, (f, img) in enumerate(zip(s.frame_indices, s.frames)):
            sc.add_camera_frustum(f"/source/frames/{int(f):04d}", self.fov, self.aspect, scale=0.15, image=img,
                                  format="jpeg", color=(120, 120, 120), **self._pose_kw(c2w[k]))
        if len(c2w) > 1:
            self._polyline("/source/path", c2w[:, :3, 3], (150, 150, 150))

    def _polyline(self, name: str, pts: np.ndarray, color) -> None:
        seg = np.stack([pts[:-1], pts[1:]], 1).astype(np.float32)
        self.server.scene.add_line_segments(name, seg, color, thickness=3.0, thickness_units="screen")

    def _draw_presets(self) -> None:
        self.preset_handles = []
        n = self.state.num_frames
        for k in PRESET_NAMES:
            rel = preset_relative(k, n)
            self._polyline(f"/presets/type{k}/path", rel[:, :3, 3], PRESET_COLORS[k - 1])
            for f in (n // 2, n - 1):
                self.server.scene.add_camera_frustum(f"/presets/type{k}/f{f}", self.fov, self.aspect, scale=0.1,
                                                     color=PRESET_COLORS[k - 1], **self._pose_kw(rel[f]))
            self.server.scene.add_label(f"/presets/type{k}/label", f"{k}", position=rel[-1, :3, 3])

    def redraw(self) -> None:
        """Redraw the new path, its keyframes, the gizmo, warnings and previews after an edit."""
        with self._lock:
            sc = self.server.scene
            traj = self.state.trajectory()
            self._polyline("/new/path", traj[:, :3, 3], (255, 120, 0))
            for name in getattr(self, "_key_names", []):
                sc.remove_by_name(name)
            self._key_names = []
            for k in self.state.keyframes:
                name = f"/new/key_{k.frame:04d}"
                sc.add_camera_frustum(name, self.fov, self.aspect, scale=0.2, color=(255, 120, 0),
                                      **self._pose_kw(k.c2w))
                self._key_names.append(name)
            self._quiet = True
            try:
                self._set_controls()
            finally:
                self._quiet = False
            warn = trajectory_warnings(traj, self.source.points_metric(), self.source.c2w_metric())
            self.gui_warn.content = ("**Warnings**\n\n" + "\n".join(f"* {w}" for w in warn)) if warn else \
                "No warnings: the path stays in the reconstructed region and upright."
            self.warnings = warn
            self._show_frame(int(self.gui_frame.value), traj)

    def _set_controls(self) -> None:
        """Show the selected keyframe in the GUI controls and the gizmo."""
        self.gui_key.options = [str(f) for f in self.state.frames()]
        sel = self.selected if self.selected is not None and self.selected < len(self.state.keyframes) else 0
        self.selected = sel
        self.gui_key.value = str(self.state.keyframes[sel].frame)
        kf = self.state.keyframes[sel]
        self.gizmo.visible = kf.frame != 0
        self.gizmo.wxyz, self.gizmo.position = self._pose_kw(kf.c2w).values()
        self.gui_pos.value = tuple(float(v) for v in kf.c2w[:3, 3])
        self.gui_speed.value = kf.speed.get("profile", "constant")

    def _show_frame(self, frame: int, traj: Optional[np.ndarray] = None) -> None:
        traj = self.state.trajectory() if traj is None else traj
        s = self.source
        self.server.scene.add_camera_frustum("/new/current", self.fov, self.aspect, scale=0.3, color=(255, 40, 0),
                                             **self._pose_kw(traj[frame]))
        k = int(np.argmin(np.abs(s.frame_indices - frame)))
        h, w = s.frames.shape[1:3]
        self.gui_source_img.image = s.frames[k]
        self.gui_preview_img.image = self.preview(frame, traj)
        if self.result_frames is not None:
            self.gui_result_img.image = self.result_frames[min(frame, len(self.result_frames) - 1)]

    def preview(self, frame: int, traj: Optional[np.ndarray] = None) -> np.ndarray:
        """The point cloud seen from the new camera at ``frame``: ``(h, w, 3)`` uint8 at the source frames' size
        and intrinsics. The trajectory lives in the source camera's frame-0 coordinates (as ``recam infer``'s
        ``cam_emb``: relative to the trajectory's frame 0, the source camera's start)."""
        traj = self.state.trajectory() if traj is None else traj
        h, w = self.source.frames.shape[1:3]
        return splat_view(self.source.points_metric(), self.source.colors, self.source.K, traj[frame], w, h)

    # ---------------------------------------------------------------- GUI
    def _build_gui(self) -> None:
        g, s = self.server.gui, self.source
        g.add_markdown(f"**recam studio**: `{self.video.name}`, {s.num_frames} frames, pose estimation "
                       f"`{s.status}`, scale {s.scale:.4g} m per SfM unit ({s.scale_source})"
                       + (f"\n\n{s.message}" if s.message else ""))
        self.gui_frame = g.add_slider("frame", 0, s.num_frames - 1, 1, 0)
        self.gui_play = g.add_checkbox("play", False)
        self.gui_scale = g.add_number("metres per SfM unit", s.scale, min=1e-9, step=0.01,
                                      disabled=not len(s.points))
        with g.add_folder("Design"):
            self.gui_preset = g.add_dropdown("start from", ["scratch"] + [f"{k}: {v}" for k, v in
                                                                         PRESET_NAMES.items()])
            self.gui_load = g.add_button("Start from preset")
            self.gui_show_presets = g.add_checkbox("show presets", True)
            self.gui_add = g.add_button("Add keyframe")
            self.gui_key = g.add_dropdown("keyframe", ["0"])
            self.gui_pos = g.add_vector3("position (m)", (0.0, 0.0, 0.0), step=0.05)
            self.gui_lookat = g.add_vector3("look at (m)", (0.0, 0.0, 4.0), step=0.05)
            self.gui_apply = g.add_button("Set position + look-at")
            self.gui_speed = g.add_dropdown("speed into keyframe", ["constant", "eased"])
            self.gui_retime = g.add_button("Move keyframe to this frame")
            self.gui_delete = g.add_button("Delete keyframe", color="red")
            self.gui_warn = g.add_markdown("")
        with g.add_folder("Export and run"):
            self.gui_name = g.add_text("file", f"{self.video.stem}_studio.yaml")
            self.gui_export = g.add_button("Export")
            self.gui_prompt = g.add_text("prompt", "")
            self.gui_run = g.add_button("Run recam infer", disabled=self.run_cfg is None,
                                        hint=None if self.run_cfg else "start recam studio with --model-dir")
            self.gui_status = g.add_markdown("")
        with g.add_folder("Views"):
            h, w = s.frames.shape[1:3]
            self.gui_source_img = g.add_image(s.frames[0], label="source")
            self.gui_preview_img = g.add_image(np.zeros((h, w, 3), np.uint8), label="preview (points)")
            self.gui_result_img = g.add_image(np.zeros((h, w, 3), np.uint8), label="result", visible=False)
        self.gizmo = self.server.scene.add_transform_controls("/new/gizmo", scale=0.5, visible=False)

        self.gui_frame.on_update(lambda _: self._show_frame(int(self.gui_frame.value)))
        self.gui_scale.on_update(lambda _: self._rescale())
        self.gui_load.on_click(lambda _: self._guarded(self._load_preset))
        self.gui_show_presets.on_update(lambda _: self._toggle_presets())
        self.gui_add.on_click(lambda _: self._guarded(self._add))
        self.gui_key.on_update(lambda _: self._guarded(lambda: self._select(int(self.gui_key.value))))
        self.gui_apply.on_click(lambda _: self._guarded(self._apply_lookat))
        self.gui_speed.on_update(lambda _: self._guarded(self._speed))
        self.gui_delete.on_click(lambda _: self._guarded(self._delete))
        self.gui_retime.on_click(lambda _: self._guarded(self._retime))
        self.gui_export.on_click(lambda _: self._guarded(self.export_from_gui))
        self.gui_run.on_click(lambda _: self._guarded(self._start_run))
        self.gizmo.on_update(lambda _: self._guarded(self._gizmo_moved))

    def _guarded(self, fn: Callable[[], None]) -> None:
        if self._quiet:  # a value set by redraw(), not by the user
            return
        try:
            with self._lock:
                fn()
        except ValueError as e:  # a refused edit: say why, keep the design
            self.gui_status.content = f"**refused:** {e}"

    def _select(self, frame: int) -> None:
        i = self.state.index(frame)
        if i is not None and i != self.selected:
            self.selected = i
            self.redraw()

    def _rescale(self) -> None:
        v = float(self.gui_scale.value)
        if v > 0 and math.isfinite(v):
            self.source.scale, self.source.scale_source = v, "set in the studio"
            self.server.scene.remove_by_name("/source")
            self._draw_source()
            self.redraw()

    def _load_preset(self) -> None:
        v = self.gui_preset.value
        self.state.start_from_preset(None if v == "scratch" else int(v.split(":")[0]))
        self.selected = len(self.state.keyframes) - 1
        self.redraw()

    def _toggle_presets(self) -> None:
        self.server.scene.remove_by_name("/presets")
        if self.gui_show_presets.value:
            self._draw_presets()

    def _add(self) -> None:
        frame = int(self.gui_frame.value)
        self.selected = self.state.add(frame)
        self.gui_status.content = f"keyframe at frame {frame}"
        self.redraw()

    def _apply_lookat(self) -> None:
        self.state.move(self.selected, look_at_c2w(self.gui_pos.value, self.gui_lookat.value))
        self.redraw()

    def _speed(self) -> None:
        if self.state.keyframes[self.selected].frame != 0:
            self.state.set_speed(self.selected, self.gui_speed.value)
            self.redraw()

    def _retime(self) -> None:
        frame = int(self.gui_frame.value)
        self.state.retime(self.selected, frame)
        self.selected = self.state.index(frame)
        self.redraw()

    def _delete(self) -> None:
        self.state.delete(self.selected)
        self.selected = max(0, self.selected - 1)
        self.redraw()

    def _gizmo_moved(self) -> None:
        if self.selected is None or self.state.keyframes[self.selected].frame == 0:
            return
        c2w = np.eye(4)
        c2w[:3, :3], c2w[:3, 3] = matrix_from_wxyz(self.gizmo.wxyz), self.gizmo.position
        self.state.move(self.selected, c2w)
        self.redraw()

    def export_from_gui(self) -> Path:
        """Export to the GUI's file name inside ``out_dir`` (``safe_join``); returns the path."""
        path = safe_join(self.out_dir, self.gui_name.value.strip(), what="export file")
        if path.suffix not in (".yaml", ".yml"):
            raise ValueError(f"export file {path.name!r}: expected a .yaml name")
        self.state.export(path, header=f"source video: {self.video.name}")
        self.last_export = path
        self.gui_status.content = f"exported `{path}`: `recam infer --trajectory {path} --num-frames " \
                                  f"{self.state.num_frames}`"
        return path

    def _start_run(self) -> None:
        if self.run_cfg is None:
            raise ValueError("no model: start recam studio with --model-dir (and --ckpt)")
        path = self.export_from_gui()
        prompt = self.gui_prompt.value.strip() or "a video"
        self.gui_run.disabled = True
        self.gui_status.content = f"running recam infer on `{path.name}` ..."
        threading.Thread(target=self.run_and_show, args=(path, prompt), daemon=True).start()

    def run_and_show(self, path: Path, prompt: str):
        """Run ``recam infer`` on the exported ``path`` and show the result beside the source (blocking)."""
        t0 = time.perf_counter()
        try:
            proc = run_infer(self.run_cfg, self.video, prompt, path, self.state.num_frames)
            if proc.returncode != 0:
                self.gui_status.content = f"**recam infer failed** (exit {proc.returncode}):\n\n```\n" \
                                          f"{proc.stdout[-1500:]}\n```"
                return proc
            result, _ = read_video(result_paths(self.run_cfg, self.video, path)[0])
            h, w = self.source.frames.shape[1:3]
            from PIL import Image

            self.result_frames = np.stack([np.asarray(Image.fromarray(f).resize((w, h))) for f in result])
            self.gui_result_img.visible = True
            self.gui_status.content = f"result in {time.perf_counter() - t0:.1f} s: " \
                                      f"`{result_paths(self.run_cfg, self.video, path)[0]}`"
            self._show_frame(int(self.gui_frame.value))
            return proc
        except (OSError, VideoReadError) as e:
            self.gui_status.content = f"**recam infer failed**: {e}"
        finally:
            self.gui_run.disabled = False

    def tick(self) -> None:
        """Advance the frame slider while ``play`` is ticked (called by the server loop)."""
        if self.gui_play.value:
            with self._lock:
                self.gui_frame.value = (int(self.gui_frame.value) + 1) % self.state.num_frames  # redraws
