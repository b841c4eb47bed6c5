"""Evaluation: camera metrics on analytic trajectories, pose estimation, ``synth verify`` (incl. tampered camera
files), ``synth render --split eval`` and ``recam eval`` end to end with the tiny model."""

from __future__ import annotations

from importlib import resources

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from recam.eval.metrics import MissingWeightsError, lpips_score, psnr, ssim, video_psnr_ssim
from synth.core.camera_metrics import align_sim3, camera_metrics, relative_to_first, rotation_errors_rad, umeyama
from synth.core.pose_estimation import PoseOptions, estimate_poses, scale_intrinsics

run = CliRunner().invoke


def rot_y(a):
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rot_z(a):
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def poses(rots, trans):
    out = np.tile(np.eye(4), (len(rots), 1, 1))
    out[:, :3, :3] = rots
    out[:, :3, 3] = trans
    return out


# ------------------------------------------------------------------ metrics, by hand


def test_roterr_is_sum_of_geodesic_angles_in_radians_and_degrees():
    angles = np.radians([0, 2, 5, 9])
    gt = poses([np.eye(3)] * 4, np.zeros((4, 3)))
    est = poses([rot_y(a) for a in angles], np.zeros((4, 3)))
    m = camera_metrics(gt, est)
    assert m.rot_err_rad == pytest.approx(angles.sum(), abs=1e-9)
    assert m.rot_err_deg == pytest.approx(16.0, abs=1e-7)
    assert m.rot_err_deg_per_frame == pytest.approx([0, 2, 5, 9], abs=1e-7)
    assert math.isnan(m.trans_err)  # ground truth does not move: nothing to normalise
    # CamMC with zero translations: ||I - R||_F = 2 sqrt(2) sin(theta / 2) per frame
    gt2 = poses([np.eye(3)] * 4, [[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0]])
    est2 = poses([rot_z(a) for a in angles], gt2[:, :3, 3])
    m2 = camera_metrics(gt2, est2)
    assert m2.trans_err == pytest.approx(0.0, abs=1e-8)
    assert m2.cammc == pytest.approx(sum(2 * math.sqrt(2) * math.sin(a / 2) for a in angles), abs=1e-9)


def test_transerr_normalises_each_trajectory_by_its_own_scale():
    i = np.arange(5.0)
    gt = poses([np.eye(3)] * 5, np.c_[i, 0 * i, 0 * i])  # 0..4 m along x
    same_shape = poses([np.eye(3)] * 5, np.c_[7 * i, 0 * i, 0 * i])  # 7x larger: relative error 0
    assert camera_metrics(gt, same_shape).trans_err == pytest.approx(0.0, abs=1e-8)
    sideways = poses([np.eye(3)] * 5, np.c_[0 * i, 3 * i, 0 * i])  # along y instead
    m = camera_metrics(gt, sideways)
    assert m.trans_err == pytest.approx(math.sqrt(2) * (i / 4).sum(), abs=1e-7)  # |(i/4, 0) - (0, i/4)|
    assert m.cammc == pytest.approx(m.trans_err, abs=1e-7)  # identical rotations
    # metric variant: estimate in cm with est_scale 0.01 m/unit, 10 % too long
    cm = poses([np.eye(3)] * 5, np.c_[110 * i, 0 * i, 0 * i])
    mm = camera_metrics(gt, cm, est_scale=0.01)
    assert mm.trans_err_m == pytest.approx((0.1 * i).sum(), abs=1e-7)
    assert mm.trans_err_abs == pytest.approx((0.1 * i / 4).sum(), abs=1e-7)
    assert mm.trans_err == pytest.approx(0.0, abs=1e-7)


def test_metrics_ignore_the_world_frame_and_left_handed_worlds():
    rng = np.random.default_rng(0)
    gt = poses([rot_y(0.1 * k) @ rot_z(0.05 * k) for k in range(6)], rng.normal(size=(6, 3)))
    est = gt.copy()
    est[:, :3, 3] += rng.normal(scale=0.05, size=(6, 3))
    base = camera_metrics(gt, est)
    world = np.eye(4)
    world[:3, :3] = rot_z(0.7) @ rot_y(-1.1)
    world[:3, 3] = [3, -2, 5]
    flip = np.diag([1.0, -1.0, 1.0, 1.0])  # a mirrored (left-handed) world, as MultiCamVideo's Unreal axes
    for w in (world, flip @ world):
        m = camera_metrics(w @ gt, est)
        assert m.rot_err_rad == pytest.approx(base.rot_err_rad, abs=1e-6)
        assert m.trans_err == pytest.approx(base.trans_err, abs=1e-6)
        assert m.cammc == pytest.approx(base.cammc, abs=1e-6)
    rel = relative_to_first(flip @ gt)
    assert np.allclose(rel[0], np.eye(4)) and np.allclose(np.linalg.det(rel[:, :3, :3]), 1.0)


def test_nan_frames_are_skipped_and_rotation_only_estimates_give_rotation_metrics():
    gt = poses([rot_y(0.1 * k) for k in range(4)], np.c_[np.arange(4.0), np.zeros(4), np.zeros(4)])
    est = gt.copy()
    est[2] = np.nan
    m = camera_metrics(gt, est)
    assert m.n_frames == 3 and m.rot_err_rad == pytest.approx(0.0, abs=1e-6)
    rot_only = gt.copy()
    rot_only[:, :3, 3] = np.nan
    m2 = camera_metrics(gt, rot_only)
    assert m2.rot_err_rad == pytest.approx(0.0, abs=1e-6) and math.isnan(m2.trans_err)
    with pytest.raises(ValueError, match="equal length"):
        camera_metrics(gt, gt[:3])


def test_rotation_errors_and_alignment_recover_a_known_similarity():
    rng = np.random.default_rng(1)
    gt = poses([rot_y(0.2 * k) @ rot_z(0.1 * k) for k in range(8)], rng.normal(size=(8, 3)))
    s, r, t = 2.5, rot_z(0.4) @ rot_y(-0.3), np.array([1.0, -2.0, 0.5])
    # estimate = gt seen from another world: c_est = (R^T (c_gt - t)) / s, R_est = R^T R_gt
    est = gt.copy()
    est[:, :3, :3] = np.einsum("ji,njk->nik", r, gt[:, :3, :3])
    est[:, :3, 3] = (gt[:, :3, 3] - t) @ r / s
    s2, r2, t2, aligned = align_sim3(gt, est)
    assert s2 == pytest.approx(s) and np.allclose(r2, r) and np.allclose(t2, t)
    assert np.allclose(aligned, gt, atol=1e-9)
    s3, r3, t3 = umeyama(est[:, :3, 3], gt[:, :3, 3])
    assert s3 == pytest.approx(s) and np.allclose(r3, r) and np.allclose(t3, t)
    assert rotation_errors_rad(gt[:, :3, :3], gt[:, :3, :3]) == pytest.approx(np.zeros(8), abs=1e-6)
    # a pure rotation: no scale, rotations still aligned
    pan = poses([rot_y(0.1 * k) for k in range(5)], np.zeros((5, 3)))
    s4, _, _, al = align_sim3(pan, pan)
    assert math.isnan(s4) and np.allclose(al[:, :3, :3], pan[:, :3, :3])


def test_psnr_ssim_by_hand_and_lpips_needs_local_weights(tmp_path):
    a = np.full((2, 16, 16, 3), 100, np.uint8)
    b = a + 10
    assert psnr(a, b) == pytest.approx(20 * math.log10(255 / 10))
    assert psnr(a, a) == math.inf and ssim(a[0], a[0]) == pytest.approx(1.0)
    q = video_psnr_ssim(a, b)
    assert q["psnr_per_frame"] == pytest.approx([20 * math.log10(25.5)] * 2)
    with pytest.raises(MissingWeightsError, match="nothing is downloaded"):
        lpips_score(a, b, None)
    with pytest.raises(MissingWeightsError, match="not found"):
        lpips_score(a, b, tmp_path / "alex.pth")


@pytest.mark.slow  # everyday loop (-m 'not slow') stays under 3 min on 2 cores
def test_clip_scores_from_a_local_model_only(tmp_path):
    from transformers import CLIPConfig, CLIPModel

    from recam.eval.metrics import clip_scores

    with pytest.raises(MissingWeightsError, match="nothing is downloaded"):
        clip_scores(np.zeros((1, 8, 8, 3), np.uint8), None, None)
    with pytest.raises(MissingWeightsError, match="no CLIP model"):
        clip_scores(np.zeros((1, 8, 8, 3), np.uint8), None, tmp_path)
    text = dict(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                max_position_embeddings=16, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=32,
                  patch_size=8)
    CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)).save_pretrained(tmp_path / "c")
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (3, 40, 48, 3), dtype=np.uint8)
    s = clip_scores(a, a, tmp_path / "c", prompt="a person")  # no tokenizer in the folder: no clip_t
    assert s["clip_v"] == pytest.approx(100.0, abs=1e-3) and "clip_t" not in s
    assert clip_scores(a, 255 - a, tmp_path / "c")["clip_v"] < 100.0


def test_scale_intrinsics_keeps_the_principal_point_at_the_centre():
    from synth.core.intrinsics import intrinsics_from_lens

    K = intrinsics_from_lens(24, 23.76, 1280, 720)
    K2 = scale_intrinsics(K, 0.4, 0.4)
    assert np.allclose(K2, intrinsics_from_lens(24, 23.76, 512, 288))


# ------------------------------------------------------------------ pose estimation


def test_textureless_clip_is_not_estimable():
    rng = np.random.default_rng(0)
    frames = np.clip(128 + rng.normal(scale=0.5, size=(6, 96, 96, 3)), 0, 255).astype(np.uint8)
    K = np.array([[80.0, 0, 48], [0, 80, 48], [0, 0, 1]])
    est = estimate_poses(frames, K, PoseOptions(stride=1))
    assert est.status == "not_estimable" and "texture" in est.message
    assert np.isnan(est.c2w).all() and not est.has_rotation
    bad = estimate_poses(frames[:1], K)  # never raises
    assert bad.status == "failed"
    with pytest.raises(ValueError, match="mapper"):
        PoseOptions(mapper="nope")


# ------------------------------------------------------------------ synth verify on rendered scenes

VERIFY_CAMS = ["cam01", "cam05", "cam07", "cam09"]  # translate, static, pan, random path of scene 0 (seed 0)


@pytest.fixture(scope="module")
def scene512(tmp_path_factory):
    """One embedded scene, 17 frames at 512x512 (SIFT needs this much texture: at 160-256 px the estimates of the
    embedded environments are unreliable, docs/evaluation.md)."""
    from synth.cli import app

    out = tmp_path_factory.mktemp("verify") / "ds"
    builtin = Path(str(resources.files("synth") / "assets" / "embedded_catalog.yaml"))  # not the asset cache's
    r = run(app, ["render", "--scenes", "1", "--width", "512", "--height", "512", "--frames", "17", "--out", str(out),
                  "--quality", "draft", "--catalog", str(builtin)])
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="module")
def verified(scene512, tmp_path_factory):
    """``synth verify`` on four cameras of the scene (CLI), and their pose estimates for the tamper tests."""
    from synth.cli import app
    from synth.dataset.verify import list_items, select_items

    out = tmp_path_factory.mktemp("verify_out")
    r = run(app, ["verify", str(scene512), "--method", "sfm", "--stride", "1", "--cameras", ",".join(VERIFY_CAMS),
                  "--out", str(out)])
    items = select_items(list_items(scene512), (0, 1), None, 0, VERIFY_CAMS)
    return r, out, items


@pytest.mark.slow
def test_synth_verify_recovers_moving_cameras(verified):
    r, out, items = verified
    assert r.exit_code == 0, r.output
    rows = {row["camera"]: row for row in csv.DictReader(open(out / "verify.csv"))}
    assert sorted(rows) == VERIFY_CAMS
    assert all(row["flagged"] == "False" for row in rows.values())
    for cam in ("cam01", "cam09"):  # translating: full SE(3) recovered up to similarity
        assert rows[cam]["status"] == "ok"
        assert float(rows[cam]["max_rot_err_deg"]) < 1.5 and float(rows[cam]["max_trans_err_rel"]) < 0.08
    assert rows["cam07"]["status"] == "rotation_only" and float(rows["cam07"]["max_rot_err_deg"]) < 1.0
    assert rows["cam05"]["status"] == "static"
    assert (out / "plots" / "f18_aperture10_scene0.png").is_file()
    summary = json.loads((out / "verify_summary.json").read_text())
    assert summary["cameras"] == 4 and summary["flagged"] == []
    # resumable: a second run skips every camera
    from synth.cli import app

    r2 = run(app, ["verify", str(items[0].scene_dir.parents[2]), "--method", "sfm", "--stride", "1", "--cameras",
                   ",".join(VERIFY_CAMS), "--out", str(out)])
    assert r2.exit_code == 0 and "4 cameras in" in r2.output


def _tampered(c2w_json: Path, how: str) -> dict:
    """Camera JSON modified as a broken writer would: mirrored yaw, metres written instead of cm, frames late by 4."""
    from synth.core.poses import Poses
    from synth.core.unreal import fmatrix_to_unreal_pose, unreal_pose_to_fmatrix
    from synth.core.multicam_format import read_camera_fmatrices

    out = {}
    for cam, ms in read_camera_fmatrices(c2w_json).items():
        ms = np.asarray(ms)
        if how == "yaw":
            new = []
            for m in ms:
                loc, rot = fmatrix_to_unreal_pose(m)
                new.append(unreal_pose_to_fmatrix(loc, np.array([rot[0], -rot[1], rot[2]])))
            ms = np.stack(new)
        elif how == "units":
            ms = ms.copy()
            ms[:, 3, :3] /= 100.0
        elif how == "shift":
            ms = ms[np.minimum(np.arange(len(ms)) + 4, len(ms) - 1)]
        out[cam] = Poses.from_fmatrix(ms)
    return out


@pytest.mark.parametrize("how,cams", [("yaw", ["cam07", "cam09"]), ("units", ["cam01", "cam09"]),
                                      ("shift", ["cam01", "cam07", "cam09"])])
@pytest.mark.slow
def test_synth_verify_flags_tampered_camera_files(verified, scene512, how, cams):
    from synth.dataset.verify import _load_camera, compare_camera, load_estimate

    _, out, items = verified
    tampered = _tampered(items[0].scene_dir / "cameras" / "camera_extrinsics.json", how)
    flagged = []
    for it in items:
        if it.camera not in cams:
            continue
        poses, K, cmeta, video = _load_camera(it)
        est = load_estimate(out / "poses" / f"f18_aperture10_scene0_{it.camera}.npz")  # saved by synth verify
        assert not compare_camera(it, poses, cmeta, est).flagged  # the untampered file passes
        chk = compare_camera(it, tampered[it.camera], cmeta, est)
        flagged.append((it.camera, chk.reasons))
    if how == "units":
        assert all("scale" in r for _, r in flagged), flagged
    else:
        assert any(r for _, r in flagged), flagged


@pytest.mark.slow
def test_synth_verify_cli_exit_1_on_a_tampered_dataset(scene512, tmp_path):
    from synth.cli import app
    from synth.core.multicam_format import write_camera_extrinsics

    ds = tmp_path / "ds"
    shutil.copytree(scene512, ds)
    cam_json = next(ds.glob("train/*/scene0")) / "cameras" / "camera_extrinsics.json"
    bad = _tampered(cam_json, "yaw")
    write_camera_extrinsics(cam_json, {c: v.to_fmatrix() for c, v in bad.items()})
    r = run(app, ["verify", str(ds), "--method", "sfm", "--stride", "1", "--cameras", "cam07", "--out",
                  str(tmp_path / "v")])
    assert r.exit_code == 1, r.output
    assert "flagged" in r.output and "rotation" in r.output
    r = run(app, ["verify", str(tmp_path / "nothing"), "--out", str(tmp_path / "v2")])
    assert r.exit_code == 2 and "no scene folders" in r.output


# ------------------------------------------------------------------ --split eval


def test_split_eval_draws_disjoint_seeds_and_records_them(tmp_path):
    from synth.cli import app
    from synth.scenes.splits import EVAL_SEED_BASE, effective_seed

    assert effective_seed(3, "eval") == EVAL_SEED_BASE + 3 and effective_seed(3, "train") == 3
    with pytest.raises(ValueError, match="reserved"):
        effective_seed(EVAL_SEED_BASE, "train")
    out = tmp_path / "ev"
    r = run(app, ["render", "--scenes", "1", "--width", "32", "--height", "32", "--frames", "5", "--split", "eval",
                  "--out", str(out)])
    assert r.exit_code == 0, r.output
    man = json.loads((out / "synth_run.json").read_text())
    assert man["split"] == "eval" and man["requested_seed"] == 0 and man["seed"] == EVAL_SEED_BASE
    scene = json.loads(next(out.glob("train/*/scene0/scene.json")).read_text())
    assert scene["seed"] == EVAL_SEED_BASE
    r = run(app, ["render", "--scenes", "1", "--width", "32", "--height", "32", "--frames", "5", "--out", str(out)])
    assert r.exit_code == 2  # a training run into the evaluation folder is refused
    r = run(app, ["render", "--scenes", "1", "--split", "test", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "--split" in r.output


# ------------------------------------------------------------------ recam eval end to end


def test_pairs_are_seeded_and_round_trip(tmp_path):
    from recam.eval.run import Pair, read_pairs, write_pairs
    from synth.core.multicam_format import DatasetFormatError

    pairs = [Pair("a_cam01_to_cam02", "f18_aperture10/scene0", "cam01", "cam02", 'a "quoted", prompt')]
    write_pairs(tmp_path / "p.csv", pairs)
    assert read_pairs(tmp_path / "p.csv") == pairs
    (tmp_path / "bad.csv").write_text("pair_id,scene\nx,y\n")
    with pytest.raises(DatasetFormatError, match="missing column"):
        read_pairs(tmp_path / "bad.csv")


@pytest.mark.slow
def test_recam_eval_end_to_end_with_the_tiny_model(tmp_path, tiny_demo):
    from recam.cli import app as recam_app
    from recam.eval.run import sample_pairs

    ds, model = tiny_demo / "data", tiny_demo / "tiny"  # a rendered 2-scene dataset and `recam init-tiny` (shared)
    assert sample_pairs(ds, 3, 5) == sample_pairs(ds, 3, 5) != sample_pairs(ds, 3, 6)
    common = ["--num_frames", "9", "--height", "64", "--width", "64", "--pose-stride", "1"]
    out = tmp_path / "eval"
    import torch

    class MeanColourI3D(torch.nn.Module):  # the I3D TorchScript call contract (recam.eval.fvd)
        def forward(self, x: torch.Tensor, rescale: bool = True, resize: bool = True,
                    return_features: bool = False) -> torch.Tensor:
            return x.mean(dim=(2, 3, 4))

    torch.jit.script(MeanColourI3D()).save(str(tmp_path / "i3d.pt"))
    r = run(recam_app, ["eval", "--dataset", str(ds), "--model_dir", str(model), "--ckpt",
                        str(model / "recammaster_tiny.ckpt"), "--num_pairs", "2", "--steps", "2", "--out", str(out),
                        "--fvd-i3d", str(tmp_path / "i3d.pt"), "--trust-model-code", *common])
    assert r.exit_code == 0, r.output
    fvd = json.loads((out / "summary.json").read_text())["fvd"]  # generated videos (out/videos) vs true targets
    assert fvd["videos"] == 2 and fvd["frames"] == [9] and math.isfinite(fvd["fvd"]) and fvd["fvd"] > 0
    rows = list(csv.DictReader(open(out / "results.csv")))
    pairs = list(csv.DictReader(open(out / "pairs.csv")))
    assert len(rows) == len(pairs) == 2
    for row in rows:
        pid = row["pair_id"]
        for f in (out / "videos" / f"{pid}.mp4", out / "side_by_side" / f"{pid}.mp4", out / "plots" / f"{pid}.png"):
            assert f.is_file(), f
        assert 0 < float(row["psnr"]) < 60 and -1 <= float(row["ssim"]) <= 1
        assert row["pose_status"] in ("ok", "partial", "rotation_only", "static", "not_estimable")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pairs"] == 2 and summary["metrics"]["psnr"]["n"] == 2
    assert "| psnr | 2 |" in (out / "summary.md").read_text()
    # resume: nothing recomputed; other settings into the same folder are refused
    r = run(recam_app, ["eval", "--dataset", str(ds), "--model_dir", str(model), "--ckpt",
                        str(model / "recammaster_tiny.ckpt"), "--num_pairs", "2", "--steps", "2", "--out", str(out),
                        *common])
    assert r.exit_code == 0 and list(csv.DictReader(open(out / "results.csv"))) == rows
    # an interruption after generating but before scoring: the generated video is reused, not regenerated
    vid = out / "videos" / f"{rows[0]['pair_id']}.mp4"
    mtime = vid.stat().st_mtime_ns
    (out / "results.csv").unlink()
    r = run(recam_app, ["eval", "--dataset", str(ds), "--model_dir", str(model), "--ckpt",
                        str(model / "recammaster_tiny.ckpt"), "--num_pairs", "2", "--steps", "2", "--out", str(out),
                        *common])
    assert r.exit_code == 0 and vid.stat().st_mtime_ns == mtime
    assert len(list(csv.DictReader(open(out / "results.csv")))) == 2
    r = run(recam_app, ["eval", "--dataset", str(ds), "--model_dir", str(model), "--num_pairs", "2", "--steps", "3",
                        "--out", str(out), *common])
    assert r.exit_code == 2 and "other settings" in r.output
    # (b) score the generated videos as another method's, on exactly the same pairs
    from transformers import CLIPConfig, CLIPModel

    text = dict(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                max_position_embeddings=16, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=32,
                  patch_size=8)
    CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)).save_pretrained(tmp_path / "clip")
    out2 = tmp_path / "eval_b"
    r = run(recam_app, ["eval", "--dataset", str(ds), "--videos", str(out / "videos"), "--pairs",
                        str(out / "pairs.csv"), "--out", str(out2), "--clip-model", str(tmp_path / "clip"),
                        "--lpips-weights", str(tmp_path / "missing.pth"), *common])
    assert r.exit_code == 0, r.output
    assert "LPIPS not computed" in (out2 / "summary.md").read_text()
    rows2 = list(csv.DictReader(open(out2 / "results.csv")))
    assert all(-100 <= float(row["clip_v"]) <= 100 for row in rows2)
    assert [r["pair_id"] for r in rows2] == [r["pair_id"] for r in rows]
    assert abs(float(rows2[0]["psnr"]) - float(rows[0]["psnr"])) < 1.5  # the same video, re-encoded once more
    r = run(recam_app, ["eval", "--dataset", str(ds), "--videos", str(out / "videos"), "--out", str(out2)])
    assert r.exit_code == 2 and "--pairs" in r.output
    # (c) PSNR recomputed here, independently (numpy, per frame, mean over frames), from the written files (the
    # resumed run above scored the decoded videos; the first run scored the frames before encoding)
    from synth.core.video_io import read_video

    for row in csv.DictReader(open(out / "results.csv")):
        pair = next(p for p in pairs if p["pair_id"] == row["pair_id"])
        gen = read_video(out / "videos" / f"{row['pair_id']}.mp4")[0].astype(np.float64)
        tgt = read_video(ds / "train" / pair["scene"] / "videos" / f"{pair['target']}.mp4", len(gen))[0]
        mse = ((gen - tgt.astype(np.float64)) ** 2).mean(axis=(1, 2, 3))
        assert float(row["psnr"]) == pytest.approx(float(np.mean(10 * np.log10(255.0 ** 2 / mse))), abs=1e-3)
    # (d) the true target videos scored as a method's output: identical frames (PSNR inf, SSIM 1), far above the
    # tiny model's random output
    truth = tmp_path / "truth"
    truth.mkdir()
    for pair in pairs:
        shutil.copy(ds / "train" / pair["scene"] / "videos" / f"{pair['target']}.mp4", truth / f"{pair['pair_id']}.mp4")
    r = run(recam_app, ["eval", "--dataset", str(ds), "--videos", str(truth), "--pairs", str(out / "pairs.csv"),
                        "--out", str(tmp_path / "eval_truth"), *common])
    assert r.exit_code == 0, r.output
    for row, gen_row in zip(csv.DictReader(open(tmp_path / "eval_truth" / "results.csv")), rows):
        assert float(row["psnr"]) == math.inf and float(row["ssim"]) == pytest.approx(1.0, abs=1e-9)
        assert float(gen_row["psnr"]) < 40 and float(gen_row["ssim"]) < 0.9


@pytest.mark.slow  # everyday loop (-m 'not slow') stays under 3 min on 2 cores
def test_synth_verify_workers_shards_and_sampling(tmp_path):
    """The process-pool path, --shard and --sample on a tiny (64 px, mostly not estimable) scene."""
    from synth.cli import app
    from synth.dataset.verify import list_items, select_items

    ds = tmp_path / "ds"
    assert run(app, ["render", "--scenes", "1", "--width", "64", "--height", "64", "--frames", "9",
                     "--out", str(ds)]).exit_code == 0
    items = list_items(ds)
    assert len(items) == 10
    sub = select_items(items, (0, 1), 3, 7)
    assert len(sub) == 3 and sub == select_items(items, (0, 1), 3, 7) and select_items(items, (1, 2), None, 0) == []
    r = run(app, ["verify", str(ds), "--method", "sfm", "--workers", "2", "--sample", "3", "--seed", "7", "--stride",
                  "1", "--shard", "0/1", "--out", str(tmp_path / "v")])
    assert r.exit_code in (0, 1), r.output  # at 64 px a lucky estimate may be flagged; the plumbing is the test
    rows = list(csv.DictReader(open(tmp_path / "v" / "verify.csv")))
    assert sorted(row["camera"] for row in rows) == sorted(it.camera for it in sub)
    assert all(row["status"] in ("ok", "partial", "rotation_only", "static", "not_estimable") for row in rows)
    assert (tmp_path / "v" / "verify_summary.json").is_file()
    r = run(app, ["verify", str(ds), "--shard", "1/2", "--out", str(tmp_path / "v2")])
    assert r.exit_code == 2 and "no camera videos" in r.output


# ------------------------------------------------------------------ property tests



def _rand_rot(rng):
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 12), scale=st.floats(0.01, 100))
def test_metrics_are_invariant_to_world_frame_and_estimate_scale(seed, n, scale):
    rng = np.random.default_rng(seed)
    gt = poses([_rand_rot(rng) for _ in range(n)], rng.normal(size=(n, 3)))
    est = poses([_rand_rot(rng) for _ in range(n)], rng.normal(size=(n, 3)))
    base = camera_metrics(gt, est)
    w = np.eye(4)
    w[:3, :3], w[:3, 3] = _rand_rot(rng), rng.normal(size=3)
    moved = w @ est
    moved[:, :3, 3] *= scale  # SfM's arbitrary world and scale
    m = camera_metrics(gt, moved)
    assert m.rot_err_rad == pytest.approx(base.rot_err_rad, abs=1e-5)
    assert m.trans_err == pytest.approx(base.trans_err, abs=1e-6)
    assert m.cammc == pytest.approx(base.cammc, abs=1e-6)
    assert 0 <= m.rot_err_rad <= n * math.pi + 1e-9 and camera_metrics(gt, gt).rot_err_rad < 1e-5


@settings(max_examples=30, deadline=None)
@given(prompt=st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=60))
def test_pairs_file_round_trips_any_prompt(tmp_path_factory, prompt):
    from recam.eval.run import Pair, read_pairs, write_pairs

    path = tmp_path_factory.mktemp("pairs") / "pairs.csv"
    pairs = [Pair("p0", "f18_aperture10/scene0", "cam01", "cam02", prompt)]
    write_pairs(path, pairs)
    assert read_pairs(path) == pairs


# ------------------------------------------------------------------ the metric registry (recam.eval.metrics)


def _tiny_eval_dataset(root: Path, frames: int = 9, size: int = 64) -> None:
    """One scene, two static cameras (smooth gradients: poses not estimable, quickly), FMatrices by hand."""
    from synth.core.multicam_format import write_camera_extrinsics
    from synth.core.video_io import write_video

    scene = root / "train" / "f18_aperture10" / "scene0"
    yy, xx = np.mgrid[0:size, 0:size]
    mats = {}
    for k, cam in enumerate(("cam01", "cam02")):
        img = np.stack([xx * 3 + 40 * k, yy * 3, (xx + yy) + 60 * k], axis=-1).clip(0, 255).astype(np.uint8)
        write_video(scene / "videos" / f"{cam}.mp4", np.repeat(img[None], frames, axis=0), 15)
        m = np.tile(np.eye(4), (frames, 1, 1))
        m[:, 3, :3] = [100.0 * k, 0.0, 150.0]  # FMatrix rows: forward, right, up, location (cm)
        mats[cam] = m
    write_camera_extrinsics(scene / "cameras" / "camera_extrinsics.json", mats)


@pytest.fixture
def toy_metrics():
    """A per-pair and a per-run metric defined here, each one class (removed from the registry afterwards)."""
    from typing import Optional

    from recam.eval.metrics import Column, Metric, MetricOptions, option, register_metric
    from recam.eval.metrics import base as registry

    class ToyOptions(MetricOptions):
        toy_scale: Optional[float] = option(None, help="Scale of the toy metric (turns it on).")

    @register_metric
    class Toy(Metric):
        name = "toy"
        columns = (Column("toy_frames", "frames x scale"),)
        Options = ToyOptions
        calls: list = []

        def enabled(self, options):
            return options.toy_scale is not None

        def score(self, ctx, state):
            Toy.calls.append(ctx.pair.pair_id)
            return {"toy_frames": len(ctx.generated) * state.toy_scale}

    @register_metric
    class ToyCount(Metric):
        name = "toy_count"
        per_run = True
        missing_note = "toy count not computed"

        def aggregate(self, run, state):
            n = sum(bool(run.results[p.pair_id].get("frames")) for p in run.pairs)
            return {"count": n, "note": f"toy count over {n} pairs"}

        def summary_row(self, record):
            return record["count"], float(record["count"])

    yield Toy
    registry._REGISTRY.pop("toy")
    registry._REGISTRY.pop("toy_count")


def test_a_metric_defined_in_one_class_gets_a_flag_a_column_and_fills_resumed_runs(tmp_path, toy_metrics):
    """Adding a metric is one class: its option is a flag, its column reaches results.csv / summary.json, the run
    records it in eval_run.json; enabled on a resumed run it fills the pairs already scored (nothing else redone);
    other options of a metric that already ran are refused."""
    from recam.cli import app as recam_app
    from recam.eval.run import sample_pairs, write_pairs
    from synth.core.video_io import read_video, write_video

    ds, gen, out = tmp_path / "ds", tmp_path / "gen", tmp_path / "eval"
    _tiny_eval_dataset(ds)
    pairs = sample_pairs(ds, 2, 0)
    assert len(pairs) == 2
    write_pairs(tmp_path / "pairs.csv", pairs)
    for p in pairs:
        v, fps = read_video(ds / "train" / p.scene / "videos" / f"{p.target}.mp4", None)
        write_video(gen / f"{p.pair_id}.mp4", (v.astype(np.int16) + 9).clip(0, 255).astype(np.uint8), fps)
    base = ["eval", "--dataset", str(ds), "--videos", str(gen), "--pairs", str(tmp_path / "pairs.csv"), "--out",
            str(out), "--num_frames", "9", "--height", "64", "--width", "64", "--pose-stride", "1",
            "--no-reference-poses"]
    r = run(recam_app, base)
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert "toy_frames" in rows[0] and all(row["toy_frames"] == "" for row in rows) and not toy_metrics.calls
    assert "toy" not in json.loads((out / "eval_run.json").read_text())["metrics"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["toy_count"]["count"] == 2 and summary["metrics"]["toy_frames"]["n"] == 0
    sbs = out / "side_by_side" / f"{pairs[0].pair_id}.mp4"
    mtime = sbs.stat().st_mtime_ns

    r = run(recam_app, base + ["--toy-scale", "2"])  # enabled on the resumed run: fills the scored pairs
    assert r.exit_code == 0, r.output
    rows2 = list(csv.DictReader(open(out / "results.csv")))
    assert [row["toy_frames"] for row in rows2] == ["18", "18"] and sorted(toy_metrics.calls) == sorted(
        p.pair_id for p in pairs)
    for a, b in zip(rows, rows2):
        assert {k: a[k] for k in ("psnr", "ssim", "pose_status", "frames")} == \
            {k: b[k] for k in ("psnr", "ssim", "pose_status", "frames")}
    assert sbs.stat().st_mtime_ns == mtime  # the pair was not scored again
    manifest = json.loads((out / "eval_run.json").read_text())
    assert manifest["metrics"]["toy"] == {"toy_scale": 2.0} and "psnr" in manifest["metrics"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["toy_frames"] == {"n": 2, "mean": 18.0, "median": 18.0}
    assert "| toy_frames | 2 | 18 | 18 |" in (out / "summary.md").read_text()

    import torch

    class MeanColourI3D(torch.nn.Module):  # the I3D TorchScript call contract (recam.eval.fvd)
        def forward(self, x: torch.Tensor, rescale: bool = True, resize: bool = True,
                    return_features: bool = False) -> torch.Tensor:
            return x.mean(dim=(2, 3, 4))

    torch.jit.script(MeanColourI3D()).save(str(tmp_path / "i3d.pt"))
    r = run(recam_app, base + ["--toy-scale", "2", "--fvd-i3d", str(tmp_path / "i3d.pt"),  # nothing scored again
                               "--trust-model-code"])
    assert r.exit_code == 0 and len(toy_metrics.calls) == 2, r.output
    from recam.eval.fvd import file_sha256

    manifest = json.loads((out / "eval_run.json").read_text())
    assert manifest["metrics"]["fvd"] == {"fvd_i3d": str(tmp_path / "i3d.pt"),
                                          "i3d_sha256": file_sha256(tmp_path / "i3d.pt")}
    assert json.loads((out / "summary.json").read_text())["fvd"]["videos"] == 2
    r = run(recam_app, base + ["--toy-scale", "3"])  # the column would mix two versions
    assert r.exit_code == 2 and "toy" in r.output and "another --out" in r.output


def test_a_resumed_model_run_fills_new_metrics_without_regenerating(tmp_path, toy_metrics):
    from recam.eval.metrics.base import get_metric
    from recam.eval.run import EvalSettings, evaluate_pairs, prepare_metrics, sample_pairs

    ds, out = tmp_path / "ds", tmp_path / "eval"
    _tiny_eval_dataset(ds)
    pairs = sample_pairs(ds, 2, 1)
    settings = EvalSettings(num_frames=9, height=64, width=64, pose_stride=1, source="model:test")
    made = []

    def generate(frames, prompt, cam_emb):
        assert frames.shape == (9, 64, 64, 3) and cam_emb.shape == (3, 12)
        made.append(prompt)
        return frames

    evaluate_pairs(ds, pairs, out, settings, generate=generate)
    assert len(made) == 2
    from dataclasses import asdict

    legacy = {**asdict(settings), "reference_poses": True}  # eval_run.json before the registry: no "metrics"
    (out / "eval_run.json").write_text(json.dumps(legacy))
    active = prepare_metrics({"toy": get_metric("toy").Options(toy_scale=1.0)}, "cpu")
    assert "toy" in [a.metric.name for a in active]

    def must_not_generate(*args):
        raise AssertionError("a scored pair was generated again")

    rows = evaluate_pairs(ds, pairs, out, settings, generate=must_not_generate, active=active)
    assert [row["toy_frames"] for row in rows] == ["9", "9"] and len(made) == 2
    assert json.loads((out / "eval_run.json").read_text())["metrics"]["toy"] == {"toy_scale": 1.0}


def test_the_registry_refuses_clashing_or_malformed_metrics():
    from recam.eval.metrics import Column, Metric, metrics, register_metric
    from recam.eval.metrics import base as registry

    names = list(metrics())
    assert names[:6] == ["psnr", "ssim", "lpips", "clip", "camera", "reference_camera"] and "fvd" in names

    class SecondPSNR(Metric):
        name = "psnr2"
        columns = (Column("psnr"),)

    class RunWithColumns(Metric):
        name = "runny"
        per_run = True
        columns = (Column("runny"),)

    class Nameless(Metric):
        pass

    class NoColumns(Metric):
        name = "nothing"

    for cls, msg in ((SecondPSNR, "already those of metric 'psnr'"), (RunWithColumns, "per-run"),
                     (Nameless, "needs a `name`"), (NoColumns, "needs `columns`")):
        with pytest.raises(ValueError, match=msg):
            register_metric(cls)
    assert list(registry.metrics()) == names
    with pytest.raises(KeyError, match="registered: psnr"):
        registry.get_metric("nope")


def test_recam_eval_flag_errors_name_the_flag_quickly(tmp_path):
    from recam.cli import app as recam_app

    ds = tmp_path / "ds"
    _tiny_eval_dataset(ds)
    for args, msg in ((["--num_frames", "8"], "--num-frames must be 4k + 1"), (["--dtype", "fp8"], "--dtype"),
                      (["--mapper", "x"], "--mapper must be"), (["--num-pairs", "0"], "--num-pairs")):
        r = run(recam_app, ["eval", "--dataset", str(ds), "--model-dir", str(tmp_path), *args, "--out",
                            str(tmp_path / "o")])
        assert r.exit_code == 2 and msg in r.output, r.output
        assert "Traceback" not in r.output and not (tmp_path / "o").exists()
    r = run(recam_app, ["eval", "--dataset", str(ds), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "exactly one of --model-dir" in r.output


@settings(max_examples=30, deadline=None)
@given(cells=st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32).map(lambda x: f"{x:.6g}"),
                                st.sampled_from(["", "n/a"])), max_size=8))
def test_summary_statistics_are_over_the_finite_numbers_of_a_column(tmp_path_factory, cells):
    from recam.eval.run import write_summary

    out = tmp_path_factory.mktemp("summary")
    rows = [{"pair_id": f"p{i}", "psnr": c, "pose_status": "ok"} for i, c in enumerate(cells)]
    s = write_summary(out, rows)
    finite = [float(c) for c in cells if c not in ("", "n/a") and math.isfinite(float(c))]
    got = s["metrics"]["psnr"]
    assert got["n"] == len(finite) and s["pairs"] == len(rows) and s["metrics"]["ssim"]["n"] == 0
    if finite:
        assert got["mean"] == pytest.approx(float(np.mean(finite))) and got["median"] == pytest.approx(
            float(np.median(finite)))
    else:
        assert got["mean"] is None and got["median"] is None
    assert s["fvd"] is None and s["notes"][-1].startswith("FVD not computed")
    assert json.loads((out / "summary.json").read_text()) == s
