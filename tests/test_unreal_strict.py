"""The test server answers stock commands as UnrealCV 5.2 does (issue 26), and the Unreal backend copes: replies
parsed with the same table the server formats with, camera 0 the pawn, half-float depth, map readiness polled with
``level_timeout`` (one map request), capture modes, settle renders, the frame-hash check."""

from __future__ import annotations

import functools
import io
import re
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from synth.core.poses import Poses
from synth.core.scene_spec import Lens
from synth.render.backend import CaptureRequest
from synth.render.unreal.backend import UnrealBackend, depth_m_from_npy
from synth.render.unreal.connection import Connection, UnrealCVFault
from synth.render.unreal.protocol import (CHARACTER_MASK_RGB, CHARACTER_NAME, STOCK_COMMANDS, SYNTH_COMMANDS,
                                          rgb_hash)
from synth.render.unreal.replies import ERRORS, REPLIES, parse_reply
from synth.scenes.catalog import load_catalog
from synth.testing.fake_unrealcv import PAWN_SENSOR_NAME, SENSOR_NAME, half_float_depth_cm
from synth.testing.fake_unrealcv import unreal_catalog_for

C = 3  # cameras: small and fast


@pytest.fixture(scope="module")
def ue_cat(tmp_path_factory):
    data, _ = unreal_catalog_for(load_catalog())
    p = tmp_path_factory.mktemp("uecat") / "cat.yaml"
    p.write_text(yaml.safe_dump(data))
    return load_catalog(p)


@functools.lru_cache(maxsize=1)
def _embedded():
    embedded = load_catalog()
    return embedded, unreal_catalog_for(embedded)[1]


class _ThreadServer:
    """The test server in a thread of this process (``render=False`` needs no Panda3D): no process start-up."""

    def __init__(self, **options):
        import queue
        import threading

        from synth.testing.fake_unrealcv import FakeUnrealServer

        embedded, amap = _embedded()
        q: "queue.Queue" = queue.Queue()
        self.srv = FakeUnrealServer(embedded, amap, port=0, render=False, on_listen=q.put, **options)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.port = q.get(timeout=10)

    def stop(self) -> None:
        self.srv.stop()
        time.sleep(0.01)


def start_server(**options):
    return _ThreadServer(**options)


@pytest.fixture()
def server(tmp_path):
    h = start_server(command_log=tmp_path / "cmd.log", save_dir=tmp_path)
    yield h
    h.stop()


def connect(port: int, timeout: float = 10.0) -> Connection:
    c = Connection(("127.0.0.1", port), timeout)
    c.connect()
    return c


def ask(conn: Connection, *cmds: str):
    """Send one command at a time (an ``error`` reply raises in Connection.batch): error texts as strings."""
    from synth.render.unreal.connection import UnrealCVError

    out = []
    for c in cmds:
        try:
            r = conn.batch([c])[0]
            out.append(r if isinstance(r, bytes) else str(r))
        except UnrealCVError as e:
            out.append(e.reply)
    return out


def open_map(conn: Connection, ue_cat) -> str:
    env = ue_cat.environments[0]
    ask(conn, f"vset /synth/map {env.asset}")
    for _ in range(200):
        if parse_reply("vget /synth/map", ask(conn, "vget /synth/map")[0]).ready:
            return env.asset
        time.sleep(0.01)
    raise AssertionError("map never ready")


@pytest.mark.slow
def test_stock_replies_are_unrealcvs(server, ue_cat, tmp_path):
    conn = connect(server.port)
    try:
        no, helptext = ask(conn, "vget /unrealcv/commands", "vget /unrealcv/help")
        assert no == "error " + ERRORS["no_handler"] % "vget /unrealcv/commands"
        listed = parse_reply("vget /unrealcv/help", helptext)
        assert set(listed) == {t for t, _ in STOCK_COMMANDS + SYNTH_COMMANDS}
        open_map(conn, ue_cat)
        ask(conn, *["vset /cameras/spawn"] * 3)
        cams = parse_reply("vget /cameras", ask(conn, "vget /cameras")[0])
        assert cams == [PAWN_SENSOR_NAME] + [SENSOR_NAME] * 3  # component names, the pawn's first
        fov, bad_fov, bad_loc, loc = ask(conn, "vget /camera/1/fov", "vget /camera/9/fov", "vget /camera/9/location",
                                         "vget /camera/2/location")
        assert re.fullmatch(r"\d+\.\d{6}", fov)
        assert bad_fov == "error Argument Invalid" and bad_loc == "error Invalid sensor id"  # as CameraHandler.cpp
        assert re.fullmatch(r"-?\d+\.\d{3} -?\d+\.\d{3} -?\d+\.\d{3}", loc)
        lit_npy, mask_npy, depth_png, saved = ask(conn, "vget /camera/1/lit npy", "vget /camera/1/object_mask npy",
                                                  "vget /camera/1/depth png", "vget /camera/1/lit shot.png")
        assert lit_npy == "error Invalid filename type, filename npy"
        assert mask_npy.startswith("error Invalid filename type") and depth_png.startswith("error Invalid filename")
        assert saved == "shot.png" and (tmp_path / "shot.png").read_bytes()[:4] == b"\x89PNG"
        depth = np.load(io.BytesIO(ask(conn, "vget /camera/1/depth npy")[0]), allow_pickle=False)
        assert depth.dtype == np.float32 and np.array_equal(depth, depth.astype(np.float16).astype(np.float32))
        # colours are truncated to 8 bits, not refused
        ask(conn, f"vset /synth/character/spawn {CHARACTER_NAME} {ue_cat.characters[0].asset} 0 0 0 0")
        assert ask(conn, f"vset /object/{CHARACTER_NAME}/color 300 2 3") == ["ok"]
        assert parse_reply("vget /object/[str]/color", ask(conn, f"vget /object/{CHARACTER_NAME}/color")[0]) == \
            (44, 2, 3, 255)
    finally:
        conn.discard()


@pytest.mark.slow
def test_camera_zero_is_the_pawn_and_stale_while_paused(server, ue_cat):
    conn = connect(server.port)
    try:
        open_map(conn, ue_cat)
        assert ask(conn, "vset /action/game/pause", "vget /action/game/is_paused") == ["ok", "true"]
        ask(conn, "vset /camera/0/location 100 200 300")
        time.sleep(0.05)
        assert parse_reply("vget /camera/[uint]/location", ask(conn, "vget /camera/0/location")[0]) == (0, 0, 0)
        ask(conn, "vset /action/game/resume")
        time.sleep(0.05)
        assert parse_reply("vget /camera/[uint]/location", ask(conn, "vget /camera/0/location")[0]) == \
            (100, 200, 300)
    finally:
        conn.discard()


@pytest.mark.slow
def test_pause_needs_a_player_controller(ue_cat):
    h = start_server(player_controller=False)
    try:
        conn = connect(h.port)
        assert ask(conn, "vset /action/game/pause") == ["error No player controller"]
        conn.discard()
    finally:
        h.stop()


@pytest.mark.slow
def test_spawned_camera_ids_follow_hash_order_not_spawn_order(server, ue_cat):
    """A newly spawned camera can take any id >= 1: the backend must not assume spawn order (it uses 1..C)."""
    conn = connect(server.port)
    try:
        open_map(conn, ue_cat)
        ask(conn, "vset /cameras/spawn")
        ask(conn, "vset /camera/1/location 1 1 1")
        moved = []
        for _ in range(6):
            ask(conn, "vset /cameras/spawn")
            locs = [parse_reply("vget /camera/[uint]/location", r) for r in
                    ask(conn, *[f"vget /camera/{i}/location" for i in range(1, 3)])]
            moved.append(locs[0] != (1, 1, 1))
        assert any(moved)  # the first camera did not keep id 1
    finally:
        conn.discard()


def _poses(n: int) -> Poses:
    locs = np.array([[-400.0 - 30 * i, 20.0 * i, 150.0] for i in range(n)])
    rots = np.array([[-5.0, 0.0, 0.0] for _ in range(n)])
    return Poses.from_unreal(locs, rots)


def _scene(be: UnrealBackend, ue_cat) -> None:
    be.load_environment(ue_cat.environments[0], ue_cat.environments[0].lighting[0])
    ch = ue_cat.characters[0]
    be.spawn_character(ch, (0.0, 0.0, 0.0), 0.0)
    be.set_animation(ue_cat.animations_for(ch.id)[0])
    be.set_lens(Lens(24.0, 4.0, 23.76), 32, 24)


@pytest.mark.slow
def test_backend_copes_with_the_strict_server(server, ue_cat, tmp_path):
    be = UnrealBackend(ue_cat, C, ("127.0.0.1", server.port), timeout=10, settle=2, hash_every=1)
    try:
        _scene(be, ue_cat)
        assert be.camera_ids == [1, 2, 3]
        for f in range(5):
            be.set_animation_time(f / 15)
            be.set_camera_poses(_poses(C))
            caps = be.capture(CaptureRequest(depth=True, mask=True))
            assert len(caps) == C and caps[0].rgb.shape == (24, 32, 3) and caps[0].depth_m.dtype == np.float32
        assert be.hash_checks == 5 - be.warmup
    finally:
        be.close()
    log = (tmp_path / "cmd.log").read_text().splitlines()
    assert sum(1 for c in log if c.startswith("vset /synth/map ")) == 1
    assert "vset /synth/capture_mode paused 2" in log and "vset /action/game/pause" in log
    assert not any(re.match(r"vset /camera/0/", c) for c in log)  # never the pawn's camera
    assert sum(1 for c in log if c == f"vset /synth/cameras/prepare {CHARACTER_NAME}") == 5


@pytest.mark.slow
def test_step_mode_steps_the_world_by_the_frame_time(server, ue_cat, tmp_path):
    be = UnrealBackend(ue_cat, C, ("127.0.0.1", server.port), timeout=10, mode="step")
    try:
        _scene(be, ue_cat)
        for f in (0, 0, 1, 2):
            be.set_animation_time(f / 10)
            be.set_camera_poses(_poses(C))
            be.capture()
    finally:
        be.close()
    log = (tmp_path / "cmd.log").read_text().splitlines()
    assert [c for c in log if c.startswith("vset /synth/step")] == ["vset /synth/step 0.1000"] * 2
    assert "vget /synth/step" in log


def _ending_server(kind: str):
    """A bare UnrealCV-framed server that greets, answers one request, then on the next one either closes the
    connection (``drop``: the game died) or never answers (``silent``: a stalled game). Returns (port, stop)."""
    import socket
    import threading

    from synth.render.unreal.protocol import frame, read_frame

    srv = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def serve():
        c, _ = srv.accept()
        c.sendall(frame(b"connected to Ending"))
        answered = 0
        while (msg := read_frame(c)) is not None:
            rid, _, cmd = msg.decode().partition(":")
            if cmd == "vget /unrealcv/commands":  # the client's capability probe on connect
                c.sendall(frame(f"{rid}:error unsupported".encode()))
            elif answered == 0:
                answered += 1
                c.sendall(frame(f"{rid}:1.1".encode()))
            elif kind == "drop":
                c.shutdown(socket.SHUT_RDWR)
                break
            else:
                done.wait(30)
                break
        c.close()
        srv.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1], done.set


@pytest.mark.parametrize("kind", ["drop", "silent"])
def test_a_lost_connection_ends_the_client_thread_quietly(kind, monkeypatch):
    """A dropped connection is a prompt fault, and a discarded client's receive thread ends within seconds without
    an exception (the stock client re-reads the closed socket for ~56 s, then raises 'Failed to reconnect' in its
    thread, which pytest reported at the end of the run)."""
    import threading

    escaped = []
    monkeypatch.setattr(threading, "excepthook", lambda a: escaped.append(repr(a.exc_value)))
    port, stop = _ending_server(kind)
    try:
        conn = connect(port, timeout=10.0 if kind == "drop" else 0.5)
        assert conn.request("vget /synth/version") == "1.1"
        thread = conn.client.t
        t0 = time.perf_counter()
        with pytest.raises(UnrealCVFault, match="connection lost" if kind == "drop" else "no reply within"):
            conn.request("vget /synth/version")
        assert time.perf_counter() - t0 < 5.0  # a drop is seen at once, not after the 10 s timeout
        thread.join(10)
        assert not thread.is_alive() and not conn.connected
    finally:
        stop()
    assert escaped == []


@pytest.mark.slow
def test_frame_hash_mismatch_is_a_fault(ue_cat):
    h = start_server(unstable_hash=True)
    be = UnrealBackend(ue_cat, C, ("127.0.0.1", h.port), timeout=10, hash_every=1)
    try:
        _scene(be, ue_cat)
        be.set_animation_time(0.0)
        be.set_camera_poses(_poses(C))
        for _ in range(be.warmup):
            be.capture()
        with pytest.raises(UnrealCVFault, match="--ue-settle"):
            be.capture()
        # with settle renders TAA jitter makes re-captures differ by design: counted, not a fault
        jitter = UnrealBackend(ue_cat, C, ("127.0.0.1", h.port), timeout=10, hash_every=1, settle=4)
        be.close()
        _scene(jitter, ue_cat)
        jitter.set_animation_time(0.0)
        jitter.set_camera_poses(_poses(C))
        for _ in range(jitter.warmup + 2):
            jitter.capture()
        assert jitter.hash_checks == 2 and jitter.hash_mismatches == 2 * C
        jitter.close()
    finally:
        be.close()
        h.stop()


@pytest.mark.slow
def test_map_ready_polled_with_level_timeout_no_reload_loop(ue_cat, tmp_path):
    """A map load longer than the per-request timeout succeeds (the poll waits with level_timeout) and the map is
    requested once; a load longer than level_timeout is a clear fault."""
    h = start_server(load_s=1.5, command_log=tmp_path / "cmd.log")
    try:
        be = UnrealBackend(ue_cat, C, ("127.0.0.1", h.port), timeout=0.5, level_timeout=20)
        be.load_environment(ue_cat.environments[0], ue_cat.environments[0].lighting[0])
        be.close()
        log = (tmp_path / "cmd.log").read_text().splitlines()
        assert sum(1 for c in log if c.startswith("vset /synth/map ")) == 1
        slow = UnrealBackend(ue_cat, C, ("127.0.0.1", h.port), timeout=0.5, level_timeout=0.6)
        slow._connection()
        with pytest.raises(UnrealCVFault, match="not ready after"):
            slow._open_map(ue_cat.environments[0].asset)  # the load (1.5 s) outlasts level_timeout
        slow.close()
    finally:
        h.stop()


def test_depth_half_float_quantisation_and_sky():
    d_m = np.array([[10.0, 50.0], [0.0, 1000.0]], np.float32)
    cm = half_float_depth_cm(d_m)
    assert abs(cm[0, 0] - 1000.0) <= 0.25 and abs(cm[0, 1] - 5000.0) <= 2.0 and np.isinf(cm[1, 1])
    buf = io.BytesIO()
    np.save(buf, cm)
    got = depth_m_from_npy(buf.getvalue())
    assert got[1, 1] == 0.0 and got[1, 0] == 0.0 and abs(got[0, 1] - 50.0) < 0.02
    with pytest.raises(UnrealCVFault):
        depth_m_from_npy(b"error Invalid filename type, filename png")


def test_reply_table_round_trips():
    assert parse_reply("vget /camera/[uint]/fov", REPLIES["vget /camera/[uint]/fov"].format(90.0)) == 90.0
    assert REPLIES["vget /camera/[uint]/fov"].format(90.0) == "90.000000"
    assert parse_reply("vget /cameras", REPLIES["vget /cameras"].format(["A", "B"])) == ["A", "B"]
    bones = REPLIES["vget /synth/character/[str]/bones"].format([("pelvis", 1.0, 2.0, 3.0)])
    assert parse_reply("vget /synth/character/[str]/bones", bones) == [["pelvis", "1.0000", "2.0000", "3.0000"]]
    with pytest.raises(ValueError):
        parse_reply("vget /synth/map", "error No game world")
    assert rgb_hash(np.zeros((2, 2, 3), np.uint8)) == rgb_hash(np.zeros((2, 2, 3), np.uint8))
    assert CHARACTER_MASK_RGB == tuple(v & 0xFF for v in CHARACTER_MASK_RGB)
