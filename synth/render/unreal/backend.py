"""The Unreal Engine 5 backend: the renderer interface over UnrealCV (stock commands + our ``/synth`` plugin).

Per scene: open the map (skipped when already loaded; waits until the new world has begun play), pause the game, apply the lighting preset, spawn the cameras
(ids above the player camera 0), spawn the character, set its animation and the lens. Per frame, one batch of
``1 + 2C + C <= 32`` commands (C = 10): animation time, every camera's location and rotation, every camera's
``lit bmp`` capture; optional depth / masks follow in a second batch while the game stays paused (same world
state). Poses sent are those of the written FMatrix (location cm, rotator deg), formatted to UnrealCV's float
grammar. Faults (timeouts, dropped connections, ``error`` replies, a restarted server) raise
:class:`RetryableRenderError`: the driver discards the scene and renders it again from its start.
"""

from __future__ import annotations

import io
import logging
import time
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ...scenes.catalog import Animation, Catalog, Character, Environment
from ...core.intrinsics import horizontal_fov_deg
from ...core.units import CM_PER_M
from ...core.unreal import fmatrix_to_unreal_pose
from ...core.poses import Poses
from ...core.scene_spec import Lens
from ..backend import CameraCapture, CaptureRequest, RenderError, RendererBackend
from .connection import Connection, UnrealCVError, UnrealCVFault
from .protocol import (CHARACTER_MASK_RGB, CHARACTER_NAME, MAX_REQUESTS_PER_TICK, check_str, decode_bmp, fmt_float,
                       map_package, parse_bones)

__all__ = ["UnrealBackend", "frame_batch_commands"]

log = logging.getLogger(__name__)


def frame_batch_commands(camera_ids: Sequence[int], t_s: float, fmatrices: np.ndarray,
                         character: str = CHARACTER_NAME) -> List[str]:
    """The per-frame batch: animation time, each camera's location and rotation, each camera's lit capture."""
    loc, rot = fmatrix_to_unreal_pose(np.asarray(fmatrices, float))
    cmds = [f"vset /synth/character/{character}/time {fmt_float(t_s)}"]
    for cid, l, r in zip(camera_ids, loc, rot):
        cmds.append(f"vset /camera/{cid}/location {fmt_float(l[0])} {fmt_float(l[1])} {fmt_float(l[2])}")
        cmds.append(f"vset /camera/{cid}/rotation {fmt_float(r[0])} {fmt_float(r[1])} {fmt_float(r[2])}")
    cmds += [f"vget /camera/{cid}/lit bmp" for cid in camera_ids]
    if len(cmds) > MAX_REQUESTS_PER_TICK:
        raise ValueError(f"{len(camera_ids)} cameras need {len(cmds)} commands per frame; at most "
                         f"{(MAX_REQUESTS_PER_TICK - 1) // 3} cameras fit one UnrealCV tick")
    return cmds


class UnrealBackend(RendererBackend):
    """UnrealCV backend.

    Args:
        catalog: the Unreal project's catalog (``asset`` fields are map / skeletal mesh / Blueprint / animation
            paths, without spaces).
        num_cameras: cameras per scene (<= 10 per UnrealCV tick).
        endpoint: ``(host, port)`` of the UnrealCV server.
        timeout: seconds to wait for a batch (captures included).
        level_timeout: seconds to wait for a map to open.
        launcher: a :class:`~synth.render.unreal.launcher.UELauncher` to restart a game that died (optional).
    """

    name = "unreal"
    #: captures of frame 0 discarded first (temporal AA and auto-exposure history)
    warmup = 3

    def __init__(self, catalog: Catalog, num_cameras: int = 10, endpoint: Tuple[str, int] = ("127.0.0.1", 9000),
                 timeout: float = 60.0, level_timeout: float = 300.0, launcher=None, reconnect_attempts: int = 5):
        self.catalog, self.num_cameras = catalog, num_cameras
        self.endpoint, self.timeout, self.level_timeout = tuple(endpoint), timeout, level_timeout
        self.launcher, self.reconnect_attempts = launcher, reconnect_attempts
        self.conn: Optional[Connection] = None
        self._map: Optional[str] = None
        self.camera_ids: List[int] = []
        self.size: Optional[Tuple[int, int]] = None
        self._time = 0.0
        self._animation: Optional[Animation] = None
        self._poses: Optional[np.ndarray] = None
        self.bytes_received = 0

    # ------------------------------------------------------------------------------------------- connection
    def _connection(self) -> Connection:
        if self.conn is not None and self.conn.connected:
            return self.conn
        self._map = None  # a new connection may be a restarted game: assume nothing about its state
        self.camera_ids = []
        last = None
        for attempt in range(self.reconnect_attempts):
            if self.launcher is not None:
                self.launcher.ensure_running()
            conn = Connection(self.endpoint, self.timeout)
            try:
                conn.connect()
                self.conn = conn
                return conn
            except UnrealCVFault as e:
                last = e
                time.sleep(min(0.5 * 2 ** attempt, 8.0))
        raise UnrealCVFault(f"{last}; gave up after {self.reconnect_attempts} attempts. Start the UE5 game with the "
                            f"UnrealCV and SynthCV plugins (synth render --ue-binary ...) or check --ue-endpoint")

    def _batch(self, cmds: Sequence[str], timeout: Optional[float] = None):
        conn = self._connection()
        try:
            replies = conn.batch(cmds, timeout)
        except UnrealCVFault:
            self.conn = None
            raise
        self.bytes_received += sum(len(r) for r in replies)
        return replies

    def _request(self, cmd: str, timeout: Optional[float] = None):
        return self._batch([cmd], timeout)[0]

    # ------------------------------------------------------------------------------------------- scene
    def load_environment(self, env: Environment, lighting: str) -> None:
        asset = check_str(env.asset, f"map of environment {env.id!r}")
        self._connection()
        if self._map != asset:
            self._open_map(asset)
        self._request("vset /action/game/pause")
        self._request(f"vset /synth/lighting {check_str(lighting, 'lighting preset')}")
        if len(self.camera_ids) != self.num_cameras:
            existing = str(self._request("vget /cameras")).split()
            first = max(len(existing), 1)  # id 0 is the player camera: never ours
            spawn = first + self.num_cameras - len(existing)
            if spawn > 0:
                self._batch(["vset /cameras/spawn"] * spawn)
            self.camera_ids = list(range(first, first + self.num_cameras))
        self.size = None

    def _open_map(self, asset: str) -> None:
        """Open a map and wait until its world has begun play (cameras and actors of the old world are gone)."""
        self._map, self.camera_ids = None, []
        self._request(f"vset /synth/map {asset}")
        want = f"{map_package(asset)} ready"
        deadline = time.monotonic() + self.level_timeout
        while True:
            state = str(self._request("vget /synth/map")).strip()
            if state == want:
                break
            if time.monotonic() > deadline:
                raise UnrealCVFault(f"map {asset} not ready after {self.level_timeout:g} s (the game reports "
                                    f"{state!r})")
            time.sleep(0.05)
        self._map = asset

    def spawn_character(self, character: Character, location_cm: Sequence[float], yaw_deg: float) -> None:
        asset = check_str(character.asset, f"asset of character {character.id!r}")
        try:
            self._request(f"vset /synth/character/{CHARACTER_NAME}/destroy")
        except UnrealCVError:
            pass  # nothing to remove
        x, y, z = location_cm
        # the catalog may correct a mesh's forward axis: a bare skeletal mesh imported from Mixamo / Fab faces +Y,
        # a Character Blueprint faces +X (Unreal's forward), which is what yaw 0 means here
        yaw_deg = float(yaw_deg) + float(character.params.get("yaw_offset_deg", 0.0))
        self._request(f"vset /synth/character/spawn {CHARACTER_NAME} {asset} {fmt_float(x)} {fmt_float(y)} "
                      f"{fmt_float(z)} {fmt_float(yaw_deg)}")
        r, g, b = CHARACTER_MASK_RGB
        self._request(f"vset /object/{CHARACTER_NAME}/color {r} {g} {b}")

    def set_animation(self, animation: Animation) -> None:
        asset = check_str(animation.asset, f"asset of animation {animation.id!r}")
        self._request(f"vset /synth/character/{CHARACTER_NAME}/animation {asset}")
        self._animation = animation

    def set_animation_time(self, t_s: float) -> None:
        """Clip time: wraps for looping clips, clamps to ``[0, duration_s]`` otherwise (the catalog's duration)."""
        if self._animation is None:
            raise RenderError("set_animation must come before set_animation_time")
        d = self._animation.duration_s
        self._time = float(t_s) % d if self._animation.loop else min(max(float(t_s), 0.0), d)

    def set_lens(self, lens: Lens, width: int, height: int) -> None:
        hfov = float(horizontal_fov_deg(lens.focal_length_mm, lens.sensor_mm))
        sensor_h = lens.sensor_mm * height / width
        cmds = []
        for cid in self.camera_ids:
            cmds += [f"vset /camera/{cid}/size {int(width)} {int(height)}",
                     f"vset /camera/{cid}/fov {fmt_float(hfov)}",
                     f"vset /synth/camera/{cid}/lens {fmt_float(lens.focal_length_mm)} {fmt_float(lens.sensor_mm)} "
                     f"{fmt_float(sensor_h)} {fmt_float(lens.aperture_f)}"]
        for k in range(0, len(cmds), MAX_REQUESTS_PER_TICK - 2):
            self._batch(cmds[k:k + MAX_REQUESTS_PER_TICK - 2])
        self.size = (width, height)
        self._lens = lens  # set_focal_lengths keeps its sensor and aperture

    def set_focal_lengths(self, focal_mm: Sequence[float]) -> None:
        """Per-camera focal lengths (mm) of the current frame: the lens command (and the FOV UnrealCV's capture
        uses) per camera, sent before the frame's capture batch."""
        lens = getattr(self, "_lens", None)
        if lens is None or self.size is None:
            raise RenderError("set_lens must come before set_focal_lengths")
        sensor_h = lens.sensor_mm * self.size[1] / self.size[0]
        cmds = []
        for cid, f in zip(self.camera_ids, focal_mm, strict=True):
            cmds += [f"vset /camera/{cid}/fov {fmt_float(float(horizontal_fov_deg(f, lens.sensor_mm)))}",
                     f"vset /synth/camera/{cid}/lens {fmt_float(float(f))} {fmt_float(lens.sensor_mm)} "
                     f"{fmt_float(sensor_h)} {fmt_float(lens.aperture_f)}"]
        for k in range(0, len(cmds), MAX_REQUESTS_PER_TICK - 2):
            self._batch(cmds[k:k + MAX_REQUESTS_PER_TICK - 2])

    def set_camera_poses(self, poses: Poses) -> None:
        self._check_camera_poses(poses)
        self._poses = poses.to_fmatrix()  # UnrealCV speaks locations and rotators: frame_batch_commands converts

    def capture(self, request: CaptureRequest = CaptureRequest()) -> List[CameraCapture]:
        if self._poses is None or self.size is None:
            raise RenderError("set_lens and set_camera_poses must come before capture")
        replies = self._batch(frame_batch_commands(self.camera_ids, self._time, self._poses))
        c = len(self.camera_ids)
        out = []
        for cid, rep in zip(self.camera_ids, replies[1 + 2 * c:]):
            if not isinstance(rep, (bytes, bytearray)):
                raise UnrealCVFault(f"camera {cid}: expected a BMP image, got {str(rep)[:80]!r}")
            try:
                out.append(CameraCapture(decode_bmp(rep)))
            except ValueError as e:
                raise UnrealCVFault(f"camera {cid}: {e}") from None
        if request.depth or request.mask:
            extra = ([f"vget /camera/{cid}/depth npy" for cid in self.camera_ids] if request.depth else []) + \
                    ([f"vget /camera/{cid}/object_mask png" for cid in self.camera_ids] if request.mask else [])
            reps = self._batch(extra)
            if request.depth:
                for cap, rep in zip(out, reps[:c]):
                    cap.depth_m = (np.load(io.BytesIO(rep)).astype(np.float32) / CM_PER_M)
                reps = reps[c:]
            if request.mask:
                from PIL import Image

                color = np.array(CHARACTER_MASK_RGB, np.uint8)
                for cap, rep in zip(out, reps):
                    m = np.asarray(Image.open(io.BytesIO(rep)).convert("RGB"))
                    cap.mask = np.all(m == color, axis=-1)
        return out

    def joint_positions_cm(self) -> Tuple[List[str], np.ndarray]:
        return parse_bones(str(self._request(f"vget /synth/character/{CHARACTER_NAME}/bones")))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
