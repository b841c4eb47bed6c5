"""Bad-input corpus (generated here): one case per row of the [hardening] issue and per input format of synth's
CLIs and recam's trajectories: configs, catalogs, camera JSON, moves YAML, metadata.csv, videos, output folders.
Each asserts the exit code / error type, the message (file + field + what was expected) and that nothing was
written or replaced. Hypothesis fuzzes the moves YAML and the csv reader (only the documented error types)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from recam.cameras import MAX_TRANSLATION_M, TrajectoryError, load_trajectory, preset_trajectory, \
    trajectory_from_moves
from synth.cli import app
from synth.core.pose_checks import PROPER, pose_problems
from synth.core.rigid import invert_rigid
from synth.core.multicam_format import DatasetFormatError, MetadataRow, format_metadata_csv, read_metadata_csv

REPO = Path(__file__).resolve().parents[1]
run = CliRunner().invoke


def _text(r) -> str:
    return " ".join(r.output.split())


def _snapshot(root: Path) -> dict:
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()} if root.exists() else {}


# ------------------------------------------------------------------------------------------------------------------
# Camera JSON given to recam (issue row 2): NaN / inf / non-orthonormal / all-zero / infinitely far poses
# ------------------------------------------------------------------------------------------------------------------

GOOD = "[1 0 0 0] [-0 1 0 0] [0 -0 1 0] [3390 1380 240 1] "


@pytest.mark.parametrize("frame,matrix,needle", [
    (5, "[nan 0 0 0] [-0 1 0 0] [0 -0 1 0] [3390 1380 240 1] ", "non-finite values (NaN or inf) in frame 5"),
    (7, "[1 0 0 0] [-0 1 0 0] [0 -0 1 0] [inf 1380 240 1] ", "non-finite values (NaN or inf) in frame 7"),
    (3, "[2 0 0 0] [-0 1 0 0] [0 -0 1 0] [3390 1380 240 1] ", "rotation of frame 3 is not orthonormal"),
    (0, "[0 0 0 0] [0 0 0 0] [0 0 0 0] [3390 1380 240 1] ", "rotation of frame 0 is not orthonormal"),
    (4, "[1 0 0 0] [-0 -1 0 0] [0 -0 1 0] [3390 1380 240 1] ", "det(R) of frame 4 is +1.000; expected -1"),
    (8, "[1 0 0 0] [-0 1 0 0] [0 -0 1 0] [1e+30 1380 240 1] ", f"expected at most {MAX_TRANSLATION_M:g}"),
])
def test_camera_json_bad_pose(tmp_path, frame, matrix, needle):
    data = {f"frame{f}": {"cam01": GOOD, "cam02": GOOD} for f in range(9)}
    data[f"frame{frame}"]["cam02"] = matrix
    p = tmp_path / "traj.json"
    p.write_text(json.dumps(data))
    with pytest.raises(TrajectoryError) as e:
        load_trajectory(p, 9, camera="cam02")
    assert str(e.value).startswith(f"{p}: cam02: ") and needle in str(e.value)
    assert load_trajectory(p, 9, camera="cam01").shape == (9, 4, 4)  # the other camera is fine


@pytest.mark.parametrize("content,needle", [
    (b"\xff\xfe{}", "not UTF-8 text"),
    (b"{not json", "not valid JSON"),
    (b"[]", "expected an object"),
    (b'{"frame0": {"cam01": "[1 0 0 0] [0 1 0 0] [0 0 1 0]"}}', "frame0 cam01: expected four rows"),
])
def test_camera_json_bad_file(tmp_path, content, needle):
    p = tmp_path / "traj.json"
    p.write_bytes(content)
    with pytest.raises(TrajectoryError, match="traj.json") as e:
        load_trajectory(p, 9, camera="cam01")
    assert needle in str(e.value)


def test_camera_json_longer_than_num_frames_is_resampled(example):
    """Issue row 5: a longer JSON trajectory is resampled over its whole length like the presets, not cut."""
    path = example / "cameras/camera_extrinsics.json"
    full = load_trajectory(path, 81, camera="cam09")
    short = load_trajectory(path, 9, camera="cam09")
    assert np.allclose(short[0], full[0]) and np.allclose(short[-1], full[-1], atol=1e-12)
    lateral = (invert_rigid(short[0]) @ short[-1])[0, 3]  # metres along the start camera's x (right)
    preset = (invert_rigid(preset_trajectory(9, 9)[0]) @ preset_trajectory(9, 9)[-1])[0, 3]
    assert lateral == pytest.approx(-1.99, abs=0.01)  # was -0.20 m when cut after 9 frames
    assert preset == pytest.approx(-1.88, abs=0.01) and abs(lateral - preset) / abs(preset) < 0.06
    mid = load_trajectory(path, 41, camera="cam09")  # every second frame of the 81 exactly
    assert np.allclose(mid, full[::2], atol=1e-9)
    assert np.allclose(np.linalg.det(short[:, :3, :3]), -1)


# ------------------------------------------------------------------------------------------------------------------
# YAML of moves (issue row 2)
# ------------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("doc,needle", [
    ("segments: [{pan: .nan}]", "segments[0].pan: expected a number (finite), got nan"),
    ("segments: [{dolly: .inf}]", "segments[0].dolly: expected a number (finite), got inf"),
    ("segments: [{dolly: 1.0e+300}]", "translation of frame 8 is 1e+300 away; expected at most 100000"),
    ("segments: [{arc: {deg: 30, distance: far}}]", "segments[0].arc.distance: expected a number (finite)"),
    ("segments: [{arc: {deg: 30, distance: .inf}}]", "segments[0].arc.distance: expected a number (finite)"),
    ("segments: [{frames: true, pan: 3}]", "segments[0].frames: expected a positive integer, got True"),
    ("segments: [5]", "segments[0]: expected a mapping of moves, got 5"),
    ("segments: [{pan: 3, speed: {profile: eased, a: x}}]", "segments[0].speed: expected {profile: constant}"),
    ("segments: [{pan: 3, speed: {profile: eased, a: 0}}]", "segments[0].speed: eased speed needs"),
    ("segments: [{pan: 3, speed: fast}]", "segments[0].speed: expected"),
    ("- pan: 3", "expected a mapping with a non-empty 'segments' list"),
    ("segments: [{pan: 3}]\n1: 2", "unknown keys ['1']"),
    ("segments: [{pan: 3\n", "not valid YAML"),
])
def test_moves_yaml_errors(tmp_path, doc, needle):
    p = tmp_path / "moves.yaml"
    p.write_text(doc)
    with pytest.raises(TrajectoryError) as e:
        load_trajectory(p, 9)
    assert str(e.value).startswith(str(p)) and needle in str(e.value), str(e.value)


def test_moves_yaml_not_utf8(tmp_path):
    p = tmp_path / "moves.yaml"
    p.write_bytes("segments: [{pan: 3}]  # caf\u00e9".encode("latin-1"))
    with pytest.raises(TrajectoryError, match="moves.yaml: not UTF-8 text"):
        load_trajectory(p, 9)


_scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(), st.text(max_size=5),
                    st.sampled_from([1e300, -1e300, 1e-300, 360.0, 1e5, 4, 0]))
_keys = st.sampled_from(["pan", "tilt", "roll", "dolly", "truck", "pedestal", "arc", "frames", "speed", "zoom",
                         "deg", "distance", "profile", "a", "segments"])
_values = st.recursive(_scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(_keys, inner, max_size=4)), max_leaves=12)


@pytest.mark.slow  # everyday loop (-m 'not slow') stays under 3 min on 2 cores
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["segments", "speed", "num_frames", "other"]),
                       st.one_of(_values, st.lists(st.dictionaries(_keys, _values, max_size=4), min_size=1,
                                                   max_size=3)), max_size=3),
       st.integers(2, 12))
def test_fuzz_moves(spec, n):
    """Any document either gives (n, 4, 4) finite proper rigid poses or raises TrajectoryError."""
    try:
        t = trajectory_from_moves(spec, n)
    except TrajectoryError:
        return
    assert t.shape == (n, 4, 4) and not pose_problems(t, PROPER)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_fuzz_moves_text(tmp_path_factory, text):
    p = tmp_path_factory.mktemp("y") / "m.yaml"
    p.write_text(text, encoding="utf-8")
    try:
        load_trajectory(p, 5)
    except TrajectoryError:
        pass


# ------------------------------------------------------------------------------------------------------------------
# metadata.csv (issue rows 4 and 5): BOM accepted, non-UTF-8 a clear error
# ------------------------------------------------------------------------------------------------------------------

ROWS = [MetadataRow("f18_aperture10/scene0/videos/cam01.mp4", "a person, caf\u00e9"),
        MetadataRow("f18_aperture10/scene0/videos/cam02.mp4", 'says "hi", twice')]


def test_metadata_bom_accepted(tmp_path):
    p = tmp_path / "metadata.csv"
    p.write_bytes(b"\xef\xbb\xbf" + format_metadata_csv(ROWS).encode("utf-8"))
    assert read_metadata_csv(p) == ROWS


@pytest.mark.parametrize("content,needle", [
    (format_metadata_csv(ROWS).encode("latin-1"), "metadata.csv:2: not UTF-8 (byte 0xe9 at offset"),
    (b"name,caption\nx,y\n", "header must contain file_name,text"),
    (b'file_name,text\n,"empty"\n', "metadata.csv:2: field file_name is empty"),
    (b'file_name,text\nx.mp4,"a caption\nnext.mp4,"b"\n', "metadata.csv:2: malformed CSV in the record"),
])
def test_metadata_bad(tmp_path, content, needle):
    p = tmp_path / "metadata.csv"
    p.write_bytes(content)
    with pytest.raises(DatasetFormatError) as e:
        read_metadata_csv(p)
    assert needle in str(e.value) and str(p) in str(e.value)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120) | st.text(max_size=80).map(lambda t: ("file_name,text\n" + t).encode("utf-8")))
def test_fuzz_metadata_csv(tmp_path_factory, content):
    p = tmp_path_factory.mktemp("csv") / "metadata.csv"
    p.write_bytes(content)
    try:
        rows = read_metadata_csv(p)
    except DatasetFormatError:
        return
    assert all(r.file_name and isinstance(r.text, str) for r in rows)


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    out = tmp_path_factory.mktemp("bad") / "ds"
    assert run(app, ["plan", "--scenes", "2", "--out", str(out)]).exit_code == 0
    return out


def test_validate_metadata_encodings(planned, tmp_path):
    import shutil

    ds = tmp_path / "ds"
    shutil.copytree(planned, ds)
    meta = ds / "metadata.csv"
    text = meta.read_text(encoding="utf-8")
    meta.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    r = run(app, ["validate", str(ds)])
    assert r.exit_code == 0, r.output
    lines = text.splitlines()
    lines[3] = lines[3][:-1] + ' caf\u00e9"'
    meta.write_bytes("\n".join(lines).encode("latin-1"))
    r = run(app, ["validate", str(ds)])
    assert r.exit_code == 1 and f"{meta}:4: not UTF-8 (byte 0xe9" in _text(r)


# ------------------------------------------------------------------------------------------------------------------
# Configs and catalogs: exit 2, file + key named, nothing written
# ------------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("which,content,needle", [
    ("--config", b"version: 1\nvideo: {frames: 9, fps: 15, width: 64, height: [1]}\n", "video.height"),
    ("--config", "video: caf\u00e9\n".encode("latin-1"), "not UTF-8 text"),
    ("--config", b"[1, 2", "not valid YAML"),
    ("--catalog", b"environments: []\n", "environments"),
    ("--catalog", b"\xff\xfe", "not UTF-8 text"),
])
def test_config_and_catalog_errors(tmp_path, which, content, needle):
    p = tmp_path / "in.yaml"
    p.write_bytes(content)
    out = tmp_path / "o"
    for cmd in ("plan", "render"):
        r = run(app, [cmd, "--scenes", "1", "--out", str(out), which, str(p)])
        assert r.exit_code == 2 and str(p) in _text(r) and needle in r.output, r.output
        assert not out.exists()
    r = run(app, ["plan", "--scenes", "1", "--out", str(out), which, str(tmp_path / "missing.yaml")])
    assert r.exit_code == 2 and "missing.yaml: does not exist" in _text(r) and not out.exists()


# ------------------------------------------------------------------------------------------------------------------
# Output folders (issue row 6): --out a file, two runs into one --out, truncated videos on resume
# ------------------------------------------------------------------------------------------------------------------

def test_out_is_a_file(tmp_path):
    f = tmp_path / "taken"
    f.write_bytes(b"precious")
    for cmd in (["plan", "--scenes", "1"], ["render", "--scenes", "1"]):
        for out in (f, f / "sub"):
            r = run(app, [*cmd, "--out", str(out)])
            assert r.exit_code == 2 and "is a file; expected a dataset folder" in _text(r), r.output
    assert f.read_bytes() == b"precious"
    r = run(app, ["stats", str(f)])
    assert r.exit_code == 2 and "is a file" in r.output
    r = run(app, ["index", str(f)])
    assert r.exit_code == 2 and "is a file" in r.output
    r = run(app, ["plot", str(tmp_path), "--out", str(f / "x.png")])
    assert r.exit_code == 2 and "is a file" in _text(r)
    assert f.read_bytes() == b"precious"


def test_two_runs_into_one_out(planned, tmp_path):
    """A second plan/render into a folder being written fails naming the holder; shards of one array do not."""
    import shutil

    ds = tmp_path / "ds"
    shutil.copytree(planned, ds)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from synth.core.lock import acquire_output_lock
            lock = acquire_output_lock({str(ds)!r}, (0, 1), command="synth render --out DS")
            print("held", flush=True)
            time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = _snapshot(ds)
        for cmd in ("plan", "render"):
            r = run(app, [cmd, "--scenes", "2", "--out", str(ds)])
            t = _text(r)
            assert r.exit_code == 2 and f"{ds} is being written by synth render --out DS (host " in t, t
            assert f"pid {holder.pid}" in t
            r = run(app, [cmd, "--scenes", "2", "--out", str(ds), "--shard", "1/2"])  # overlaps the whole run
            assert r.exit_code == 2 and f"pid {holder.pid}" in _text(r)
        assert _snapshot(ds) == before
    finally:
        holder.kill()
        holder.wait()
    # holder gone: its lock file is free; disjoint shards of one array run side by side
    from synth.core.lock import OutputLockError, acquire_output_lock

    a = acquire_output_lock(ds, (0, 2))
    b = acquire_output_lock(ds, (1, 2))
    with pytest.raises(OutputLockError, match="shard 0/2"):
        acquire_output_lock(ds, (0, 3))
    a.release()
    b.release()
    r = run(app, ["plan", "--scenes", "2", "--out", str(ds)])
    assert r.exit_code == 0 and "2 already complete" in r.output
    assert not (ds / ".locks").exists()  # a finished run leaves no lock file in the dataset


@pytest.mark.slow
def test_truncated_video_rendered_again_on_resume(tmp_path):
    from synth.core.video_io import probe_video

    out = tmp_path / "ds"
    args = ["render", "--scenes", "1", "--width", "64", "--height", "64", "--frames", "9", "--out", str(out)]
    r = run(app, args)
    assert r.exit_code == 0, r.output
    video = next(out.glob("train/*/scene0/videos/cam03.mp4"))
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])
    r = run(app, ["validate", str(out)])
    assert r.exit_code == 1 and str(video) in _text(r)
    r = run(app, args)
    assert r.exit_code == 0 and "(0 already complete)" in r.output, r.output
    assert probe_video(video).frames == 9
    r = run(app, ["validate", str(out), "--decode"])
    assert r.exit_code == 0, r.output


# ------------------------------------------------------------------------------------------------------------------
# Messages and speed of argument errors (issue row 6)
# ------------------------------------------------------------------------------------------------------------------

def test_bracketed_text_survives_in_errors(tmp_path):
    scene = tmp_path / "scene0"
    (scene / "cameras").mkdir(parents=True)
    (scene / "cameras/camera_extrinsics.json").write_text('{"frame0": {"cam01": "[1 0 0 0] [0 1 0 0] [0 0 1 0]"}}')
    r = run(app, ["plot", str(scene), "--out", str(tmp_path / "p.png")])
    assert r.exit_code == 2 and "'[1 0 0 0] [0 1 0 0] [0 0 1 0]'" in _text(r)
    assert not (tmp_path / "p.png").exists()


def test_argument_errors_before_heavy_imports(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        from synth.cli import app
        try:
            app(["validate", {str(tmp_path / 'nope')!r}])
        except SystemExit as e:
            code = e.code
        heavy = [m for m in ("numpy", "av", "torch", "scipy", "matplotlib", "yaml") if m in sys.modules]
        print(code, heavy)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                       env={**os.environ, "COLUMNS": "200"})
    assert r.stdout.strip() == "2 []", (r.stdout, r.stderr)
    assert "does not exist" in r.stderr


def test_progress_lines_without_terminal(capsys):
    from synth.core.progress import job_progress, line_progress

    with job_progress("frames", tty=False) as prog:
        task = prog.add_task("render", total=810)
        prog.advance(task)  # the very first item prints a line
        for _ in range(9):
            prog.advance(task)  # then at most one line per EVERY_S seconds
    err = capsys.readouterr().err
    assert "render: 1/810 frames (0.1%)" in err and "frames/s" in err and "ETA" in err
    assert err.count("render:") == 1
    with line_progress("validate", unit="scenes", tty=False) as p:
        p.update(0, 4)
        p.update(4, 4)
    err = capsys.readouterr().err
    assert "validate: 0/4 scenes" in err and "validate: 4/4 scenes (100.0%)" in err


@pytest.mark.slow  # imports torch and diffusers (seconds on a loaded machine)
def test_recam_infer_refuses_bad_trajectories(tmp_path):
    """Issue row 2 end to end: `recam infer` exits 2 naming file, camera/field and frame; writes nothing."""
    from recam.cli import app as recam_app

    data = {f"frame{f}": {"cam01": GOOD} for f in range(9)}
    data["frame0"]["cam01"] = "[0 0 0 0] [0 0 0 0] [0 0 0 0] [3390 1380 240 1] "  # was a LinAlgError traceback
    bad_json = tmp_path / "t.json"
    bad_json.write_text(json.dumps(data))
    bad_yaml = tmp_path / "m.yaml"
    bad_yaml.write_text("segments: [{pan: .nan}]\n")
    out = tmp_path / "results"
    for traj, needle in [(bad_json, f"{bad_json}: cam01: rotation of frame 0 is not orthonormal"),
                         (bad_yaml, f"{bad_yaml}.segments[0].pan: expected a number (finite), got nan")]:
        r = run(recam_app, ["infer", "--model_dir", str(tmp_path / "model"), "--trajectory", str(traj),
                            "--video", str(tmp_path / "v.mp4"), "--prompt", "x", "--num_frames", "9",
                            "--height", "64", "--width", "64", "--out", str(out)])
        assert r.exit_code == 2 and needle in _text(r), r.output
    assert not out.exists()


def test_losing_concurrent_run_writes_nothing(tmp_path):
    """A plan/render into a new folder that another run holds fails before writing its run manifest, so the
    winner's synth_run.json (written after it took the lock) can never be replaced by the loser's settings."""
    ds = tmp_path / "new"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import time
            from synth.core.lock import acquire_output_lock
            lock = acquire_output_lock({str(ds)!r}, (0, 1), command="synth plan --out NEW")
            print("held", flush=True)
            time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "held"
        for cmd in ("plan", "render"):
            r = run(app, [cmd, "--scenes", "1", "--seed", "5", "--out", str(ds)])
            assert r.exit_code == 2 and "is being written by synth plan --out NEW" in _text(r), _text(r)
            assert not (ds / "synth_run.json").exists()
    finally:
        holder.kill()
        holder.wait()


# ------------------------------------------------------------------------------------------------------------------
# Escapes and destroyed data ([hardening-2]): the path policy of synth.core.paths at every place the issue named.
# Each test: exit code + message + nothing written outside the output folder / nothing of the input lost.
# ------------------------------------------------------------------------------------------------------------------

def _pairs_csv(path: Path, pair_id: str) -> Path:
    path.write_text(f"pair_id,scene,source,target,prompt\n{pair_id},f18_aperture10/scene0,cam01,cam02,x\n")
    return path


@pytest.mark.parametrize("pair_id", ["../../x/pwn", "ABS"])
def test_recam_eval_pair_id_cannot_write_outside_out(tmp_path, pair_id):
    """A pair id of ``../../x/pwn`` or an absolute path wrote ``<pair_id>.mp4/.png`` there (an existing file was
    overwritten, exit 0): now exit 2 naming pairs.csv, its line and the field; nothing written anywhere."""
    from recam.cli import app as recam_app

    victim_dir = tmp_path / "x"
    victim_dir.mkdir()
    victim = victim_dir / "pwn.png"
    victim.write_bytes(b"precious")
    if pair_id == "ABS":
        pair_id = str(victim_dir / "pwn")
    pairs = _pairs_csv(tmp_path / "pairs.csv", pair_id)
    vids, out = tmp_path / "a" / "b" / "vids", tmp_path / "a" / "b" / "out"
    vids.mkdir(parents=True)
    before = _snapshot(tmp_path)
    r = run(recam_app, ["eval", "--dataset", str(tmp_path / "ds"), "--videos", str(vids), "--pairs", str(pairs),
                        "--out", str(out)])
    t = _text(r)
    assert r.exit_code == 2, t
    assert f"{pairs}:2 pair_id: pair id {pair_id!r} is not allowed as a file name" in t, t
    assert not out.exists() and _snapshot(tmp_path) == before and victim.read_bytes() == b"precious"


def test_recam_eval_pairs_are_checked_before_any_write_also_in_the_library(tmp_path):
    """evaluate_pairs / compute_fvd called directly (another model's harness) refuse the same pairs up front."""
    from recam.eval.run import EvalSettings, Pair, compute_fvd, evaluate_pairs
    from synth.core.paths import UnsafePathError

    out = tmp_path / "deep" / "out"
    for bad, field in [(Pair("../../pwn", "f18_aperture10/scene0", "cam01", "cam02", ""), "pair_id"),
                       (Pair("p0", "../../../etc", "cam01", "cam02", ""), "scene"),
                       (Pair("p0", "f18_aperture10/scene0", "cam01", "../cam02", ""), "target")]:
        with pytest.raises(UnsafePathError, match=field):
            evaluate_pairs(tmp_path, [bad], out, EvalSettings(), videos_dir=tmp_path)
        with pytest.raises(UnsafePathError, match=field):
            compute_fvd(tmp_path, [bad], {bad.pair_id: {"frames": "9"}}, out, model=None)
    assert not out.exists() and not (tmp_path / "pwn.mp4").exists()


def _escape_camera_json(path: Path) -> Path:
    path.write_text(json.dumps({f"frame{f}": {"../../escape_cam": GOOD, "cam01": GOOD} for f in range(9)}))
    return path


def test_recam_trajectory_camera_names_must_be_camNN(tmp_path):
    """A camera key such as ``../../escape_cam`` with the same --camera wrote outside --out: refused (the library
    side; the CLI is below)."""
    from recam.infer import output_dir_name
    from synth.core.paths import UnsafePathError

    traj = _escape_camera_json(tmp_path / "traj.json")
    with pytest.raises(TrajectoryError, match=r"traj\.json: camera '\.\./\.\./escape_cam' is not allowed; expected "
                                              r"camNN"):
        load_trajectory(traj, 9, camera="../../escape_cam")
    assert load_trajectory(traj, 9, camera="cam01").shape == (9, 4, 4)
    with pytest.raises(UnsafePathError, match="--camera: camera '../../escape_cam' is not allowed"):
        output_dir_name(None, traj, "../../escape_cam")
    with pytest.raises(UnsafePathError, match="file name"):
        output_dir_name(None, tmp_path / "...json", None)  # a stem of '..'
    assert output_dir_name(None, traj, "cam01") == "traj_cam01"


@pytest.mark.slow  # imports torch and diffusers (seconds on a loaded machine)
def test_recam_infer_camera_key_cannot_escape_out(tmp_path):
    from recam.cli import app as recam_app

    traj = _escape_camera_json(tmp_path / "traj.json")
    out = tmp_path / "a" / "b" / "results"
    before = _snapshot(tmp_path)
    r = run(recam_app, ["infer", "--model_dir", str(tmp_path / "model"), "--trajectory", str(traj), "--camera",
                        "../../escape_cam", "--video", str(tmp_path / "v.mp4"), "--prompt", "x", "--num_frames", "9",
                        "--height", "64", "--width", "64", "--out", str(out)])
    t = _text(r)
    assert r.exit_code == 2 and f"{traj}: camera '../../escape_cam' is not allowed; expected camNN" in t, t
    assert _snapshot(tmp_path) == before and not out.exists() and not (tmp_path / "a").exists()


def test_recam_infer_output_never_replaces_its_input_video(tmp_path):
    """``--out`` whose result path is the source video itself, with --overwrite, destroyed the source: refused even
    with overwrite (the library check, before any model is loaded)."""
    from recam.infer import InferJob, check_outputs
    from synth.core.paths import UnsafePathError

    src = tmp_path / "cam_type1" / "clip.mp4"
    src.parent.mkdir()
    src.write_bytes(b"source video")
    for overwrite in (False, True):
        with pytest.raises(UnsafePathError, match=f"the output {src} is the input video {src}; writing it would "
                                                  f"destroy the source"):
            check_outputs([InferJob("clip", src, "x")], tmp_path / "cam_type1", overwrite)
    sbs = tmp_path / "cam_type1" / "a_side_by_side.mp4"  # another job's side-by-side over this input
    with pytest.raises(UnsafePathError, match="is the input video"):
        check_outputs([InferJob("a", tmp_path / "a.mp4", "x"), InferJob("b", sbs, "x")], tmp_path / "cam_type1", True)
    with pytest.raises(UnsafePathError, match="output name"):
        check_outputs([InferJob("..", tmp_path / "v.mp4", "x")], tmp_path / "o", True)
    check_outputs([InferJob("clip", src, "x")], tmp_path / "elsewhere", True)  # fine
    assert src.read_bytes() == b"source video"


@pytest.mark.slow  # imports torch and diffusers (seconds on a loaded machine)
def test_recam_infer_out_equal_to_the_input_folder_keeps_the_source(tmp_path):
    from recam.cli import app as recam_app

    src = tmp_path / "cam_type1" / "clip.mp4"
    src.parent.mkdir()
    src.write_bytes(b"source video")
    r = run(recam_app, ["infer", "--model_dir", str(tmp_path / "model"), "--cam_type", "1", "--video", str(src),
                        "--prompt", "x", "--num_frames", "9", "--height", "64", "--width", "64", "--out",
                        str(tmp_path), "--overwrite"])
    t = _text(r)
    assert r.exit_code == 2 and f"is the input video {src}; writing it would destroy the source" in t, t
    assert src.read_bytes() == b"source video" and sorted(p.name for p in tmp_path.rglob("*")) == ["cam_type1",
                                                                                                 "clip.mp4"]


@pytest.mark.parametrize("link", ["lock_file", "lock_dir"])
def test_lock_symlink_outside_out_is_refused(planned, tmp_path, link):
    """``<out>/.locks/<shard>.lock`` as a symlink to a file outside made ``synth render`` overwrite that file (and
    ``.locks`` as a symlink to a folder outside put lock files there): refused, the target untouched."""
    import shutil

    ds = tmp_path / "ds"
    shutil.copytree(planned, ds)
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    if link == "lock_file":
        (ds / ".locks").mkdir()
        (ds / ".locks" / "0of1.lock").symlink_to(victim)
        needle = f"{ds / '.locks' / '0of1.lock'}: is a symbolic link (to {victim}); refusing to open it as a lock file"
    else:
        outside = tmp_path / "outside"
        outside.mkdir()
        (ds / ".locks").symlink_to(outside)
        needle = f"{ds / '.locks'}: is a symbolic link to {outside}, outside {ds}"
    before = _snapshot(tmp_path)
    for cmd in ("plan", "render"):
        r = run(app, [cmd, "--scenes", "2", "--out", str(ds)])
        t = _text(r)
        assert r.exit_code == 2 and needle in t, t
    assert victim.read_bytes() == b"precious" and _snapshot(tmp_path) == before
    if link == "lock_dir":
        assert list((tmp_path / "outside").iterdir()) == []


def test_stats_json_never_overwrites_the_dataset(planned, tmp_path):
    """``synth stats DS --json DS/metadata.csv`` replaced the dataset's index with JSON: exit 2, index kept."""
    import shutil

    ds = tmp_path / "ds"
    shutil.copytree(planned, ds)
    before = _snapshot(ds)
    for target in (ds / "metadata.csv", ds / "stats.json", ds / "train" / "new" / "s.json"):
        r = run(app, ["stats", str(ds), "--json", str(target)])
        t = _text(r)
        assert r.exit_code == 2, t
        assert f"--json {target}:" in t and f"input dataset {ds}" in t, t
    assert _snapshot(ds) == before
    r = run(app, ["stats", str(ds), "--json", str(tmp_path / "stats.json")])  # outside: fine
    assert r.exit_code == 0 and json.loads((tmp_path / "stats.json").read_text())


def test_render_out_inside_another_datasets_scene_is_refused_and_validate_flags_it(planned, tmp_path):
    """``synth render --out`` inside another dataset's scene was accepted and ``synth validate`` still called that
    dataset valid: the run is refused before writing, and a foreign folder in a scene fails validation."""
    import shutil

    ds = tmp_path / "ds"
    shutil.copytree(planned, ds)
    scene = sorted(ds.glob("train/*/scene0"))[0]
    assert run(app, ["validate", str(ds)]).exit_code == 0
    before = _snapshot(ds)
    for cmd in ("plan", "render"):
        for out in (scene / "nested", scene, scene / "videos" / "x"):
            r = run(app, [cmd, "--scenes", "1", "--out", str(out)])
            t = _text(r)
            assert r.exit_code == 2 and f"--out {out}: is inside the scene folder {scene} of an existing dataset" \
                in t, t
    assert _snapshot(ds) == before and not (scene / "nested").exists()
    (scene / "nested" / "train").mkdir(parents=True)  # a foreign folder put there by other means
    r = run(app, ["validate", str(ds)])
    t = _text(r)
    assert r.exit_code == 1 and f"{scene / 'nested'}" in t and "foreign folder inside the scene" in t, t


@pytest.mark.parametrize("trusted", [False, True])
def test_recam_eval_refuses_a_torchscript_i3d_that_writes_files(tmp_path, trusted):
    """A scripted "I3D" whose forward overwrites a file (torch.from_file(path, shared=True).fill_()) overwrote it
    during ``recam eval --fvd-i3d`` (exit 0): TorchScript is refused without --trust-model-code, the file intact.
    The same model, called, does overwrite it (so the test's model is really malicious)."""
    import torch

    from recam.cli import app as recam_app
    from recam.eval.fvd import load_i3d

    victim = tmp_path / "victim.bin"
    victim.write_bytes(b"precious")

    class Evil(torch.nn.Module):
        def __init__(self, path: str):
            super().__init__()
            self.path = path

        def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False,
                    return_features: bool = True) -> torch.Tensor:
            t = torch.from_file(self.path, shared=True, size=8, dtype=torch.uint8).fill_(0)
            return x.mean(dim=(2, 3, 4)) + t[0].float()  # used, so the JIT keeps the write

    evil = tmp_path / "i3d_torchscript.pt"
    torch.jit.script(Evil(str(victim))).save(str(evil))
    if trusted:  # the flag does load (and would run) it: the user's explicit choice
        model = load_i3d(evil, trust_model_code=True).model
        model(torch.zeros(1, 3, 2, 4, 4))
        assert victim.read_bytes() == b"\0" * 8
        return
    before = _snapshot(tmp_path)
    r = run(recam_app, ["eval", "--dataset", str(tmp_path), "--videos", str(tmp_path), "--pairs",
                        str(tmp_path / "pairs.csv"), "--fvd-i3d", str(evil), "--out", str(tmp_path / "o")])
    t = _text(r)
    assert r.exit_code == 2, t
    assert "--fvd-i3d" in t and f"{evil}: a TorchScript file: refused by default" in t, t
    assert "python -m recam.eval.i3d" in t and "--trust-model-code" in t, t
    assert victim.read_bytes() == b"precious" and _snapshot(tmp_path) == before and not (tmp_path / "o").exists()
