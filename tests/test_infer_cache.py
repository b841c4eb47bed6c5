"""``recam infer --cache``: diffusers' cache hooks see our transformer blocks, skip real work, and stay close to the
uncached sampler; the ``--cache`` spellings and their errors."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from recam.caches import MagRatioRecorder, enable_cache, parse_cache_spec, read_mag_ratios, write_mag_ratios
from recam.cli import app
from recam.pipeline import denoise
from recam.scheduler import make_inference_scheduler
from recam.tiny import tiny_transformer

STEPS = 12
run = CliRunner().invoke


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny matmuls: one thread is several times faster than two contending ones (restored afterwards)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _inputs():
    g = torch.Generator().manual_seed(0)
    shape = (1, 16, 3, 8, 8)
    return dict(latents=torch.randn(shape, generator=g), source=torch.randn(shape, generator=g),
                context=torch.randn(1, 8, 32, generator=g), negative_context=torch.randn(1, 8, 32, generator=g),
                cam_emb=torch.randn(1, 3, 12, generator=g))


def _sample(spec: str, ratios=None, cfg_batch: bool = True, guidance: float = 5.0):
    """Final latents of a 12-step run of the tiny transformer with ``--cache spec``, and how many times the last
    block's feed-forward and self-attention really ran (a skipped block or module never reaches them)."""
    tr = tiny_transformer(0).eval()
    recorder = enable_cache(tr, parse_cache_spec(spec), steps=STEPS, mag_ratios=ratios, cfg=guidance != 1)
    counts = {"ffn": 0, "attn": 0}
    tr.blocks[-1].ffn.net[-1].register_forward_hook(lambda *a: counts.__setitem__("ffn", counts["ffn"] + 1))
    tr.blocks[-1].attn1.to_q.register_forward_hook(lambda *a: counts.__setitem__("attn", counts["attn"] + 1))
    with torch.no_grad():
        out = denoise(tr, make_inference_scheduler(), num_inference_steps=STEPS, guidance_scale=guidance,
                      cfg_batch=cfg_batch, **_inputs())
    return out, counts, recorder


@pytest.fixture(scope="module")
def reference():
    return _sample("none")


@pytest.fixture(scope="module")
def mag_ratios():
    out, counts, recorder = _sample("magcache:calibrate")
    return out, counts, recorder.ratios


def _rel(a, b) -> float:
    return float((a - b).norm() / b.norm())


def test_calibration_records_one_ratio_per_step_and_changes_nothing(reference, mag_ratios):
    out, counts, ratios = mag_ratios
    assert len(ratios) == STEPS and ratios[0] == 1.0 and all(0.5 < r < 2 for r in ratios)
    assert torch.equal(out, reference[0]) and counts == reference[1]


@pytest.mark.parametrize("spec, skipped", [("fbc:0.3", "ffn"), ("magcache:0.5", "ffn"), ("taylorseer:3", "ffn"),
                                           ("fastercache", "attn")])
def test_each_cache_skips_work_and_stays_close(reference, mag_ratios, spec, skipped):
    ref, ref_counts, _ = reference
    out, counts, _ = _sample(spec, ratios=mag_ratios[2])
    # the hook reached our blocks: the last block's module ran on fewer steps than without the cache
    assert counts[skipped] < ref_counts[skipped], (spec, counts, ref_counts)
    err = _rel(out, ref)
    assert 0 < err < 0.2, (spec, err)  # approximate (not the uncached run), but near it


def test_fbc_threshold_trades_work_for_error(reference):
    ref, ref_counts, _ = reference
    low, low_counts, _ = _sample("fbc:0.02")
    high, high_counts, _ = _sample("fbc:0.5")
    assert high_counts["ffn"] < low_counts["ffn"] <= ref_counts["ffn"]
    assert _rel(low, ref) < _rel(high, ref)


def test_unbatched_cfg_keeps_separate_states(reference):
    """With the CFG branches as two calls, each keeps its own cache state (cache contexts cond / uncond): the
    result equals the batched run's."""
    batched, _, _ = _sample("fbc:0.3")
    split, _, _ = _sample("fbc:0.3", cfg_batch=False)
    assert torch.allclose(batched, split, atol=1e-5)


def test_fastercache_needs_batched_cfg():
    with pytest.raises(ValueError, match="cfg_batch"):
        _sample("fastercache", cfg_batch=False)


def test_a_second_run_starts_from_a_fresh_cache():
    tr = tiny_transformer(0).eval()
    enable_cache(tr, parse_cache_spec("fbc:0.3"), steps=STEPS)
    with torch.no_grad():
        a = denoise(tr, make_inference_scheduler(), num_inference_steps=STEPS, **_inputs())
        b = denoise(tr, make_inference_scheduler(), num_inference_steps=STEPS, **_inputs())
    assert torch.equal(a, b)


@pytest.mark.parametrize("text, kind, value", [("none", "none", None), ("fbc", "fbc", None), ("fbc:0.1", "fbc", 0.1),
                                               ("MagCache:0.2", "magcache", 0.2), ("taylorseer:4", "taylorseer", 4),
                                               ("fastercache", "fastercache", None)])
def test_parse_cache_spec(text, kind, value):
    spec = parse_cache_spec(text)
    assert (spec.kind, spec.value) == (kind, value)


@pytest.mark.parametrize("text, match", [("teacache", "unknown cache"), ("fbc:0", r"\(0, 1\]"), ("fbc:x", "not a number"),
                                         ("taylorseer:2.5", "whole number"), ("fastercache:2", "takes no value"),
                                         ("none:1", "takes no value"), ("fbc:nan", r"\(0, 1\]")])
def test_parse_cache_spec_errors(text, match):
    with pytest.raises(ValueError, match=match):
        parse_cache_spec(text)


def test_mag_ratios_round_trip_and_errors(tmp_path):
    p = write_mag_ratios(tmp_path / "r.json", [1.0, 0.9, 1.1], 3)
    assert read_mag_ratios(p) == [1.0, 0.9, 1.1]
    (tmp_path / "bad.json").write_text(json.dumps({"mag_ratios": [1.0, -1]}))
    with pytest.raises(ValueError, match="bad.json: field mag_ratios"):
        read_mag_ratios(tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError, match="magcache:calibrate"):
        read_mag_ratios(tmp_path / "missing.json")


def test_magcache_without_ratios_is_refused():
    with pytest.raises(ValueError, match="--mag-ratios"):
        enable_cache(tiny_transformer(0), parse_cache_spec("magcache"), steps=STEPS)


def test_recorder_needs_magcache_hooks():
    with pytest.raises(Exception):
        MagRatioRecorder(tiny_transformer(0))


@pytest.mark.parametrize("flags, match", [(["--cache", "teacache"], "unknown cache"),
                                          (["--cache", "magcache"], "--mag-ratios"),
                                          (["--lora", "x.safetensors:inf"], "finite"),
                                          (["--cache", "fbc", "--cp-ulysses", "2"], "ranks could decide")])
def test_cli_refuses_bad_cache_flags_before_loading(tmp_path, flags, match):
    r = run(app, ["infer", "--model-dir", str(tmp_path), "--cam-type", "1", "--video", str(tmp_path / "v.mp4"),
                  "--prompt", "p", *flags])
    assert r.exit_code == 2 and match in r.output, r.output


def test_cache_composes_with_group_offload():
    """``--offload group`` adds diffusers' group-offload hooks to the same blocks: the cached result is unchanged."""
    outs = []
    for offload in (False, True):
        tr = tiny_transformer(0).eval()
        enable_cache(tr, parse_cache_spec("fbc:0.3"), steps=STEPS)
        if offload:
            tr.enable_group_offload(onload_device=torch.device("cpu"), offload_device=torch.device("cpu"),
                                    offload_type="block_level", num_blocks_per_group=1)
        with torch.no_grad():
            outs.append(denoise(tr, make_inference_scheduler(), num_inference_steps=STEPS, **_inputs()))
    assert torch.allclose(outs[0], outs[1], atol=1e-6)
