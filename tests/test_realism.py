"""The standard (PBR) look, image-based lighting maths, threaded encoding and HDRI bad input."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synth.render.embedded.ibl import (HDRIError, direction_to_pixel, load_hdri, pixel_directions, procedural_sky,
                                       sh9_eval, sh9_irradiance, sun_from_map)


def _unit(v):
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


# ------------------------------------------------------------------------------------------------ IBL maths
def test_sh_irradiance_exact_for_low_order_maps():
    """L(d) = a + b . d is band-limited to l <= 1, where the SH irradiance is exact: E(n) = pi a + 2 pi/3 b . n."""
    h = 96
    d, _ = pixel_directions(h, 2 * h)
    a = np.array([0.5, 0.3, 0.2])
    b = np.array([[0.1, 0.0, 0.3], [0.0, 0.05, 0.2], [0.2, 0.1, 0.0]])  # per channel b (3 channels x 3 axes)
    env = (a + d @ b.T).astype(np.float32)
    sh = sh9_irradiance(env)
    rng = np.random.default_rng(0)
    n = rng.normal(size=(50, 3))
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    want = np.pi * a + 2 * np.pi / 3 * n @ b.T
    np.testing.assert_allclose(sh9_eval(sh, n), want, atol=2e-3)


def test_sh_irradiance_close_to_brute_force_for_a_sky():
    """For a real sky-like map (smooth gradient, no sun) SH9 irradiance is within 5% of the cosine integral."""
    env = procedural_sky(_unit([1, 0, 1]), (0, 0, 0), (0.2, 0.35, 0.8), (0.7, 0.75, 0.85), (0.15, 0.12, 0.1), h=64)
    sh = sh9_irradiance(env)
    d, solid = pixel_directions(*env.shape[:2])
    for n in (_unit([0, 0, 1]), _unit([1, 0, 0]), _unit([0.3, -0.5, 0.2]), _unit([0, 0, -1])):
        cos = np.clip(d @ n, 0, None)
        brute = np.einsum("hw,hwc,h->c", cos, env, solid[:, 0])
        np.testing.assert_allclose(sh9_eval(sh, n), brute, rtol=0.05, atol=0.01)


@settings(max_examples=40, deadline=None)
@given(az=st.floats(-179, 179), el=st.floats(5, 85))
def test_sun_direction_from_brightest_region(az, el):
    a, e = np.radians(az), np.radians(el)
    s = np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])
    env = procedural_sky(s, (800, 780, 700), (0.2, 0.35, 0.8), (0.7, 0.75, 0.85), (0.15, 0.12, 0.1), h=128)
    d, _ = sun_from_map(env)
    assert np.degrees(np.arccos(np.clip(d @ s, -1, 1))) < 1.5
    r, c = direction_to_pixel(s, *env.shape[:2])
    assert env[r, c].sum() > 100  # the disc is where the pixel mapping says


# ------------------------------------------------------------------------------------------------ HDRI bad input
def test_missing_and_corrupt_hdri_name_the_file(tmp_path):
    with pytest.raises(HDRIError, match="not found.*OpenEXR"):
        load_hdri(tmp_path / "nope.exr")
    bad = tmp_path / "sky.exr"
    bad.write_bytes(b"v/1\x01 this is not an exr file")
    with pytest.raises(HDRIError, match=str(bad)):
        load_hdri(bad)


def test_hdri_roundtrip_and_aspect_check(tmp_path):
    import OpenEXR

    img = np.random.default_rng(1).uniform(0, 4, (16, 32, 3)).astype(np.float32)
    p = tmp_path / "ok.exr"
    with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage},
                      {"RGB": img}) as f:
        f.write(str(p))
    np.testing.assert_array_equal(load_hdri(p), img)
    q = tmp_path / "square.exr"
    with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage},
                      {"RGB": img[:, :16].copy()}) as f:
        f.write(str(q))
    with pytest.raises(HDRIError, match="2:1"):
        load_hdri(q)


# ------------------------------------------------------------------------------------------------ encode threads
def _frames(n, cams, h=48, w=64):
    from synth.render.backend import CameraCapture

    rng = np.random.default_rng(3)
    base = rng.integers(0, 255, (cams, h, w, 3), dtype=np.uint8)
    out = []
    for f in range(n):
        caps = []
        for c in range(cams):
            cap = CameraCapture(np.roll(base[c], 2 * f, axis=1).copy())
            cap.depth_m = np.full((h, w), 1.5 + 0.1 * c, np.float32)
            cap.mask = np.zeros((h, w), bool)
            cap.mask[10:20, 5 + f:15 + f] = True
            caps.append(cap)
        out.append(caps)
    return out


def _write(tmp: Path, threads: int, frames, cams):
    from synth.render.outputs import OutputSpec, SceneWriter

    fm = np.tile(np.eye(4), (cams, len(frames), 1, 1))
    K = np.array([[50.0, 0, 32], [0, 50, 24], [0, 0, 1]])
    names = [f"cam{i + 1:02d}" for i in range(cams)]
    w = SceneWriter(tmp, names, fm, K, 15, 64, 48, len(frames),
                    OutputSpec(depth=True, masks=True, encode_threads=threads, encode_queue_frames=2))
    for f, caps in enumerate(frames):
        w.write_frame(f, caps)
    w.close()
    return {str(p.relative_to(tmp)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(tmp.rglob("*"))
            if p.is_file()}


def test_threaded_encoding_writes_the_same_outputs(tmp_path, monkeypatch):
    """3 encode threads write what 1 thread writes: PNGs byte-identical, and every stream is handed the same frames
    in the same order (recorded at the encoder's door). Decoded videos are only compared in shape: libx264 is not
    byte-reproducible from run to run on this machine (measured: also with one thread, on noise frames)."""
    import threading

    from synth.core import video_io
    from synth.core.video_io import read_video

    handed, lock = {}, threading.Lock()
    original = video_io.VideoWriter.write

    def spy(self, frame):
        with lock:
            handed.setdefault(self._key, []).append(hashlib.sha256(np.ascontiguousarray(frame).tobytes()).hexdigest())
        return original(self, frame)

    monkeypatch.setattr(video_io.VideoWriter, "write", spy)
    frames = _frames(7, 5)
    seen = {}
    for threads in (1, 3):
        handed.clear()
        init = video_io.VideoWriter.__init__

        def named(self, path, *a, **k):
            init(self, path, *a, **k)
            self._key = Path(path).name

        monkeypatch.setattr(video_io.VideoWriter, "__init__", named)
        files = _write(tmp_path / str(threads), threads, frames, 5)
        monkeypatch.setattr(video_io.VideoWriter, "__init__", init)
        seen[threads] = (files, dict(handed))
    one, three = seen[1][0], seen[3][0]
    assert len(one) == 5 + 2 * 5 * 7 and one.keys() == three.keys()
    assert {k: v for k, v in one.items() if k.endswith(".png")} == \
        {k: v for k, v in three.items() if k.endswith(".png")}
    assert seen[1][1] == seen[3][1] and len(seen[1][1]) == 5 and all(len(v) == 7 for v in seen[1][1].values())
    for k in (k for k in one if k.endswith(".mp4")):
        a, b = read_video(tmp_path / "1" / k)[0], read_video(tmp_path / "3" / k)[0]
        assert a.shape == b.shape == (7, 48, 64, 3), k


def test_threaded_encoding_error_surfaces_and_aborts_cleanly(tmp_path):
    from synth.render.outputs import OutputSpec, SceneWriter

    frames = _frames(3, 4)
    frames[1][2].rgb = np.zeros((10, 10, 3), np.uint8)  # wrong size: the encoder of cam03 fails
    fm = np.tile(np.eye(4), (4, 3, 1, 1))
    w = SceneWriter(tmp_path, [f"cam{i + 1:02d}" for i in range(4)], fm, np.eye(3), 15, 64, 48, 3,
                    OutputSpec(encode_threads=2))
    with pytest.raises(ValueError, match="cam03.mp4"):
        for f, caps in enumerate(frames):
            w.write_frame(f, caps)
        w.close()
    w.abort()
    assert not list(tmp_path.rglob("*.mp4"))


def test_resolve_encode_threads():
    from synth.render.outputs import resolve_encode_threads

    assert resolve_encode_threads(4, 10) == 4 and resolve_encode_threads(16, 10) == 10
    assert 1 <= resolve_encode_threads(0, 10) <= 10


# ------------------------------------------------------------------------------------------------ standard look
def _ring_backend(quality, env="plaza", lighting="noon", size=96, msaa=0):
    from synth.scenes.catalog import load_catalog
    from synth.core.poses import Poses
    from synth.core.unreal import look_at_rotator
    from synth.render.embedded.backend import EmbeddedBackend
    from synth.core.scene_spec import Lens

    cat = load_catalog()
    be = EmbeddedBackend(cat, 10, quality=quality, msaa=msaa)
    be.load_environment(cat.environment(env), lighting)
    be.spawn_character(cat.character("alex"), [0.0, 0.0, 0.0], 20.0)
    be.set_animation(cat.animation("wave"))
    be.set_lens(Lens(24, 5, 23.76), size, size)
    ang = np.linspace(0, 2 * np.pi, 10, endpoint=False)
    eyes = np.stack([450 * np.cos(ang), 450 * np.sin(ang), np.full(10, 220.0)], -1)
    be.set_camera_poses(Poses.from_unreal(eyes, look_at_rotator(eyes, np.array([[0, 0, 90.0]]))))
    return be


@pytest.mark.slow
def test_standard_look_one_shared_shadow_map_rendered_first():
    """Standard quality: one shadow buffer for all 10 cameras, rendered before them in every frame (a camera never
    sees the previous frame's shadow), and the sun's shadow darkens pixels (it brightens none)."""
    from synth.render.backend import CaptureRequest

    be = _ring_backend("standard")
    mine = {w.getName() for w in be.base.graphicsEngine.getWindows()}
    assert "sun" not in mine  # created on first use, and closed backends release theirs
    be.set_animation_time(1.0)
    be.capture()
    shadow = [w for w in be.base.graphicsEngine.getWindows() if w.getName() == "sun"]
    cams = [w for w in be.base.graphicsEngine.getWindows() if w.getName().startswith("rgb")]
    assert len(shadow) == 1 and len(cams) == 10
    assert all(shadow[0].getSort() < c.getSort() for c in cams)
    # no lag: t=0.3 after t=1.0 equals t=0.3 after t=0.3
    be.set_animation_time(0.3)
    after_other = [c.rgb for c in be.capture()]
    after_same = [c.rgb for c in be.capture()]
    for a, b in zip(after_other, after_same):
        np.testing.assert_array_equal(a, b)
    lit = be.capture(CaptureRequest(mask=True))
    be.pbr.sun.node().setShadowCaster(False)
    unshadowed = be.capture(CaptureRequest(mask=True))
    from synth.scenes.catalog import load_catalog

    be.load_environment(load_catalog().environment("street"), "evening")  # a new scene: still one shadow map
    be.capture()
    assert [w.getName() for w in be.base.graphicsEngine.getWindows()].count("sun") == 1
    darker = brighter = 0
    for a, b in zip(lit, unshadowed):
        diff = a.rgb.astype(int).sum(-1) - b.rgb.astype(int).sum(-1)
        darker += int((diff < -30).sum())
        brighter += int((diff > 30).sum())
    be.close()
    assert darker > 50 and brighter <= darker * 0.01, (darker, brighter)


@pytest.mark.slow
def test_standard_and_draft_agree_on_depth_and_masks():
    """The PBR pass changes colours only: depth and masks match the draft look's."""
    from synth.render.backend import CaptureRequest

    req = CaptureRequest(depth=True, mask=True)
    out = {}
    for q in ("draft", "standard"):
        be = _ring_backend(q, env="room", lighting="warm_lamp")
        be.set_animation_time(0.5)
        be.capture()
        out[q] = be.capture(req)
        be.close()
    for d, s in zip(out["draft"], out["standard"]):
        assert (d.mask == s.mask).mean() > 0.999 and d.mask.sum() > 20
        both = (d.depth_m > 0) & (s.depth_m > 0)
        assert both.mean() > 0.99
        np.testing.assert_allclose(d.depth_m[both], s.depth_m[both], rtol=1e-3)
        assert np.abs(d.rgb.astype(int) - s.rgb.astype(int)).mean() > 3  # the looks do differ


@pytest.mark.slow
def test_msaa_smooths_edges_and_keeps_depth_and_masks():
    """--msaa 4 anti-aliases the RGB images (edge pixels take intermediate colours: more distinct colours, small
    mean change) while masks and depth stay identical (depth is read from the single-sampled pass)."""
    from synth.render.backend import CaptureRequest

    req = CaptureRequest(depth=True, mask=True)
    out = {}
    for msaa in (0, 4):
        be = _ring_backend("standard", msaa=msaa)
        be.set_animation_time(0.5)
        be.capture()
        out[msaa] = be.capture(req)
        be.close()
    changed = 0
    for a, b in zip(out[0], out[4]):
        assert (a.mask == b.mask).all() and a.mask.sum() > 20
        assert ((a.depth_m > 0) == (b.depth_m > 0)).all()  # depth of the single-sampled pass: pixel centres
        np.testing.assert_allclose(a.depth_m, b.depth_m, rtol=1e-3)  # (float32 transforms of two shaders)
        diff = np.abs(a.rgb.astype(int) - b.rgb.astype(int)).sum(-1)
        changed += int((diff > 0).sum())
        assert diff.mean() < 10  # anti-aliasing moves edge pixels, not the image
        colours = [len(np.unique(x.rgb.reshape(-1, 3), axis=0)) for x in (a, b)]
        assert colours[1] >= colours[0]
    assert changed > 100


@pytest.mark.slow
def test_cli_quality_and_encode_threads(tmp_path):
    """--quality draft with 2 encode threads renders a valid dataset; the quality is recorded in synth_run.json
    and a resume with another quality is refused (exit 2); a bad --quality is exit 2."""
    import json

    from typer.testing import CliRunner

    from synth.cli import app

    run = CliRunner().invoke
    out = tmp_path / "ds"
    args = ["render", "--scenes", "1", "--width", "64", "--height", "64", "--frames", "3", "--out", str(out)]
    r = run(app, args + ["--quality", "draft", "--encode-threads", "2"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "synth_run.json").read_text())["render"] == {"quality": "draft"}
    assert run(app, ["validate", str(out)]).exit_code == 0
    r = run(app, args + ["--quality", "standard"])
    assert r.exit_code == 2 and "render options" in r.output
    r = run(app, args + ["--quality", "fancy"])
    text = " ".join(r.output.replace("│", " ").split())
    assert r.exit_code == 2 and "--quality" in text and "'fancy' is not one of 'standard', 'draft'" in text, text
