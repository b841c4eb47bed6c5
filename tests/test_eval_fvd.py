"""FVD (recam.eval.fvd): Fréchet distance by hand, the I3D call contract with tiny TorchScript models, recam eval."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from recam.eval.fvd import (feature_stats, frechet_distance, fvd_from_features, load_i3d, preprocess_videos)
from recam.eval.metrics import MissingWeightsError


class TinyI3D(torch.nn.Module):
    """The I3D TorchScript call contract: (B, 3, T, 224, 224) in [-1, 1] -> (B, D) features."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv3d(3, 8, kernel_size=3, stride=(1, 4, 4))
        self.fc = torch.nn.Linear(8, 6)

    def forward(self, x: torch.Tensor, rescale: bool = True, resize: bool = True,
                return_features: bool = False) -> torch.Tensor:
        assert x.shape[1] == 3 and x.shape[3] == 224 and x.shape[4] == 224
        assert not rescale and not resize  # the caller preprocesses (common_metrics_on_video_quality's contract)
        f = self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3, 4)))
        return f if return_features else torch.softmax(f, dim=-1)


class MeanColour(torch.nn.Module):
    """Features = the mean of each channel over the video: known by hand for constant-colour videos."""

    def forward(self, x: torch.Tensor, rescale: bool = True, resize: bool = True,
                return_features: bool = False) -> torch.Tensor:
        return x.mean(dim=(2, 3, 4))


@pytest.fixture(scope="module")
def tiny_i3d(tmp_path_factory):
    path = tmp_path_factory.mktemp("i3d") / "i3d_torchscript.pt"
    torch.jit.script(TinyI3D()).save(str(path))
    return path


def _videos(n, seed, t=5, h=48, w=64):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, t, h, w, 3), dtype=np.uint8)


def test_frechet_distance_of_gaussians_with_diagonal_covariances_has_the_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    s1, s2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    want = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))  # 1 + 6.25 + (4 + 1 + 0)
    assert want == pytest.approx(12.25)
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(want, abs=1e-9)
    # a rotated pair of covariances (same eigenbasis): the distance is invariant to the basis
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))
    assert frechet_distance(q @ mu1, q @ np.diag(s1) @ q.T, q @ mu2, q @ np.diag(s2) @ q.T) == pytest.approx(
        want, abs=1e-8)
    with pytest.raises(ValueError, match="shapes"):
        frechet_distance(mu1, np.diag(s1), mu2[:2], np.diag(s2))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 6))
def test_frechet_distance_is_symmetric_non_negative_and_zero_on_itself(seed, d):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(d + 3, d)), rng.normal(size=(d + 5, d)) * 2 + 1
    assert fvd_from_features(a, b) == pytest.approx(fvd_from_features(b, a), rel=1e-6, abs=1e-6)
    assert fvd_from_features(a, b) >= -1e-6
    assert abs(fvd_from_features(a, a)) < 1e-6
    shift = rng.normal(size=d)  # a common shift of both sets changes nothing
    assert fvd_from_features(a + shift, b + shift) == pytest.approx(fvd_from_features(a, b), rel=1e-6, abs=1e-6)


def test_feature_stats_are_mean_and_unbiased_covariance():
    f = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 8.0]])
    mu, s = feature_stats(f)
    assert mu == pytest.approx([2.0, 4.0])
    assert s == pytest.approx(np.array([[4.0, 7.0], [7.0, 13.0]]))  # sums of products / (N - 1)
    with pytest.raises(ValueError, match="at least 2"):
        feature_stats(f[:1])


def test_preprocessing_resizes_the_shorter_side_centre_crops_and_maps_to_minus_one_one():
    v = np.zeros((1, 2, 48, 96, 3), np.uint8)
    v[..., 0] = 255  # red ...
    v[:, :, :, :16, :] = 255  # ... with a white strip on the left, cropped away by the centre crop of a 2:1 frame
    x = preprocess_videos(v)
    assert x.shape == (1, 3, 2, 224, 224) and x.dtype == torch.float32
    assert float(x[:, 0].min()) == pytest.approx(1.0) and float(x[:, 2].max()) == pytest.approx(-1.0)
    assert float(x[:, 1].max()) == pytest.approx(-1.0)
    v[:, :, :, :40, :] = 255  # a wider strip reaches into the crop (from 112 / 448 * 96 = 24 px)
    assert float(preprocess_videos(v)[0, 1, :, :, :30].min()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"\(B, T, H, W, 3\)"):
        preprocess_videos(np.zeros((2, 8, 8, 3), np.uint8))


def test_fvd_of_a_set_with_itself_is_zero_and_symmetric_with_a_tiny_torchscript_i3d(tiny_i3d):
    m = load_i3d(tiny_i3d, "cpu", batch_size=3, trust_model_code=True)
    a, b = m.features(_videos(6, 0)), m.features(_videos(6, 1) // 2)
    assert a.shape == (6, 6) and a.dtype == np.float64
    assert m.features(_videos(6, 0)[:2]) == pytest.approx(a[:2], abs=1e-5)  # batching changes nothing
    assert abs(fvd_from_features(a, a)) < 1e-6
    assert fvd_from_features(a, b) == pytest.approx(fvd_from_features(b, a), rel=1e-6)
    assert fvd_from_features(a, b) > 1e-3


def test_fvd_equals_the_hand_computed_frechet_distance_of_known_features(tmp_path):
    path = tmp_path / "mean.pt"
    torch.jit.script(MeanColour()).save(str(path))
    m = load_i3d(path, trust_model_code=True)
    rng = np.random.default_rng(3)
    cols_a, cols_b = rng.integers(0, 256, size=(7, 3)), rng.integers(0, 256, size=(9, 3))
    va = np.broadcast_to(cols_a[:, None, None, None, :], (7, 3, 30, 40, 3)).astype(np.uint8)
    vb = np.broadcast_to(cols_b[:, None, None, None, :], (9, 3, 30, 40, 3)).astype(np.uint8)
    fa, fb = cols_a / 255.0 * 2 - 1, cols_b / 255.0 * 2 - 1  # constant colours survive resizing exactly
    assert m.features(va) == pytest.approx(fa, abs=1e-5)
    from scipy.linalg import sqrtm

    s1, s2 = np.cov(fa, rowvar=False), np.cov(fb, rowvar=False)
    want = np.sum((fa.mean(0) - fb.mean(0)) ** 2) + np.trace(s1 + s2 - 2 * np.real(sqrtm(s1 @ s2)))
    assert fvd_from_features(m.features(va), m.features(vb)) == pytest.approx(want, rel=1e-4)


def test_missing_or_invalid_i3d_files_say_what_is_needed(tmp_path):
    with pytest.raises(MissingWeightsError, match="i3d_torchscript.pt"):
        load_i3d(None)
    with pytest.raises(MissingWeightsError, match="not found"):
        load_i3d(tmp_path / "nope.pt")
    bad = tmp_path / "state_dict.pt"
    torch.save({"w": torch.zeros(2)}, bad)  # a pickled state dict, not TorchScript
    with pytest.raises(ValueError, match="not a TorchScript I3D"):
        load_i3d(bad)
    with pytest.raises(ValueError, match="not a TorchScript I3D"):
        load_i3d(bad, trust_model_code=True)  # never unpickled, trusted or not
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a TorchScript I3D"):
        load_i3d(tmp_path / "junk.pt")
    with pytest.raises(ValueError, match="not a TorchScript I3D"):
        load_i3d(tmp_path / "junk.pt", trust_model_code=True)


def test_recam_eval_exits_2_when_the_i3d_file_is_missing_or_invalid(tmp_path):
    from typer.testing import CliRunner

    from recam.cli import app

    (tmp_path / "junk.pt").write_bytes(b"junk")
    for f, msg in ((tmp_path / "missing.pt", "not found"), (tmp_path / "junk.pt", "not a TorchScript")):
        r = CliRunner().invoke(app, ["eval", "--dataset", str(tmp_path), "--videos", str(tmp_path), "--pairs",
                                     str(tmp_path / "pairs.csv"), "--fvd-i3d", str(f), "--out", str(tmp_path / "o")])
        assert r.exit_code == 2, r.output
        assert msg in r.output and "i3d_torchscript.pt" in r.output
        assert not (tmp_path / "o").exists()  # stopped before any work


def test_compute_fvd_over_pairs_caches_features_per_i3d_file(tmp_path, tiny_i3d):
    """recam eval's FVD pass on videos on disk: cached per pair, recomputed for another I3D file, in the summary."""
    from synth.core.video_io import write_video

    from recam.eval.run import Pair, compute_fvd, write_summary

    root, vids, out = tmp_path / "ds", tmp_path / "gen", tmp_path / "out"
    pairs, results = [], {}
    for k in range(3):
        scene = root / "train" / "f18_aperture10" / f"scene{k}" / "videos"
        write_video(scene / "cam02.mp4", _videos(1, 10 + k, t=9, h=64, w=64)[0], 15)
        write_video(vids / f"p{k}.mp4", _videos(1, 20 + k, t=9, h=64, w=64)[0], 15)
        pairs.append(Pair(f"p{k}", f"f18_aperture10/scene{k}", "cam01", "cam02", ""))
        results[f"p{k}"] = {"frames": "9"}
    pairs.append(Pair("failed", "f18_aperture10/scene0", "cam01", "cam02", ""))
    results["failed"] = {"frames": ""}
    m = load_i3d(tiny_i3d, trust_model_code=True)
    rec = compute_fvd(root, pairs, results, out, m, vids)
    assert rec["videos"] == 3 and rec["frames"] == [9] and rec["skipped"] == ["failed"]
    assert rec["fvd"] > 0 and "biased on few videos" in rec["note"]
    assert sorted(p.name for p in (out / "fvd_features").iterdir()) == ["p0.npz", "p1.npz", "p2.npz"]
    mtime = (out / "fvd_features" / "p0.npz").stat().st_mtime_ns
    assert compute_fvd(root, pairs, results, out, m, vids)["fvd"] == pytest.approx(rec["fvd"], rel=1e-6)
    assert (out / "fvd_features" / "p0.npz").stat().st_mtime_ns == mtime  # resumed from the cache
    other = tmp_path / "other.pt"
    torch.jit.script(MeanColour()).save(str(other))
    rec2 = compute_fvd(root, pairs, results, out, load_i3d(other, trust_model_code=True), vids)
    assert rec2["i3d_sha256"] != rec["i3d_sha256"] and rec2["fvd"] != pytest.approx(rec["fvd"])
    with np.load(out / "fvd_features" / "p0.npz", allow_pickle=False) as z:
        assert str(z["i3d_sha256"]) == rec2["i3d_sha256"]
    write_summary(out, [{"pair_id": "p0", "psnr": "20"}], fvd=rec)
    s = json.loads((out / "summary.json").read_text())
    assert s["fvd"]["fvd"] == pytest.approx(rec["fvd"]) and s["fvd"]["videos"] == 3
    assert "| fvd | 3 |" in (out / "summary.md").read_text() and "biased" in (out / "summary.md").read_text()
    one = compute_fvd(root, pairs[:1], results, out, m, vids)
    assert one["fvd"] is None and "at least 2" in one["note"]


@pytest.mark.slow
def test_recam_eval_end_to_end_writes_fvd_with_a_tiny_i3d(tmp_path, tiny_i3d, tiny_demo):
    """Rendered 2-scene dataset (the session's shared one, 64x64, 9 frames); 'generated' videos = copies of each
    pair's source (FVD > 0) or target (FVD 0)."""
    import shutil

    from typer.testing import CliRunner

    from recam.cli import app as recam_app
    from recam.eval.run import sample_pairs, write_pairs

    ds = tiny_demo / "data"
    pairs = sample_pairs(ds, 4, 0)
    write_pairs(tmp_path / "pairs.csv", pairs)
    values = {}
    for which in ("source", "target"):
        vids = tmp_path / f"gen_{which}"
        vids.mkdir()
        for p in pairs:
            shutil.copy(ds / "train" / p.scene / "videos" / f"{getattr(p, which)}.mp4", vids / f"{p.pair_id}.mp4")
        out = tmp_path / f"eval_{which}"
        r = CliRunner().invoke(recam_app, ["eval", "--dataset", str(ds), "--videos", str(vids), "--pairs",
                                           str(tmp_path / "pairs.csv"), "--out", str(out), "--fvd-i3d",
                                           str(tiny_i3d), "--trust-model-code", "--num_frames", "9", "--height",
                                           "64", "--width", "64",
                                           "--pose-stride", "1", "--no-reference-poses", "--device", "cpu"])
        assert r.exit_code == 0, r.output
        s = json.loads((out / "summary.json").read_text())
        assert s["fvd"]["videos"] == len(pairs) == 4 and s["fvd"]["frames"] == [9]
        assert "| fvd | 4 |" in (out / "summary.md").read_text()
        assert "FVD: I3D features of pair 4/4" in r.output
        values[which] = s["fvd"]["fvd"]
    assert abs(values["target"]) < 1e-6 < values["source"]
