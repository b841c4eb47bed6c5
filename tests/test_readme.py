"""README stays true: its set-up commands are what CI runs, and its end-to-end flow runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def code_block_after(heading: str) -> str:
    """The first ```bash block after a heading line."""
    i = README.index(heading)
    m = re.search(r"```bash\n(.*?)```", README[i:], re.S)
    assert m, heading
    return m.group(1)


def test_setup_commands_match_ci():
    block = code_block_after("## Set-up: two commands")
    cmds = [ln for ln in block.splitlines() if ln and not ln.startswith("#")]
    assert cmds == ["bash scripts/setup.sh && .venv/bin/synth render --scenes 100",
                    "bash scripts/setup.sh && .venv/bin/python -m pytest -q"]
    ci = (REPO / ".ci/run").read_text()
    assert "bash scripts/setup.sh" in ci and ".venv/bin/python -m pytest -q" in ci


@pytest.mark.slow
def test_end_to_end_flow_runs_as_written(tmp_path):
    """render -> prepare -> train tiny -> infer, the README's commands verbatim (in a scratch folder)."""
    block = code_block_after("### End to end on this machine")
    (tmp_path / "configs").symlink_to(REPO / "configs")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-3000:])
    assert (tmp_path / "runs/tiny_cpu/export/step20.ckpt").is_file()
    out = tmp_path / "results/cam_type9/cam01.mp4"
    from synth.core.video_io import probe_video

    info = probe_video(out)
    assert (info.frames, info.width, info.height) == (9, 64, 64)
