"""Realistic bodies (anny) for the embedded renderer: a deterministic bank, retargeted motion that keeps the body's
volume and its feet on the ground, the clip Panda3D plays, clothing regions, and clear errors for bad files."""

from __future__ import annotations

import copy
import io
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("anny")

from synth.assets_build.bodies import BANK_SEED, BANK_SIZE, build_bodies, default_model_cache, sample_body  # noqa
from synth.scenes.catalog import asset_cache_dir, load_catalog  # noqa: E402
from synth.render.backend import AssetError  # noqa: E402
from synth.render.embedded.bodies import (BOTTOM, HAIR, SHOES, SKIN, TOP, body_clip, body_skeleton,  # noqa: E402
                                          face_regions, load_body, pose_vertices, sole_index)

from test_motion import _take, _write_bvh  # noqa: E402  (a CMU-like synthetic take)

BUILTIN = ["wave", "walk", "dance", "cheer", "jump", "squat", "idle", "turn", "clap", "point", "stretch", "look_around"]


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    """Bodies 1 and 2 of the default bank, built here (anny's model data is cached beside the asset cache)."""
    out = tmp_path_factory.mktemp("bank")
    chars, manifest = build_bodies(out, default_model_cache(), n=2, seed=BANK_SEED, log=lambda *_: 0)
    return out, chars, manifest


def _volume(V, faces):
    t = V[faces]
    return float(np.einsum("ij,ij->i", t[:, 0], np.cross(t[:, 1], t[:, 2])).sum() / 6)


def test_bank_is_deterministic_from_its_seed(bank, tmp_path):
    out, chars, _ = bank
    again, _ = build_bodies(tmp_path, default_model_cache(), n=1, seed=BANK_SEED, log=lambda *_: 0)
    assert again[0] == chars[0]
    for name in ("body01.npz", "topology.npz"):
        a, b = np.load(out / "bodies" / name), np.load(tmp_path / "bodies" / name)
        assert a.files == b.files and all(np.array_equal(a[k], b[k]) for k in a.files), name
    other = sample_body(BANK_SEED + 1, 0)
    assert other["phenotype"] != sample_body(BANK_SEED, 0)["phenotype"]
    # the installed cache (scripts/setup.sh built it) holds the same bodies
    built = asset_cache_dir() / "bodies" / "body01.npz"
    if built.is_file():
        a, b = np.load(built), np.load(out / "bodies" / "body01.npz")
        assert all(np.array_equal(a[k], b[k]) for k in a.files)


def test_bodies_are_plausible_people(bank):
    out, chars, manifest = bank
    for c in chars:
        body = load_body(out / "bodies" / f"{c['id']}.npz")
        assert 1.45 <= c["height_m"] <= 2.0
        assert abs(c["height_m"] - (body.vertices[:, 1].max() - body.vertices[:, 1].min())) < 1e-3
        j = {k: np.asarray(v) for k, v in c["params"]["joints_m"].items()}
        assert len(j) == 31 and j["Head"][1] > j["Neck"][1] > j["Spine1"][1] > j["Hips"][1] > j["LeftLeg"][1]
        assert j["LeftArm"][0] > 0 > j["RightArm"][0]  # left is +X, facing +Z
        assert j["LeftToeBase"][2] > j["LeftFoot"][2]  # toes point forward (+Z)
        assert 0 <= body.vertices[:, 1].min() < 1e-6
    assert chars[0]["description"] != chars[1]["description"]
    assert {m["licence"] for m in manifest} == {manifest[0]["licence"]} and "CC0" in manifest[0]["licence"]


def test_default_catalog_has_the_bank_and_draws_only_realistic_people():
    cat = load_catalog()
    bodies = [c for c in cat.characters if c.asset.startswith("anny:")]
    if not bodies:
        pytest.skip("no asset cache with bodies here (run scripts/setup.sh)")
    assert len(bodies) >= BANK_SIZE >= 24
    assert all(c.draft for c in cat.characters if not c.asset.startswith("anny:"))
    assert set(c.id for c in cat.drawable_characters()) == {c.id for c in bodies}
    assert len(cat.animations_for(bodies[0].id)) >= 12
    from synth.scenes.config import load_config
    from synth.scenes.sampling import sample_scene

    cfg = load_config()
    drawn = {sample_scene(cfg, cat, 0, k).character_id for k in range(40)}
    assert drawn <= {c.id for c in bodies} and len(drawn) >= 10


@pytest.mark.parametrize("anim", BUILTIN + ["bvh"])
def test_retargeted_motion_keeps_volume_and_feet_on_the_ground(bank, anim, tmp_path):
    """Twist and rest-pose differences handled: the skinned body keeps >= 88% of its rest volume on every frame (a
    half turn of twist at the shoulders, hips and neck collapses them: < 88%, checked below); in contact frames the
    lowest shoe-sole vertex is within 2 cm of the ground and no frame sinks more than 2 cm (the bare feet above it,
    inside the shoes)."""
    out, chars, _ = bank
    body = load_body(out / "bodies" / "body02.npz")
    if anim == "bvh":
        asset = f"bvh:{_write_bvh(tmp_path / 'take.bvh', _take())}"
        duration = 39 / 30.0
    else:
        asset, duration = f"builtin:{anim}", 2.0
    clip, rt = body_clip(anim, asset, duration, body)
    v0 = _volume(body.vertices.astype(float), body.faces)
    soles = sole_index(body)
    frames = range(0, len(clip.times), 2)
    ratios = [_volume(pose_vertices(body, rt, f), body.faces) / v0 for f in frames]
    assert 0.88 <= min(ratios) and max(ratios) <= 1.06, (min(ratios), max(ratios))
    # what stands on the ground is the shoes' soles (SOLE_M under the bare feet, which stay inside the shoes)
    from synth.render.embedded.bodies import shoe_soles, skin_points
    from synth.render.embedded.garments import SOLE_M

    low = skin_points(body, rt, *shoe_soles(body))[:, :, 1].min(1)
    bare = np.array([pose_vertices(body, rt, f, soles)[:, 1].min() for f in range(len(clip.times))])
    assert rt.contact.any()
    assert np.abs(low[rt.contact]).max() <= 0.02 and low.min() >= -0.02
    assert (bare > low).all() and (bare - low).max() <= SOLE_M + 0.01
    # the check can fail: a half twist about the upper arms, thighs and neck (what ignoring twist does)
    bad = copy.deepcopy(rt)
    from scipy.spatial.transform import Rotation as R

    for n in ["LeftArm", "RightArm", "LeftUpLeg", "RightUpLeg", "Neck"]:
        k = body.bone(n)
        kid = [i for i, p in enumerate(body.bone_parents) if p == k][0]
        d = body.joints[kid] - body.joints[k]
        bad.rotations[n] = (R.from_quat(bad.rotations[n]) * R.from_rotvec(d / np.linalg.norm(d) * np.pi)).as_quat()
    assert min(_volume(pose_vertices(body, bad, f), body.faces) / v0 for f in frames) < 0.88


def test_mocap_bone_directions_follow_the_source(bank, tmp_path):
    """Every mapped bone of the body points where the source's bone points (rest-pose difference handled), on the
    CMU-like synthetic take of test_motion (arms lowered and twisted from a T-pose, squat)."""
    from synth.render.embedded.bvh import bvh_forward_kinematics, read_bvh

    out, _, _ = bank
    body = load_body(out / "bodies" / "body01.npz")
    p = _write_bvh(tmp_path / "take.bvh", _take())
    clip, rt = body_clip("t", f"bvh:{p}", 39 / 30.0, body)
    m = read_bvh(p)
    _, P = bvh_forward_kinematics(m)
    idx = {n: i for i, n in enumerate(m.names)}
    frames = np.clip(np.round(np.arange(len(clip.times)) / 30.0 * 30.0).astype(int), 0, len(P) - 1)
    for a, b in [("LeftArm", "LeftForeArm"), ("LeftForeArm", "LeftHand"), ("RightArm", "RightForeArm"),
                 ("LeftUpLeg", "LeftLeg"), ("RightLeg", "RightFoot"), ("Spine1", "Neck")]:
        d_t = rt.globals_[b] - rt.globals_[a]
        d_s = P[frames, idx[b]] - P[frames, idx[a]]
        cos = np.sum(d_t * d_s, -1) / np.linalg.norm(d_t, axis=-1) / np.linalg.norm(d_s, axis=-1)
        assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 1.0, (a, b)


def _mini_catalog(tmp_path: Path, out: Path, chars) -> Path:
    cat = {"version": 1, "backend": "embedded",
           "environments": [{"id": "e", "description": "x", "kind": "outdoor", "asset": "builtin:plaza",
                             "free_space_cm": {"min": [-500, -500, 0], "max": [500, 500, 500]},
                             "lighting": ["noon"]}],
           "characters": chars,
           "animations": [{"id": a, "description": a, "asset": f"builtin:{a}", "duration_s": 2.0} for a in
                          ("wave", "squat")]}
    p = out / "cat.yaml"
    p.write_text(yaml.safe_dump(cat))
    return p


def test_panda_plays_the_body_clip_as_computed(bank, tmp_path):
    """The clip written into the body's GLB, played by Panda3D, puts the joints where the retargeting says."""
    from panda3d.core import NodePath

    from synth.render.embedded.characters import expose_joints, load_character

    out, chars, _ = bank
    cat = load_catalog(_mini_catalog(tmp_path, out, chars[:1]))
    ch = cat.characters[0]
    loaded = load_character(cat, ch, cat.animations_for(ch.id))
    assert abs(loaded.scale - 1.0) < 0.02
    body = load_body(out / "bodies" / "body01.npz")
    _, rt = body_clip("squat", "builtin:squat", 2.0, body)
    joints = expose_joints(loaded.actor)
    root = NodePath("root")
    loaded.actor.reparentTo(root)
    errs = []
    for f in (15, 30, 45):
        loaded.actor.pose(loaded.anim_names["squat"], f)
        loaded.actor.update(force=True)
        for jn in ("LeftHand", "RightFoot", "Head", "LeftLeg"):
            pos = np.array(joints[jn].getPos(root)) / loaded.scale  # Panda: z up; glTF y up -> (x, -z, y)
            ours = rt.globals_[jn][f]
            errs.append(np.linalg.norm(pos - np.array([ours[0], -ours[2], ours[1]])))
    assert max(errs) < 0.01, errs


def test_clothing_regions_follow_the_look(bank):
    out, chars, _ = bank
    body = load_body(out / "bodies" / "body01.npz")
    base = {"top_style": "sweater", "bottom_style": "trousers", "hair_style": "short"}  # sleeve 1.0, leg 1.0
    long_ = face_regions(body, base)
    short = face_regions(body, {**base, "top_style": "t-shirt", "bottom_style": "shorts"})  # sleeve 0.38, leg 0.42
    bald = face_regions(body, {**base, "hair_style": "bald"})
    assert (short == SKIN).sum() > (long_ == SKIN).sum()
    assert (short == TOP).sum() < (long_ == TOP).sum() and (short == BOTTOM).sum() < (long_ == BOTTOM).sum()
    assert (bald == HAIR).sum() == 0 < (long_ == HAIR).sum()
    # shoes only on the feet, hair only on the head: region centres at plausible heights
    c = body.vertices[body.faces].mean(1)
    h = body.vertices[:, 1].max()
    assert c[long_ == SHOES, 1].max() < 0.15 * h and c[long_ == HAIR, 1].min() > 0.8 * h


@pytest.mark.parametrize("problem", ["missing_topology", "corrupt", "pickled", "shape"])
def test_bad_body_files_name_the_file(bank, tmp_path, problem):
    out, _, _ = bank
    d = tmp_path / "bodies"
    d.mkdir()
    (d / "b.npz").write_bytes((out / "bodies" / "body01.npz").read_bytes())
    if problem != "missing_topology":
        (d / "topology.npz").write_bytes((out / "bodies" / "topology.npz").read_bytes())
    if problem == "corrupt":
        (d / "b.npz").write_bytes(b"PK\x03\x04 not really a zip")
    elif problem == "pickled":
        buf = io.BytesIO()
        np.savez(buf, vertices=np.array([{"x": 1}], dtype=object), joints=np.zeros((31, 3)))
        (d / "b.npz").write_bytes(buf.getvalue())
    elif problem == "shape":
        buf = io.BytesIO()
        np.savez(buf, vertices=np.zeros((10, 3), np.float32), joints=np.zeros((31, 3), np.float32))
        (d / "b.npz").write_bytes(buf.getvalue())
    with pytest.raises(AssetError) as e:
        load_body(d / "b.npz")
    assert str(d) in str(e.value) and ("topology.npz" in str(e.value) or "b.npz" in str(e.value))


def test_skeleton_rebuilds_the_rest_joints(bank):
    out, _, _ = bank
    body = load_body(out / "bodies" / "body01.npz")
    g = np.zeros((len(body.bone_names), 3))
    for k, j in enumerate(body_skeleton(body)):
        g[k] = np.asarray(j.translation) + (g[j.parent] if j.parent >= 0 else 0)
    assert np.allclose(g, body.joints, atol=1e-6)
