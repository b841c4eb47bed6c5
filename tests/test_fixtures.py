"""The fixtures in tests/fixtures are exact copies of ../shared (when it is present) and are complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import EXAMPLE, FIXTURES, GOLDEN, SHARED

PAIRS = [(GOLDEN, SHARED / "golden" / "recammaster"), (EXAMPLE, SHARED / "data" / "recammaster_example")]


def _files(root: Path):
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def test_fixtures_are_present_and_documented():
    assert {p.name for p in GOLDEN.iterdir()} >= {"dit_official.ckpt", "dit_inputs.safetensors",
                                                   "dit_expected.safetensors", "train_step.safetensors",
                                                   "scheduler.npz", "cameras.npz", "scene_camera_extrinsics.json",
                                                   "meta.json"}
    assert (EXAMPLE / "videos" / "4.mp4").is_file() and (EXAMPLE / "videos" / "7.mp4").is_file()
    text = (FIXTURES / "PROVENANCE.md").read_text()
    for rel in _files(GOLDEN) + _files(EXAMPLE):
        assert rel.name in text, f"{rel} is not listed in tests/fixtures/PROVENANCE.md"


@pytest.mark.parametrize("ours,theirs", PAIRS, ids=["golden", "example"])
def test_fixtures_equal_shared(ours: Path, theirs: Path):
    if not theirs.is_dir():
        pytest.skip(f"{theirs} not present (fresh clone): nothing to compare against")
    assert _files(ours) == _files(theirs)
    for rel in _files(ours):
        assert (ours / rel).read_bytes() == (theirs / rel).read_bytes(), f"{rel} differs from {theirs / rel}"
