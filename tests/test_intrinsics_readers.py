"""Per-frame intrinsics through every dataset reader, normalised to the clip's resize / crop, and the three reader
defects of issue 24: (a) SpatialVID dynamic masks by annotated-frame index through ``indexes.txt``, (b) DL3DV's
``images_8/`` / ``images_4/`` resolution folders, (c) DL3DV distortion (undistorted, or refused beyond a bound)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from recam.data.clips import load_frames_sized
from recam.data.formats import enumerate_items
from recam.data.formats.base import clip_intrinsics
from recam.data.prepare import dyn_mask_latent
from recam.video import crop_plan
from synth.cli import app as synth_app
from synth.core.intrinsics_file import read_camera_intrinsics
from synth.core.layout import CAMERA_INTRINSICS_JSON
from synth.core.multicam_format import read_scene_spec

from data_fixtures import H, W, make_dl3dv, make_re10k, make_realcam, make_spatialvid

REPO = Path(__file__).resolve().parents[1]


@settings(max_examples=60, deadline=None)
@given(w=st.integers(16, 2000), h=st.integers(16, 2000), tw=st.integers(8, 900), th=st.integers(8, 900),
       pt=st.tuples(st.floats(-1, 1), st.floats(-1, 1), st.floats(1, 10)))
def test_clip_intrinsics_follow_the_resize_and_crop(w, h, tw, th, pt):
    """A known 3D point projected with the source K, then moved by upstream's resize + crop (recam.video.crop_plan),
    lands where the clip's K projects it."""
    k = np.array([0.9, 0.9 * w / h, 0.47, 0.52])  # square pixels, principal point off-centre
    x, y, z = pt
    u, v = (k[0] * x / z + k[2]) * w, (k[1] * y / z + k[3]) * h  # source pixels (continuous coordinates)
    p = crop_plan(h, w, th, tw)
    u2, v2 = u * p.rw / w - p.left, v * p.rh / h - p.top
    kc = clip_intrinsics(k, (w, h), (tw, th))
    assert np.allclose([(kc[0] * x / z + kc[2]) * tw, (kc[1] * y / z + kc[3]) * th], [u2, v2], atol=1e-6)
    if (tw, th) == (w, h):
        assert np.allclose(kc, k)


def test_multicam_reads_the_zoom_intrinsics_file(tmp_path):
    out = tmp_path / "ds"
    r = CliRunner().invoke(synth_app, ["plan", "--scenes", "1", "--seed", "4", "--out", str(out), "--config",
                                       str(REPO / "configs/synth/multicamvideo_zoom.yaml")])
    assert r.exit_code == 0, r.output
    (scene,) = out.glob("train/*/scene*")
    for cam in read_scene_spec(scene).camera_names():  # the reader checks only that the videos exist
        (scene / "videos").mkdir(exist_ok=True)
        (scene / "videos" / f"{cam}.mp4").write_bytes(b"")
    intr = read_camera_intrinsics(scene / CAMERA_INTRINSICS_JSON)
    items, problems = enumerate_items("multicam", out, 21, 4)
    assert problems == [] and len(items) == 10
    zoomed = 0
    for it in items:
        K = intr.camera(it.camera)[it.frames]
        want = np.stack([K[:, 0, 0] / intr.width, K[:, 1, 1] / intr.height, K[:, 0, 2] / intr.width,
                         K[:, 1, 2] / intr.height], -1)
        np.testing.assert_allclose(it.intrinsics, want)
        assert np.allclose(it.k_norm, want[0])
        zoomed += not np.allclose(want[:, 0], want[0, 0])
    assert zoomed >= 1
    (scene / CAMERA_INTRINSICS_JSON).write_text("{}")
    items, problems = enumerate_items("multicam", out, 21, 4)
    assert items == [] and all(p.path == str(scene / CAMERA_INTRINSICS_JSON) for p in problems)


def test_realcam_re10k_intrinsics_per_frame(tmp_path):
    make_realcam(tmp_path / "rc")
    items, _ = enumerate_items("realcam-vid", tmp_path / "rc", 9)
    assert items and all(it.intrinsics.shape == (9, 4) and np.allclose(it.intrinsics, it.k_norm) for it in items)
    make_re10k(tmp_path / "re")
    txt = tmp_path / "re" / "poses" / "r1.txt"
    lines = txt.read_text().splitlines()
    for i in range(1, len(lines)):  # a zoom: fx, fy grow along the clip
        vals = lines[i].split()
        vals[1], vals[2] = f"{0.9 + 0.01 * i:.4f}", f"{1.2 + 0.01 * i:.4f}"
        lines[i] = " ".join(vals)
    txt.write_text("\n".join(lines) + "\n")
    items, _ = enumerate_items("re10k", tmp_path / "re", 5, 2)
    it = next(i for i in items if i.key == "r1")
    assert np.allclose(it.intrinsics[:, 0], 0.9 + 0.01 * (it.frames + 1)) and np.allclose(it.intrinsics[:, 3], 0.5)


def test_spatialvid_masks_by_annotated_index_and_intrinsics(tmp_path):
    """(a) annotations every 6th video frame: video frames 24 and 48 read masks f_4 and f_8 (upstream's
    annotated-frame index), which the old lookup (f_24, f_48) missed; intrinsics are interpolated per frame."""
    from scipy.sparse import csr_matrix

    root = tmp_path / "sv"
    make_spatialvid(root, n_frames=49)
    clip = root / "annotations" / "group_0001" / "c2"
    idx = np.arange(0, 51, 6)
    (clip / "indexes.txt").write_text("".join(f"{i} {f}\n" for i, f in enumerate(idx)))
    poses = np.load(clip / "poses.npy")
    np.save(clip / "poses.npy", np.resize(poses, (len(idx), 7)))
    intr = np.tile([0.8, 1.1, 0.5, 0.5], (len(idx), 1))
    intr[:, 0] = 0.8 + 0.06 * np.arange(len(idx))  # zooming in: +0.01 per video frame
    np.save(clip / "intrinsics.npy", intr)
    members = {"shape": np.array([H, W])}
    for i, rows in ((4, slice(0, 10)), (8, slice(30, 40))):
        m = np.zeros((H, W), np.uint8)
        m[rows, 5:15] = 1
        sp = csr_matrix(m)
        members.update({f"f_{i}_data": sp.data, f"f_{i}_indices": sp.indices, f"f_{i}_indptr": sp.indptr})
    np.savez(clip / "dyn_masks.npz", **members)
    items, problems = enumerate_items("spatialvid", root, 25, 2)  # video frames 0, 2, ..., 48
    it = next(i for i in items if i.key == "group_0001/c2")
    np.testing.assert_allclose(it.intrinsics[:, 0], 0.8 + 0.01 * it.frames)
    lat = [int(it.frames[p]) for p in range(0, 25, 4)]
    assert lat == [0, 8, 16, 24, 32, 40, 48]  # the latent frames' video frames
    mask = dyn_mask_latent(it.dyn_mask, it.frames, (7, H // 8, W // 8), it.extra["annotated_frames"])
    has = [int(m.sum() > 0) for m in mask]
    assert has == [0, 0, 0, 1, 0, 0, 1]  # video frame 24 -> f_4, 48 -> f_8
    assert mask[3][:2].sum() > 0 and mask[6][4:].sum() > 0 and mask[6][:3].sum() == 0  # each its own mask
    old = dyn_mask_latent(it.dyn_mask, it.frames, (7, H // 8, W // 8))  # the old lookup: f_<video frame>
    assert [int(m.sum() > 0) for m in old] == [0, 1, 0, 0, 0, 0, 0]  # nothing at 24 / 48, f_8 on video frame 8
    # indexes.txt absent: the clip is refused, with the file named (never guessed)
    (clip / "indexes.txt").unlink()
    items, problems = enumerate_items("spatialvid", root, 25, 2)
    assert "group_0001/c2" not in [i.key for i in items]
    (p,) = [p for p in problems if "indexes.txt" in p.path]
    assert p.path == str(clip / "indexes.txt") and "missing" in p.message


def test_dl3dv_resolution_folders(tmp_path):
    """(b) transforms.json names images/..., the 960P release has them in images_4/: found there (or where
    --dl3dv-images says); intrinsics stay normalised."""
    root = tmp_path / "dl"
    make_dl3dv(root)
    s1 = root / "s1"
    (s1 / "images").rename(s1 / "images_4")
    items, problems = enumerate_items("dl3dv", root, 9)
    it = next(i for i in items if i.key == "s1")
    assert all(Path(f).parent.name == "images_4" for f in it.video)
    assert np.allclose(it.k_norm, [50 / W, 50 / H, 0.5, 0.5])
    items, problems = enumerate_items("dl3dv", root, 9, dl3dv_images="images_8")
    assert "s1" not in [i.key for i in items]
    assert any(p.path.endswith("images_8/frame_00000.png") and "image file missing" in p.message for p in problems)


def test_dl3dv_distortion_undistorted_or_refused(tmp_path):
    """(c) a dot drawn where OpenCV's model puts a 3D point comes back, after undistortion, to where the pinhole K
    projects it; a distortion beyond --dl3dv-distortion is refused."""
    root = tmp_path / "dl"
    make_dl3dv(root)
    tf = root / "s1" / "transforms.json"
    meta = json.loads(tf.read_text())
    meta.update(k1=-0.3, k2=0.05, p1=0.001, p2=-0.002)
    tf.write_text(json.dumps(meta))
    fx, fy, cx, cy = 50.0, 50.0, 32.0, 24.0
    x, y = 0.5, -0.3  # normalised image coordinates of the point
    r2 = x * x + y * y
    rad = 1 - 0.3 * r2 + 0.05 * r2 * r2
    xd = x * rad + 2 * 0.001 * x * y - 0.002 * (r2 + 2 * x * x)
    yd = y * rad + 0.001 * (r2 + 2 * y * y) - 2 * 0.002 * x * y
    img = np.zeros((H, W, 3), np.uint8)
    ud, vd = fx * xd + cx, fy * yd + cy  # continuous pixel coordinates
    img[int(vd) - 1:int(vd) + 2, int(ud) - 1:int(ud) + 2] = 255
    for f in sorted((root / "s1" / "images").iterdir()):
        Image.fromarray(img).save(f)
    items, problems = enumerate_items("dl3dv", root, 3, dl3dv_distortion=0.2)
    it = next(i for i in items if i.key == "s1")
    assert np.allclose(it.extra["distortion"], [-0.3, 0.05, 0.001, -0.002])
    frames, size = load_frames_sized(it, H, W)
    assert size == (W, H)
    g = frames[0].astype(float).sum(-1)
    vs, us = np.nonzero(g > 0.3 * g.max())
    wts = g[vs, us]
    u, v = (us * wts).sum() / wts.sum() + 0.5, (vs * wts).sum() / wts.sum() + 0.5
    assert abs(u - (fx * x + cx)) < 0.6 and abs(v - (fy * y + cy)) < 0.6, (u, v, fx * x + cx, fy * y + cy)
    assert np.hypot(ud - (fx * x + cx), vd - (fy * y + cy)) > 2.5  # the distortion moved it visibly
    items, problems = enumerate_items("dl3dv", root, 3)  # default bound: 5% of the width
    assert "s1" not in [i.key for i in items]
    assert any(p.path == str(tf) and "--dl3dv-distortion" in p.message for p in problems)
