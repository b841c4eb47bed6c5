"""``recam eval --protocol recammaster``: every source video of a folder x the preset trajectories, re-captured by
``recam infer``'s service with the tiny model and scored; resumable; a bad folder exits 2 naming it."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from recam.cli import app
from recam.eval.settings import EvalRunSettings, EvalSettingsError

run = CliRunner().invoke


def _video(path, seed: int, n: int = 9, size: int = 64) -> None:
    """A textured frame panned sideways by 2 px per frame (uint8, 8 fps)."""
    from synth.core.video_io import write_video

    rng = np.random.default_rng(seed)
    big = np.kron(rng.integers(0, 256, (size // 4, size // 2, 3)), np.ones((4, 4, 1))).astype(np.uint8)
    write_video(path, np.stack([big[:, 2 * i:2 * i + size] for i in range(n)]), 8.0)


class MeanColourInception(torch.nn.Module):  # the FID TorchScript call contract (recam.eval.metrics.fid)
    def forward(self, x: torch.Tensor, return_features: bool = True) -> torch.Tensor:
        return x.float().mean(dim=(2, 3))


class MeanColourI3D(torch.nn.Module):  # the I3D TorchScript call contract (recam.eval.fvd)
    def forward(self, x: torch.Tensor, rescale: bool = True, resize: bool = True,
                return_features: bool = False) -> torch.Tensor:
        return x.mean(dim=(2, 3, 4))


def test_protocol_flags_are_checked(tmp_path):
    base = dict(dataset=tmp_path, model_dir=tmp_path, protocol="recammaster")
    assert EvalRunSettings.from_flags(base).preset_list() == tuple(range(1, 11))  # default: all 10 presets
    assert EvalRunSettings.from_flags({**base, "cam_types": "3, 1,3"}).preset_list() == (1, 3)
    for bad, needle in (({"cam_types": "0,11"}, "--cam-types"), ({"cam_types": "x"}, "--cam-types"),
                        ({"protocol": "paper"}, "--protocol"), ({"pairs": tmp_path / "p.csv"}, "takes no --videos")):
        with pytest.raises(EvalSettingsError, match=needle):
            EvalRunSettings.from_flags({**base, **bad})
    # a protocol run records it: it never resumes into a pairs run of the same folder
    assert EvalRunSettings.from_flags(base).recorded().source.endswith("|protocol:recammaster")


@given(st.sets(st.integers(1, 10), min_size=1), st.sampled_from([",", ", ", " ,"]), st.booleans())
@settings(max_examples=30, deadline=None)
def test_cam_types_parse_to_the_sorted_distinct_presets(ks, sep, repeat):
    text = sep.join(str(k) for k in sorted(ks, reverse=repeat) + (sorted(ks)[:1] if repeat else []))
    s = EvalRunSettings.from_flags(dict(dataset=".", model_dir=".", protocol="recammaster", cam_types=text))
    assert s.preset_list() == tuple(sorted(ks))


def test_protocol_refuses_workers(tmp_path):
    _video(tmp_path / "a.mp4", 0)
    r = run(app, ["eval", "--protocol", "recammaster", "--dataset", str(tmp_path), "--model-dir", str(tmp_path),
                  "--workers", "2", "--out", str(tmp_path / "out")])
    assert r.exit_code == 2 and "--workers" in r.output and "Traceback" not in r.output, r.output


def test_protocol_bad_folder_exits_2_naming_it(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no videos here")
    for folder in (tmp_path / "empty", tmp_path / "missing"):
        r = run(app, ["eval", "--protocol", "recammaster", "--dataset", str(folder), "--model-dir", str(tmp_path),
                      "--out", str(tmp_path / "out")])
        assert r.exit_code == 2 and str(folder) in r.output and "Traceback" not in r.output, r.output


@pytest.mark.slow
def test_protocol_end_to_end_with_the_tiny_model(tmp_path):
    src, model, out = tmp_path / "src", tmp_path / "tiny", tmp_path / "eval"
    src.mkdir()
    _video(src / "alpha.mp4", 0)  # one video x two presets: small (the loop over videos is the same)
    assert run(app, ["init-tiny", str(model)]).exit_code == 0
    torch.jit.script(MeanColourI3D()).save(str(tmp_path / "i3d.pt"))
    torch.jit.script(MeanColourInception()).save(str(tmp_path / "inception.pt"))
    args = ["eval", "--protocol", "recammaster", "--dataset", str(src), "--model-dir", str(model), "--ckpt",
            str(model / "recammaster_tiny.ckpt"), "--cam-types", "1,3", "--steps", "2", "--num-frames", "5",
            "--height", "64", "--width", "64", "--pose-stride", "2", "--matpix", "--fvd-i3d",
            str(tmp_path / "i3d.pt"), "--trust-model-code", "--fid-inception", str(tmp_path / "inception.pt"),
            "--fid-trust-model-code", "--out", str(out)]
    r = run(app, args)
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert sorted(r_["pair_id"] for r_ in rows) == ["alpha_cam_type1", "alpha_cam_type3"]
    for name in ("alpha",):
        for k in (1, 3):
            for f in (f"{name}.mp4", f"{name}_side_by_side.mp4"):  # recam infer's layout, per preset
                assert (out / "videos" / f"cam_type{k}" / f).is_file()
            assert (out / "plots" / f"{name}_cam_type{k}.png").is_file()
    for row in rows:
        assert row["frames"] == "5" and row["target"] in ("cam_type1", "cam_type3") and row["mat_pix"] != ""
        assert row["psnr"] == row["ssim"] == ""  # no true target view: not computed, never faked
        assert row["pose_status"] in ("ok", "partial", "rotation_only", "static", "not_estimable")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pairs"] == 2 and "recammaster" in summary["protocol"] and "1,3" in summary["protocol"]
    assert summary["fvd"]["fvd"] is None and summary["fvd"]["fvd_v_videos"] == 2 and summary["fvd"]["fvd_v"] >= 0
    assert summary["fid"]["frames"] == 10 and summary["fid"]["fid"] >= 0 and "source frames" in summary["fid"]["note"]
    md = (out / "summary.md").read_text()
    assert md.startswith("Protocol: ReCamMaster") and "FVD-V ↓" in md and "Mat.Pix. ↑" in md
    assert "not applicable to this protocol" in md and "PSNR" in md.split("not applicable")[1]
    # a re-run skips every finished pair: nothing regenerated, results unchanged, no model needed
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "videos").rglob("*.mp4")}
    r = run(app, args[:args.index("--model-dir") + 1] + [str(tmp_path / "no-model")] + args[args.index("--ckpt"):])
    assert r.exit_code == 2 and "other settings" in r.output  # another model is another run
    r = run(app, args)
    assert r.exit_code == 0, r.output
    assert list(csv.DictReader(open(out / "results.csv"))) == rows
    assert {p: p.stat().st_mtime_ns for p in (out / "videos").rglob("*.mp4")} == mtimes
    # a pair whose results row is lost (interrupted after generating) is scored from the video on disk
    kept = [r_ for r_ in rows if r_["pair_id"] != "alpha_cam_type3"]
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(kept)
    assert run(app, args).exit_code == 0
    assert len(list(csv.DictReader(open(out / "results.csv")))) == 2
    assert {p: p.stat().st_mtime_ns for p in (out / "videos").rglob("*.mp4")} == mtimes
