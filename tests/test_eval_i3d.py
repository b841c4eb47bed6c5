"""FVD's I3D defined in the project (recam.eval.i3d): safetensors in, TorchScript only when trusted, pickles never."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch

from recam.eval.fvd import load_i3d
from recam.eval.i3d import (MAX_HEADER_BYTES, I3DFileError, InceptionI3d, convert_torchscript_to_safetensors,
                            load_i3d_safetensors, main, save_i3d_safetensors, sniff_model_file)


def _random_tiny_i3d(seed: int = 0) -> InceptionI3d:
    """A tiny I3D (width 8, 6 classes) with random weights and random batch-norm statistics (so that eval-mode
    batch norm is not the identity and a wrong statistic would show)."""
    torch.manual_seed(seed)
    m = InceptionI3d(num_classes=6, width=8)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm3d):
                mod.running_mean.uniform_(-0.1, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.1, 0.1)
    return m.eval()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("i3d")
    m = _random_tiny_i3d()
    save_i3d_safetensors(m, d / "i3d.safetensors")
    torch.jit.script(m).save(str(d / "i3d_scripted.pt"))
    return m, d


def _videos(n, seed, t=9, h=40, w=56):
    return np.random.default_rng(seed).integers(0, 256, size=(n, t, h, w, 3), dtype=np.uint8)


def test_the_standard_i3d_has_pytorch_i3d_names_and_the_kinetics_size():
    m = InceptionI3d()
    sd = m.state_dict()
    assert sd["Conv3d_1a_7x7.conv3d.weight"].shape == (64, 3, 7, 7, 7)
    assert sd["Mixed_3b.b1b.conv3d.weight"].shape == (128, 96, 3, 3, 3)
    assert sd["Mixed_5c.b3b.bn.running_var"].shape == (128,)
    assert sd["logits.conv3d.weight"].shape == (400, 1024, 1, 1, 1) and "logits.conv3d.bias" in sd
    assert not any(k.startswith("logits.bn") for k in sd)  # the logits layer has a bias, no batch norm
    assert sum(p.numel() for p in m.parameters()) == 12_697_264
    with pytest.raises(ValueError, match="width"):
        InceptionI3d(width=16)  # 24-channel branches are not divisible by 16


def test_safetensors_i3d_gives_the_features_of_the_scripted_version_of_itself(tiny):
    """The project I3D loaded from a safetensors state dict == the TorchScript of the same instance (trusted)."""
    m, d = tiny
    assert sniff_model_file(d / "i3d.safetensors") == "safetensors"
    assert sniff_model_file(d / "i3d_scripted.pt") == "torchscript"
    a = load_i3d(d / "i3d.safetensors", batch_size=2)
    b = load_i3d(d / "i3d_scripted.pt", batch_size=2, trust_model_code=True)
    v = _videos(2, 0)
    fa, fb = a.features(v), b.features(v)
    assert fa.shape == (2, 6) and fa.dtype == np.float64
    assert np.abs(fa).max() > 1e-3  # not a degenerate network
    np.testing.assert_allclose(fa, fb, rtol=1e-5, atol=1e-5)
    assert isinstance(a.model, InceptionI3d) and not a.model.training
    assert a.sha256 != b.sha256  # the feature cache keys on the file


def test_trusted_conversion_writes_the_same_weights_and_needs_the_flag(tiny, tmp_path, capsys):
    m, d = tiny
    out = tmp_path / "converted.safetensors"
    with pytest.raises(I3DFileError, match="--trust-model-code"):
        convert_torchscript_to_safetensors(d / "i3d_scripted.pt", out)
    assert not out.exists()
    assert main([str(d / "i3d_scripted.pt"), str(out)]) == 2 and not out.exists()
    assert "--trust-model-code" in capsys.readouterr().err
    assert main([str(d / "i3d_scripted.pt"), str(out), "--trust-model-code"]) == 0
    got = load_i3d_safetensors(out).state_dict()
    for k, v in m.state_dict().items():
        if not k.endswith("num_batches_tracked"):
            assert torch.equal(got[k], v), k
    other = tmp_path / "other.pt"
    torch.jit.script(torch.nn.Linear(2, 2)).save(str(other))  # TorchScript, but not an I3D
    with pytest.raises(I3DFileError, match="does not match InceptionI3d"):
        convert_torchscript_to_safetensors(other, tmp_path / "x.safetensors", trust_model_code=True)


def _write_safetensors(path, header: dict, data: bytes = b""):
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + data)


def test_malformed_safetensors_are_refused_with_the_file_and_tensor_named(tiny, tmp_path):
    m, d = tiny
    big = tmp_path / "big.safetensors"
    big.write_bytes(struct.pack("<Q", 4 << 40) + b"{}")  # a 4 TB header: refused before any allocation
    with pytest.raises(I3DFileError, match=f"at most {MAX_HEADER_BYTES}"):
        load_i3d(big)
    ints = tmp_path / "ints.safetensors"
    _write_safetensors(ints, {"Conv3d_1a_7x7.conv3d.weight": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}},
                       b"\0" * 8)
    with pytest.raises(I3DFileError, match="Conv3d_1a_7x7.conv3d.weight: dtype 'I64'|dtype I64"):
        load_i3d(ints)
    nan = _random_tiny_i3d(1)
    with torch.no_grad():
        nan.Mixed_4c.b2b.conv3d.weight[0, 0, 0, 0, 0] = float("nan")
    save_i3d_safetensors(nan, tmp_path / "nan.safetensors")
    with pytest.raises(I3DFileError, match=r"Mixed_4c\.b2b\.conv3d\.weight holds NaN"):
        load_i3d(tmp_path / "nan.safetensors")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(I3DFileError, match="not an InceptionI3d state dict"):
        load_i3d(tmp_path / "other.safetensors")
    sd = {k: v for k, v in m.state_dict().items() if not k.endswith("num_batches_tracked")}
    del sd["Mixed_5c.b0.bn.running_var"]
    save_file(sd, str(tmp_path / "missing.safetensors"))
    with pytest.raises(I3DFileError, match="missing.*Mixed_5c.b0.bn.running_var"):
        load_i3d(tmp_path / "missing.safetensors")


def test_short_videos_are_refused_by_the_project_i3d(tiny):
    a = load_i3d(tiny[1] / "i3d.safetensors")
    with pytest.raises(ValueError, match="T >= 9"):
        a.features(_videos(1, 0, t=8))
