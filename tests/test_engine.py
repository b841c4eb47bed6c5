"""The execution layer (issue 19): every engine runs the same units to the same results; a unit that raises is
reported once and the others complete; a unit whose worker is killed is run again elsewhere; a worker that cannot see
the output root (or cannot start) stops the run at once, naming the path. The Ray tests share one local Ray instance
with 2 CPUs (module fixture)."""

from __future__ import annotations

import functools
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import engine_units  # noqa: E402

from synth.core.engine import EngineSettings, EngineSetupError, Job, engines, run_job  # noqa: E402
from synth.core.engine.summary import format_failures, node_summary  # noqa: E402

ENGINES = ["local", "processes", "ray"]


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(engine_units)  # actors get the test's workers by value
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def engine_of(request):
    def get(name):
        if name == "ray":
            request.getfixturevalue("ray_local")
        return name
    return get


def _run(name, job, **kw):
    reports = []
    outs = list(run_job(job, EngineSettings(engine=name, **kw), reports.append))
    return outs, sum(reports)


def test_registry_names_the_three_engines():
    assert set(engines()) == set(ENGINES)
    assert EngineSettings().resolved(1) == "local" and EngineSettings().resolved(4) == "processes"
    assert EngineSettings(engine="ray").resolved(1) == "ray"


@pytest.mark.parametrize("name", ENGINES)
def test_same_results_and_one_report_per_failing_unit(tmp_path, name, engine_of):
    job = Job("square", list(range(7)), functools.partial(engine_units.make_squarer, fail_on=(3,)), workers=2,
              root=tmp_path)
    outs, reported = _run(engine_of(name), job)
    assert sorted(o.unit for o in outs) == list(range(7))  # every unit once, the failing one included
    bad = [o for o in outs if not o.ok]
    assert len(bad) == 1 and bad[0].unit == 3 and bad[0].attempts == 1 and not bad[0].fatal
    assert bad[0].error == "ValueError: broken asset of unit 3"
    assert {o.unit: o.value["square"] for o in outs if o.ok} == {k: k * k for k in range(7) if k != 3}
    assert reported == 2 * 7 - 1  # the workers' progress reports reach the driver
    assert format_failures(outs, lambda k: f"unit {k}") == [
        f"unit 3 (node {bad[0].node}, 1 attempt(s)): ValueError: broken asset of unit 3"]
    rows = node_summary(outs, lambda o: 1)
    assert sum(r["units"] for r in rows) == 7 and sum(r["failed"] for r in rows) == 1
    if name != "local":  # long-lived workers: fewer processes than units, each ran several
        pids = {o.value["pid"] for o in outs if o.ok}
        assert 1 <= len(pids) <= 2 and os.getpid() not in pids
    assert not list(tmp_path.iterdir())  # the marker is gone


@pytest.mark.parametrize("name", ENGINES)
def test_worker_that_cannot_see_the_root_fails_fast(tmp_path, name, engine_of, monkeypatch):
    from synth.core.engine import marker

    # the driver's marker lands on a filesystem the workers do not see (another mount at the same path)
    monkeypatch.setattr(marker, "atomic_write_text", lambda path, text: None)
    job = Job("square", list(range(4)), engine_units.make_squarer, workers=2, root=tmp_path / "out")
    t0 = time.perf_counter()
    with pytest.raises(EngineSetupError) as e:
        _run(engine_of(name), job)
    msg = str(e.value)
    assert f"does not see the output root {tmp_path / 'out'}" in msg and ".synth-engine." in msg
    assert "shared POSIX filesystem" in msg and time.perf_counter() - t0 < 60


@pytest.mark.parametrize("name", ["local", "processes"])  # the ray path is the same check (test above)
def test_token_of_another_filesystem_fails_fast(tmp_path, name, engine_of, monkeypatch):
    from synth.core.engine import marker

    real = marker.atomic_write_text
    monkeypatch.setattr(marker, "atomic_write_text", lambda path, text: real(path, "0" * 32 + "\n"))
    job = Job("square", [1], engine_units.make_squarer, workers=1, root=tmp_path)
    with pytest.raises(EngineSetupError, match="holds another token"):
        _run(engine_of(name), job)


@pytest.mark.parametrize("name", ["local", "processes"])
def test_worker_that_cannot_start_stops_the_run(tmp_path, name, engine_of):
    job = Job("square", list(range(3)), engine_units.make_broken, workers=2, root=tmp_path)
    with pytest.raises(EngineSetupError, match="could not start: RuntimeError: no GPU driver here"):
        _run(engine_of(name), job)


def _kill_first_runner(folder: Path, stop: threading.Event, killed: list) -> None:
    """SIGKILL the process of the first unit seen running (its ``running.<unit>.<pid>`` file)."""
    while not stop.is_set() and not killed:
        for p in folder.glob("running.*"):
            _, unit, pid = p.name.split(".")
            os.kill(int(pid), signal.SIGKILL)
            killed.append((int(unit), int(pid)))
            return
        time.sleep(0.01)


@pytest.mark.parametrize("name", ["processes"])  # ray: test_render_killed_ray_worker_scene_is_retried
def test_killed_worker_unit_runs_again_elsewhere(tmp_path, name, engine_of):
    marks = tmp_path / "marks"
    marks.mkdir()
    job = Job("square", list(range(4)), functools.partial(engine_units.make_squarer, out=str(marks), slow_s=0.5),
              workers=2)
    stop, killed = threading.Event(), []
    th = threading.Thread(target=_kill_first_runner, args=(marks, stop, killed), daemon=True)
    th.start()
    try:
        outs, _ = _run(engine_of(name), job, max_retries=1)
    finally:
        stop.set()
        th.join()
    assert killed, "no unit was seen running"
    unit, pid = killed[0]
    assert sorted(o.unit for o in outs) == [0, 1, 2, 3] and all(o.ok for o in outs), outs
    again = next(o for o in outs if o.unit == unit)
    assert again.attempts == 2 and again.value["pid"] != pid  # retried by another (new) worker
    assert again.value["square"] == unit * unit


@pytest.mark.parametrize("name", ["processes"])  # ray: the same counting, exercised by the kill test
def test_retries_are_bounded(tmp_path, name, engine_of):
    """A unit that kills every worker it runs on is reported after max_retries + 1 attempts; the others finish."""
    marks = tmp_path / "marks"
    marks.mkdir()
    job = Job("square", [0, 1, 2], functools.partial(engine_units.make_squarer, out=str(marks), slow_s=0.3),
              workers=1)
    stop = threading.Event()

    def killer():
        seen = set()
        while not stop.is_set():
            for p in marks.glob("running.1.*"):
                if p.name not in seen:
                    seen.add(p.name)
                    os.kill(int(p.name.split(".")[2]), signal.SIGKILL)
            time.sleep(0.01)

    th = threading.Thread(target=killer, daemon=True)
    th.start()
    try:
        outs, _ = _run(engine_of(name), job, max_retries=1)
    finally:
        stop.set()
        th.join()
    by = {o.unit: o for o in outs}
    assert sorted(by) == [0, 1, 2] and by[0].ok and by[2].ok
    assert not by[1].ok and by[1].attempts == 2 and "died 2 time(s)" in by[1].error


# ------------------------------------------------------------------------------------------------------------------
# synth render through the engines (3 tiny scenes: 2 cameras, 32x32, 6 frames)
# ------------------------------------------------------------------------------------------------------------------

def _render_args(out: Path, cfg: Path, *extra: str):
    return ["render", "--scenes", "3", "--width", "32", "--height", "32", "--frames", "6", "--config", str(cfg),
            "--out", str(out), *extra]


@pytest.fixture(scope="module")
def two_cam_config(tmp_path_factory):
    import yaml

    from synth.scenes.config import default_config_path

    d = yaml.safe_load(default_config_path().read_text())
    d["cameras_per_scene"] = 2
    p = tmp_path_factory.mktemp("cfg") / "two_cams.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


@pytest.fixture(scope="module")
def reference(tmp_path_factory, two_cam_config):
    """The dataset rendered in this process (engine local): what every engine must reproduce."""
    from typer.testing import CliRunner

    from synth.cli import app

    out = tmp_path_factory.mktemp("ref") / "ds"
    r = CliRunner().invoke(app, _render_args(out, two_cam_config))
    assert r.exit_code == 0, r.output
    return out


def _same_dataset(a: Path, b: Path) -> None:
    """Same files; videos equal frame by frame once decoded, every other file byte for byte."""
    import numpy as np

    from synth.core.video_io import read_video

    files = lambda root: sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())  # noqa: E731
    assert files(a) == files(b)
    for rel in files(a):
        if rel.suffix == ".mp4":
            fa, _ = read_video(a / rel)
            fb, _ = read_video(b / rel)
            assert fa.shape == fb.shape and np.array_equal(fa, fb), rel
        elif rel.name != "synth_run.json":
            assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert not (b / ".partial").exists() or not any((b / ".partial").iterdir())
    assert not list(b.glob(".synth-engine.*"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["processes"])  # ray: test_render_killed_ray_worker_scene_is_retried
def test_render_engines_give_identical_datasets(tmp_path, name, engine_of, reference, two_cam_config):
    from typer.testing import CliRunner

    from synth.cli import app

    out = tmp_path / "ds"
    r = CliRunner().invoke(app, _render_args(out, two_cam_config, "--engine", engine_of(name), "--workers", "2"))
    assert r.exit_code == 0, r.output
    assert f"engine {name}" in r.output and "node " in r.output and "3 units (0 failed, 0 retried)" in r.output
    _same_dataset(reference, out)


@pytest.mark.slow
def test_render_killed_ray_worker_scene_is_retried(tmp_path, engine_of, reference, two_cam_config):
    """Engine ray == local, under a fault: SIGKILL the Ray worker rendering a scene mid-scene; another worker renders
    it again; the dataset equals the uninterrupted local one and no staging folder is left."""
    from typer.testing import CliRunner

    from synth.cli import app

    out = tmp_path / "ds"
    stop, killed = threading.Event(), []

    def killer():
        while not stop.is_set() and not killed:
            staging = out / ".partial"
            for p in staging.glob("scene*") if staging.is_dir() else []:
                if (p / "videos").exists():  # mid-scene: writing its videos
                    pid = int(p.name.rsplit(".", 1)[1])
                    os.kill(pid, signal.SIGKILL)
                    killed.append((p.name, pid))
                    return
            time.sleep(0.005)

    th = threading.Thread(target=killer, daemon=True)
    th.start()
    try:
        r = CliRunner().invoke(app, _render_args(out, two_cam_config, "--engine", engine_of("ray"), "--workers",
                                                 "2", "--max-retries", "2"))
    finally:
        stop.set()
        th.join()
    assert killed, "no scene was seen mid-render"
    assert r.exit_code == 0, r.output
    assert "1 retried" in r.output and "engine ray" in r.output, r.output
    counts = [int(n) for n in re.findall(r"render: (\d+)/36 images", r.output)]
    assert counts and max(counts) == counts[-1] == 36, counts  # the retried scene's images count once
    _same_dataset(reference, out)


@pytest.mark.slow
def test_render_failing_scene_is_reported_once_and_the_others_complete(tmp_path, monkeypatch, two_cam_config):
    from typer.testing import CliRunner

    from synth.cli import app
    from synth.render import driver

    real = driver.render_scene

    def broken(backend, plan, *a, **k):
        if plan.index == 1:
            raise RuntimeError("cannot load chars/broken.glb: not a glTF file")
        return real(backend, plan, *a, **k)

    monkeypatch.setattr(driver, "render_scene", broken)
    out = tmp_path / "ds"
    r = CliRunner().invoke(app, _render_args(out, two_cam_config))
    text = " ".join(r.output.split())
    assert r.exit_code == 2, r.output
    assert text.count("RuntimeError: cannot load chars/broken.glb") == 2  # as it happens, and in the closing list
    assert "1 of 3 scenes failed" in text and "scene 1 (node" in text
    counts = [int(n) for n in re.findall(r"render: (\d+)/36 images", r.output)]
    assert counts and max(counts) == counts[-1] == 36, counts
    assert sorted(p.name for p in out.glob("train/*/scene*")) == ["scene0", "scene2"]
    assert not (out / ".partial").exists() or not any((out / ".partial").iterdir())
    monkeypatch.setattr(driver, "render_scene", real)
    r = CliRunner().invoke(app, _render_args(out, two_cam_config))  # the cause fixed: only scene 1 is rendered
    assert r.exit_code == 0 and "rendered 1 scenes (2 already complete)" in " ".join(r.output.split()), r.output


@pytest.mark.slow
def test_render_fails_fast_when_a_worker_cannot_see_the_output(tmp_path, monkeypatch, two_cam_config):
    from typer.testing import CliRunner

    from synth.cli import app
    from synth.core.engine import marker

    monkeypatch.setattr(marker, "atomic_write_text", lambda path, text: None)
    out = tmp_path / "ds"
    # the message's way to the user (exit 2, no traceback); each engine's check: test_worker_that_cannot_see_...
    r = CliRunner().invoke(app, _render_args(out, two_cam_config, "--engine", "local"))
    text = " ".join(r.output.split())
    assert r.exit_code == 2 and f"does not see the output root {out}" in text, r.output
    assert not list(out.glob("train/*/scene*"))


@pytest.mark.slow  # needs the rendered reference
def test_verify_fails_fast_with_one_message(tmp_path, monkeypatch, reference):
    from typer.testing import CliRunner

    from synth.cli import app
    from synth.core.engine import marker

    monkeypatch.setattr(marker, "atomic_write_text", lambda path, text: None)
    out = tmp_path / "v"
    r = CliRunner().invoke(app, ["verify", str(reference), "--out", str(out), "--cameras", "cam01"])
    text = " ".join(r.output.split())
    assert r.exit_code == 2 and f"does not see the output root {out}" in text and "Traceback" not in text, r.output


@pytest.mark.slow
def test_verify_through_ray_on_two_workers_equals_local(tmp_path, engine_of, reference):
    import csv

    from typer.testing import CliRunner

    from synth.cli import app

    rows = {}
    for name in ("local", "ray"):
        out = tmp_path / name
        extra = ["--engine", engine_of(name), "--workers", "2"] if name == "ray" else []
        r = CliRunner().invoke(app, ["verify", str(reference), "--stride", "1", "--out", str(out), *extra])
        assert r.exit_code in (0, 1), r.output  # at 32 px a camera may be flagged; equality is the test
        rows[name] = [{k: v for k, v in row.items() if k != "seconds"}
                      for row in csv.DictReader(open(out / "verify.csv"))]
        assert not list(out.glob(".synth-engine.*"))
    assert len(rows["local"]) == 6 and rows["ray"] == rows["local"]


@pytest.mark.slow
def test_prepare_through_ray_on_two_workers_equals_one_process(tmp_path, engine_of):
    """``recam prepare --engine ray --devices 2``: two units (the shares of two ranks) on two Ray workers give the
    cache of one process, entry for entry, and the merged problem report."""
    import json

    from typer.testing import CliRunner

    from data_fixtures import make_realcam
    from recam.cli import app as recam_app

    run = CliRunner().invoke
    model, root = tmp_path / "m", tmp_path / "rc"
    assert run(recam_app, ["init-tiny", str(model)]).exit_code == 0
    make_realcam(root)
    caches = {}
    for name, extra in (("one", []), ("ray", ["--engine", engine_of("ray"), "--devices", "2"])):
        cache = tmp_path / name
        r = run(recam_app, ["prepare", "--dataset", str(root), "--kind", "realcam-vid", "--model_dir", str(model),
                            "--out", str(cache), "--num_frames", "9", "--height", "48", "--width", "64",
                            "--cache_dtype", "fp32", "--workers", "0", *extra])
        assert r.exit_code == 0, r.output
        caches[name] = {p.relative_to(cache).as_posix(): p.read_bytes() for p in sorted(cache.rglob("*.safetensors"))}
        assert not list(cache.glob(".synth-engine.*"))
    assert len(caches["one"]) == 3 and caches["ray"] == caches["one"]
    problems = json.loads((tmp_path / "ray" / "realcam-vid" / "problems.json").read_text())
    assert {Path(p["path"]).name for p in problems} >= {"mismatch.mp4", "truncated.mp4"}
    assert sorted(p.name for p in (tmp_path / "ray" / "realcam-vid").glob("problems.shard*.json")) == \
        ["problems.shard0of2.json", "problems.shard1of2.json"]


@pytest.mark.slow
def test_eval_pairs_through_processes_equal_local(tmp_path, reference):
    """``recam eval``'s pair loop on 2 worker processes: the same results.csv rows and side-by-side videos as in
    this process (scoring existing videos, no metric: the loop and its outputs are the test)."""
    import csv
    import shutil

    import numpy as np

    from recam.eval.pairs import sample_pairs
    from recam.eval.run import EvalSettings, evaluate_pairs
    from synth.core.video_io import read_video

    pairs = sample_pairs(reference, 3, 0)
    videos = tmp_path / "videos"
    videos.mkdir()
    for p in pairs:
        shutil.copy(reference / "train" / p.scene / "videos" / f"{p.target}.mp4", videos / f"{p.pair_id}.mp4")
    settings = EvalSettings(num_frames=5, height=32, width=32, source="videos:x")
    rows = {}
    for name in ("local", "processes"):
        out = tmp_path / name
        kw = {}
        if name == "processes":
            kw = dict(engine=EngineSettings(engine="processes"), workers=2,
                      pair_worker=functools.partial(engine_units.make_pair_scorer, reference, out, settings, videos))
        got = evaluate_pairs(reference, pairs, out, settings, videos_dir=videos, active=[], **kw)
        rows[name] = [{k: v for k, v in r.items() if k != "seconds"} for r in got]
        assert [r["pair_id"] for r in csv.DictReader(open(out / "results.csv"))] == sorted(p.pair_id for p in pairs)
    assert len(rows["local"]) == 3 and rows["processes"] == rows["local"]
    for p in pairs:
        a, _ = read_video(tmp_path / "local" / "side_by_side" / f"{p.pair_id}.mp4")
        b, _ = read_video(tmp_path / "processes" / "side_by_side" / f"{p.pair_id}.mp4")
        assert np.array_equal(a, b)
