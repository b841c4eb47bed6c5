"""Bad-input corpus, part 2 (issue [hardening-2], synth side and numeric bounds): YAML alias bombs and recursive
anchors, strict and finite numbers, bounds on sizes / guidance / moves, validation before side effects (catalog
assets, preset, output folder), read-only and full disks, duplicate JSON keys, SIGTERM and stale staging, and
``synth index`` against a running render. Each case asserts the exit code (or error type), the message (file or
option, field, what was expected) and that nothing was written or lost."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from synth.cli import app
from synth.core import yaml_safe
from synth.core.yaml_safe import YamlLimitError, load_yaml, load_yaml_text

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "synth" / "configs" / "multicamvideo.yaml"
EMBEDDED_CATALOG = REPO / "synth" / "assets" / "embedded_catalog.yaml"
run = CliRunner().invoke
SMALL = ["--width", "64", "--height", "64", "--frames", "3"]

BOMB = "\n".join([
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    *(f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi")),
]) + "\n"


def _text(r) -> str:
    return " ".join(r.output.split())


def _config(tmp_path: Path, old: str, new: str) -> Path:
    text = DEFAULT_CONFIG.read_text()
    assert old in text
    p = tmp_path / "cfg.yaml"
    p.write_text(text.replace(old, new, 1))
    return p


# ------------------------------------------------------------------------------------------------------------------
# YAML: alias bombs, recursive anchors, size and depth limits (synth.core.yaml_safe)
# ------------------------------------------------------------------------------------------------------------------

def test_alias_bomb_config_exits_2_quickly(tmp_path):
    assert len(BOMB.encode()) < 500
    p = tmp_path / "bomb.yaml"
    p.write_text(BOMB)
    out = tmp_path / "ds"
    t0 = time.perf_counter()
    r = run(app, ["render", "--scenes", "1", "--out", str(out), "--config", str(p), *SMALL])
    assert time.perf_counter() - t0 < 10
    assert r.exit_code == 2 and "bomb.yaml" in _text(r) and "alias bomb" in _text(r)
    assert f"more than {yaml_safe.MAX_EXPANDED_NODES}" in _text(r)
    assert not out.exists()


def test_recursive_anchor_in_catalog_exits_2(tmp_path):
    p = tmp_path / "cat.yaml"
    p.write_text("version: 1\nbackend: embedded\nenvironments: &envs\n  - id: room\n    params: {self: *envs}\n"
                 "characters: []\nanimations: []\n")
    out = tmp_path / "ds"
    r = run(app, ["plan", "--scenes", "1", "--out", str(out), "--catalog", str(p)])
    assert r.exit_code == 2 and "cat.yaml" in _text(r) and "refers to its own anchor &envs" in _text(r)
    assert not out.exists()


def test_yaml_limits_and_resolution(tmp_path, monkeypatch):
    # the shipped files read exactly as yaml.safe_load reads them
    for f in (DEFAULT_CONFIG, EMBEDDED_CATALOG, *sorted((REPO / "configs").rglob("*.yaml"))):
        assert load_yaml(f) == yaml.safe_load(f.read_text()), f
    # exponent floats without a dot are numbers (YAML 1.2), quoted ones stay strings
    assert load_yaml_text("a: 1e-4\nb: '1e-4'\nc: -2E+3\n") == {"a": 1e-4, "b": "1e-4", "c": -2000.0}
    with pytest.raises(YamlLimitError, match="deeper than"):
        load_yaml_text("a: " + "[" * (yaml_safe.MAX_DEPTH + 2) + "]" * (yaml_safe.MAX_DEPTH + 2))
    with pytest.raises(YamlLimitError, match=f"more than {yaml_safe.MAX_ALIASES} aliases"):
        load_yaml_text("a: &a 1\nb: [" + ", ".join(["*a"] * (yaml_safe.MAX_ALIASES + 1)) + "]\n")
    monkeypatch.setattr(yaml_safe, "MAX_YAML_BYTES", 100)
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * 200 + "\n")
    with pytest.raises(YamlLimitError, match="larger than 100 bytes"):
        load_yaml(big)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=30)


@settings(max_examples=200, deadline=None)
@given(_json_values)
def test_limited_loaders_read_ordinary_documents_unchanged(value):
    """Invariant: within the limits, the limited YAML loader and the duplicate-refusing JSON reader read what
    yaml.safe_load / json.loads read (limits change nothing for ordinary files), with the one documented
    difference: a plain scalar that is an exponent float without a dot (``0E0``, ``1e-4``; YAML 1.2) is a float,
    where PyYAML's YAML 1.1 resolver (and so ``safe_dump``, which leaves such strings unquoted) keeps a string."""
    from synth.core.multicam_format import loads_json_strict

    assert loads_json_strict(json.dumps(value)) == json.loads(json.dumps(value))
    doc = yaml.safe_dump(value)
    assert load_yaml_text(doc) == _yaml12_exponents(yaml.safe_load(doc))


def _yaml12_exponents(v):
    """``v`` with every string that is a dot-less exponent float (the loader's extra resolver) read as that float."""
    if isinstance(v, str) and _EXP_FLOAT.match(v):
        return float(v.replace("_", ""))
    if isinstance(v, list):
        return [_yaml12_exponents(x) for x in v]
    if isinstance(v, dict):
        return {_yaml12_exponents(k): _yaml12_exponents(x) for k, x in v.items()}
    return v


_EXP_FLOAT = __import__("re").compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")


def test_dot_less_exponent_strings_from_safe_dump_read_as_floats():
    """The documented difference above, pinned: ``safe_dump`` leaves ``'0E0'`` unquoted and this loader reads 0.0."""
    assert yaml.safe_dump(["0E0", "1e-4", "x1e4"]) == "- 0E0\n- 1e-4\n- x1e4\n"
    assert load_yaml_text(yaml.safe_dump(["0E0", "1e-4", "x1e4"])) == [0.0, 1e-4, "x1e4"]


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 12), st.integers(1, 9))
def test_alias_expansion_is_counted_exactly(width, levels):
    """Invariant: a chain of ``levels`` anchors, each listing the previous one ``width`` times, is refused exactly
    when its expanded size exceeds the limit (whatever the shape)."""
    lines = [f"l0: &l0 [{', '.join(['x'] * width)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    sizes = [1 + width]
    for _ in range(1, levels):
        sizes.append(1 + width * sizes[-1])
    total = 1 + sum(2 * 1 + s - 1 for s in sizes)  # root mapping + per key: key scalar + value node tree
    doc = "\n".join(lines) + "\n"
    if total > yaml_safe.MAX_EXPANDED_NODES or (levels - 1) * width > yaml_safe.MAX_ALIASES:
        with pytest.raises(YamlLimitError):
            load_yaml_text(doc)
    else:
        assert len(load_yaml_text(doc)) == levels


def test_alias_bomb_in_moves_and_train_yaml(tmp_path):
    from recam.cameras import TrajectoryError, load_trajectory
    from recam.train.config import ConfigError, load_train_config

    p = tmp_path / "bomb.yaml"
    p.write_text(BOMB)
    with pytest.raises(TrajectoryError, match="alias bomb"):
        load_trajectory(p, 9)
    with pytest.raises(ConfigError, match="alias bomb"):
        load_train_config(p)


# ------------------------------------------------------------------------------------------------------------------
# Strict, finite, bounded numbers (synth config, catalog, recam train config, moves YAML)
# ------------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("old,new,needle", [
    ("max_tries: 500", "max_tries: true", "constraints.max_tries: Input should be a valid integer (got True)"),
    ("sensor_mm: 23.76", "sensor_mm: '23.76'", "sensor_mm: Input should be a valid number (got '23.76')"),
    ("pan: {weight: 0.15", "pan: {weight: .inf", "trajectories.pan.weight: Input should be a finite number"),
    ("pan: {weight: 0.15", "pan: {weight: 1.0e+300", "trajectories.pan.weight: Input should be less than or equal"),
    ("fit: 1.0", "fit: .nan", "hemisphere.fit: Input should be a finite number"),
])
def test_strict_finite_config_numbers_exit_2_and_write_nothing(tmp_path, old, new, needle):
    cfg = _config(tmp_path, old, new)
    out = tmp_path / "ds"
    r = run(app, ["render", "--scenes", "1", "--out", str(out), "--config", str(cfg), *SMALL])
    assert r.exit_code == 2 and "cfg.yaml" in _text(r) and needle in _text(r), r.output
    assert not out.exists()  # no synth_run.json: the corrected run is not refused
    r = run(app, ["plan", "--scenes", "1", "--out", str(out)])
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("field,value,needle", [
    ("height_m", "'1.8'", "characters.0.height_m: Input should be a valid number"),
    ("weight", ".inf", "characters.0.weight: Input should be a finite number"),
])
def test_strict_catalog_numbers(tmp_path, field, value, needle):
    cat = yaml.safe_load(EMBEDDED_CATALOG.read_text())
    cat["characters"][0][field] = "__X__"
    p = tmp_path / "cat.yaml"
    p.write_text(yaml.safe_dump(cat).replace("__X__", value))
    r = run(app, ["plan", "--scenes", "1", "--out", str(tmp_path / "ds"), "--catalog", str(p)])
    assert r.exit_code == 2 and "cat.yaml" in _text(r) and needle in _text(r), r.output
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize("args,needle", [
    (["--height", "0", "--width", "64"], "--height 0: Input should be greater than or equal to 16"),
    (["--height", "100000", "--width", "100000"], "--width 100000: Input should be less than or equal to 8192"),
    (["--frames", "1"], "--frames 1: Input should be greater than or equal to 2"),
    (["--frames", "100001"], "--frames 100001: Input should be less than or equal to 100000"),
])
def test_render_size_and_frame_bounds(tmp_path, args, needle):
    out = tmp_path / "ds"
    r = run(app, ["render", "--scenes", "1", "--out", str(out), *args])
    assert r.exit_code == 2 and needle in _text(r), r.output
    assert not out.exists()


def test_train_config_strict_and_finite(tmp_path):
    from recam.train.config import ConfigError, load_train_config

    base = (REPO / "configs/recam/tiny_cpu.yaml").read_text()
    cfg = load_train_config(REPO / "configs/recam/tiny_cpu.yaml")
    for over, needle in (("data.num_frames=true", "data.num_frames: Input should be a valid integer"),
                         ("optim.lr=.inf", "optim.lr: Input should be a finite number"),
                         ("data.height=100000", "data.height: Input should be less than or equal to 4096"),
                         ("validation.guidance=.nan", "validation.guidance: Input should be a finite number")):
        with pytest.raises(ConfigError) as e:
            load_train_config(REPO / "configs/recam/tiny_cpu.yaml", [over])
        assert needle in str(e.value), (over, str(e.value))
    p = tmp_path / "t.yaml"
    p.write_text(base.replace("lr: 1.0e-3", "lr: 1e-3"))  # YAML 1.1 would read '1e-3' as a string
    assert load_train_config(p).optim.lr == cfg.optim.lr == 1e-3
    p.write_text(base.replace("lr: 1.0e-3", "lr: '1.0e-3'"))
    with pytest.raises(ConfigError, match="optim.lr: Input should be a valid number"):
        load_train_config(p)


@pytest.mark.parametrize("moves,needle", [
    ("segments: [{pan: 1.0e+300}]", ".segments[0].pan: 1e+300 is out of range; expected at most 720 degrees"),
    ("segments: [{arc: {deg: -1.0e+9}}]", ".segments[0].arc.deg: -1000000000.0 is out of range"),
    ("segments: [{pan: 10, speed: {profile: eased, a: -1.0e+3}}]", ".segments[0].speed.a: -1000.0 is out of range"),
])
def test_moves_yaml_bounds(tmp_path, moves, needle):
    from recam.cameras import TrajectoryError, load_trajectory

    p = tmp_path / "moves.yaml"
    p.write_text(moves + "\n")
    with pytest.raises(TrajectoryError) as e:
        load_trajectory(p, 9)
    assert str(e.value).startswith(str(p)) and needle in str(e.value)


@pytest.mark.parametrize("args,needle", [
    (["--height", "0"], "--height 0: expected 16 to 2048 pixels"),
    (["--height", "100000", "--width", "100000"], "--height 100000: expected 16 to 2048 pixels"),
    (["--guidance", "nan"], "--guidance nan: expected a finite number from 0 to 100"),
    (["--guidance", "inf"], "--guidance inf: expected a finite number"),
    (["--num_frames", "100001"], "--num-frames 100001: expected 5 to 1025 frames"),
])
def test_infer_bounds_before_any_work(tmp_path, example, args, needle):
    from recam.cli import app as recam_app

    out = tmp_path / "res"
    r = run(recam_app, ["infer", "--model_dir", str(tmp_path / "no_model"), "--cam_type", "1", "--video",
                        str(example / "videos/7.mp4"), "--prompt", "x", "--out", str(out), *args])
    assert r.exit_code == 2 and needle in _text(r), r.output
    assert not out.exists()


# ------------------------------------------------------------------------------------------------------------------
# Validation before side effects: catalog assets, --preset, output folder (synth/render/preflight.py)
# ------------------------------------------------------------------------------------------------------------------

def _file_catalog(tmp_path: Path) -> Path:
    cat = yaml.safe_load(EMBEDDED_CATALOG.read_text())
    cat["characters"] = [{"id": "bob", "description": "a man", "height_m": 1.8, "asset": "chars/bob.glb"}]
    cat["animations"] = [{"id": "bob_wave", "description": "waves", "asset": "chars/bob.glb#Wave",
                          "duration_s": 2.0}]
    p = tmp_path / "catalog.yaml"
    p.write_text(yaml.safe_dump(cat))
    return p


def test_missing_catalog_asset_refused_before_anything_is_written(tmp_path):
    cat = _file_catalog(tmp_path)
    out = tmp_path / "ds"
    r = run(app, ["render", "--scenes", "2", "--out", str(out), "--catalog", str(cat), *SMALL])
    assert r.exit_code == 2, r.output
    assert "catalog.yaml: character 'bob': asset file" in _text(r) and "bob.glb not found" in _text(r)
    assert not out.exists()  # neither synth_run.json nor an empty metadata.csv
    (tmp_path / "chars").mkdir()
    (tmp_path / "chars" / "bob.glb").mkdir()  # a folder where the file should be
    r = run(app, ["render", "--scenes", "2", "--out", str(out), "--catalog", str(cat), *SMALL])
    assert r.exit_code == 2 and "is a folder; expected a file" in _text(r)
    assert not out.exists()


def test_bad_preset_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    r = run(app, ["render", "--scenes", "1", "--out", str(out), "--preset", "turbo", *SMALL])
    assert r.exit_code == 2 and "--preset 'turbo': not an x264 preset; expected one of ultrafast" in _text(r)
    assert list(out.iterdir()) == []


def test_read_only_out_refused_up_front(tmp_path, monkeypatch):
    from synth.core import output_space

    def read_only(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(output_space.tempfile, "mkstemp", read_only)
    out = tmp_path / "ds"
    for cmd in (["render", *SMALL], ["plan"]):
        r = run(app, [cmd[0], "--scenes", "1", "--out", str(out), *cmd[1:]])
        assert r.exit_code == 2 and f"--out {out}: cannot write into" in _text(r), r.output
        assert "read-only file system" in _text(r)
        assert not out.exists()


def test_full_disk_refused_up_front(tmp_path, monkeypatch):
    real = shutil.disk_usage

    def tiny(path):
        u = real(path)
        return type(u)(u.total, u.total - 1000, 1000)

    monkeypatch.setattr(shutil, "disk_usage", tiny)
    out = tmp_path / "ds"
    r = run(app, ["render", "--scenes", "1", "--out", str(out), *SMALL])
    assert r.exit_code == 2 and f"--out {out}: 1000 B free, but one scene's outputs need about" in _text(r), r.output
    assert not out.exists()


def test_infer_read_only_or_full_out_refused_before_compute(tmp_path, example, monkeypatch):
    from recam.cli import app as recam_app
    from synth.core import output_space

    args = ["infer", "--model_dir", str(tmp_path / "no_model"), "--cam_type", "1", "--video",
            str(example / "videos/7.mp4"), "--prompt", "x", "--out", str(tmp_path / "res"), "--num_frames", "9",
            "--height", "64", "--width", "64"]
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: type(real(p))(1, 1, 1))
    r = run(recam_app, args)
    assert r.exit_code == 2 and "1 B free, but 1 result(s) with their side-by-side need about" in _text(r), r.output
    monkeypatch.setattr(shutil, "disk_usage", real)

    def read_only(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(output_space.tempfile, "mkstemp", read_only)
    r = run(recam_app, args)
    assert r.exit_code == 2 and "read-only file system" in _text(r), r.output
    assert not (tmp_path / "res").exists()


def test_infer_never_leaves_a_result_without_its_side_by_side(tmp_path, monkeypatch):
    from recam import infer

    frames = np.zeros((5, 16, 16, 3), np.uint8)
    infer.write_result_pair(tmp_path, "a", frames, np.zeros((5, 16, 32, 3), np.uint8), 15)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert sorted(before) == ["a.mp4", "a_side_by_side.mp4"]
    real = infer.write_video
    calls = []

    def full_disk(path, *a, **k):
        calls.append(path)
        if len(calls) == 2:  # the side-by-side: the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, *a, **k)

    monkeypatch.setattr(infer, "write_video", full_disk)
    with pytest.raises(OSError, match="No space left"):
        infer.write_result_pair(tmp_path, "a", frames + 255, np.zeros((5, 16, 32, 3), np.uint8), 15)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # the earlier pair is intact
    with pytest.raises(OSError):
        calls.clear()
        infer.write_result_pair(tmp_path, "b", frames, np.zeros((5, 16, 32, 3), np.uint8), 15)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "a_side_by_side.mp4"]  # no lone b.mp4


# ------------------------------------------------------------------------------------------------------------------
# Camera JSON: duplicate keys (the last copy used to win silently); every camera of the file is parsed
# ------------------------------------------------------------------------------------------------------------------

GOOD = "[1 0 0 0] [-0 1 0 0] [0 -0 1 0] [3390 1380 240 1] "


def test_duplicate_frame_key_refused_in_infer_trajectory(tmp_path):
    from recam.cameras import TrajectoryError, load_trajectory

    frames = [f'"frame{f}": {{"cam01": "{GOOD}", "cam02": "{GOOD}"}}' for f in range(9)]
    p = tmp_path / "traj.json"
    p.write_text("{" + ", ".join(frames + [f'"frame3": {{"cam01": "{GOOD}", "cam02": "{GOOD}"}}']) + "}")
    with pytest.raises(TrajectoryError) as e:
        load_trajectory(p, 9, camera="cam01")
    assert str(e.value) == f"{p}: duplicate key 'frame3' (each key must appear once in an object)"
    p.write_text("{" + ", ".join(frames[:3] + [f'"frame3": {{"cam01": "{GOOD}", "cam01": "{GOOD}"}}'] + frames[4:])
                 + "}")
    with pytest.raises(TrajectoryError, match="duplicate key 'cam01'"):
        load_trajectory(p, 9, camera="cam01")


def test_corrupt_other_camera_refused(tmp_path):
    """The whole file is parsed: a malformed matrix of a camera that is not the selected one is an error."""
    from recam.cameras import TrajectoryError, load_trajectory

    data = {f"frame{f}": {"cam01": GOOD, "cam02": GOOD} for f in range(9)}
    data["frame6"]["cam02"] = "[1 0 0] [0 1 0 0]"
    p = tmp_path / "traj.json"
    p.write_text(json.dumps(data))
    with pytest.raises(TrajectoryError, match="frame6 cam02: expected four rows"):
        load_trajectory(p, 9, camera="cam01")


def test_duplicate_key_in_dataset_files_fails_validate(tmp_path):
    out = tmp_path / "ds"
    assert run(app, ["plan", "--scenes", "1", "--out", str(out)]).exit_code == 0
    cam = next(out.glob("train/*/scene0/cameras/camera_extrinsics.json"))
    text = cam.read_text()
    first = text.index('"frame3"')
    end = text.index('"frame4"')
    cam.write_text(text[:end] + text[first:end] + text[end:])  # frame3 twice, the copy just before frame4
    assert json.loads(cam.read_text()).keys() == json.loads(text).keys()  # plain json would not notice
    r = run(app, ["validate", str(out), "--no-videos"])
    assert r.exit_code == 1 and "duplicate key 'frame3'" in _text(r) and "camera_extrinsics.json" in _text(r)


# ------------------------------------------------------------------------------------------------------------------
# Signals, stale staging, the output lock
# ------------------------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_sigterm_stops_render_cleanly(tmp_path):
    """SIGTERM (SLURM, Kubernetes, timeout) mid-scene: exit 130, no staging left, the dataset valid, resumable."""
    out = tmp_path / "ds"
    cmd = [sys.executable, "-m", "synth.cli", "render", "--scenes", "3", "--width", "160", "--height", "128",
           "--frames", "41", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO, text=True)
    deadline = time.time() + 240
    try:
        while time.time() < deadline:
            done = list(out.glob("train/*/scene*"))
            staging = list((out / ".partial").glob("scene*")) if (out / ".partial").exists() else []
            if done and staging and any((s / "videos").exists() for s in staging):
                break
            if proc.poll() is not None:
                pytest.fail("render finished before it could be stopped; make the scenes bigger")
            time.sleep(0.05)
        else:
            pytest.fail("timed out waiting for the render to be mid-scene")
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "interrupted" in output, output
    assert not (out / ".partial").exists()
    r = run(app, ["validate", str(out)])
    assert r.exit_code == 0, r.output


def test_stale_staging_of_a_dead_process_is_cleaned_by_a_later_run(tmp_path):
    out = tmp_path / "ds"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = out / ".partial" / f"scene7.{socket.gethostname()}.{dead}"
    (stale / "videos").mkdir(parents=True)
    (stale / "videos" / ".cam01.mp4.tmp.mp4").write_bytes(b"x")
    other_host = out / ".partial" / f"scene8.another-host.{dead}"
    other_host.mkdir()
    r = run(app, ["render", "--scenes", "1", "--out", str(out), *SMALL])
    assert r.exit_code == 0, r.output
    assert not stale.exists()  # a run with fewer scenes still clears a dead process's staging
    assert other_host.exists()  # another host's shard may still be working on it


def test_index_waits_for_the_lock_of_a_running_render(tmp_path):
    from synth.core.lock import acquire_output_lock

    out = tmp_path / "ds"
    assert run(app, ["plan", "--scenes", "2", "--out", str(out)]).exit_code == 0
    meta = (out / "metadata.csv").read_bytes()
    lock = acquire_output_lock(out, (0, 2), command=f"synth render --out {out} --shard 0/2")
    try:
        r = run(app, ["index", str(out)])
        assert r.exit_code == 2 and f"{out} is being written by synth render --out {out} --shard 0/2" in _text(r)
        assert (out / "metadata.csv").read_bytes() == meta
    finally:
        lock.release()
    r = run(app, ["index", str(out)])
    assert r.exit_code == 0 and "metadata.csv: 20 rows" in _text(r)
    assert not (out / ".locks").exists()


def test_sigterm_as_interrupt_raises_once_and_restores_the_handler():
    from synth.core.signals import Terminated, sigterm_as_interrupt

    before = signal.getsignal(signal.SIGTERM)
    cleaned = []
    with pytest.raises(KeyboardInterrupt) as e:
        with sigterm_as_interrupt():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)  # the handler raises before this ends
            finally:
                os.kill(os.getpid(), signal.SIGTERM)  # a second SIGTERM during cleanup is ignored
                cleaned.append(True)
    assert isinstance(e.value, Terminated) and cleaned == [True]
    assert signal.getsignal(signal.SIGTERM) is before
