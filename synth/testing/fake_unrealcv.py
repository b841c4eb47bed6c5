"""A test server that speaks UnrealCV's wire protocol and renders with the embedded renderer.

Strict: it answers stock commands as UnrealCV 5.2 (HEAD ec12043) does, with the reply formats and error texts of
:mod:`synth.render.unreal.replies` (the table the backend parses with): no ``vget /unrealcv/commands`` (the listing
is ``vget /unrealcv/help``); ``lit`` / ``object_mask`` give binary only for ``png`` / ``bmp``, save on the server
and reply the file name for a path, and answer ``error Invalid filename type`` for ``npy``; depth ``npy`` holds
float32 values read from half floats; camera 0 is the pawn's camera (``vset`` moves the pawn; its image and
location follow only while the game ticks, so they are stale while paused); ``vget /cameras`` lists sensor
component names, the pawn's first, the others in (simulated) UObject hash order, which is also their id order;
``Invalid sensor id`` / ``Argument Invalid``; colours truncated to 8 bits; pausing needs a player controller; a
map load blocks the game thread for ``load_s`` seconds. Also faithful: framing and request ids, the
``connected to <project>`` greeting, one client at a time (others are closed), at most 32 requests per tick processed in order on one "game
thread", the dispatcher's command grammar (``[str]``/``[uint]``/``[float]``, unknown commands answered
``error No handler found ...``), replies ``ok`` / value / ``error <message>``, BMP/PNG/NPY captures, state kept
across client connections (lost only when the "game" restarts). It executes the stock commands our backend sends
and the ``/synth`` commands of ``ue_plugin/SynthCV``.

Faults can be scheduled (by global request index): ``drop`` the connection, ``delay`` a reply, answer ``error``,
or ``restart`` (the game dies and comes back, losing its state).

Run standalone: ``python -m synth.testing.fake_unrealcv --port 9000`` (maps the embedded catalog to
``/Game/Synth/...`` asset paths; see :func:`unreal_catalog_for`).
"""

from __future__ import annotations

import argparse
import io
import logging
import queue
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import yaml

from synth.scenes.catalog import Catalog
from synth.core.intrinsics import focal_mm_from_hfov
from synth.core.units import CM_PER_M
from synth.core.poses import Poses
from synth.render.unreal.protocol import (CAPTURE_MODES, MAX_REQUESTS_PER_TICK, PLUGIN_VERSION, STOCK_COMMANDS,
                                          SYNTH_COMMANDS, Grammar, encode_bmp, frame, map_package, read_frame,
                                          rgb_hash)
from synth.render.unreal.replies import error_text, format_help, reply

__all__ = ["Fault", "FakeUnrealServer", "unreal_catalog_for", "start_server_process", "ServerHandle"]

log = logging.getLogger(__name__)
_DEFAULT_MASK_RGB = (64, 64, 64)  # what UnrealCV's colour map would give an actor nobody annotated
#: embedded-renderer camera slots kept ready (the pawn's + 10): spawning cameras up to this never rebuilds it
_RENDER_SLOTS = 11


@dataclass
class Fault:
    """``kind`` at the ``at``-th request (0-based, counted over the server's lifetime): ``drop`` closes the client
    connection before replying; ``delay`` waits ``seconds`` before replying (the game thread stalls); ``error``
    replies ``error injected fault``; ``restart`` kills the game (all connections, all state) for ``seconds``;
    ``crash`` ends the server process (for launcher tests)."""

    at: int
    kind: str
    seconds: float = 0.0


def unreal_catalog_for(embedded: Catalog) -> Tuple[dict, Dict[str, str]]:
    """An Unreal-style catalog (asset paths ``/Game/Synth/...``) mirroring ``embedded``, and the map from those
    paths back to embedded ids (what the test server renders)."""
    data = embedded.model_dump(mode="json", exclude={"root"})
    data["backend"] = "unreal"
    amap: Dict[str, str] = {}
    for e in data["environments"]:
        e["asset"] = f"/Game/Synth/Maps/{e['id']}"
        e["params"] = {}
        amap[e["asset"]] = e["id"]
    for c in data["characters"]:
        c["asset"] = f"/Game/Synth/Characters/BP_{c['id']}.BP_{c['id']}_C"
        c["params"] = {}
        amap[c["asset"]] = c["id"]
    for a in data["animations"]:
        a["asset"] = f"/Game/Synth/Animations/{a['id']}.{a['id']}"
        amap[a["asset"]] = a["id"]
    return data, amap


#: UFusionCamSensor component names: a spawned AFusionCameraActor's and (assumed) the pawn's
SENSOR_NAME = "FusionCameraSensor"
PAWN_SENSOR_NAME = "FusionCamSensor"


@dataclass
class _Camera:
    name: str
    actor: str = ""
    location: np.ndarray = field(default_factory=lambda: np.zeros(3))
    rotation: np.ndarray = field(default_factory=lambda: np.zeros(3))
    fov: float = 90.0
    size: Tuple[int, int] = (640, 480)


class FakeUnrealServer:
    """See module docstring. Call :meth:`serve_forever` from the thread that should render (the main thread)."""

    def __init__(self, embedded: Catalog, asset_map: Dict[str, str], host: str = "127.0.0.1", port: int = 9000,
                 project: str = "SynthTest", faults: Optional[List[Fault]] = None, render: bool = True,
                 tick_s: float = 0.002, on_listen: Optional[Callable[[int], None]] = None,
                 command_log: Optional[Path] = None, load_s: float = 0.0, player_controller: bool = True,
                 unstable_hash: bool = False, save_dir: Optional[Path] = None):
        self.embedded, self.asset_map = embedded, asset_map
        self.host, self.port, self.project = host, port, project
        self.faults = sorted(faults or [], key=lambda f: f.at)
        self.render, self.tick_s, self.on_listen = render, tick_s, on_listen
        self.command_log = open(command_log, "a", buffering=1) if command_log else None
        self.load_s, self.player_controller, self.unstable_hash = load_s, player_controller, unstable_hash
        self.save_dir = Path(save_dir) if save_dir else None
        self.grammar = Grammar([t for t, _ in STOCK_COMMANDS + SYNTH_COMMANDS])
        self.pending: "queue.Queue" = queue.Queue()
        self.client: Optional[socket.socket] = None
        self.client_lock = threading.Lock()
        self.request_count = 0
        self.stop_flag = threading.Event()
        self.backend = None
        self._reset_state()

    # ------------------------------------------------------------------------------------------- state
    def _reset_state(self) -> None:
        self.map: Optional[str] = None
        self.lighting = "default"
        self.cameras: List[_Camera] = [_Camera(PAWN_SENSOR_NAME, "Pawn")]  # in sensor-id order (see _order)
        self.pawn = (np.zeros(3), np.zeros(3))  # the pawn's location and rotation: camera 0 follows while ticking
        self.spawned = 0
        self.capture_mode, self.settle, self.step_pending, self.settle_renders = "paused", 0, 0, 0
        self.character: Optional[dict] = None
        self.time_s = 0.0
        self.paused = False
        self._images: Dict[int, object] = {}
        self._scene_key = None
        self._loading: Optional[list] = None  # [map, ticks left] while a map is being opened

    # ------------------------------------------------------------------------------------------- network
    def _listen(self) -> socket.socket:
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((self.host, self.port))
        srv.listen(4)
        self.port = srv.getsockname()[1]
        return srv

    def _accept_loop(self, srv: socket.socket) -> None:
        while not self.stop_flag.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.client_lock:
                if self.client is not None:  # UnrealCV serves one client at a time
                    conn.close()
                    continue
                self.client = conn
            try:
                conn.sendall(frame(f"connected to {self.project}".encode()))
            except OSError:
                self._drop(conn)
                continue
            threading.Thread(target=self._read_loop, args=(conn,), daemon=True).start()

    def _read_loop(self, conn: socket.socket) -> None:
        while True:
            try:
                msg = read_frame(conn)
            except (OSError, ValueError):
                msg = None
            if msg is None:
                self._drop(conn)
                return
            rid, _, body = msg.partition(b":")
            self.pending.put((conn, int(rid), body.decode("utf-8", "replace")))

    def _drop(self, conn: socket.socket) -> None:
        with self.client_lock:
            if self.client is conn:
                self.client = None
        try:
            conn.close()
        except OSError:
            pass

    def _reply(self, conn: socket.socket, rid: int, body) -> None:
        payload = f"{rid}:".encode() + (body if isinstance(body, (bytes, bytearray)) else str(body).encode())
        try:
            conn.sendall(frame(payload))
        except OSError:
            self._drop(conn)

    # ------------------------------------------------------------------------------------------- game loop
    def serve_forever(self) -> None:
        srv = self._listen()
        if self.on_listen:
            self.on_listen(self.port)
        threading.Thread(target=self._accept_loop, args=(srv,), daemon=True).start()
        while not self.stop_flag.is_set():
            handled = 0
            t0 = time.perf_counter()
            self._tick_loading()
            self._tick_world()
            while handled < MAX_REQUESTS_PER_TICK:
                try:
                    conn, rid, cmd = self.pending.get(timeout=self.tick_s if handled == 0 else 0)
                except queue.Empty:
                    break
                handled += 1
                fault = self._fault()
                if fault is not None:
                    srv = self._apply_fault(fault, srv, conn, rid)
                    if fault.kind in ("drop", "restart"):
                        break
                    if fault.kind == "error":
                        continue
                try:
                    body = self.execute(cmd)
                except ValueError as e:  # a rejected command (bad id, unknown asset ...): UnrealCV answers "error"
                    body = f"error {e}"
                except Exception as e:  # noqa: BLE001 - a bug in the server: still answer, and log it
                    log.exception("command failed: %s", cmd)
                    body = f"error {type(e).__name__}: {e}"
                self._reply(conn, rid, body)
            spare = self.tick_s - (time.perf_counter() - t0)
            if handled and spare > 0:
                time.sleep(spare)
        srv.close()

    def stop(self) -> None:
        self.stop_flag.set()

    def _fault(self) -> Optional[Fault]:
        n = self.request_count
        self.request_count += 1
        if self.faults and self.faults[0].at == n:
            return self.faults.pop(0)
        return None

    def _apply_fault(self, f: Fault, srv: socket.socket, conn: socket.socket, rid: int) -> socket.socket:
        log.info("fault %s at request %d", f.kind, f.at)
        if self.command_log is not None:
            self.command_log.write(f"# fault {f.kind} at request {f.at}\n")
        if f.kind == "drop":
            self._drop(conn)
            self._flush_pending()
        elif f.kind == "delay":
            time.sleep(f.seconds)
        elif f.kind == "error":
            self._reply(conn, rid, "error injected fault")
        elif f.kind == "crash":
            import os

            os._exit(17)
        elif f.kind == "restart":
            try:
                srv.shutdown(socket.SHUT_RDWR)  # wakes the accept() thread; close() alone keeps the port bound
            except OSError:
                pass
            srv.close()
            self._drop(conn)
            self._flush_pending()
            self._reset_state()
            if self.backend is not None:
                self.backend.close()
                self.backend = None
            time.sleep(f.seconds)
            srv = self._listen()
            threading.Thread(target=self._accept_loop, args=(srv,), daemon=True).start()
        else:
            raise ValueError(f"unknown fault {f.kind!r}")
        return srv

    def _flush_pending(self) -> None:
        while True:
            try:
                self.pending.get_nowait()
            except queue.Empty:
                return

    # ------------------------------------------------------------------------------------------- commands
    def execute(self, cmd: str):
        if self.command_log is not None:
            self.command_log.write(cmd + "\n")
        m = self.grammar.match(cmd)
        if m is None:
            return error_text("no_handler", cmd)
        template, args = m
        handler = getattr(self, "_h_" + _handler_name(template))
        return handler(*args)

    def _camera(self, cid: str, bad: str = "invalid_sensor") -> _Camera:
        """The sensor of id ``cid``; an unknown id is ``error Invalid sensor id`` (location, rotation, captures) or
        ``error Argument Invalid`` (``bad="invalid_argument"``: fov, size), as CameraHandler.cpp answers."""
        i = int(cid) if cid.isdigit() else 0  # FCString::Atoi("") is 0
        if not 0 <= i < len(self.cameras):
            raise ValueError(error_text(bad)[len("error "):])
        return self.cameras[i]

    def _embedded_id(self, asset: str, kind: str) -> str:
        if asset not in self.asset_map:
            raise ValueError(f"{kind} asset {asset} not found")
        return self.asset_map[asset]

    def _dirty(self) -> None:
        self._images = {}

    # stock
    def _h_vget_unrealcv_help(self):
        return format_help(STOCK_COMMANDS + SYNTH_COMMANDS)

    def _h_vget_unrealcv_status(self):
        return f"Is Listening\nClient Connected\n{self.port}\nConfiguration\n"

    def _h_vset_action_game_pause(self):
        if not self.player_controller:
            return error_text("no_player_controller")
        self.paused = True
        return "ok"

    def _h_vset_action_game_resume(self):
        if not self.player_controller:
            return error_text("no_player_controller")
        self.paused = False
        return "ok"

    def _h_vget_action_game_is_paused(self):
        return reply("vget /action/game/is_paused", "true" if self.paused else "false")

    def _h_vset_action_game_level_str(self, name):
        return self._h_vset_synth_map_str(name)

    def _open_level(self, name: str) -> None:
        self._reset_state()
        if self.backend is not None:  # a level load builds a new world: nothing carries over
            self.backend.close()
            self.backend = None
        self.map = name
        env = self.embedded.environment(self.asset_map[name])
        self.lighting = env.lighting[0]  # the level's own lighting until a preset is applied
        if self.render:
            self._prewarm()

    def _prewarm(self) -> None:
        """Build the scene and render it once while the map loads (the game thread is blocked anyway), as the plugin
        answers ``ready`` only after shaders are compiled: the first capture then costs what any capture costs."""
        from synth.core.scene_spec import Lens

        try:
            self._sync_backend()
            self.backend.set_lens(Lens(24.0, 1.0, 23.76), 32, 32)
            n = self.backend.num_cameras
            self.backend.set_camera_poses(Poses.from_unreal(np.zeros((n, 3)), np.zeros((n, 3))))
            self.backend.capture()
        except Exception:  # noqa: BLE001 - a failed warm-up only costs time at the first capture
            log.exception("warm-up render failed")

    def _load_now(self) -> None:
        """Like the engine, do the loading work (lighting, character and animation assets) in the command that
        asks for it rather than at the next capture."""
        if self.render and self.map is not None:
            self._sync_backend()

    def _tick_loading(self) -> None:
        # like UGameplayStatics::OpenLevel, the travel happens on a later tick than the request, and loading the
        # map blocks the game thread (no request is answered meanwhile)
        if self._loading is not None:
            self._loading[1] -= 1
            if self._loading[1] <= 0:
                time.sleep(self.load_s)
                self._open_level(self._loading[0])
                self._loading = None

    def _tick_world(self) -> None:
        """One engine tick: the pawn's camera follows the pawn unless paused; a requested fixed step runs."""
        if not self.paused or self.step_pending:
            cam = self.cameras[0]
            if not (np.array_equal(cam.location, self.pawn[0]) and np.array_equal(cam.rotation, self.pawn[1])):
                cam.location, cam.rotation = self.pawn[0].copy(), self.pawn[1].copy()
                self._dirty()
        if self.step_pending:
            self.step_pending -= 1

    def _order(self) -> None:
        """Sensor ids as GetFusionSensorList gives them: the pawn's first, then UObject hash order (simulated by a
        CRC of the actor name), so a newly spawned camera can take any id >= 1 and shift the others."""
        import zlib

        self.cameras[1:] = sorted(self.cameras[1:], key=lambda c: zlib.crc32(c.actor.encode()))
        self._images = {}

    def _h_vget_cameras(self):
        return reply("vget /cameras", [c.name for c in self.cameras])

    def _h_vset_cameras_spawn(self):
        name = f"FusionCameraActor_{self.spawned}"
        self.spawned += 1
        self.cameras.append(_Camera(SENSOR_NAME, name))
        self._order()
        return reply("vset /cameras/spawn", name)

    def _h_vget_camera_uint_location(self, cid):
        return reply("vget /camera/[uint]/location", *self._camera(cid).location)

    def _h_vset_camera_uint_location_float_float_float(self, cid, x, y, z):
        loc = np.array([float(x), float(y), float(z)])
        if int(cid) == 0:  # moves the pawn; the camera follows on the next unpaused tick
            self.pawn = (loc, self.pawn[1])
            return "ok"
        self._camera(cid).location = loc
        self._dirty()
        return "ok"

    def _h_vget_camera_uint_rotation(self, cid):
        return reply("vget /camera/[uint]/rotation", *self._camera(cid).rotation)

    def _h_vset_camera_uint_rotation_float_float_float(self, cid, p, y, r):
        rot = np.array([float(p), float(y), float(r)])
        if int(cid) == 0:  # the controller's rotation; the camera follows on the next unpaused tick
            self.pawn = (self.pawn[0], rot)
            return "ok"
        self._camera(cid).rotation = rot
        self._dirty()
        return "ok"

    def _h_vget_camera_uint_fov(self, cid):
        return reply("vget /camera/[uint]/fov", self._camera(cid, "invalid_argument").fov)

    def _h_vset_camera_uint_fov_float(self, cid, fov):
        self._camera(cid, "invalid_argument").fov = float(fov)
        self._dirty()
        return "ok"

    def _h_vget_camera_uint_size(self, cid):
        return reply("vget /camera/[uint]/size", *self._camera(cid, "invalid_argument").size)

    def _h_vset_camera_uint_size_uint_uint(self, cid, w, h):
        self._camera(cid, "invalid_argument").size = (int(w), int(h))
        self._dirty()
        return "ok"

    def _serialize(self, name: str, kinds: Tuple[str, ...], encode: Callable[[str], bytes]):
        """CameraHandler::SerializeData: a bare extension of ``kinds`` -> binary; a file name with one of them ->
        saved on the server, the reply is the name; anything else -> ``Invalid filename type``."""
        ext = name.rsplit(".", 1)[-1].lower()
        if ext not in kinds:
            return error_text("invalid_filename", name)
        data = encode(ext)
        if "." not in name:
            return data
        import tempfile

        folder = self.save_dir or Path(tempfile.gettempdir())
        (folder / Path(name).name).write_bytes(data)
        return name

    def _h_vget_camera_uint_lit_str(self, cid, fmt):
        cap = self._capture(int(cid))
        return self._serialize(fmt, ("png", "bmp"), lambda e: encode_bmp(cap.rgb) if e == "bmp" else _png(cap.rgb))

    def _h_vget_camera_uint_depth_str(self, cid, fmt):
        cap = self._capture(int(cid))
        return self._serialize(fmt, ("npy",), lambda e: _npy(half_float_depth_cm(cap.depth_m)))

    def _h_vget_camera_uint_object_mask_str(self, cid, fmt):
        cap = self._capture(int(cid))
        img = np.zeros(cap.rgb.shape, np.uint8)
        if self.character is not None:
            img[cap.mask] = self.character["color"]
        return self._serialize(fmt, ("png", "bmp"), lambda e: _png(img) if e == "png" else encode_bmp(img))

    def _h_vget_object_str_color(self, name):
        if self.character is None or self.character["name"] != name:
            return error_text("no_object")
        return reply("vget /object/[str]/color", *self.character["color"], 255)

    def _h_vset_object_str_color_uint_uint_uint(self, name, r, g, b):
        if self.character is None or self.character["name"] != name:
            return error_text("no_object")
        # FColor(uint32 R, ...) keeps the low 8 bits: 300 -> 44, no error
        self.character["color"] = tuple(int(v or 0) & 0xFF for v in (r, g, b))
        return "ok"

    # ours (ue_plugin/SynthCV)
    def _h_vget_synth_version(self):
        return PLUGIN_VERSION

    def _h_vset_synth_map_str(self, name):
        self._embedded_id(map_package(name), "map")
        self._loading = [map_package(name), 3]
        return "ok"

    def _h_vget_synth_map(self):
        current = self.map or "/Game/Synth/Maps/Entry"  # the game's start-up map
        return reply("vget /synth/map", current, "loading" if self._loading is not None else "ready")

    def _h_vset_synth_lighting_str(self, preset):
        if self.map is None:
            return "error No map loaded"
        env = self.embedded.environment(self.asset_map[self.map])
        if preset not in env.lighting:
            return f"error Lighting preset {preset} not in {env.lighting}"
        self.lighting = preset
        self._dirty()
        self._load_now()
        return "ok"

    def _h_vset_synth_character_spawn_str_str_float_float_float_float(self, name, asset, x, y, z, yaw):
        if self.map is None:
            return "error No map loaded"
        if self.character is not None and self.character["name"] == name:
            return f"error Character {name} already exists"
        self.character = {"name": name, "id": self._embedded_id(asset, "character"),
                          "location": (float(x), float(y), float(z)), "yaw": float(yaw), "anim": None,
                          "color": _DEFAULT_MASK_RGB}
        self._dirty()
        return "ok"

    def _char(self, name) -> dict:
        if self.character is None or self.character["name"] != name:
            raise ValueError(f"No character {name}")
        return self.character

    def _h_vset_synth_character_str_animation_str(self, name, asset):
        ch = self._char(name)
        aid = self._embedded_id(asset, "animation")
        if aid not in {a.id for a in self.embedded.animations_for(ch["id"])}:
            return f"error Animation {asset} does not fit the skeleton of {name}"
        ch["anim"] = aid
        self._dirty()
        self._load_now()
        return "ok"

    def _h_vset_synth_character_str_time_float(self, name, t):
        self._char(name)
        self.time_s = float(t)
        self._dirty()
        return "ok"

    def _h_vget_synth_character_str_bones(self, name):
        self._char(name)
        self._sync_backend()
        names, pts = self.backend.joint_positions_cm()
        return reply("vget /synth/character/[str]/bones", [(n, *map(float, p)) for n, p in zip(names, pts)])

    def _h_vset_synth_character_str_destroy(self, name):
        self._char(name)
        self.character = None
        self._dirty()
        return "ok"

    def _h_vset_synth_capture_mode_str_uint(self, mode, settle):
        if mode not in CAPTURE_MODES:
            return f"error Capture mode {mode}: expected {' or '.join(CAPTURE_MODES)}"
        self.capture_mode, self.settle = mode, int(settle or 0)
        return "ok"

    def _h_vset_synth_cameras_prepare_str(self, name):
        self._char(name)
        self.settle_renders += self.settle * (len(self.cameras) - 1)
        return "ok"

    def _h_vset_synth_step_float(self, dt):
        if self.capture_mode != "step":
            return "error Not in step mode (vset /synth/capture_mode step N)"
        if float(dt) <= 0:
            return "error The time step must be positive"
        self.step_pending = 1
        return "ok"

    def _h_vget_synth_step(self):
        return reply("vget /synth/step", self.step_pending)

    def _h_vget_synth_camera_uint_lit_hash(self, cid):
        h = rgb_hash(self._capture(int(cid)).rgb)
        if self.unstable_hash:  # a re-capture that differs (temporal history not settled)
            h = rgb_hash(np.frombuffer(h.encode(), np.uint8)[None, :, None].repeat(3, axis=2))
        return reply("vget /synth/camera/[uint]/lit_hash", h)

    def _h_vset_synth_camera_uint_lens_float_float_float_float(self, cid, focal, sensor_w, sensor_h, aperture):
        cam = self._camera(cid)
        cam.fov = float(np.degrees(2 * np.arctan(float(sensor_w) / 2 / float(focal))))
        self._dirty()
        return "ok"

    # ------------------------------------------------------------------------------------------- rendering
    def _sync_backend(self) -> None:
        """Bring the embedded backend to this server's world state (lazily, on the game thread)."""
        from synth.render.embedded.backend import EmbeddedBackend

        if self.map is None:
            raise ValueError("No map loaded")
        n = len(self.cameras)
        if self.backend is None or self.backend.num_cameras < n:
            if self.backend is not None:
                self.backend.close()
            self.backend = EmbeddedBackend(self.embedded, max(n, _RENDER_SLOTS))
            self._scene_key = None
        ch = self.character
        key = (self.map, self.lighting, None if ch is None else (ch["id"], ch["location"], ch["yaw"], ch["anim"]))
        if key != self._scene_key:
            self.backend.load_environment(self.embedded.environment(self.asset_map[self.map]), self.lighting)
            if ch is not None:
                self.backend.spawn_character(self.embedded.character(ch["id"]), ch["location"], ch["yaw"])
                if ch["anim"] is not None:
                    self.backend.set_animation(self.embedded.animation(ch["anim"]))
            self._scene_key = key
        if ch is not None and ch["anim"] is not None:
            self.backend.set_animation_time(self.time_s)

    def _capture(self, cid: int):
        from synth.core.scene_spec import Lens
        from synth.render.backend import CameraCapture, CaptureRequest

        self._camera(str(cid))
        if cid in self._images:
            return self._images[cid]
        sizes = {c.size for c in self.cameras[1:]} or {self.cameras[0].size}
        cam = self.cameras[cid]
        w, h = cam.size
        if not self.render:
            img = np.full((h, w, 3), 128, np.uint8)
            cap = CameraCapture(img, np.full((h, w), 5.0, np.float32), np.zeros((h, w), bool))
            self._images = {i: cap for i in range(len(self.cameras))}
            return cap
        if len(sizes) > 1:
            raise ValueError("cameras of different sizes are not supported by the test server")
        self._sync_backend()
        self.backend.set_lens(Lens(float(focal_mm_from_hfov(cam.fov)), 1.0, 23.76), w, h)
        pad = [self.cameras[0]] * (self.backend.num_cameras - len(self.cameras))  # unused slots: any pose
        locs = np.stack([c.location for c in self.cameras + pad])
        rots = np.stack([c.rotation for c in self.cameras + pad])
        self.backend.set_camera_poses(Poses.from_unreal(locs, rots))
        caps = self.backend.capture(CaptureRequest(depth=True, mask=self.character is not None))
        for i, c in enumerate(caps[:len(self.cameras)]):
            if c.mask is None:
                c.mask = np.zeros(c.rgb.shape[:2], bool)
            self._images[i] = c
        return self._images[cid]


def _handler_name(template: str) -> str:
    parts = []
    for tok in template.replace("/", " ").split():
        parts.append(tok.strip("[]"))
    return "_".join(p for p in parts if p)


def half_float_depth_cm(depth_m: np.ndarray) -> np.ndarray:
    """Planar depth (m) as UnrealCV sends it: cm read from a half-float render target (``PF_FloatRGBA``,
    ``ReadFloat16Pixels``) into float32 (steps ~0.5 cm at 10 m, ~4 cm at 50 m; inf beyond 655 m)."""
    with np.errstate(over="ignore"):
        return (np.asarray(depth_m, np.float32) * np.float32(CM_PER_M)).astype(np.float16).astype(np.float32)


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def _png(img: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------------- process
@dataclass
class ServerHandle:
    process: object
    port: int

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()


def _serve(catalog_path: Optional[str], port: int, faults: List[Tuple[int, str, float]], render: bool,
           command_log: Optional[str], q, options: Optional[dict] = None) -> None:
    from synth.scenes.catalog import load_catalog

    logging.basicConfig(level=logging.WARNING)
    embedded = load_catalog(catalog_path)
    _, amap = unreal_catalog_for(embedded)
    srv = FakeUnrealServer(embedded, amap, port=port, faults=[Fault(*f) for f in faults], render=render,
                           on_listen=q.put, command_log=command_log, **(options or {}))
    srv.serve_forever()


def start_server_process(port: int = 0, faults: Optional[List[Tuple[int, str, float]]] = None, render: bool = True,
                         catalog_path: Optional[str] = None, timeout: float = 60.0,
                         command_log: Optional[Path] = None, **options) -> ServerHandle:
    """Start the test server in a separate process (its own Panda3D context, like a game). Returns the handle
    with the bound port. ``command_log``: a text file that receives every executed command, one per line, and
    ``# fault ...`` lines where faults were injected. ``options``: further :class:`FakeUnrealServer` arguments
    (``load_s``, ``player_controller``, ``unstable_hash``, ``save_dir``)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    log_path = None if command_log is None else str(command_log)
    p = ctx.Process(target=_serve, args=(catalog_path, port, faults or [], render, log_path, q, options), daemon=True)
    p.start()
    bound = q.get(timeout=timeout)
    return ServerHandle(p, bound)


def main() -> None:  # pragma: no cover - manual use
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=9000)
    ap.add_argument("--ini", help="read Port= from an unrealcv.ini (as a packaged game does)")
    ap.add_argument("--catalog", help="embedded catalog to render (default: built-in)")
    ap.add_argument("--write-catalog", help="write the matching Unreal-style catalog YAML here and exit")
    ap.add_argument("--no-render", action="store_true", help="answer captures with grey images (protocol tests)")
    args = ap.parse_args()
    from synth.scenes.catalog import load_catalog

    embedded = load_catalog(args.catalog)
    data, amap = unreal_catalog_for(embedded)
    if args.write_catalog:
        Path(args.write_catalog).write_text(yaml.safe_dump(data, sort_keys=False))
        return
    port = args.port
    if args.ini:
        import configparser

        cp = configparser.ConfigParser()
        cp.read(args.ini)
        port = int(cp["UnrealCV.Core"]["Port"])
    srv = FakeUnrealServer(embedded, amap, port=port, render=not args.no_render,
                           on_listen=lambda p: print(f"listening on 127.0.0.1:{p}", flush=True))
    srv.serve_forever()


if __name__ == "__main__":  # pragma: no cover
    main()
