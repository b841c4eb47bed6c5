"""Shared fixtures. Reference data lives in ``tests/fixtures`` (copies of ``../shared``; see its PROVENANCE.md), so the
suite passes on a fresh clone alone."""

from __future__ import annotations

import os
from pathlib import Path

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
