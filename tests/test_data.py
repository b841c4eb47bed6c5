"""recam data: readers of every format (poses checked against independent computations), broken samples reported
with path and reason, the latent cache, pair/single-view datasets, the mixing sampler and metric alignment."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation
from typer.testing import CliRunner

from data_fixtures import H, W, frames, make_dl3dv, make_realcam, make_re10k, make_spatialvid
from recam.cli import app
from recam.data.datasets import (DatasetBuildError, MultiCamPairDataset, RawSource, SampleError, SingleViewDataset,
                                 build_dataset)
from recam.data.formats import enumerate_items
from recam.data.sampler import MixingSampler, mix
from synth.core.video_io import write_video

run = CliRunner().invoke


def reasons(problems):
    return {Path(p.path).name if "/" in p.path else p.path: p.message for p in problems}


def emb_ref(c2w0, c2ws):
    """Independent cam_emb: numpy inverse and matrix products, top 3x4 row-major."""
    return np.stack([(np.linalg.inv(c2w0) @ c)[:3].reshape(12) for c in c2ws])


# ---------------------------------------------------------------------------------------------------- multicam
@pytest.fixture(scope="module")
def multicam_golden(tmp_path_factory, golden):
    """An official-layout scene holding upstream's golden camera JSON (and tiny 81-frame videos)."""
    root = tmp_path_factory.mktemp("mc") / "MultiCamVideo"
    scene = root / "train" / "f24_aperture5" / "scene1"
    (scene / "cameras").mkdir(parents=True)
    shutil.copy(golden / "scene_camera_extrinsics.json", scene / "cameras" / "camera_extrinsics.json")
    clip = frames(81)[:, :16, :16]
    for j in range(1, 11):
        write_video(scene / "videos" / f"cam{j:02d}.mp4", clip, 15)
    return root


def test_multicam_pairs_golden(multicam_golden, golden):
    ds = build_dataset("multicam", root=multicam_golden, num_frames=81, height=16, width=16)
    assert len(ds) == 90  # ordered pairs of 10 cameras
    data = np.load(golden / "cameras.npz")
    for (cond, tgt), ref in zip(data["pairs"], data["pair_cam_emb"]):
        i = ds.pairs.index((f"f24_aperture5/scene1/cam{cond:02d}", f"f24_aperture5/scene1/cam{tgt:02d}"))
        s = ds[i]
        assert np.abs(s["cam_emb"].numpy() - ref).max() <= 1e-6
        assert s["task"] == "v2v" and bool(s["source_keep"].all()) and s["video"].shape == (2, 3, 81, 16, 16)
        assert s["sample_id"].endswith(f"cam{tgt:02d}<-cam{cond:02d}")


def test_multicam_pair_filters(multicam_golden):
    src = RawSource("multicam", multicam_golden, 81, 16, 16)
    narrow = MultiCamPairDataset(src, 81, max_angle_deg=45)
    assert 0 < len(narrow) < 90
    for cond, tgt in narrow.pairs:
        a, b = src.info[cond].c2w0[:3, 2], src.info[tgt].c2w0[:3, 2]
        assert np.degrees(np.arccos(np.clip(a @ b, -1, 1))) <= 45 + 1e-9


def test_multicam_broken_samples(multicam_golden, tmp_path):
    root = tmp_path / "mc"
    shutil.copytree(multicam_golden, root)
    scene = root / "train" / "f24_aperture5" / "scene1"
    rows = [f"f24_aperture5/scene1/videos/cam{j:02d}.mp4" for j in range(1, 11)]
    rows += ["../../../etc/videos/cam01.mp4", "f24_aperture5/scene1/videos/cam11.mp4"]
    (root / "metadata.csv").write_text("file_name,text\n" + "".join(f'{r},"a caption"\n' for r in rows))
    (scene / "videos" / "cam03.mp4").unlink()
    shutil.copy(scene / "videos" / "cam01.mp4", scene / "videos" / "cam11.mp4")
    items, problems = enumerate_items("multicam", root, 81)
    text = " | ".join(map(str, problems))
    assert "escapes the dataset root" in text and "cam03.mp4: video file missing" in text
    assert "no camera cam11" in text and len(items) == 9
    # a scene whose camera JSON has a NaN pose or too few frames
    cams = json.loads((scene / "cameras" / "camera_extrinsics.json").read_text())
    cams["frame7"]["cam05"] = "[nan 0 0 0] [0 1 0 0] [0 0 1 0] [0 0 0 1] "
    (scene / "cameras" / "camera_extrinsics.json").write_text(json.dumps(cams))
    _, problems = enumerate_items("multicam", root, 81)
    assert any("cam05: non-finite pose" in p.message for p in problems)
    del cams["frame80"]
    (scene / "cameras" / "camera_extrinsics.json").write_text(json.dumps(cams))
    _, problems = enumerate_items("multicam", root, 81)
    assert any("camera_extrinsics.json" in p.path and "80 frames; 81 needed" in p.message for p in problems)
    with pytest.raises(DatasetBuildError, match="80 frames; 81 needed"):
        build_dataset("multicam", root=root, num_frames=81, height=16, width=16, on_error="fail")


# ---------------------------------------------------------------------------------------------------- realcam
def test_realcam_vid(tmp_path):
    truth = make_realcam(tmp_path)
    items, problems = enumerate_items("realcam-vid", tmp_path, 9)
    r = " | ".join(map(str, problems))
    assert "escapes the dataset root" in r and "missing.mp4: video file missing" in r and "non-finite pose" in r
    by = {it.key: it for it in items}
    assert set(by) == {"videos/a.mp4", "videos/b.mp4", "videos/mismatch.mp4", "videos/truncated.mp4"}
    ref = truth["a"]["c2w"][:9].copy()
    ref[:, :3, 3] *= 2.5  # metric: translation x align_factor
    assert np.allclose(by["videos/a.mp4"].c2w, ref, atol=1e-9) and by["videos/a.mp4"].metric
    assert by["videos/a.mp4"].caption == "long a"
    ds = build_dataset("realcam-vid", root=tmp_path, num_frames=9, height=H, width=W,
                       task_probs={"i2v": 0.5, "t2v": 0.5})
    good = [i for i, k in enumerate(ds.keys) if k in ("videos/a.mp4", "videos/b.mp4")]
    s = ds[good[0]]
    assert s["video"].shape == (2, 3, 9, H, W) and s["video"].dtype == torch.uint8
    assert torch.equal(s["video"][0], s["video"][1])
    assert np.allclose(s["cam_emb"].numpy(), emb_ref(ref[0], ref[[0, 4, 8]]), atol=1e-6)
    assert s["task"] in ("i2v", "t2v") and s["source_keep"].sum() == (1 if s["task"] == "i2v" else 0)
    tasks = {ds.task_of(i) for i in range(200) for _ in [ds.set_epoch(i)]}
    assert tasks == {"i2v", "t2v"}
    # broken at load time: reported with path and reason, never retried forever
    bad = ds.keys.index("videos/mismatch.mp4")
    s = ds[bad]  # skip mode: the next good sample
    assert s["sample_id"] != "realcam-vid:videos/mismatch.mp4"
    assert any("mismatch.mp4" in p and "frame-count mismatch" in r for p, r in ds.load_errors)
    strict = SingleViewDataset(RawSource("realcam-vid", tmp_path, 9, H, W), 9, on_error="skip")
    strict.on_error = "fail"
    with pytest.raises(SampleError, match="truncated.mp4"):
        strict[strict.keys.index("videos/truncated.mp4")]


# ---------------------------------------------------------------------------------------------------- spatialvid
def _slerp_ref(q0, q1, t):
    q0, q1 = q0 / np.linalg.norm(q0), q1 / np.linalg.norm(q1)
    d = np.dot(q0, q1)
    if d < 0:
        q1, d = -q1, -d
    th = np.arccos(np.clip(d, -1, 1))
    return q0 if th < 1e-12 else (np.sin((1 - t) * th) * q0 + np.sin(t * th) * q1) / np.sin(th)


def test_training_loader_workers_are_spawned(tmp_path):
    """The training DataLoader's workers are spawned (a forked worker can inherit a lock held by another thread of
    the parent and hang): one worker through the spawn path (datasets and collate pickled into a fresh process)
    yields the batches the main process makes itself."""
    from recam.train.config import TrainConfig
    from recam.train.datamodule import ReCamMasterDataModule

    make_realcam(tmp_path)

    def loader(workers):
        cfg = TrainConfig.model_validate({
            "model": {"model_dir": str(tmp_path / "none")},
            "data": {"num_frames": 9, "height": H, "width": W, "batch_size": 2, "num_workers": workers,
                     "datasets": [{"kind": "realcam-vid", "root": str(tmp_path)}]},
            "trainer": {"max_steps": 2}})
        dm = ReCamMasterDataModule(cfg)
        dm.setup("fit")
        return dm.train_dataloader()

    spawned, inline = loader(1), loader(0)
    assert spawned.multiprocessing_context.get_start_method() == "spawn" and inline.num_workers == 0
    got, ref = list(spawned), list(inline)
    assert len(got) == len(ref) == 2
    for a, b in zip(got, ref):
        assert set(a) == set(b) and a["sample_id"] == b["sample_id"] and a["task"] == b["task"]
        for k, v in b.items():
            if isinstance(v, torch.Tensor):
                assert a[k].dtype == v.dtype and torch.equal(a[k], v), k
    assert got[0]["video"].shape == (2, 2, 3, 9, H, W)


def test_spatialvid_interpolation_scale_and_problems(tmp_path):
    truth = make_spatialvid(tmp_path)
    items, problems = enumerate_items("spatialvid", tmp_path, 9)
    r = " | ".join(map(str, problems))
    assert "novideo.mp4: video file missing" in r and "badpose" in r and "non-finite" in r
    by = {it.key: it for it in items}
    assert set(by) == {"group_0001/c1", "group_0001/c2"}
    c2 = by["group_0001/c2"]
    t = truth["c2"]
    for f, pose in zip(c2.frames, c2.c2w):  # independent SE(3) interpolation: slerp + linear centres
        k = np.searchsorted(t["idx"], f, side="right") - 1
        k = min(k, len(t["idx"]) - 2)
        a = (f - t["idx"][k]) / (t["idx"][k + 1] - t["idx"][k])
        q = _slerp_ref(Rotation.from_matrix(t["c2w"][k, :3, :3]).as_quat(),
                       Rotation.from_matrix(t["c2w"][k + 1, :3, :3]).as_quat(), a)
        assert np.allclose(pose[:3, :3], Rotation.from_quat(q).as_matrix(), atol=1e-9)
        assert np.allclose(pose[:3, 3], (1 - a) * t["c2w"][k, :3, 3] + a * t["c2w"][k + 1, :3, 3], atol=1e-9)
    assert not c2.metric and by["group_0001/c1"].metric
    c1 = by["group_0001/c1"]
    assert np.allclose(c1.c2w[0, :3, 3], truth["c1"]["c2w"][0, :3, 3] * 3.0)  # metric via the scale file
    assert c1.caption == "caption c1" and c1.dyn_mask is not None
    items, problems = enumerate_items("spatialvid", tmp_path, 9, require_metric=True)
    assert [it.key for it in items] == ["group_0001/c1"] and any("no metric scale" in p.message for p in problems)


# ---------------------------------------------------------------------------------------------------- re10k, dl3dv
def test_re10k(tmp_path):
    truth = make_re10k(tmp_path)
    items, problems = enumerate_items("re10k", tmp_path, 9)
    r = " | ".join(map(str, problems))
    assert "short.txt" in r and "19 numbers" in r and "noframes.txt" in r and "no video" in r
    by = {it.key: it for it in items}
    ref = truth["r1"]["c2w"][:9].copy()
    ref[:, :3, 3] *= 0.5
    assert np.allclose(by["r1"].c2w, ref, atol=1e-6) and by["r1"].metric
    assert np.allclose(by["r2"].c2w, truth["r2"]["c2w"][:9], atol=1e-6) and not by["r2"].metric
    ds = build_dataset("re10k", root=tmp_path, num_frames=9, height=H, width=W)
    for i in range(len(ds)):
        assert ds[i]["video"].shape == (2, 3, 9, H, W)


def test_dl3dv_opengl_to_opencv(tmp_path):
    truth = make_dl3dv(tmp_path)
    items, problems = enumerate_items("dl3dv", tmp_path, 9)
    assert [it.key for it in items] == ["s1"]
    assert any("frame_00003.png" in p.path and "image file missing" in p.message for p in problems)
    ref = truth["s1"]["c2w"][:9]
    assert np.allclose(items[0].c2w, ref, atol=1e-9)
    # the OpenCV camera's z axis is the OpenGL camera's -z (looking direction)
    assert np.allclose(items[0].k_norm, [50 / W, 50 / H, 0.5, 0.5])
    s = build_dataset("dl3dv", root=tmp_path, num_frames=9, height=H, width=W)[0]
    assert np.allclose(s["cam_emb"].numpy(), emb_ref(ref[0], ref[[0, 4, 8]]), atol=1e-6)


# ---------------------------------------------------------------------------------------------------- cache
@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("tinymodel") / "m"
    assert run(app, ["init-tiny", str(d)]).exit_code == 0
    return d


@pytest.mark.slow  # everyday loop (-m 'not slow') stays under 3 min on 2 cores
def test_prepare_cache_resume_shards_and_equivalence(tmp_path, tiny_model):
    root = tmp_path / "rc"
    make_realcam(root)
    cache = tmp_path / "cache"
    base = ["prepare", "--dataset", str(root), "--kind", "realcam-vid", "--model_dir", str(tiny_model), "--out",
            str(cache), "--num_frames", "9", "--height", str(H), "--width", str(W), "--cache_dtype", "fp32"]
    r = run(app, base + ["--shard", "0/2"])
    assert r.exit_code == 0, r.output
    r = run(app, base + ["--shard", "1/2"])
    assert r.exit_code == 0, r.output
    files = sorted(p.relative_to(cache).as_posix() for p in (cache / "realcam-vid").rglob("*.safetensors"))
    assert (cache / "empty_context.safetensors").exists()  # the empty prompt, for text dropout
    assert files == ["realcam-vid/videos/a.mp4.safetensors", "realcam-vid/videos/b.mp4.safetensors"]
    text = " ".join(r.output.split())
    problems = json.loads((cache / "realcam-vid" / "problems.shard0of2.json").read_text()) + \
        json.loads((cache / "realcam-vid" / "problems.shard1of2.json").read_text())
    reasons_ = " | ".join(f"{p['path']}: {p['reason']}" for p in problems)
    assert "frame-count mismatch" in reasons_ and "truncated.mp4" in reasons_ and "escapes" in reasons_
    assert "broken" in text
    r = run(app, base)  # resume: nothing to redo
    assert r.exit_code == 0 and "0 written, 2 already cached" in " ".join(r.output.split())
    manifest = json.loads((cache / "manifest.json").read_text())
    assert len(manifest["items"]) == 2
    cached = build_dataset("realcam-vid", cache=cache, num_frames=9)
    raw = build_dataset("realcam-vid", root=root, num_frames=9, height=H, width=W)
    for k in ("videos/a.mp4", "videos/b.mp4"):
        c, w = cached[cached.keys.index(k)], raw[raw.keys.index(k)]
        assert c["latents"].shape == (16, 6, H // 8, W // 8) and c["context"].shape == (512, 32)
        assert torch.allclose(c["cam_emb"], w["cam_emb"]) and c["task"] == w["task"]
        assert torch.equal(c["latents"][:, :3], c["latents"][:, 3:])
        assert (c["context"][c["context"].abs().sum(1) == 0].shape[0]) > 400  # padded past the true length
    from recam.data.cache import load_item
    from recam.encoders import encode_video_latents
    from diffusers import AutoencoderKLWan
    from recam.data.prepare import load_frames
    from recam.video import frames_to_tensor

    vae = AutoencoderKLWan.from_pretrained(str(tiny_model / "vae"))
    item = next(it for it in enumerate_items("realcam-vid", root, 9)[0] if it.key == "videos/a.mp4")
    ref = encode_video_latents(vae, frames_to_tensor(load_frames(item, H, W))[None])[0]
    assert torch.allclose(load_item(cache / "realcam-vid/videos/a.mp4.safetensors")["latents"], ref, atol=1e-5)


@pytest.mark.slow  # everyday loop (-m 'not slow') stays under 3 min on 2 cores
def test_prepare_multicam_and_spatialvid_cache(tmp_path, tiny_model):
    from synth.cli import app as synth_app

    data = tmp_path / "synth"
    r = run(synth_app, ["render", "--scenes", "1", "--width", "64", "--height", "64", "--frames", "9", "--out",
                        str(data)])
    assert r.exit_code == 0, r.output
    cache = tmp_path / "cache"
    r = run(app, ["prepare", "--dataset", str(data), "--kind", "multicam", "--model_dir", str(tiny_model), "--out",
                  str(cache), "--num_frames", "9", "--height", "64", "--width", "64"])
    assert r.exit_code == 0, r.output
    ds = build_dataset("multicam", cache=cache, num_frames=9)
    raw = build_dataset("multicam", root=data, num_frames=9, height=64, width=64)
    assert len(ds) == len(raw) == 90
    a, b = ds[17], raw[17]
    assert a["sample_id"] == b["sample_id"] and torch.allclose(a["cam_emb"], b["cam_emb"], atol=1e-6)
    assert a["latents"].shape == (16, 6, 8, 8) and a["metric"]
    sv = tmp_path / "sv"
    make_spatialvid(sv)
    r = run(app, ["prepare", "--dataset", str(sv), "--kind", "spatialvid", "--model_dir", str(tiny_model), "--out",
                  str(cache), "--num_frames", "9", "--height", str(H), "--width", str(W)])
    assert r.exit_code == 0, r.output
    d = build_dataset("spatialvid", cache=cache, num_frames=9, require_metric=True)
    assert d.keys == ["group_0001/c1"]
    s = d[0]
    assert s["dyn_mask"].shape == (3, H // 8, W // 8) and s["dyn_mask"][0].sum() > 0 and s["metric"]


# ---------------------------------------------------------------------------------------------------- sampler
def test_mixing_sampler():
    s = MixingSampler([100, 10, 0], [1.0, 3.0, 5.0], samples_per_epoch=4000, seed=1)
    idx = np.array(list(s))
    frac_small = np.mean(idx >= 100)
    assert abs(frac_small - 0.75) < 0.03 and idx.max() < 110  # the empty dataset gets nothing
    assert np.array_equal(idx, np.array(list(s)))  # deterministic
    s.set_epoch(1)
    assert not np.array_equal(idx, np.array(list(s)))
    r0 = MixingSampler([100, 10], [1, 1], 50, seed=2, rank=0, world_size=2)
    r1 = MixingSampler([100, 10], [1, 1], 50, seed=2, rank=1, world_size=2)
    full = MixingSampler([100, 10], [1, 1], 100, seed=2).indices()
    assert np.array_equal(np.concatenate([r0.indices(), r1.indices()]), np.concatenate([full[0::2], full[1::2]]))
    r0.set_start(20)
    assert list(r0) == r0.indices()[20:].tolist()
    with pytest.raises(ValueError):
        MixingSampler([0, 0], [1, 1], 10)
    ds, sampler = mix([torch.utils.data.TensorDataset(torch.arange(5)), torch.utils.data.TensorDataset(torch.arange(3))],
                      [1, 1], 20)
    assert all(0 <= i < 8 for i in sampler)


# ---------------------------------------------------------------------------------------------------- align
def test_align_relative_depth_and_colmap(tmp_path):
    rng = np.random.default_rng(0)
    met, rel, masks = tmp_path / "metric", tmp_path / "rel", tmp_path / "masks"
    for d in (met, rel, masks):
        d.mkdir()
    for i in range(5):
        r = rng.uniform(0.5, 3.0, (40, 60))
        m = r * 2.7 * rng.normal(1, 0.01, r.shape)
        m[:10, :10] = 99.0  # a moving object, masked out
        mask = np.zeros_like(r, np.uint8)
        mask[:10, :10] = 1
        np.save(rel / f"{i:05d}.npy", r)
        from PIL import Image

        Image.fromarray(np.round(m * 1000).clip(0, 65535).astype(np.uint16)).save(met / f"{i:05d}.png")
        np.save(masks / f"{i:05d}.npy", mask)
    out = tmp_path / "clip" / "metric_scale.json"
    res = run(app, ["align", "--metric-depth", str(met), "--relative-depth", str(rel), "--masks", str(masks),
                    "--out", str(out)])
    assert res.exit_code == 0, res.output
    info = json.loads(out.read_text())
    assert abs(info["scale"] - 2.7) < 0.01 and info["spread"]["frames"] == 5 and info["spread"]["rel_iqr"] < 0.01
    # COLMAP text model: points seen by a camera; metric depth = 4.0 x SfM depth
    sfm = tmp_path / "sparse"
    sfm.mkdir()
    pts = rng.uniform([-1, -1, 2], [1, 1, 5], (50, 3))
    (sfm / "cameras.txt").write_text("1 PINHOLE 60 40 50 50 30 20\n")
    K = np.array([[50, 0, 30], [0, 50, 20], [0, 0, 1.0]])
    uv = (pts / pts[:, 2:]) @ K.T
    obs = " ".join(f"{u:.4f} {v:.4f} {i}" for i, (u, v, _) in enumerate(uv))
    (sfm / "images.txt").write_text(f"1 1 0 0 0 0 0 0 1 00000.png\n{obs}\n")
    (sfm / "points3D.txt").write_text("".join(f"{i} {x} {y} {z} 0 0 0 0\n" for i, (x, y, z) in enumerate(pts)))
    dmap = np.full((40, 60), np.nan)
    for (u, v, _), p in zip(uv, pts):
        dmap[int(v), int(u)] = 4.0 * p[2]
    shutil.rmtree(met)
    met.mkdir()
    np.save(met / "00000.npy", dmap)
    res = run(app, ["align", "--metric-depth", str(met), "--colmap", str(sfm), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert abs(json.loads(out.read_text())["scale"] - 4.0) < 1e-6
    res = run(app, ["align", "--metric-depth", str(met), "--colmap", str(tmp_path / "nope"), "--out", str(out)])
    assert res.exit_code == 2 and "cameras.txt" in res.output


def test_exr_disparity_depth(tmp_path):
    import OpenEXR

    from recam.data.align import load_depth

    z = np.full((4, 6), 0.5, np.float16)
    z[0, 0] = 0
    with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}, {"Z": z}) as f:
        f.write(str(tmp_path / "00000.exr"))
    d = load_depth(tmp_path / "00000.exr", exr_disparity=True)
    assert np.isnan(d[0, 0]) and np.allclose(d[1:, 1:], 2.0)
