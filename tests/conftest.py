"""Shared fixtures. Reference data lives in ``tests/fixtures`` (copies of ``../shared``; see its PROVENANCE.md), so the
suite passes on a fresh clone alone."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
GOLDEN = FIXTURES / "golden" / "recammaster"
EXAMPLE = FIXTURES / "recammaster_example"
#: the steering repository's reference data, when it sits beside the checkout (only to check the copies)
SHARED = Path(os.environ.get("RECAM_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def golden() -> Path:
    return GOLDEN


@pytest.fixture(scope="session")
def example() -> Path:
    return EXAMPLE


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory) -> Iterator[Path]:
    """README's CPU flow, built once per test session and shared by the training, LoRA and eval tests (each built
    the same thing before: render + init-tiny + prepare, ~30 s of CPU each time): ``data/`` a 2-scene synth dataset
    (9 frames, 64x64, default look), ``tiny/`` the random tiny model (``recam init-tiny``), ``cache/`` its latent
    cache (``recam prepare`` with ``configs/recam/tiny_cpu.yaml``). Shared, so never written to: a test that
    changes any of it works on a copy (test_train's NaN test copies the cache); runs and outputs go elsewhere."""
    from typer.testing import CliRunner

    from recam.cli import app as recam_app
    from synth.cli import app as synth_app

    run = CliRunner().invoke
    wd = tmp_path_factory.mktemp("tiny_demo")
    r = run(synth_app, ["render", "--scenes", "2", "--width", "64", "--height", "64", "--frames", "9", "--out",
                        str(wd / "data")])
    assert r.exit_code == 0, r.output
    r = run(recam_app, ["init-tiny", str(wd / "tiny")])
    assert r.exit_code == 0, r.output
    r = run(recam_app, ["prepare", "--dataset", str(wd / "data"), "--kind", "multicam", "--model_dir",
                        str(wd / "tiny"), "--out", str(wd / "cache"), "--config",
                        str(REPO / "configs/recam/tiny_cpu.yaml")])
    assert r.exit_code == 0, r.output

    def state():  # every file's size and modification time: any write shows
        return {str(p.relative_to(wd)): (p.stat().st_size, p.stat().st_mtime_ns) for p in wd.rglob("*")}

    before = state()
    yield wd
    assert state() == before, "a test wrote into the shared tiny_demo (copy it first)"
