"""Focal length as a camera control in synth: the ``zoom`` and ``dolly_zoom`` families, per-frame intrinsics in
``cameras/camera_intrinsics.json`` (write -> read -> validate), the ``dolly_zoom_size`` rule, and the embedded
backend's per-camera, per-frame lens (checked on rendered masks)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from synth.cli import app
from synth.core.intrinsics import intrinsics_from_lens
from synth.core.intrinsics_file import load_camera_intrinsics, read_camera_intrinsics
from synth.core.layout import CAMERA_INTRINSICS_JSON
from synth.core.multicam_format import DatasetFormatError, read_scene_spec
from synth.core.speed import speed_progress
from synth.families import FamilyContext, get_family
from synth.scenes.config import load_config
from synth.scenes.rules import RuleContext, check as check_rules
from synth.scenes.rules.dolly_zoom import projected_height

run = CliRunner().invoke
REPO = Path(__file__).resolve().parents[1]
ZOOM_RECIPE = REPO / "configs" / "synth" / "multicamvideo_zoom.yaml"


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    out = tmp_path_factory.mktemp("zoom") / "ds"
    r = run(app, ["plan", "--scenes", "4", "--seed", "5", "--out", str(out), "--config", str(ZOOM_RECIPE)])
    assert r.exit_code == 0, r.output
    return out


def test_recipe_plans_zooms_that_validate_and_round_trip(planned):
    cfg = load_config(ZOOM_RECIPE)
    seen = set()
    for scene in sorted(planned.glob("train/*/scene*")):
        spec = read_scene_spec(scene)
        intr = read_camera_intrinsics(scene / CAMERA_INTRINSICS_JSON)
        assert intr.cameras == list(spec.camera_names()) and intr.focal_mm.shape == (10, spec.video.frames)
        assert (intr.width, intr.height, intr.sensor_mm) == (spec.video.width, spec.video.height, spec.lens.sensor_mm)
        for i, cam in enumerate(spec.cameras):
            f = intr.focal_mm[i]
            K = load_camera_intrinsics(scene, cam.name)
            # every K is the pinhole of its focal length (one formula: intrinsics_from_lens)
            for k in (0, len(f) // 2, len(f) - 1):
                np.testing.assert_allclose(K[k], intrinsics_from_lens(f[k], spec.lens.sensor_mm, spec.video.width,
                                                                      spec.video.height), rtol=1e-6)
            if cam.family not in ("zoom", "dolly_zoom"):
                assert np.all(f == spec.lens.focal_length_mm)
                continue
            seen.add(cam.family)
            p = cam.params
            assert get_family(cam.family).check(p, cfg.trajectories[cam.family]) == []
            assert f[0] == spec.lens.focal_length_mm == p["focal_start_mm"]
            assert f[-1] == pytest.approx(p["focal_end_mm"], abs=1e-6)
            assert np.all(np.diff(f) * np.sign(f[-1] - f[0]) >= -1e-9)  # monotone from start to end
            assert 18 - 1e-6 <= f.min() and f.max() <= 50 + 1e-6
            word = {"zoom": f"zooms {p['direction']}", "dolly_zoom": "dolly zoom"}[cam.family]
            assert word in cam.caption
    assert seen == {"zoom", "dolly_zoom"}
    r = run(app, ["validate", str(planned)])
    assert r.exit_code == 0, r.output


def test_validate_fails_without_or_with_wrong_intrinsics(planned, tmp_path):
    import shutil

    ds = tmp_path / "ds"
    shutil.copytree(planned, ds)
    scenes = sorted(ds.glob("train/*/scene*"))
    (scenes[0] / CAMERA_INTRINSICS_JSON).unlink()
    path = scenes[1] / CAMERA_INTRINSICS_JSON
    data = json.loads(path.read_text())
    spec = read_scene_spec(scenes[1])
    zcam = next(c.name for c in spec.cameras if c.family in ("zoom", "dolly_zoom"))
    data["frame3"][zcam]["focal_length_mm"] += 1.0  # and fx no longer matches it either
    path.write_text(json.dumps(data))
    r = run(app, ["validate", str(ds)])
    assert r.exit_code == 1
    out = " ".join(r.output.split())
    assert f"{scenes[0] / CAMERA_INTRINSICS_JSON}: missing: cameras" in out
    assert f"frame3.{zcam}.focal_length_mm" in out and f"frame3.{zcam}: fx, fy, cx, cy" in out


def test_fixed_lens_recipe_writes_no_intrinsics(tmp_path):
    r = run(app, ["plan", "--scenes", "1", "--out", str(tmp_path / "ds")])
    assert r.exit_code == 0, r.output
    (scene,) = (tmp_path / "ds").glob("train/*/scene*")
    assert not (scene / CAMERA_INTRINSICS_JSON).exists() and load_camera_intrinsics(scene, "cam01") is None


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d.update(format="other"), "field format"),
    (lambda d: d["frame1"]["cam01"].pop("fx"), "field frame1.cam01.fx"),
    (lambda d: d["frame0"]["cam01"].update(focal_length_mm=-3), "field frame0.cam01.focal_length_mm"),
    (lambda d: d.pop("frame1"), "frame0..frame{F-1}"),
    (lambda d: d.update(width=True), "field width"),
])
def test_intrinsics_reader_names_file_and_field(tmp_path, mutate, field):
    from synth.core.multicam_format import write_camera_intrinsics

    path = tmp_path / "camera_intrinsics.json"
    write_camera_intrinsics(path, {"cam01": [24.0, 30.0, 35.0]}, 23.76, 64, 48)
    assert read_camera_intrinsics(path).focal_mm.tolist() == [[24.0, 30.0, 35.0]]
    data = json.loads(path.read_text())
    mutate(data)
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetFormatError, match=str(path)) as e:
        read_camera_intrinsics(path)
    assert field in str(e.value)


def _ctx(lens_focal, frames=21, start=(3.0, -1.0, 1.6), a=None):
    torso = np.array([0.0, 0.0, 1.0])
    loc = np.asarray(start, float)
    from synth.core.unreal import look_at_rotator

    rot = look_at_rotator(loc, torso)
    u = speed_progress(frames, "eased" if a else "constant", a)
    return FamilyContext(start_loc_m=loc, start_rot_deg=rot, aim_offset_deg=np.zeros(2), torso_m=torso,
                         char_base_m=np.zeros(3), u=u, distance_to_character_m=float(np.linalg.norm(loc - torso)),
                         lens_focal_mm=lens_focal)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2 ** 31), lens=st.sampled_from([18.0, 24.0, 35.0, 50.0]),
       a=st.sampled_from([None, 2.0, -3.0]))
def test_family_invariants(seed, lens, a):
    """zoom: end focal in range, ratio >= min_ratio, fixed rotation. dolly_zoom: the focal length is proportional to
    the distance to the torso on every frame (so the torso's image scale is constant), within the focal range."""
    cfg = load_config(ZOOM_RECIPE)
    ctx = _ctx(lens, a=a)
    rng = np.random.default_rng(seed)
    z = get_family("zoom")
    p, loc, rot = z.sample(cfg.trajectories.zoom, ctx, rng)
    p = {**p, "distance_to_character_m": ctx.distance_to_character_m}
    f = z.focal_lengths(p, ctx.u)
    assert z.check(p, cfg.trajectories.zoom) == []
    assert max(f[-1] / f[0], f[0] / f[-1]) >= cfg.trajectories.zoom.min_ratio - 1e-4
    assert np.all(rot == rot[0])
    dz = get_family("dolly_zoom")
    p, loc, rot = dz.sample(cfg.trajectories.dolly_zoom, ctx, rng)
    p = {**p, "distance_to_character_m": round(ctx.distance_to_character_m, 6)}
    assert dz.check(p, cfg.trajectories.dolly_zoom) == []
    f = dz.focal_lengths(p, ctx.u)
    d = np.linalg.norm(loc - ctx.torso_m, axis=1)
    np.testing.assert_allclose(f / f[0], d / d[0], rtol=1e-5)
    assert 18 - 1e-6 <= f.min() and f.max() <= 50 + 1e-6


def test_dolly_zoom_rule_flags_an_uncompensated_dolly():
    """The rule projects feet and head with each frame's focal length: the family's focal lengths pass, the lens's
    (a plain dolly: the file missing) do not."""
    cfg = load_config(ZOOM_RECIPE)
    ctx = _ctx(35.0, start=(4.0, 0.5, 1.2))
    fam = get_family("dolly_zoom")
    block = cfg.trajectories.dolly_zoom.model_copy(update={"directions": ["in"], "distance_fraction": (0.4, 0.45)})
    p, loc, rot = fam.sample(block, ctx, np.random.default_rng(0))
    focal = fam.focal_lengths(p, ctx.u)

    def rule(f):
        rc = RuleContext(cfg=cfg, free_lo_m=np.full(3, -50.0), free_hi_m=np.full(3, 50.0), char_base_m=np.zeros(3),
                         char_height_m=1.8, loc_m=loc[None], rot_deg=rot[None], families=["dolly_zoom"],
                         focal_mm=np.asarray(f)[None])
        return [v for v in check_rules(rc) if v.rule == "dolly_zoom_size"]

    h = projected_height(loc, rot, focal, np.zeros(3), 1.8)
    assert np.abs(h / h[0] - 1).max() < 0.05 and rule(focal) == []
    (v,) = rule(np.full_like(focal, 35.0))
    assert "image height changed by" in v.message and "within 5%" in v.message


@pytest.mark.slow
def test_dolly_zoom_keeps_the_rendered_character_size(tmp_path):
    """Render a dolly-zoom scene (embedded backend, masks): the character's mask height stays within 5% on every
    frame although the focal length changes by >= 30%; the last frame's pose rendered with the start lens instead
    makes it change by more than 5% (the measurement can fail)."""
    data = yaml.safe_load(ZOOM_RECIPE.read_text())
    data["cameras_per_scene"] = 2
    dz = {**data["trajectories"]["dolly_zoom"], "distance_fraction": [0.3, 0.5]}
    data["trajectories"] = {"dolly_zoom": dz}
    cfg = tmp_path / "dz.yaml"
    cfg.write_text(yaml.safe_dump(data))
    out = tmp_path / "ds"
    r = run(app, ["render", "--config", str(cfg), "--scenes", "1", "--seed", "3", "--width", "160", "--height", "160",
                  "--frames", "9", "--masks", "--joints", "--out", str(out)])
    assert r.exit_code == 0, r.output
    r = run(app, ["validate", str(out)])
    assert r.exit_code == 0, r.output
    (scene,) = out.glob("train/*/scene*")
    spec = read_scene_spec(scene)
    intr = read_camera_intrinsics(scene / CAMERA_INTRINSICS_JSON)

    def height(mask):
        rows = np.flatnonzero(mask.any(1))
        return rows[-1] - rows[0] + 1

    # known points: the character's joints, projected with the written per-frame K, land on its rendered mask
    from scipy.ndimage import binary_dilation

    from synth.core.multicam_format import load_camera_extrinsics
    from synth.core.projection import project_points

    c2w, joints = load_camera_extrinsics(scene / "cameras/camera_extrinsics.json"), np.load(scene / "joints/joints.npz")
    for i, cam in enumerate(spec.camera_names()):
        hits = total = 0
        for k in range(9):
            uv, _ = project_points(intr.K[i, k], c2w[cam][k], joints["positions_cm"][k] / 100)
            m = binary_dilation(np.array(Image.open(scene / "masks" / cam / f"{k:05d}.png")) > 0)
            for (u, v), ok in zip(uv, joints["visible"][i, k]):
                if ok and 0 <= u < 160 and 0 <= v < 160:
                    total, hits = total + 1, hits + bool(m[int(v), int(u)])
        assert total > 100 and hits / total >= 0.95, (cam, hits, total)
    for i, cam in enumerate(spec.camera_names()):
        f = intr.focal_mm[i]
        assert max(f[-1] / f[0], f[0] / f[-1]) >= 1.3
        hs = np.array([height(np.array(Image.open(scene / "masks" / cam / f"{k:05d}.png")) > 127) for k in range(9)])
        assert hs[0] >= 25, hs  # large enough to resolve 5%
        assert np.all(np.abs(hs - hs[0]) <= 0.05 * hs[0] + 1), (cam, hs, f)

    # control: the last pose with the start focal length (an uncompensated dolly) through the same backend
    from synth.core.multicam_format import read_camera_fmatrices
    from synth.core.poses import Poses
    from synth.render.backend import CaptureRequest
    from synth.render.embedded.backend import EmbeddedBackend
    from synth.scenes.catalog import load_catalog

    cat, plan = load_catalog(), spec
    rows = read_camera_fmatrices(scene / "cameras" / "camera_extrinsics.json")
    be = EmbeddedBackend(cat, num_cameras=2)
    try:
        be.load_environment(cat.environment(plan.environment_id), plan.lighting)
        be.spawn_character(cat.character(plan.character_id), plan.character_location_cm, plan.character_yaw_deg)
        be.set_animation(cat.animation(plan.animation_id))
        be.set_lens(plan.lens, 160, 160)
        be.set_animation_time(plan.animation_time_s(8))
        be.set_camera_poses(Poses.from_fmatrix(np.stack([rows[n][8] for n in spec.camera_names()])))
        caps = be.capture(CaptureRequest(mask=True))
        be.set_focal_lengths(intr.focal_mm[:, 8])
        zoomed = be.capture(CaptureRequest(mask=True))
    finally:
        be.close()
    for i, cam in enumerate(spec.camera_names()):
        h0 = height(np.array(Image.open(scene / "masks" / cam / "00000.png")) > 127)
        assert abs(height(caps[i].mask) / h0 - 1) > 0.2  # the plain dolly changes the size
        assert abs(height(zoomed[i].mask) - h0) <= 0.05 * h0 + 1  # per-camera focal lengths, set directly


@pytest.mark.slow
def test_zoom_cameras_pass_verify_with_their_intrinsics_and_fail_without(tmp_path):
    """Issue 24's gate: a rendered zoom-recipe scene passes ``synth verify`` (given-pose residuals under the per-frame
    K of ``camera_intrinsics.json``); with the file removed, the lens's fixed K no longer explains the zoom cameras'
    pixels and verify exits 1 naming a zoom camera."""
    out = tmp_path / "ds"
    r = run(app, ["render", "--config", str(ZOOM_RECIPE), "--scenes", "1", "--seed", "0", "--frames", "17",
                  "--width", "320", "--height", "192", "--out", str(out)])
    assert r.exit_code == 0, r.output
    spec = read_scene_spec(next(out.glob("train/*/scene0")))
    zooms = [c.name for c in spec.cameras if c.family in ("zoom", "dolly_zoom")]  # focal changes per frame
    assert zooms, "seed 0's scene 0 must hold a zoom camera for this test"
    r = run(app, ["verify", str(out), "--out", str(tmp_path / "v1")])
    assert r.exit_code == 0, r.output
    for p in out.glob("train/*/scene*/" + str(CAMERA_INTRINSICS_JSON)):
        p.unlink()
    r = run(app, ["verify", str(out), "--out", str(tmp_path / "v2")])
    assert r.exit_code == 1, r.output
    import csv

    with open(tmp_path / "v2" / "verify.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["camera"] for r in rows if r["flagged"] == "True"} & set(zooms), rows
