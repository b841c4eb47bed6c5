"""ReCamMaster's Table 1 in ``recam eval``: FID (analytic, with a mean-colour feature network), FVD-V (generated vs
source), CLIP-F (tiny random CLIP), Mat.Pix. (SIFT on a shifted texture vs noise), and the summary.md layout."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from recam.eval.metrics import MissingWeightsError, get_metric, metrics
from recam.eval.metrics.fid import fid_from_frames, load_inception
from recam.eval.metrics.matched_pixels import matched_pixels


class MeanColourInception(torch.nn.Module):
    """The FID TorchScript call contract ((N, 3, 299, 299) uint8 -> (N, D)); features = mean colour in grey levels,
    so the FID of a set and the same set brightened by c is 3 c^2 (same covariance, means c apart per channel)."""

    def forward(self, x: torch.Tensor, return_features: bool = True) -> torch.Tensor:
        assert x.dtype == torch.uint8 and x.shape[1] == 3 and x.shape[2] == 299 and x.shape[3] == 299
        return x.float().mean(dim=(2, 3))


@pytest.fixture(scope="module")
def inception(tmp_path_factory):
    path = tmp_path_factory.mktemp("fid") / "inception-2015-12-05.pt"
    torch.jit.script(MeanColourInception()).save(str(path))
    return path


def _texture(seed: int, size: int = 160) -> np.ndarray:
    """A smooth random RGB texture (blobs at several scales: SIFT finds keypoints), uint8."""
    import cv2

    rng = np.random.default_rng(seed)
    img = np.zeros((size, size, 3), np.float32)
    for s in (8, 16, 32):
        small = rng.random((size // s + 1, size // s + 1, 3)).astype(np.float32)
        img += cv2.resize(small, (size + s, size + s), interpolation=cv2.INTER_CUBIC)[:size, :size]
    img = (img - img.min()) / (img.max() - img.min())
    return (img * 255).astype(np.uint8)


def test_fid_is_analytic_for_a_brightness_shift(inception):
    m = load_inception(inception, trust_model_code=True)
    rng = np.random.default_rng(0)
    a = rng.integers(20, 200, size=(6, 40, 56, 3), dtype=np.uint8)
    assert fid_from_frames(m, a, a) == pytest.approx(0.0, abs=1e-6)
    assert fid_from_frames(m, a + np.uint8(10), a) == pytest.approx(3 * 10.0 ** 2, rel=1e-4)


def test_fid_weights_errors_name_the_file(inception, tmp_path):
    with pytest.raises(MissingWeightsError, match="nothing is downloaded"):
        load_inception(None)
    with pytest.raises(MissingWeightsError, match="missing.pt: not found"):
        load_inception(tmp_path / "missing.pt", trust_model_code=True)
    with pytest.raises(ValueError, match="--fid-trust-model-code"):
        load_inception(inception)
    (tmp_path / "junk.pt").write_bytes(b"not torchscript")
    with pytest.raises(ValueError, match="junk.pt: not a TorchScript"):
        load_inception(tmp_path / "junk.pt", trust_model_code=True)


def test_matched_pixels_counts_a_shifted_view_and_not_noise():
    tex = _texture(0)
    a = np.stack([tex[4:132, 4:132], tex[6:134, 2:130]])
    b = np.stack([tex[0:128, 10:138], tex[8:136, 0:128]])  # the same scene seen a few pixels aside
    noise = np.random.default_rng(1).integers(0, 256, size=a.shape, dtype=np.uint8)
    same = matched_pixels(a, b)
    assert same >= 30, same
    assert matched_pixels(a, noise) <= 0.1 * same
    assert matched_pixels(a, b, stride=2) == pytest.approx(matched_pixels(a[:1], b[:1]))
    with pytest.raises(ValueError, match="one size"):
        matched_pixels(a, b[:, :64])


def test_fvd_v_compares_generated_with_source(tmp_path):
    """Generated = a copy of each pair's source: FVD-V 0 (up to the codec), FVD vs the (different) target > 0."""
    from synth.core.video_io import write_video

    from recam.eval.fvd import load_i3d
    from recam.eval.run import Pair, compute_fvd
    from test_eval_fvd import TinyI3D

    i3d = tmp_path / "i3d.pt"
    torch.jit.script(TinyI3D()).save(str(i3d))
    root, vids, out = tmp_path / "ds", tmp_path / "gen", tmp_path / "out"
    rng = np.random.default_rng(0)
    pairs, results = [], {}
    for k in range(2):
        scene = root / "train" / "f18_aperture10" / f"scene{k}" / "videos"
        src = np.repeat(rng.integers(0, 256, size=(1, 1, 1, 3), dtype=np.uint8), 9, axis=0) * np.ones(
            (9, 64, 64, 3), np.uint8)
        write_video(scene / "cam01.mp4", src, 15)
        write_video(scene / "cam02.mp4", 255 - src, 15)
        write_video(vids / f"p{k}.mp4", src, 15)
        pairs.append(Pair(f"p{k}", f"f18_aperture10/scene{k}", "cam01", "cam02", ""))
        results[f"p{k}"] = {"frames": "9"}
    rec = compute_fvd(root, pairs, results, out, load_i3d(i3d, trust_model_code=True), vids)
    assert rec["fvd_v_videos"] == 2 and rec["fvd_v"] == pytest.approx(0.0, abs=1e-3)
    assert rec["fvd"] > 1e-2 and "FVD-V over the 2 pairs" in rec["note"]


@pytest.mark.slow
def test_clip_f_is_100_for_a_still_video_and_lower_for_changing_frames(tmp_path):
    from transformers import CLIPConfig, CLIPModel

    from recam.eval.metrics import clip_scores

    text = dict(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                max_position_embeddings=16, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=32,
                  patch_size=8)
    CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)).save_pretrained(tmp_path / "c")
    rng = np.random.default_rng(0)
    still = np.repeat(rng.integers(0, 255, (1, 40, 48, 3), dtype=np.uint8), 4, axis=0)
    moving = rng.integers(0, 255, (4, 40, 48, 3), dtype=np.uint8)
    assert clip_scores(still, None, tmp_path / "c")["clip_f"] == pytest.approx(100.0, abs=1e-3)
    assert clip_scores(moving, None, tmp_path / "c")["clip_f"] < 99.9
    assert "clip_f" not in clip_scores(still[:1], None, tmp_path / "c")


def test_every_table1_column_has_a_metric():
    from recam.eval.run import TABLE1

    cols = {c.name for m in metrics().values() for c in m.columns}
    for _, header, (key, field) in TABLE1:
        assert field in cols if key == "metrics" else get_metric(key).per_run, header
    assert get_metric("matched_pixels").label == "Mat.Pix."


def test_summary_md_lays_out_table1(tmp_path):
    from recam.eval.run import write_summary

    rows = [{"pair_id": "p0", "clip_t": "30", "clip_f": "95", "clip_v": "90", "rot_err_deg": "2",
             "trans_err": "0.5", "mat_pix": "100"},
            {"pair_id": "p1", "clip_t": "32", "clip_f": "97", "clip_v": "92", "rot_err_deg": "4",
             "trans_err": "1.5", "mat_pix": "200"}]
    fvd = {"fvd": 123.0, "fvd_v": 45.0, "videos": 2, "note": "FVD over 2"}
    write_summary(tmp_path, rows, fvd=fvd)
    md = (tmp_path / "summary.md").read_text().splitlines()
    head = next(i for i, line in enumerate(md) if "FID ↓" in line)
    assert md[head] == ("| Visual quality: FID ↓ | FVD ↓ | Text / temporal: CLIP-T ↑ | CLIP-F ↑ | Camera accuracy: "
                        "RotErr ↓ | TransErr ↓ | View synchronisation: Mat.Pix. ↑ | FVD-V ↓ | CLIP-V ↑ |")
    assert md[head + 2] == "| – | 123 | 31 | 96 | 3 | 1 | 150 | 45 | 91 |"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["fid"] is None and any("--fid-inception" in n for n in summary["notes"])
