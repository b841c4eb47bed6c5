"""Shared fixtures. ``../shared`` (REFERENCE data, golden outputs, example videos) sits beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RECAM_SHARED", REPO.parent / "shared"))
GOLDEN = SHARED / "golden" / "recammaster"
EXAMPLE = SHARED / "data" / "recammaster_example"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path} is missing: tests need ../shared beside the checkout (or RECAM_SHARED)")
    return path


@pytest.fixture(scope="session")
def golden() -> Path:
    return _require(GOLDEN)


@pytest.fixture(scope="session")
def example() -> Path:
    return _require(EXAMPLE)
