"""recam data pipeline: the streamed decoder equals the old decode + resize on every frame, phone videos come out
upright, the dataset-kind registry, the RealCam-Vid index read without unpickling code, pose checks in every
reader, caches that refuse other settings, prepare with workers byte-identical to the sequential path, and a
2-process run that shards, merges and resumes."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from data_fixtures import H, W, frames, make_dl3dv, make_re10k, make_realcam, rigid
from recam.cli import app
from recam.data.formats import DatasetKind, Problem, VideoItem, enumerate_items, get_kind, kinds, register_kind
from recam.video import frame_converter, resize_center_crop
from synth.core.poses import Poses
from synth.core.video_io import VideoReadError, read_video, stream_video, write_video

run = CliRunner().invoke


def old_read_video(path, num_frames, start=0, stride=1):
    """The decoder before streaming: every frame to RGB, the window stacked at full size."""
    with av.open(str(path)) as c:
        allf = [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]
    return np.stack(allf[start:start + num_frames * stride:stride])


# ---------------------------------------------------------------------------------------------------- decoder
@pytest.mark.parametrize("size,start,stride", [((48, 64), 0, 1), ((40, 30), 2, 3), ((64, 48), 1, 2)])
def test_streamed_decoder_equals_old_path_on_every_frame(tmp_path, size, start, stride):
    video = tmp_path / "v.mp4"
    write_video(video, frames(20, 3), 15)
    n = 5
    ref = resize_center_crop(old_read_video(video, n, start, stride), *size)
    got = stream_video(video, n, start, stride, convert=frame_converter(*size), count_frames=True)
    assert got.frames.shape == ref.shape and np.array_equal(got.frames, ref)
    assert got.total_frames == 20
    plain, _ = read_video(video, n, start, stride)
    assert np.array_equal(plain, old_read_video(video, n, start, stride))
    with pytest.raises(VideoReadError, match="needs 30 frames"):
        stream_video(video, 30)


def test_fast_resize_is_close_to_exact(tmp_path):
    video = tmp_path / "v.mp4"
    write_video(video, frames(6, 1), 15)
    exact = stream_video(video, 6, convert=frame_converter(32, 32, "exact")).frames.astype(int)
    fast = stream_video(video, 6, convert=frame_converter(32, 32, "fast")).frames.astype(int)
    d = np.abs(exact - fast)
    assert fast.shape == exact.shape and 0 < d.mean() < 12  # swscale's bilinear vs PIL's: small, not zero
    with pytest.raises(ValueError, match="exact, fast"):
        frame_converter(32, 32, "nearest")


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_rotated_phone_video_is_decoded_upright(tmp_path, rotation):
    """A display-matrix rotation (phones) is applied as FFmpeg's autorotate / upstream's imageio do."""
    write_video(tmp_path / "plain.mp4", frames(3, 2)[:, :32, :48], 15)
    with av.open(str(tmp_path / "plain.mp4")) as src, av.open(str(tmp_path / "phone.mp4"), "w") as dst:
        ins = src.streams.video[0]  # the same bitstream, remuxed with a display matrix (as phones write it)
        outs = dst.add_stream_from_template(ins)
        outs.set_display_rotation(rotation)
        for pkt in src.demux(ins):
            if pkt.dts is not None:
                pkt.stream = outs
                dst.mux(pkt)
    plain, _ = read_video(tmp_path / "plain.mp4")
    phone, _ = read_video(tmp_path / "phone.mp4")
    assert np.array_equal(phone, np.stack([np.rot90(f, rotation // 90) for f in plain]))
    for mode in ("exact", "fast"):
        up = stream_video(tmp_path / "phone.mp4", 3, convert=frame_converter(16, 16, mode)).frames
        assert up.shape == (3, 16, 16, 3)
    ref = resize_center_crop(np.ascontiguousarray(phone), 16, 16)
    assert np.array_equal(stream_video(tmp_path / "phone.mp4", 3, convert=frame_converter(16, 16)).frames, ref)


# ---------------------------------------------------------------------------------------------------- registry
def test_kind_registry_is_the_one_list():
    assert kinds() == ("dl3dv", "multicam", "re10k", "realcam-vid", "spatialvid")
    assert get_kind("multicam").paired and not get_kind("re10k").paired
    assert get_kind("realcam-vid").options == {"index", "caption"}
    r = run(app, ["prepare", "--dataset", ".", "--kind", "nope", "--model_dir", ".", "--out", "c"])
    assert r.exit_code == 2 and all(k in r.output for k in kinds())
    with pytest.raises(ValueError, match="takes no option index"):
        enumerate_items("re10k", ".", 9, index="x.npz")


def test_a_new_kind_is_one_registration(tmp_path):
    """A toy kind (what a new module of recam/data/formats/ does) works with the readers' API and datasets."""
    from recam.data.datasets import build_dataset

    write_video(tmp_path / "clip.mp4", frames(9, 4), 15)

    def read(root, num_frames, stride):
        c2w = rigid(np.random.default_rng(0), num_frames)
        return [VideoItem("toy", "clip", root / "clip.mp4", np.arange(num_frames), "a toy", Poses.from_c2w(c2w), None)], \
            [Problem(str(root / "other.mp4"), "video file missing")]

    register_kind(DatasetKind("toy", read))
    try:
        ds = build_dataset("toy", root=tmp_path, num_frames=9, height=H, width=W)
        assert len(ds) == 1 and ds[0]["video"].shape == (2, 3, 9, H, W) and len(ds.problems) == 1
        items, problems = enumerate_items("toy", tmp_path, 9, require_metric=True)
        assert not items and "no metric scale" in problems[-1].message
    finally:
        from recam.data.formats import base

        base._KINDS.pop("toy")


# ---------------------------------------------------------------------------------------------------- npz
class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def test_realcam_index_is_read_without_running_code(tmp_path, tiny_model):
    from recam.data.safe_npz import UnsafePickleError, load_npz_safe

    make_realcam(tmp_path)
    ref = np.load(tmp_path / "RealCam-Vid_train.npz", allow_pickle=True)["arr_0"]  # our own trusted file
    got = load_npz_safe(tmp_path / "RealCam-Vid_train.npz")["arr_0"]
    assert len(got) == len(ref)
    for a, b in zip(got, ref):
        assert a.keys() == b.keys() and np.array_equal(a["camera_extrinsics"], b["camera_extrinsics"],
                                                       equal_nan=True)
        assert a["video_path"] == b["video_path"] and a["align_factor"] == b["align_factor"]
    # a crafted index whose pickle would run code
    marker = tmp_path / "pwned.txt"
    evil = tmp_path / "evil"
    evil.mkdir()
    np.savez(evil / "RealCam-Vid_train.npz", np.array([_Evil(marker)], dtype=object))
    with pytest.raises(UnsafePickleError, match=r"RealCam-Vid_train.npz.*builtins.exec"):
        load_npz_safe(evil / "RealCam-Vid_train.npz")
    out = tmp_path / "cache"
    r = run(app, ["prepare", "--dataset", str(evil), "--kind", "realcam-vid", "--model_dir", str(tiny_model),
                  "--out", str(out)])
    assert r.exit_code == 2 and "RealCam-Vid_train.npz" in r.output and "refused" in r.output
    assert not marker.exists() and not out.exists()
    # not an npz at all: a clear error naming the file
    (evil / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="junk.npz: not an .npz"):
        load_npz_safe(evil / "junk.npz")


# ---------------------------------------------------------------------------------------------------- poses
def test_bad_poses_are_problems_naming_file_and_field(tmp_path):
    rc = tmp_path / "rc"
    make_realcam(rc)
    from recam.data.safe_npz import load_npz_safe

    recs = list(load_npz_safe(rc / "RealCam-Vid_train.npz")["arr_0"])
    w2c = recs[0]["camera_extrinsics"].copy()
    w2c[2, :3, :3] *= 1.5  # a scaled, non-orthonormal rotation at frame 2
    recs[0] = {**recs[0], "camera_extrinsics": w2c}
    mirror = recs[1]["camera_extrinsics"].copy()
    mirror[:, :3, 0] *= -1  # det R = -1: a mirror, not a rotation
    recs[1] = {**recs[1], "camera_extrinsics": mirror}
    np.savez(rc / "RealCam-Vid_train.npz", np.array(recs, dtype=object))
    items, problems = enumerate_items("realcam-vid", rc, 9)
    r = {p.path.rsplit("/", 1)[-1]: p.message for p in problems}
    assert "camera_extrinsics: invalid pose" in r["RealCam-Vid_train.npz[0]"] and "frame 2" in \
        r["RealCam-Vid_train.npz[0]"] and "orthonormal" in r["RealCam-Vid_train.npz[0]"]
    assert "det(R)" in r["RealCam-Vid_train.npz[1]"]
    assert {it.key for it in items} == {"videos/mismatch.mp4", "videos/truncated.mp4"}
    re = tmp_path / "re"
    make_re10k(re)
    txt = re / "poses" / "r1.txt"
    lines = txt.read_text().splitlines()
    vals = lines[3].split()
    vals[7:11] = ["0", "0", "0", "0"]  # an all-zero rotation row
    lines[3] = " ".join(vals)
    txt.write_text("\n".join(lines) + "\n")
    _, problems = enumerate_items("re10k", re, 9)
    assert any(p.path.endswith("r1.txt") and "w2c: invalid pose" in p.message and "frame 2" in p.message
               for p in problems)
    dl = tmp_path / "dl"
    make_dl3dv(dl)
    tf = json.loads((dl / "s1" / "transforms.json").read_text())
    tf["frames"][-1]["transform_matrix"][0][0] = float("inf")  # frames are stored in reverse: this is frame 0
    (dl / "s1" / "transforms.json").write_text(json.dumps(tf))
    _, problems = enumerate_items("dl3dv", dl, 9)
    assert any(p.path.endswith("transforms.json") and "transform_matrix: non-finite pose" in p.message
               for p in problems)


# ---------------------------------------------------------------------------------------------------- cache
@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("tinymodel") / "m"
    assert run(app, ["init-tiny", str(d)]).exit_code == 0
    return d


@pytest.fixture(scope="module")
def realcam(tmp_path_factory):
    root = tmp_path_factory.mktemp("rc") / "rc"
    make_realcam(root)
    return root


def _args(root, model, cache, *extra):
    return ["prepare", "--dataset", str(root), "--kind", "realcam-vid", "--model_dir", str(model), "--out",
            str(cache), "--num_frames", "9", "--height", str(H), "--width", str(W), "--cache_dtype", "fp32",
            *extra]


def _snapshot(cache: Path):
    return {p.relative_to(cache).as_posix(): p.read_bytes() for p in sorted(cache.rglob("*.safetensors"))}


@pytest.mark.slow  # everyday loop (-m 'not slow') stays under 3 min on 2 cores
def test_workers_give_byte_identical_cache_entries(tmp_path, tiny_model, realcam):
    seq, par = tmp_path / "seq", tmp_path / "par"
    r = run(app, _args(realcam, tiny_model, seq, "--workers", "0", "--batch_text", "3"))
    assert r.exit_code == 0, r.output
    r = run(app, _args(realcam, tiny_model, par, "--workers", "2", "--batch_text", "3"))
    assert r.exit_code == 0, r.output
    a, b = _snapshot(seq), _snapshot(par)
    assert len(a) == 3 and a == b  # 2 clips + the empty prompt, byte for byte
    assert "clips/s" in r.output and "ETA" in r.output  # progress from the first clip, without a terminal
    problems = json.loads((par / "realcam-vid" / "problems.json").read_text())
    assert {Path(p["path"]).name for p in problems} >= {"mismatch.mp4", "truncated.mp4"}


@pytest.mark.slow  # everyday loop (-m 'not slow') stays under 3 min on 2 cores
def test_cache_refuses_other_settings(tmp_path, tiny_model, realcam):
    cache = tmp_path / "cache"
    assert run(app, _args(realcam, tiny_model, cache, "--workers", "0")).exit_code == 0
    before = _snapshot(cache)
    r = run(app, _args(realcam, tiny_model, cache, "--workers", "0")[:-4] + ["--height", "32", "--width", "32",
                                                                             "--cache_dtype", "fp32"])
    text = " ".join(r.output.split())
    assert r.exit_code == 2 and "height: cache 48, requested 32" in text and "width: cache 64, requested 32" in text
    assert "--overwrite" in text and _snapshot(cache) == before  # nothing replaced
    r = run(app, _args(realcam, tiny_model, cache, "--workers", "0", "--resize", "fast"))
    assert r.exit_code == 2 and "resize: cache 'exact', requested 'fast'" in " ".join(r.output.split())
    r = run(app, _args(realcam, tiny_model, cache, "--workers", "0", "--resize", "fast", "--overwrite"))
    assert r.exit_code == 0 and "2 written" in " ".join(r.output.split())
    assert _snapshot(cache) != before
    # a 64-px training config must not silently train on a 48-px cache
    from recam.data.datasets import DatasetBuildError, build_dataset

    with pytest.raises(DatasetBuildError, match="height 48 \\(cache\\) vs 64 \\(requested\\)"):
        build_dataset("realcam-vid", cache=cache, num_frames=9, height=64, width=W)
    for bad, valid in ((["--cache_dtype", "int8"], "bf16, fp16, fp32"), (["--resize", "cubic"], "exact, fast"),
                       (["--vae_dtype", "fp64"], "fp32, bf16")):
        r = run(app, _args(realcam, tiny_model, tmp_path / "c2", "--workers", "0")[:-2] + bad)
        assert r.exit_code == 2 and valid in r.output, r.output
        assert not (tmp_path / "c2").exists()


@pytest.mark.slow  # everyday loop (-m 'not slow') stays under 3 min on 2 cores
def test_bf16_and_tiled_vae_options(tmp_path, tiny_model, realcam):
    """The GPU options run on CPU too (bf16 VAE as a cast module, upstream's tiled encoding) and are recorded."""
    import torch

    from recam.data.cache import load_item

    ref, opt = tmp_path / "ref", tmp_path / "opt"
    assert run(app, _args(realcam, tiny_model, ref, "--workers", "0")).exit_code == 0
    r = run(app, _args(realcam, tiny_model, opt, "--workers", "0", "--vae_dtype", "bf16", "--vae_tiling"))
    assert r.exit_code == 0, r.output
    a = load_item(ref / "realcam-vid/videos/a.mp4.safetensors")
    b = load_item(opt / "realcam-vid/videos/a.mp4.safetensors")
    assert b["meta"]["prepare_settings"]["vae_dtype"] == "bf16" and b["meta"]["prepare_settings"]["vae_tiling"]
    assert a["latents"].shape == b["latents"].shape and b["latents"].dtype == torch.float32
    err = (a["latents"] - b["latents"]).abs().max() / a["latents"].abs().max()
    assert 0 < err < 0.1  # bf16 rounding, not a different computation
    assert torch.equal(a["context"], b["context"])


def test_shard_math_and_dist_env(monkeypatch):
    from recam.data.prepare import _combine, dist_env

    assert dist_env() == (0, 1, 0)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert dist_env() == (1, 4, 1)
    # --shard 2/3 under 4 ranks: rank 1 takes clips k with k % 12 == 9; all ranks of all shards cover each once
    assert _combine((2, 3), 1, 4) == (9, 12)
    owners = sorted(_combine((i, 3), r, 4) for i in range(3) for r in range(4))
    assert [o[0] for o in owners] == list(range(12))
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(ValueError, match="RANK must be in 0..WORLD_SIZE-1"):
        dist_env()


@pytest.mark.slow
def test_two_process_run_shards_merges_and_resumes(tmp_path, tiny_model, realcam):
    """``--devices 2``: two ranks of a gloo group (CPU), as torchrun starts them."""
    seq, dist_cache = tmp_path / "seq", tmp_path / "dist"
    assert run(app, _args(realcam, tiny_model, seq, "--workers", "0")).exit_code == 0
    r = run(app, _args(realcam, tiny_model, dist_cache, "--workers", "0", "--devices", "2"))
    assert r.exit_code == 0, r.output
    assert "2 written, 0 already cached" in " ".join(r.output.split())
    assert _snapshot(dist_cache) == _snapshot(seq)  # the same entries, split across ranks
    shards = sorted(p.name for p in (dist_cache / "realcam-vid").glob("problems.shard*.json"))
    assert shards == ["problems.shard0of2.json", "problems.shard1of2.json"]
    merged = json.loads((dist_cache / "realcam-vid" / "problems.json").read_text())
    assert merged == json.loads((seq / "realcam-vid" / "problems.json").read_text()) or \
        sorted(map(str, merged)) == sorted(map(str, json.loads((seq / "realcam-vid" / "problems.json").read_text())))
    manifest = json.loads((dist_cache / "manifest.json").read_text())
    assert sorted(e["key"] for e in manifest["items"]) == ["videos/a.mp4", "videos/b.mp4"]
    # resume: one item lost (an interrupted run) is the only one redone
    (dist_cache / "realcam-vid" / "videos" / "b.mp4.safetensors").unlink()
    r = run(app, _args(realcam, tiny_model, dist_cache, "--workers", "0", "--devices", "2"))
    assert r.exit_code == 0 and "1 written, 1 already cached" in " ".join(r.output.split()), r.output
    assert _snapshot(dist_cache) == _snapshot(seq)
    # other settings: every rank refuses, nothing replaced, exit 2 (bad input), not a hang or a traceback
    r = run(app, _args(realcam, tiny_model, dist_cache, "--workers", "0", "--devices", "2", "--stride", "2"))
    assert r.exit_code == 2 and "stride: cache 1, requested 2" in " ".join(r.output.split()), r.output
    assert _snapshot(dist_cache) == _snapshot(seq)


# ---------------------------------------------------------------------------------------------------- fuzzing
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(alphabet="0123456789.-e nainf\t", max_size=120), min_size=1, max_size=12))
def test_re10k_text_never_crashes_the_reader(tmp_path_factory, lines):
    """Any pose text gives items or problems naming the file, never an exception."""
    root = tmp_path_factory.mktemp("fz")
    (root / "poses").mkdir()
    (root / "poses" / "c.txt").write_text("\n".join(["https://x", *lines]) + "\n")
    items, problems = enumerate_items("re10k", root, 1)
    assert len(items) + len(problems) == 1 and all(p.path.endswith("c.txt") for p in problems)


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=200))
def test_npz_reader_refuses_garbage_pickles(payload):
    """Arbitrary bytes after an object-array header: a clear ValueError, never code, never another exception."""
    import io
    import zipfile

    from recam.data.safe_npz import load_npz_safe

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False, "shape": (1,)})
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as z:
        z.writestr("arr_0.npy", buf.getvalue() + payload)
    path = Path(f"/tmp/fuzz_{abs(hash(payload))}.npz")
    path.write_bytes(data.getvalue())
    try:
        load_npz_safe(path)
    except ValueError as e:
        assert str(path) in str(e)
    finally:
        path.unlink()
