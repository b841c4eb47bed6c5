"""benchmarks/gpu_check.py's runner: budget, per-entry caps, skips, and a JSON rewritten after every entry."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import gpu_check as gc  # noqa: E402

sys.path.pop(0)


def _read(p: Path) -> dict:
    return json.loads(p.read_text())


def test_runner_caps_skips_failures_and_rewrites_json_after_every_entry(tmp_path):
    out = tmp_path / "r.json"
    seen = []

    def look():  # runs as the 3rd entry: the file already holds the first two results and the rest pending
        rep = _read(out)
        seen.append([(r["name"], r["status"]) for r in rep["results"]])
        return {"looked": True}

    def boom():
        raise RuntimeError("kernel failed")

    def skip():
        raise gc.Skip("no deepspeed")

    def slow():
        time.sleep(30)

    entries = [gc.Entry("fast", "recam", lambda: {"x": 1}, 5, 0), gc.Entry("fails", "recam", boom, 5, 0),
               gc.Entry("look", "recam", look, 5, 0), gc.Entry("skips", "recam", skip, 5, 0),
               gc.Entry("hangs", "render", slow, 0.5, 0), gc.Entry("too big", "encode", lambda: {}, 5, 1000)]
    rep = gc.run_entries(entries, 100, gc.Report(out, {"dry_run": True}, 100), log=lambda s: None)
    assert seen == [[("fast", "ok"), ("fails", "failed"), ("look", "pending"), ("skips", "pending"),
                     ("hangs", "pending"), ("too big", "pending")]]
    final = _read(out)
    st = {r["name"]: r for r in final["results"]}
    assert st["fast"]["x"] == 1 and st["fast"]["ok"]
    assert st["fails"]["status"] == "failed" and "kernel failed" in st["fails"]["error"] and not st["fails"]["ok"]
    assert st["skips"]["status"] == "skipped" and st["skips"]["ok"] and st["skips"]["reason"] == "no deepspeed"
    assert st["hangs"]["status"] == "timed_out" and not st["hangs"]["ok"] and st["hangs"]["seconds"] < 5
    assert st["too big"]["status"] == "skipped" and "budget" in st["too big"]["reason"]
    assert final["failed"] == ["fails", "hangs"] and not final["ok"] and final["complete"]
    assert final["skipped"] == ["skips", "too big"] and rep.results == final["results"]
    assert not list(tmp_path.glob("*.tmp"))


def test_budget_cuts_a_running_entry_and_skips_the_rest(tmp_path):
    """An entry stopped by the budget (not by its own cap) is a skip, not a failure; later entries are skipped."""
    out = tmp_path / "r.json"
    entries = [gc.Entry("long", "recam", lambda: time.sleep(30), 60, 0),
               gc.Entry("next", "recam", lambda: {}, 60, 0.5)]
    t0 = time.monotonic()
    gc.run_entries(entries, 1.0, gc.Report(out, {}, 1.0), log=lambda s: None)
    assert time.monotonic() - t0 < 10
    res = {r["name"]: r for r in _read(out)["results"]}
    assert res["long"]["status"] == "skipped" and "budget ran out" in res["long"]["reason"] and res["long"]["ok"]
    assert res["next"]["status"] == "skipped" and "budget" in res["next"]["reason"]
    assert _read(out)["ok"]


def test_small_budget_from_the_command_line_records_skips_and_valid_json(tmp_path):
    """gpu_check.sh --dry-run with a budget too small for any entry: exit 0, every entry skipped, valid JSON."""
    out = tmp_path / "g.json"
    r = subprocess.run(["bash", str(REPO / "benchmarks/gpu_check.sh"), "--dry-run", "--budget", "1", "--profile",
                        "recam,encode", "--out", str(out)], capture_output=True, text=True, timeout=300,
                       env={**__import__("os").environ, "PYTHON": sys.executable})
    assert r.returncode == 0, r.stderr[-3000:]
    rep = _read(out)
    assert rep["meta"]["dry_run"] and rep["budget_s"] == 1 and rep["ok"] and rep["complete"]
    names = [e["name"] for e in rep["results"]]
    assert any(n.startswith("precision") for n in names) and any(n.startswith("encode") for n in names)
    assert all(e["status"] == "skipped" and "budget" in e["reason"] for e in rep["results"]), rep["results"]


@pytest.mark.parametrize("args,needle", [(["--profile", "cuda"], "--profile"), (["--budget", "0"], "--budget"),
                                         (["--budget", "abc"], "--budget")])
def test_bad_usage_exits_2(tmp_path, args, needle):
    r = subprocess.run(["bash", str(REPO / "benchmarks/gpu_check.sh"), "--dry-run", *args, "--out",
                        str(tmp_path / "x.json")], capture_output=True, text=True, timeout=120,
                       env={**__import__("os").environ, "PYTHON": sys.executable})
    assert r.returncode == 2 and needle in r.stderr, r.stderr
    assert not (tmp_path / "x.json").exists()


def test_mfu_flops_count_the_documented_terms():
    """3 x forward FLOPs: the formula of the docstring, recomputed by hand for a 1-layer toy config."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_model import model_flops

    sys.path.pop(0)
    cfg = dict(num_attention_heads=2, attention_head_dim=4, ffn_dim=16, num_layers=1)
    d, f, n, L = 8, 16, 10, 3
    by_hand = n * 2 * (5 * d * d + 2 * d * d + 2 * d * f) + 2 * 2 * n * n * d + 2 * 2 * n * L * d + 2 * 2 * L * d * d
    assert model_flops(cfg, n, L) == by_hand
