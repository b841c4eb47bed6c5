"""Offline install on a GPU node's image: ``scripts/wheelhouse.sh`` + ``scripts/setup.sh --offline``.

The node's image (a CUDA PyTorch image: torch, numpy, scipy, lightning, transformers, accelerate, safetensors,
opencv, pillow, rich, typer) is simulated by a fresh venv whose site-packages gets one ``.pth`` line naming a folder
of symbolic links to exactly those distributions of this machine's venv and what they depend on (nothing else).
``setup.sh --offline`` then installs the ``recam`` wheelhouse into it with ``--no-index`` and pip's configuration
switched off (no index, no extra find-links), and ``recam init-tiny`` + a tiny ``recam infer`` run from it.

The wheelhouse is the one CI builds before pytest (``.ci/run``: ``.wheelhouse/recam-cpXY`` for this Python), or
``$SYNTH_TEST_WHEELHOUSE``; without one the test is skipped (nothing is downloaded by tests).
"""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
IMAGE = ("torch", "numpy", "scipy", "lightning", "transformers", "accelerate", "safetensors", "opencv-python",
         "pillow", "rich", "typer")
TAG = f"cp{sys.version_info.major}{sys.version_info.minor}"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(names) -> dict:
    """``{normalised name: Distribution}`` of ``names`` and their (non-extra) requirements installed here."""
    from packaging.requirements import Requirement

    dists = {}
    for d in md.distributions():
        dists.setdefault(_norm(d.metadata["Name"]), d)
    todo, seen = [_norm(n) for n in names], {}
    while todo:
        n = todo.pop()
        if n in seen or n not in dists:
            continue
        seen[n] = dists[n]
        for r in dists[n].requires or []:
            req = Requirement(r)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(_norm(req.name))
    return seen


def _image_dir(root: Path) -> Path:
    """A folder of symbolic links to the image's distributions (their top-level files and dist-info)."""
    img = root / "image"
    img.mkdir()
    for dist in _closure(IMAGE).values():
        base = Path(dist.locate_file(""))
        for top in {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}:
            src, dst = base / top, img / top
            if src.exists() and not dst.exists() and top != "__pycache__":
                dst.symlink_to(src)
    return img


def _wheelhouse() -> Path:
    wh = Path(os.environ.get("SYNTH_TEST_WHEELHOUSE", REPO / f".wheelhouse/recam-{TAG}"))
    if not (wh / "requirements.txt").is_file():
        pytest.skip(f"no recam wheelhouse at {wh}: CI builds it (.ci/run: bash scripts/wheelhouse.sh recam "
                    f".wheelhouse/recam-{TAG} --python-version {sys.version_info.major}.{sys.version_info.minor})")
    return wh


def test_trim_panda3d_rules():
    """The trimmed wheel drops audio, physics, the ffmpeg plugin and tools, keeps the renderer and licences."""
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from trim_panda3d import dropped
    finally:
        sys.path.pop(0)
    for name in ("panda3d/libp3ffmpeg.so", "panda3d/libp3openal_audio.so", "panda3d/libpandabullet.so.1.10",
                 "panda3d/bullet.cpython-312-x86_64-linux-gnu.so", "panda3d_tools/egg2bam", "deploy_libs/x.so",
                 "pandac/input/libp3egg.in", "panda3d/models/audio/sfx/GUI_click.wav"):
        assert dropped(name), name
    for name in ("panda3d/libpanda.so.1.10", "panda3d/libp3headlessgl.so", "panda3d/libpandagl.so",
                 "panda3d/libCg.so", "panda3d/core.cpython-312-x86_64-linux-gnu.so", "direct/showbase/ShowBase.py",
                 "panda3d/models/environment.egg.pz", "panda3d/models/panda-model.egg.pz",
                 "panda3d-1.10.16.dist-info/LICENSE.txt", "panda3d_tools/LICENSE", "panda3d/etc/Config.prc"):
        assert not dropped(name), name


def test_trim_panda3d_rewrites_record(tmp_path):
    """On a small fake wheel: dropped members leave RECORD, a kept member's hash matches its bytes."""
    import base64
    import hashlib

    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from trim_panda3d import trim
    finally:
        sys.path.pop(0)
    src = tmp_path / "panda3d-1.10.16-cp312-cp312-manylinux2014_x86_64.whl"
    with zipfile.ZipFile(src, "w") as z:
        z.writestr("panda3d/core.py", b"x = 1\n")
        z.writestr("panda3d/libp3ffmpeg.so", b"\0" * 100)
        z.writestr("panda3d/etc/Config.prc", b"load-display pandagl\naudio-library-name p3openal_audio\n")
        z.writestr("panda3d-1.10.16.dist-info/RECORD", b"stale\n")
    out = trim(src, tmp_path / "out")
    with zipfile.ZipFile(out) as z:
        names = set(z.namelist())
        record = z.read("panda3d-1.10.16.dist-info/RECORD").decode().splitlines()
        prc = z.read("panda3d/etc/Config.prc").decode()
    assert "panda3d/libp3ffmpeg.so" not in names and "panda3d/core.py" in names
    assert "audio-library-name null" in prc and "load-display pandagl" in prc
    rows = {r.split(",")[0]: r.split(",")[1] for r in record}
    assert set(rows) == names
    want = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(prc.encode()).digest()).rstrip(b"=").decode()
    assert rows["panda3d/etc/Config.prc"] == want


def test_setup_offline_refuses_a_folder_that_is_no_wheelhouse(tmp_path):
    r = subprocess.run(["bash", str(REPO / "scripts/setup.sh"), "--offline", str(tmp_path)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "is not a wheelhouse" in r.stderr and "requirements.txt" in r.stderr, r.stderr


@pytest.mark.slow
def test_offline_install_recam_profile_runs_tiny_infer(tmp_path):
    wh = _wheelhouse()
    img = _image_dir(tmp_path)
    venv = tmp_path / "node"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    # pip itself: the image has one; here it comes from this Python (a .pth line, not an install)
    site = next(venv.glob("lib/python*/site-packages"))
    pip_dir = Path(md.distribution("pip").locate_file(""))
    (site / "image.pth").write_text(f"{img}\n{tmp_path / 'pip'}\n")
    (tmp_path / "pip").mkdir()
    (tmp_path / "pip" / "pip").symlink_to(pip_dir / "pip")
    py = venv / "bin/python"
    probe = "import torch, numpy; print(torch.__version__, numpy.__version__)"
    before = subprocess.run([str(py), "-c", probe], capture_output=True, text=True, check=True).stdout
    r = subprocess.run([str(py), "-c", "import diffusers"], capture_output=True, text=True)
    assert r.returncode != 0, "the simulated image must not already have diffusers"

    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") and k != "PYTHONPATH"}
    env.update(PIP_CONFIG_FILE=os.devnull, VENV=str(venv), PYTHON=str(py))
    r = subprocess.run(["bash", str(REPO / "scripts/setup.sh"), "--offline", str(wh)], capture_output=True,
                       text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert subprocess.run([str(py), "-c", probe], capture_output=True, text=True, check=True).stdout == before

    from synth.core.video_io import write_video

    video = tmp_path / "src.mp4"
    rng = np.random.default_rng(0)
    write_video(video, [rng.integers(0, 255, (32, 48, 3), dtype=np.uint8) for _ in range(9)], fps=15)
    recam = venv / "bin/recam"
    r = subprocess.run([str(recam), "init-tiny", str(tmp_path / "tiny")], capture_output=True, text=True, env=env,
                       timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    r = subprocess.run([str(recam), "infer", "--model-dir", str(tmp_path / "tiny"), "--ckpt",
                        str(tmp_path / "tiny/recammaster_tiny.ckpt"), "--cam-type", "9", "--video", str(video),
                        "--prompt", "a person", "--num-frames", "9", "--height", "32", "--width", "48", "--steps",
                        "1", "--out", str(tmp_path / "res"), "--device", "cpu"],
                       capture_output=True, text=True, env=env, timeout=180, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    out = tmp_path / "res/cam_type9/src.mp4"
    assert out.is_file()
    # the installed code is this checkout's, not the shared venv's
    r = subprocess.run([str(py), "-c", "import recam, diffusers; print(recam.__file__); print(diffusers.__file__)"],
                       capture_output=True, text=True, env=env, check=True)
    rec, diff = r.stdout.split()
    assert Path(rec).resolve().is_relative_to(REPO) and Path(diff).resolve().is_relative_to(venv.resolve())


@pytest.mark.slow
def test_trimmed_panda3d_renders(tmp_path):
    """The render profile's trimmed panda3d (unpacked ahead of this venv's on sys.path) opens EGL and renders."""
    wh = Path(os.environ.get("SYNTH_TEST_RENDER_WHEELHOUSE", REPO / f".wheelhouse/render-{TAG}"))
    wheels = sorted(wh.glob("panda3d-*.whl"))
    if not wheels:
        pytest.skip(f"no render wheelhouse at {wh}: CI builds it (.ci/run: bash scripts/wheelhouse.sh render "
                    f".wheelhouse/render-{TAG} --python-version {sys.version_info.major}.{sys.version_info.minor})")
    with zipfile.ZipFile(wheels[0]) as z:
        assert not any(n.startswith(("panda3d_tools/", "panda3d/libp3ffmpeg")) for n in z.namelist())
        z.extractall(tmp_path / "p3d")
    code = ("import panda3d, numpy as np\n"
            "from synth.render.embedded.backend import EmbeddedBackend\n"
            "from synth.render.backend import CaptureRequest\n"
            "from synth.scenes.catalog import load_catalog\n"
            "from synth.scenes.config import load_config\n"
            "from synth.scenes.sampling import sample_scene\n"
            "from synth.core.poses import Poses\n"
            "cat = load_catalog(); cfg = load_config().with_video(width=32, height=32, frames=2)\n"
            "plan = sample_scene(cfg, cat, 0, 0)\n"
            "fm = np.stack([c.fmatrices() for c in plan.cameras])\n"
            "be = EmbeddedBackend(cat, cfg.cameras_per_scene, quality='draft')\n"
            "be.load_environment(cat.environment(plan.environment_id), plan.lighting)\n"
            "be.spawn_character(cat.character(plan.character_id), plan.character_location_cm, plan.character_yaw_deg)\n"
            "be.set_animation(cat.animation(plan.animation_id)); be.set_lens(plan.lens, 32, 32)\n"
            "be.set_camera_poses(Poses.from_fmatrix(fm[:, 0]))\n"
            "rgb = be.capture(CaptureRequest())[0].rgb\n"
            "print(panda3d.__file__); print(rgb.shape, float(rgb.std()))\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path / 'p3d'}{os.pathsep}{REPO}"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    where, stats = r.stdout.strip().splitlines()[-2:]
    assert where.startswith(str(tmp_path / "p3d")), where
    assert stats.startswith("(32, 32, 3)") and float(stats.split()[-1]) > 1.0, stats  # not a blank image
