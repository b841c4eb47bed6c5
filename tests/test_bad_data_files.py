"""Hostile data and model files (issue [hardening-2]): crafted npz pickles (the dtype + BUILD exploit, 2^40
headers), damaged or hostile checkpoints (safetensors headers, integer or non-finite weights, an unloadable resume
checkpoint), broken SpatialVID annotations, metadata rows leaving the dataset, and folders with no clip at all.
Each asserts the exit code / error type, the message (file + field + what was expected) and that nothing was
written."""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from data_fixtures import make_re10k, make_realcam, make_spatialvid
from recam.cli import app
from recam.data.formats import enumerate_items
from recam.data.safe_npz import NpzSizeError, UnsafePickleError, load_npz_safe
from synth.core.multicam_format import DatasetFormatError

REPO = Path(__file__).resolve().parents[1]
run = CliRunner().invoke


def _text(r) -> str:
    return " ".join(r.output.split())


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("tinymodel") / "m"
    assert run(app, ["init-tiny", str(d)]).exit_code == 0
    return d


# ------------------------------------------------------------------------------------------------------------------
# npz without pickle
# ------------------------------------------------------------------------------------------------------------------
def _multiarray():
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray
    return multiarray


class _ForgedDtype:
    """Pickles as ``numpy.dtype('V8')`` + BUILD of a state with an object field and the object flag cleared: numpy
    would then build an array of it from raw file bytes and dereference them as object pointers."""

    def __init__(self, name="V8", flags=0):
        self.name, self.flags = name, flags

    def __reduce__(self):
        return (np.dtype, (self.name, False, True),
                (3, "|", None, ("a",), {"a": (np.dtype("O"), 0)}, 8, 1, self.flags))


class _ForgedArray:
    def __init__(self, dtype):
        self.dtype = dtype

    def __reduce__(self):
        return (_multiarray()._reconstruct, (np.ndarray, (0,), b"b"), (1, (1,), self.dtype, False, b"\x41" * 8))


def _record(**extra):
    rec = {"video_path": "videos/a.mp4", "camera_extrinsics": np.tile(np.eye(4), (3, 1, 1)),
           "camera_intrinsics": np.array([0.9, 1.2, 0.5, 0.5]), "align_factor": 2.5, "long_caption": "x",
           "short_caption": "x"}
    rec.update(extra)
    return rec


def _save_records(path: Path, recs) -> Path:
    arr = np.empty(len(recs), dtype=object)
    for i, r in enumerate(recs):
        arr[i] = r
    np.savez(path, arr)
    return path


def _npz_of(path: Path, header: dict, body: bytes) -> Path:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("arr_0.npy", buf.getvalue() + body)
    return path


def test_dtype_build_exploit_is_refused_without_crashing(tmp_path, tiny_model):
    """The exploit of the issue (a structured dtype with an object field forged through numpy.dtype + BUILD) run by
    `recam prepare --kind realcam-vid` in a subprocess: exit 2 with a message, never a segfault (rc 139)."""
    ds = tmp_path / "ds"
    ds.mkdir()
    _save_records(ds / "RealCam-Vid_train.npz", [_record(camera_extrinsics=_ForgedArray(_ForgedDtype()))])
    out = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-m", "recam.cli", "prepare", "--dataset", str(ds), "--kind", "realcam-vid",
                        "--model_dir", str(tiny_model), "--out", str(out)], capture_output=True, text=True,
                       env=env, timeout=300)
    text = " ".join((r.stdout + r.stderr).split())
    assert r.returncode == 2, (r.returncode, text)
    assert "RealCam-Vid_train.npz: member arr_0" in text and "refused" in text and "'V8'" in text
    assert "Traceback" not in text and not out.exists()


@pytest.mark.parametrize("dtype,needle", [
    (_ForgedDtype("V8", 0), "numpy.dtype 'V8'"),
    (_ForgedDtype("V8", 27), "numpy.dtype 'V8'"),
    (_ForgedDtype("f8", 0), "structured dtype"),  # a plain name with a structured state
    (_ForgedDtype("O8", 63), "structured dtype"),
])
def test_forged_dtypes_are_refused(tmp_path, dtype, needle):
    p = _save_records(tmp_path / "x.npz", [_record(camera_extrinsics=_ForgedArray(dtype))])
    with pytest.raises(UnsafePickleError, match=rf"x.npz: member arr_0: refused .*{needle}"):
        load_npz_safe(p)


def test_records_of_every_pickle_protocol_read_as_numpy_does(tmp_path):
    rec = _record(align_factor=np.float32(1.5), n=None, flag=True, big=2 ** 80, raw=b"\x00\xff", count=np.int64(7),
                  s=np.str_("héllo"), names=np.array(["a", "bc"]), nested=[1, (2, "x")],
                  fortran=np.asfortranarray(np.arange(6.0).reshape(2, 3)), empty=np.zeros((0, 4)))
    arr = np.empty(2, dtype=object)
    arr[0], arr[1] = rec, rec
    for proto in (2, 3, 4):  # numpy 1.x writes 3, numpy 2.x writes 4; 2 has bytes through _codecs.encode
        p = tmp_path / f"p{proto}.npz"
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False, "shape": (2,)})
        pickle.dump(arr, buf, protocol=proto)
        with zipfile.ZipFile(p, "w") as z:
            z.writestr("arr_0.npy", buf.getvalue())
        got = load_npz_safe(p)["arr_0"]
        ref = np.load(p, allow_pickle=True)["arr_0"]  # our own trusted file
        assert got.shape == ref.shape == (2,)
        for a, b in zip(got, ref):
            assert a.keys() == b.keys()
            for k in a:
                if isinstance(b[k], np.ndarray):
                    assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), (proto, k)
                else:
                    assert a[k] == b[k] and type(a[k]) is type(b[k]), (proto, k)


class _Cyclic:
    def __reduce__(self):
        return (list, ())


@pytest.mark.parametrize("value,needle", [
    (np.array([{"a": 1}], dtype=object), "object array inside a record"),
    ({1: "int key"}, "dict key of type int"),
    ({1, 2}, "refused"),  # a set: EMPTY_SET / ADDITEMS opcodes
    (np.zeros(2, dtype=[("x", "<f4"), ("y", "<i4")]), "numpy.dtype 'V8'"),
    (np.datetime64("2020-01-01"), "numpy.dtype 'M8'"),
])
def test_structures_other_than_realcam_records_are_refused(tmp_path, value, needle):
    p = _save_records(tmp_path / "x.npz", [_record(extra=value)])
    with pytest.raises(UnsafePickleError, match=needle):
        load_npz_safe(p)


def test_self_referencing_containers_are_refused(tmp_path):
    rec = _record()
    loop = [1]
    loop.append(loop)
    rec["loop"] = loop
    p = _save_records(tmp_path / "x.npz", [rec])
    with pytest.raises(UnsafePickleError, match="self-referencing"):
        load_npz_safe(p)


@pytest.mark.parametrize("descr", ["<f8", "|O"])
def test_a_2_to_the_40_header_is_refused_before_allocation(tmp_path, tiny_model, descr):
    ds = tmp_path / "ds"
    ds.mkdir()
    p = _npz_of(ds / "RealCam-Vid_train.npz", {"descr": descr, "fortran_order": False, "shape": (2 ** 40,)},
                b"x" * 64)
    with pytest.raises(NpzSizeError, match=r"RealCam-Vid_train.npz: member arr_0: header shape \(1099511627776,\).*"
                                            r"the member holds 64 \(limit"):
        load_npz_safe(p)
    out = tmp_path / "cache"
    r = run(app, ["prepare", "--dataset", str(ds), "--kind", "realcam-vid", "--model_dir", str(tiny_model), "--out",
                  str(out)])
    assert r.exit_code == 2 and "header shape (1099511627776,)" in _text(r) and "limit" in _text(r)
    assert not out.exists()


@pytest.mark.parametrize("streamed", [False, True])
def test_members_larger_than_the_limit_and_structured_headers_are_refused(tmp_path, monkeypatch, streamed):
    if streamed:  # members above IN_MEMORY_BYTES are read through the bounded stream
        monkeypatch.setattr("recam.data.safe_npz.IN_MEMORY_BYTES", 0)
        got = load_npz_safe(_save_records(tmp_path / "ok.npz", [_record()]))["arr_0"]
        assert np.array_equal(got[0]["camera_extrinsics"], _record()["camera_extrinsics"])
    p = tmp_path / "x.npz"
    np.savez(p, np.zeros(100))
    with pytest.raises(NpzSizeError, match=r"x.npz: member arr_0: member of \d+ bytes exceeds the limit of 64 bytes"):
        load_npz_safe(p, max_member_bytes=64)
    # a structured dtype with an object field in the npy header itself
    _npz_of(p, {"descr": [("a", "|O")], "fortran_order": False, "shape": (1,)}, b"\x41" * 8)
    with pytest.raises(UnsafePickleError, match="structured with object fields"):
        load_npz_safe(p)
    # a pickle opcode's declared length beyond the member
    _npz_of(p, {"descr": "|O", "fortran_order": False, "shape": (1,)}, b"\x80\x04\x8e" + struct.pack("<Q", 2 ** 40))
    with pytest.raises(ValueError, match=r"x.npz: member arr_0: .*1099511627776 bytes"):
        load_npz_safe(p)


def _valid_pickle() -> bytes:
    buf = io.BytesIO()
    _save_records(buf, [_record(align_factor=np.float32(2.0)), _record(video_path="videos/b.mp4")])
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        return z.read("arr_0.npy")


_VALID = _valid_pickle()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255)), min_size=1, max_size=4))
def test_mutated_realcam_pickles_give_only_value_errors(tmp_path_factory, flips):
    """A valid index with a few bytes changed: read, or a ValueError naming the file; never another exception."""
    data = bytearray(_VALID)
    for pos, val in flips:
        data[pos] = val
    p = tmp_path_factory.mktemp("mut") / "m.npz"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("arr_0.npy", bytes(data))
    try:
        load_npz_safe(p)
    except ValueError as e:
        assert str(p) in str(e)


# ------------------------------------------------------------------------------------------------------------------
# Checkpoints
# ------------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def weights(tiny_model, tmp_path_factory):
    """The tiny model's transformer weights as a file in each hostile variant."""
    from safetensors.torch import load_file, save_file

    d = tmp_path_factory.mktemp("weights")
    sd = load_file(str(tiny_model / "transformer" / "diffusion_pytorch_model.safetensors"))
    key = sorted(sd)[0]
    nan = dict(sd)
    nan[key] = sd[key].clone()
    nan[key].view(-1)[1] = float("nan")
    save_file(nan, str(d / "nan.safetensors"))
    save_file({**sd, key: sd[key].to(torch.int32)}, str(d / "int.safetensors"))
    (d / "random.safetensors").write_bytes(np.random.default_rng(0).bytes(4096))
    (d / "huge.safetensors").write_bytes(struct.pack("<Q", 4 * 10 ** 12) + b"{}")
    (d / "short.safetensors").write_bytes(struct.pack("<Q", 64) + b"{}")
    (d / "list.safetensors").write_bytes(struct.pack("<Q", 2) + b"[]")
    ck = torch.load(str(tiny_model / "recammaster_tiny.ckpt"), weights_only=True)
    k2 = sorted(ck)[0]
    torch.save({**ck, k2: torch.full_like(ck[k2], float("inf"))}, str(d / "inf.ckpt"))
    return d, key, k2


@pytest.mark.parametrize("name,needle", [
    ("nan.safetensors", "has 1 non-finite value(s)"),
    ("int.safetensors", "has dtype I32; model weights must be floating point"),
    ("random.safetensors", "header length"),
    ("huge.safetensors", "header length 4000000000000 bytes exceeds the limit of 100000000 bytes"),
    ("short.safetensors", "header length 64 bytes exceeds the file"),
    ("list.safetensors", "the header is a JSON list"),
    ("inf.ckpt", "non-finite value(s)"),
])
def test_hostile_weight_files_are_refused_naming_file_and_tensor(weights, name, needle):
    from recam.convert import load_state_dict_file

    d, key, k2 = weights
    with pytest.raises(ValueError) as e:
        load_state_dict_file(d / name)
    msg = str(e.value)
    assert msg.startswith(str(d / name)) and needle in msg
    if name in ("nan.safetensors", "int.safetensors"):
        assert repr(key) in msg
    if name == "inf.ckpt":
        assert repr(k2) in msg


def test_convert_refuses_hostile_weights_with_exit_2_and_writes_nothing(weights, tmp_path):
    d, key, _ = weights
    for name in ("nan.safetensors", "huge.safetensors", "int.safetensors"):
        r = run(app, ["convert", str(d / name), str(tmp_path / name), "--to", "diffusers"])
        assert r.exit_code == 2 and str(d / name) in _text(r), r.output
        assert not (tmp_path / name).exists()


def test_convert_of_a_ckpt_to_official_says_what_it_expected(tiny_model, tmp_path):
    r = run(app, ["convert", str(tiny_model / "recammaster_tiny.ckpt"), str(tmp_path / "o.ckpt"), "--to", "official"])
    t = _text(r)
    assert r.exit_code == 2 and "JSON" not in t and "recammaster_tiny.ckpt: a file, expected a diffusers " \
                                                      "transformer folder" in t and "--to diffusers" in t
    assert not (tmp_path / "o.ckpt").exists()


def test_diffusers_folder_with_non_finite_or_hostile_weights_is_refused(tiny_model, weights, tmp_path):
    import shutil

    from recam.model import ReCamMasterTransformer3DModel

    d, key, _ = weights
    for name, needle in (("nan.safetensors", f"tensor {key!r}"), ("huge.safetensors", "header length")):
        folder = tmp_path / name
        folder.mkdir()
        shutil.copy(tiny_model / "transformer" / "config.json", folder / "config.json")
        shutil.copy(d / name, folder / "diffusion_pytorch_model.safetensors")
        with pytest.raises(ValueError, match=needle):
            ReCamMasterTransformer3DModel.from_pretrained(str(folder))


def _resume_cfg(tmp_path: Path, tiny_model: Path, ckpt_bytes) -> tuple:
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    last = out / "checkpoints" / "last.ckpt"
    if isinstance(ckpt_bytes, bytes):
        last.write_bytes(ckpt_bytes)
    else:
        torch.save(ckpt_bytes, str(last))
    overrides = [f"model.model_dir={tiny_model}", f"model.init={tiny_model}/recammaster_tiny.ckpt",
                 f"data.datasets.0.cache={tmp_path}/cache", f"output.dir={out}"]
    return out, last, overrides


def _zip_junk() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", b"not a pickle")
    return buf.getvalue()


@pytest.mark.parametrize("content,needle", [
    (_zip_junk(), "not loadable"),
    ({"epoch": 1}, "not a Lightning training checkpoint (no state_dict, optimizer_states, loops)"),
    ({"state_dict": {"w": torch.tensor([1.0, float("nan")])}, "optimizer_states": [], "loops": {}},
     "tensor 'w' has 1 non-finite value(s)"),
])
def test_train_resume_from_an_unloadable_last_ckpt_names_it(tmp_path, tiny_model, content, needle):
    out, last, overrides = _resume_cfg(tmp_path, tiny_model, content)
    before = sorted(p.name for p in out.rglob("*"))
    r = run(app, ["train", "--config", str(REPO / "configs/recam/tiny_cpu.yaml"), *overrides])
    t = _text(r)
    assert r.exit_code == 2, r.output
    assert str(last) in t and "cannot resume" in t and needle in t and "--resume never" in t
    assert sorted(p.name for p in out.rglob("*")) == before  # nothing written (no config.yaml, no logs)


# ------------------------------------------------------------------------------------------------------------------
# Real-data readers
# ------------------------------------------------------------------------------------------------------------------
def test_spatialvid_bad_poses_files_are_problems_naming_the_file(tmp_path):
    make_spatialvid(tmp_path)
    clips = tmp_path / "annotations" / "group_0001"
    (clips / "c2" / "poses.npy").unlink()
    (clips / "c2" / "poses.npy").mkdir()  # a folder
    np.save(clips / "novideo" / "intrinsics.npy", np.array([["a", "b", "c", "d"]] * 6))  # strings
    items, problems = enumerate_items("spatialvid", tmp_path, 9)
    by_path = {p.path: p.message for p in problems}
    assert "a folder; expected a .npy file of numbers" in by_path[str(clips / "c2" / "poses.npy")]
    assert "expected a numeric (float or int) array" in by_path[str(clips / "novideo" / "intrinsics.npy")]
    assert [it.key for it in items] == ["group_0001/c1"]


def test_spatialvid_garbage_dyn_masks_are_problems_of_their_clip(tmp_path, tiny_model):
    from recam.data.prepare import dyn_mask_latent

    sv = tmp_path / "sv"
    make_spatialvid(sv)
    mask = sv / "annotations" / "group_0001" / "c1" / "dyn_masks.npz"
    good = mask.read_bytes()
    mask.write_bytes(b"garbage" * 100)
    items, problems = enumerate_items("spatialvid", sv, 9)
    assert any(p.path == str(mask) and "not an .npz archive" in p.message for p in problems)
    assert "group_0001/c1" not in [it.key for it in items]
    # an npz that passes the reader's check but whose members are wrong: a problem of that clip when cached
    mask.write_bytes(good)
    z = dict(np.load(mask))
    for bad in ({**z, "shape": np.array([10 ** 6, 10 ** 6])}, {k: v for k, v in z.items() if k != "f_0_indices"},
                {**z, "f_0_indices": np.array([10 ** 6] * len(z["f_0_indices"]))}):
        np.savez(mask, **bad)
        with pytest.raises(DatasetFormatError, match=r"dyn_masks.npz: unreadable dynamic masks"):
            dyn_mask_latent(mask, np.arange(9), (3, 6, 8))
    out = tmp_path / "cache"
    r = run(app, ["prepare", "--dataset", str(sv), "--kind", "spatialvid", "--model_dir", str(tiny_model), "--out",
                  str(out), "--num_frames", "9", "--height", "48", "--width", "64", "--workers", "0"])
    t = _text(r)
    assert r.exit_code == 0, r.output  # the run goes on: c2 is cached, c1's mask is reported
    assert "1 written" in t and "dyn_masks.npz" in t
    reported = json.loads((out / "spatialvid" / "problems.json").read_text())
    assert any(p["path"] == str(mask) and "unreadable dynamic masks" in p["reason"] for p in reported)


@pytest.mark.parametrize("file_name", ["../../secret.mp4", "/etc/hostname", "../videos2/x.mp4"])
def test_infer_dataset_rows_leaving_the_dataset_are_refused(tmp_path, tiny_model, file_name):
    from recam.infer import jobs_from_dataset

    ds = tmp_path / "ds"
    (ds / "videos").mkdir(parents=True)
    (ds / "metadata.csv").write_text(f"file_name,text\nok.mp4,fine\n{file_name},a caption\n")
    with pytest.raises(DatasetFormatError, match=r"metadata.csv: row 3: file_name .* escapes the dataset's videos/"):
        jobs_from_dataset(ds)
    out = tmp_path / "out"
    r = run(app, ["infer", "--model_dir", str(tiny_model), "--cam_type", "1", "--dataset_path", str(ds), "--out",
                  str(out), "--num_frames", "9", "--height", "48", "--width", "64"])
    assert r.exit_code == 2 and "escapes the dataset's videos/" in _text(r), r.output
    assert not out.exists()


@pytest.mark.parametrize("kind,layout", [("re10k", "poses/<clip>.txt"), ("realcam-vid", None),
                                         ("spatialvid", None), ("multicam", "metadata.csv and/or train/<lens>/<scene>/videos/camNN.mp4"),
                                         ("dl3dv", "<scene>/transforms.json")])
def test_prepare_on_a_folder_without_clips_exits_2_naming_the_layout(tmp_path, tiny_model, kind, layout):
    """RealEstate10K's parent folder (test/ and train/ splits) instead of a split, or an empty folder."""
    root = tmp_path / "parent"
    if kind == "re10k":
        make_re10k(root / "test")
        (root / "train").mkdir()
    else:
        root.mkdir()
    out = tmp_path / "cache"
    r = run(app, ["prepare", "--dataset", str(root), "--kind", kind, "--model_dir", str(tiny_model), "--out",
                  str(out)])
    t = _text(r)
    assert r.exit_code == 2, r.output
    if layout is not None:
        assert f"no clip found for --kind {kind}; expected {layout}" in t
        assert "0 written" not in t and not out.exists()
    if kind == "re10k":
        assert "it holds the folders test, train" in t and str(root / "test") in t
