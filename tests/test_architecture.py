"""The layers of docs/architecture.md hold: import-linter's contracts (pyproject.toml) pass, and they can fail."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "lint-imports"
    return subprocess.run([str(exe), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_import_contracts_are_kept():
    r = _lint(REPO)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "BROKEN" not in r.stdout and r.stdout.count("KEPT") >= 7


def test_every_module_is_analysed():
    """A package without ``__init__.py`` is invisible to import-linter (its modules escape every contract)."""
    r = _lint(REPO)
    analysed = int(re.search(r"Analyzed (\d+) files", r.stdout).group(1))
    modules = [p for name in ("synth", "recam") for p in (REPO / name).rglob("*.py") if "__pycache__" not in p.parts]
    assert analysed == len(modules), f"lint-imports analysed {analysed} of {len(modules)} modules"
    missing = sorted({str(p.parent.relative_to(REPO)) for p in modules if not (p.parent / "__init__.py").exists()})
    assert not missing, f"packages without __init__.py: {missing}"


def test_the_embedded_renderer_layers_can_break(tmp_path):
    """A low layer of the embedded renderer importing the backend is reported (the layers contract is not vacuous)."""
    import shutil

    for name in ("synth", "recam"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "assets"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    with open(tmp_path / "synth" / "render" / "embedded" / "humanoid.py", "a") as f:
        f.write("\nfrom .backend import EmbeddedBackend  # noqa\n")
    r = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300, env={"PYTHONPATH": str(tmp_path)})
    assert r.returncode != 0
    assert "synth.render.embedded.humanoid -> synth.render.embedded.backend" in r.stdout


def test_a_forbidden_import_breaks_a_contract(tmp_path):
    """recam importing synth's sampling layer (not synth.core) is reported: the contracts are not vacuous."""
    import shutil

    for name in ("synth", "recam"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "assets"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "recam" / "leak.py").write_text("import synth.scenes.sampling\n")
    r = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300, env={"PYTHONPATH": str(tmp_path)})
    assert r.returncode != 0
    assert "recam.leak -> synth.scenes.sampling" in r.stdout
