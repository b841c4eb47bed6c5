"""Long jobs report progress from the first frame without a terminal (CI logs, SLURM output files)."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from synth.cli import app


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_render_prints_image_progress_from_the_first_frame(tmp_path, workers):
    out = tmp_path / "ds"
    r = CliRunner().invoke(app, ["render", "--scenes", "2", "--width", "32", "--height", "32", "--frames", "5",
                                 "--workers", str(workers), "--out", str(out)])
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.output.splitlines() if ln.startswith("render: ")]
    counts = [int(m.group(1)) for ln in lines if (m := re.match(r"render: (\d+)/100 images", ln))]
    assert counts and counts[0] == 10, lines  # the first frame of the first scene: 10 cameras
    assert counts[-1] == 100 and "images/s" in lines[-1] and "ETA" in lines[0]
