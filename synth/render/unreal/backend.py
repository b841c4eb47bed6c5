"""The Unreal Engine 5 backend: the renderer interface over UnrealCV (stock commands + our ``/synth`` plugin).

Per scene: open the map (skipped when already loaded; polls ``vget /synth/map`` with ``level_timeout`` until the
new world is ready: streaming, shaders), pause the game, apply the lighting preset, spawn the cameras (sensor ids
1..C; id 0 is the pawn's camera, moved with the pawn and stale while paused: never ours), set the capture mode
(paused or stepped world, settle renders), spawn the character, set its animation and the lens. Per frame, one batch of
``1 + 2C + 1 + C <= 32`` commands (C = 10): animation time, every camera's location and rotation, focus + settle
(``vset /synth/cameras/prepare``), every camera's ``lit bmp`` capture; optional depth / masks follow in a second
batch while the game stays paused (same world state). In ``step`` mode the pose batch ends with
``vset /synth/step <dt>`` and the captures wait until the world has run that fixed step (cloth, groom, Niagara follow).
Poses sent are those of the written FMatrix (location cm, rotator deg), formatted to UnrealCV's float grammar.
Faults (timeouts, dropped connections, ``error`` replies, a restarted server, a capture that differs from its
re-capture) raise :class:`RetryableRenderError`: the driver discards the scene and renders it again from its start.
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
from .protocol import (CAPTURE_MODES, CHARACTER_MASK_RGB, CHARACTER_NAME, MAX_REQUESTS_PER_TICK, check_str,
                       decode_bmp, fmt_float, map_package, parse_bones, rgb_hash)
from .replies import parse_map_state, parse_reply

__all__ = ["UnrealBackend", "frame_batch_commands", "pose_commands", "capture_commands", "lens_commands",
           "depth_m_from_npy"]

log = logging.getLogger(__name__)
#: half-float depth overflows to inf beyond 65504 cm (sky); also what a far plane reads
_HALF_MAX_CM = 65504.0


def pose_commands(camera_ids: Sequence[int], t_s: float, fmatrices: np.ndarray,
                  character: str = CHARACTER_NAME) -> List[str]:
    """Animation time and each camera's location (cm) and rotation (pitch yaw roll, deg) from ``(C, 4, 4)``
    FMatrices (Unreal's row-vector c2w, see :mod:`synth.core.unreal`)."""
    loc, rot = fmatrix_to_unreal_pose(np.asarray(fmatrices, float))
    cmds = [f"vset /synth/character/{character}/time {fmt_float(t_s)}"]
    for cid, l, r in zip(camera_ids, loc, rot):
        cmds.append(f"vset /camera/{cid}/location {fmt_float(l[0])} {fmt_float(l[1])} {fmt_float(l[2])}")
        cmds.append(f"vset /camera/{cid}/rotation {fmt_float(r[0])} {fmt_float(r[1])} {fmt_float(r[2])}")
    return cmds


def capture_commands(camera_ids: Sequence[int], character: str = CHARACTER_NAME) -> List[str]:
    """Focus every camera on the character and run the settle renders, then each camera's lit capture."""
    return [f"vset /synth/cameras/prepare {character}"] + [f"vget /camera/{cid}/lit bmp" for cid in camera_ids]


def frame_batch_commands(camera_ids: Sequence[int], t_s: float, fmatrices: np.ndarray,
                         character: str = CHARACTER_NAME) -> List[str]:
    """The per-frame batch of the paused mode: :func:`pose_commands` then :func:`capture_commands` (one engine tick,
    one world state).

    Raises:
        ValueError: more commands than UnrealCV runs in one tick (> 10 cameras).
    """
    cmds = pose_commands(camera_ids, t_s, fmatrices, character) + capture_commands(camera_ids, character)
    if len(cmds) > MAX_REQUESTS_PER_TICK:
        raise ValueError(f"{len(camera_ids)} cameras need {len(cmds)} commands per frame; at most "
                         f"{(MAX_REQUESTS_PER_TICK - 2) // 3} cameras fit one UnrealCV tick")
    return cmds


def lens_commands(camera_id: int, lens: Lens, width: int, height: int) -> List[str]:
    """The commands that set one camera's image size and lens: horizontal FOV (deg) from focal length and sensor
    width, then the plugin's physical lens (focal mm, sensor width and height mm, f-number; the sensor height is
    ``sensor_mm * height / width``: square pixels). Extend here for per-frame lens changes."""
    hfov = float(horizontal_fov_deg(lens.focal_length_mm, lens.sensor_mm))
    sensor_h = lens.sensor_mm * height / width
    return [f"vset /camera/{camera_id}/size {int(width)} {int(height)}",
            f"vset /camera/{camera_id}/fov {fmt_float(hfov)}",
            f"vset /synth/camera/{camera_id}/lens {fmt_float(lens.focal_length_mm)} {fmt_float(lens.sensor_mm)} "
            f"{fmt_float(sensor_h)} {fmt_float(lens.aperture_f)}"]


class UnrealBackend(RendererBackend):
    """UnrealCV backend.

    Args:
        catalog: the Unreal project's catalog (``asset`` fields are map / skeletal mesh / Blueprint / animation
            paths, without spaces).
        num_cameras: cameras per scene (<= 10 per UnrealCV tick).
        endpoint: ``(host, port)`` of the UnrealCV server.
        timeout: seconds to wait for a batch (captures included).
        level_timeout: seconds to wait for a map to be ready (a map load blocks the game thread: the poll waits
            for its reply up to this long; never sends ``vset /synth/map`` again).
        launcher: a :class:`~synth.render.unreal.launcher.UELauncher` to restart a game that died (optional).
        mode: ``"paused"`` (world paused, character posed at absolute times) or ``"step"`` (the world advanced by
            one fixed time step per frame (the animation time since the previous capture, 1/fps), so cloth, groom and
            Niagara follow; see ``ue_plugin/README.md``).
        settle: renders per camera and frame before the capture (TAA/TSR, exposure, Lumen history); 0 turns these
            temporal effects off instead.
        hash_every: compare a capture with the plugin's hash of a re-capture of the same world state every
            ``hash_every`` frames of a scene (the first after warm-up always; 0: never); a mismatch is a fault
            when ``settle == 0`` (see :meth:`_check_hashes`).
    """

    name = "unreal"
    #: captures of frame 0 discarded first (temporal AA and auto-exposure history)
    warmup = 3

    def __init__(self, catalog: Catalog, num_cameras: int = 10, endpoint: Tuple[str, int] = ("127.0.0.1", 9000),
                 timeout: float = 60.0, level_timeout: float = 300.0, launcher=None, reconnect_attempts: int = 5,
                 mode: str = "paused", settle: int = 0, hash_every: int = 0):
        if mode not in CAPTURE_MODES:
            raise ValueError(f"capture mode {mode!r}: expected one of {', '.join(CAPTURE_MODES)}")
        if settle < 0 or hash_every < 0:
            raise ValueError("settle and hash_every must be >= 0")
        self.catalog, self.num_cameras = catalog, num_cameras
        self.endpoint, self.timeout, self.level_timeout = tuple(endpoint), timeout, level_timeout
        self.launcher, self.reconnect_attempts = launcher, reconnect_attempts
        self.mode, self.settle, self.hash_every = mode, int(settle), int(hash_every)
        self.conn: Optional[Connection] = None
        self._map: Optional[str] = None
        self.camera_ids: List[int] = []
        self.size: Optional[Tuple[int, int]] = None
        self._time = 0.0
        self._animation: Optional[Animation] = None
        self._poses: Optional[np.ndarray] = None
        self._captures = 0  # captures since set_animation (warm-up ones included)
        self._t_raw: Optional[float] = None
        self._t_next_raw = 0.0
        self.bytes_received = 0
        self.hash_checks = 0
        self.hash_mismatches = 0

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

    def _parsed(self, template: str, cmd: str, timeout: Optional[float] = None):
        rep = self._request(cmd, timeout)
        try:
            return parse_reply(template, rep)
        except ValueError as e:
            raise UnrealCVFault(f"{cmd}: {e}") from None

    # ------------------------------------------------------------------------------------------- scene
    def load_environment(self, env: Environment, lighting: str) -> None:
        asset = check_str(env.asset, f"map of environment {env.id!r}")
        self._connection()
        if self._map != asset:
            self._open_map(asset)
        self._request("vset /action/game/pause")
        self._request(f"vset /synth/lighting {check_str(lighting, 'lighting preset')}")
        if len(self.camera_ids) != self.num_cameras:
            # UnrealCV numbers sensors in the order of GetFusionSensorList: the pawn's first (id 0: it moves the
            # pawn and is stale while paused), then every other sensor in UObject hash order, so a spawned camera
            # has no predictable id. Ids 1..C are capture cameras whichever actor holds them; spawn what is missing.
            existing = self._parsed("vget /cameras", "vget /cameras")
            missing = self.num_cameras + 1 - max(len(existing), 1)
            if missing > 0:
                for k in range(0, missing, MAX_REQUESTS_PER_TICK):
                    self._batch(["vset /cameras/spawn"] * min(MAX_REQUESTS_PER_TICK, missing - k))
                listed = self._parsed("vget /cameras", "vget /cameras")
                if len(listed) < self.num_cameras + 1:
                    raise UnrealCVFault(f"spawned {missing} cameras but UnrealCV lists {len(listed)} sensors")
            self.camera_ids = list(range(1, self.num_cameras + 1))
        # after the cameras exist: the plugin applies the temporal settings to the sensors of the world
        self._request(f"vset /synth/capture_mode {self.mode} {self.settle}")
        self.size = None

    def _open_map(self, asset: str) -> None:
        """Open a map once and wait up to ``level_timeout`` until the new world is ready.

        A map load blocks the game thread, so one poll may wait for its reply as long as the load takes: each poll
        gets the time left of ``level_timeout`` as its timeout (not the per-request ``timeout``), and the map is
        never requested twice (no reload loop).

        Raises:
            UnrealCVFault: not ready within ``level_timeout`` (the message has the last state reported).
        """
        self._map, self.camera_ids = None, []
        want = map_package(asset)
        deadline = time.monotonic() + self.level_timeout
        self._request(f"vset /synth/map {asset}", timeout=self.level_timeout)
        state = None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise UnrealCVFault(f"map {asset} not ready after {self.level_timeout:g} s (the game reports "
                                    f"{state!r}); raise --ue-level-timeout for large worlds")
            try:
                rep = self._request("vget /synth/map", timeout=max(left, 0.1))
            except UnrealCVFault as e:
                if time.monotonic() < deadline:
                    raise  # a dropped connection, not the load outlasting level_timeout
                raise UnrealCVFault(f"map {asset} not ready after {self.level_timeout:g} s ({e}); raise "
                                    f"--ue-level-timeout for large worlds") from None
            try:
                st = parse_map_state(rep)
            except ValueError as e:
                raise UnrealCVFault(str(e)) from None
            state = f"{st.package} {'ready' if st.ready else 'loading'}"
            if st.ready and st.package == want:
                break
            time.sleep(min(0.05, max(left, 0.0)))
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
        self._captures = 0
        self._t_raw = None  # unwrapped clip time of the last capture (step mode's time step)

    def set_animation_time(self, t_s: float) -> None:
        """Clip time: wraps for looping clips, clamps to ``[0, duration_s]`` otherwise (the catalog's duration)."""
        if self._animation is None:
            raise RenderError("set_animation must come before set_animation_time")
        d = self._animation.duration_s
        self._t_next_raw = float(t_s)
        self._time = float(t_s) % d if self._animation.loop else min(max(float(t_s), 0.0), d)

    def set_lens(self, lens: Lens, width: int, height: int) -> None:
        """Every camera's size and lens (:func:`lens_commands`)."""
        cmds = [c for cid in self.camera_ids for c in lens_commands(cid, lens, width, height)]
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

    def _step_world(self) -> None:
        """Step mode: wait until the world has run the fixed step requested (``vget /synth/step`` reaches 0)."""
        deadline = time.monotonic() + self.timeout
        while True:
            pending = self._parsed("vget /synth/step", "vget /synth/step")
            if pending == 0:
                return
            if time.monotonic() > deadline:
                raise UnrealCVFault(f"the world did not run its fixed step within {self.timeout:g} s "
                                    f"({pending} pending)")
            time.sleep(0.005)

    def capture(self, request: CaptureRequest = CaptureRequest()) -> List[CameraCapture]:
        if self._poses is None or self.size is None:
            raise RenderError("set_lens and set_camera_poses must come before capture")
        c = len(self.camera_ids)
        if self.mode == "step":
            dt = 0.0 if self._t_raw is None else self._t_next_raw - self._t_raw
            self._t_raw = self._t_next_raw
            step = [f"vset /synth/step {fmt_float(dt)}"] if dt > 0 else []
            self._batch(pose_commands(self.camera_ids, self._time, self._poses) + step)
            if step:
                self._step_world()
            replies = self._batch(capture_commands(self.camera_ids))[1:]
        else:
            replies = self._batch(frame_batch_commands(self.camera_ids, self._time, self._poses))[1 + 2 * c + 1:]
        out = []
        for cid, rep in zip(self.camera_ids, replies):
            if not isinstance(rep, (bytes, bytearray)):
                raise UnrealCVFault(f"camera {cid}: expected a BMP image, got {str(rep)[:80]!r}")
            try:
                out.append(CameraCapture(decode_bmp(rep)))
            except ValueError as e:
                raise UnrealCVFault(f"camera {cid}: {e}") from None
        k, self._captures = self._captures, self._captures + 1
        if self.hash_every and k >= self.warmup and (k - self.warmup) % self.hash_every == 0:
            self._check_hashes(out)
        if request.depth or request.mask:
            extra = ([f"vget /camera/{cid}/depth npy" for cid in self.camera_ids] if request.depth else []) + \
                    ([f"vget /camera/{cid}/object_mask png" for cid in self.camera_ids] if request.mask else [])
            reps = self._batch(extra)
            if request.depth:
                for cid, cap, rep in zip(self.camera_ids, out, reps[:c]):
                    cap.depth_m = depth_m_from_npy(rep, cid)
                reps = reps[c:]
            if request.mask:
                from PIL import Image

                color = np.array(CHARACTER_MASK_RGB, np.uint8)
                for cap, rep in zip(out, reps):
                    m = np.asarray(Image.open(io.BytesIO(rep)).convert("RGB"))
                    cap.mask = np.all(m == color, axis=-1)
        return out

    def _check_hashes(self, caps: Sequence[CameraCapture]) -> None:
        """Re-capture every camera in the same world state (the plugin hashes it) and compare with what arrived.

        With ``settle == 0`` (no render history) a difference is a fault. With ``settle > 0`` TAA/TSR keep jittering
        the sub-pixel sample from one render to the next, so a re-capture is not bit-identical by design: a
        difference is counted in ``hash_mismatches`` and logged once, not raised.

        Raises:
            UnrealCVFault: ``settle == 0`` and a camera's pixels differ from its re-capture (some temporal effect is
                still on: check the map's post-process, or see ``--ue-settle``).
        """
        got = self._batch([f"vget /synth/camera/{cid}/lit_hash" for cid in self.camera_ids])
        self.hash_checks += 1
        for cid, cap, rep in zip(self.camera_ids, caps, got):
            want = rgb_hash(cap.rgb)
            theirs = str(parse_reply("vget /synth/camera/[uint]/lit_hash", rep))
            if theirs == want:
                continue
            msg = (f"camera {cid}: a re-capture of the same frame differs (hash {theirs[:12]} vs {want[:12]}): "
                   f"temporal effects are not settled (see --ue-settle)")
            if self.settle == 0:
                raise UnrealCVFault(msg)
            if not self.hash_mismatches:
                log.warning("%s; with --ue-settle %d TAA/TSR jitter makes re-captures differ, counted, not raised",
                            msg, self.settle)
            self.hash_mismatches += 1

    def joint_positions_cm(self) -> Tuple[List[str], np.ndarray]:
        rows = self._parsed("vget /synth/character/[str]/bones", f"vget /synth/character/{CHARACTER_NAME}/bones")
        return parse_bones("\n".join(" ".join(r) for r in rows))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def depth_m_from_npy(data: bytes, camera_id: int = 0) -> np.ndarray:
    """``vget /camera/N/depth npy`` -> ``(H, W)`` float32 planar depth in metres, 0 where nothing was hit.

    UnrealCV reads depth from a half-float render target: values are quantised like float16 (steps of ~0.5 cm at
    10 m, ~4 cm at 50 m) and overflow to inf beyond 655.04 m (the sky): those become 0 (nothing hit).

    Raises:
        UnrealCVFault: not an ``.npy`` of a 2-D (or H x W x 1) float array.
    """
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError) as e:
        raise UnrealCVFault(f"camera {camera_id}: depth reply is not an .npy array ({e})") from None
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2 or arr.dtype.kind != "f":
        raise UnrealCVFault(f"camera {camera_id}: depth reply has shape {arr.shape} dtype {arr.dtype}; expected "
                            f"(H, W) floats")
    cm = arr.astype(np.float32)
    cm[~np.isfinite(cm) | (cm >= _HALF_MAX_CM) | (cm < 0)] = 0.0
    return cm / np.float32(CM_PER_M)
