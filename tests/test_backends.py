"""Renderer-backend registry: typed options become `synth render` flags, flags of another backend are refused,
a new backend is one entry class (with its session) plus the renderer, entries stay light."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path
from typing import List

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from synth.scenes.catalog import default_catalog_path
from synth.cli import app
from synth.core.poses import Poses
from synth.core.video_io import read_video
from synth.render.backend import CameraCapture, RendererBackend
from synth.render.backends import (BackendEntry, BackendOptions, UnknownBackendError, backends, get_backend, option,
                                   register_backend)

REPO = Path(__file__).resolve().parents[1]
run = CliRunner().invoke
EVENTS: List[str] = []


class FlatBackend(RendererBackend):
    """Every camera sees one grey level."""

    name = "flat"

    def __init__(self, num_cameras: int, shade: int):
        self.num_cameras, self.shade, self.size = num_cameras, shade, (16, 16)

    def load_environment(self, env, lighting):
        pass

    def spawn_character(self, character, location_cm, yaw_deg):
        pass

    def set_animation(self, animation):
        pass

    def set_animation_time(self, t_s):
        pass

    def set_lens(self, lens, width, height):
        self.size = (height, width)

    def set_camera_poses(self, poses):
        assert isinstance(poses, Poses) and poses.c2w.shape == (self.num_cameras, 4, 4)

    def capture(self, request=None):
        return [CameraCapture(np.full((*self.size, 3), self.shade, np.uint8)) for _ in range(self.num_cameras)]

    def joint_positions_cm(self):
        return [], np.zeros((0, 3))


class FlatOptions(BackendOptions):
    flat_shade: int = option(128, help="Grey level of every pixel.", ge=0, le=255)


@register_backend
class FlatEntry(BackendEntry):
    name = "flat"
    Options = FlatOptions
    help = "grey frames (test)"
    needs_catalog = "a catalog with backend: flat"

    def create(self, catalog, num_cameras, shade):
        return FlatBackend(num_cameras, shade)

    @contextlib.contextmanager
    def session(self, options, width, height):
        EVENTS.append(f"start {width}x{height}")
        try:
            yield {"shade": options.flat_shade}
        finally:
            EVENTS.append("stop")


def test_registry_lists_backends_and_refuses_clashes():
    assert {"embedded", "unreal", "flat"} <= set(backends())
    assert get_backend("unreal").max_workers == 1 and get_backend("unreal").needs_catalog
    with pytest.raises(UnknownBackendError, match="unknown backend 'nope'; registered: .*embedded"):
        get_backend("nope")

    class Clash(BackendEntry):
        name = "clash"
        Options = type("ClashOptions", (BackendOptions,), {"__annotations__": {"msaa": int}, "msaa": option(0)})

    with pytest.raises(ValueError, match="already options of backend 'embedded'"):
        register_backend(Clash)


def test_new_backend_renders_through_the_cli(tmp_path):
    cat = yaml.safe_load(default_catalog_path().read_text())
    cat["backend"] = "flat"
    catalog = tmp_path / "flat.yaml"
    catalog.write_text(yaml.safe_dump(cat))
    out = tmp_path / "ds"
    args = ["render", "--scenes", "1", "--width", "32", "--height", "16", "--frames", "3", "--out", str(out)]
    r = run(app, [*args, "--backend", "flat"])
    assert r.exit_code == 2 and "--backend flat needs --catalog (a catalog with backend: flat)" in r.output
    r = run(app, [*args, "--backend", "flat", "--catalog", str(catalog), "--flat-shade", "300"])
    assert r.exit_code == 2 and "--flat-shade" in r.output
    EVENTS.clear()
    r = run(app, [*args, "--backend", "flat", "--catalog", str(catalog), "--flat-shade", "200"])
    assert r.exit_code == 0, r.output
    assert EVENTS == ["start 32x16", "stop"]
    frames, _ = read_video(next(out.glob("train/*/scene0/videos/cam07.mp4")))
    assert frames.shape == (3, 16, 32, 3) and abs(float(frames.mean()) - 200) < 3
    assert run(app, ["validate", str(out)]).exit_code == 0


@pytest.mark.parametrize("args,needle", [
    (["--backend", "unreal", "--catalog", "x.yaml", "--msaa", "4"],
     "--msaa is an option of --backend embedded, not of --backend unreal"),
    (["--map", "/Game/Maps/Plaza"], "--map is an option of --backend unreal, not of --backend embedded"),
    (["--ue-timeout", "5"], "--ue-timeout is an option of --backend unreal"),
    (["--flat-shade", "5"], "--flat-shade is an option of --backend flat"),
    (["--backend", "nope"], "unknown backend 'nope'; registered: embedded, unreal"),
    (["--backend", "unreal", "--catalog", "x.yaml", "--workers", "2"], "at most 1 worker(s)"),
    (["--backend", "unreal"], "--backend unreal needs --catalog"),
])
def test_backend_flag_errors(tmp_path, args, needle):
    r = run(app, ["render", "--scenes", "1", "--out", str(tmp_path / "o"), *args])
    assert r.exit_code == 2 and needle in " ".join(r.output.split()), r.output
    assert not (tmp_path / "o").exists()


def test_entries_and_cli_do_not_import_renderers():
    code = ("import sys, synth.cli; from synth.render.backends import backends; backends(); "
            "heavy = [m for m in sys.modules if m.split('.')[0] in ('panda3d', 'direct') or m.startswith("
            "('synth.render.embedded', 'synth.render.unreal.backend', 'synth.render.unreal.connection'))]; "
            "assert not heavy, heavy")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 0, r.stderr
