"""synth CLI and bad input: config/catalog errors, mismatched output folders, validate on broken/official data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from synth.scenes.catalog import load_catalog
from synth.cli import app
from synth.scenes.config import default_config_path, load_config
from synth.core.errors import ConfigError
from synth.core.sharding import parse_shard, shard_indices

REPO = Path(__file__).resolve().parents[1]
run = CliRunner().invoke


def _cfg(tmp_path, mutate) -> Path:
    data = yaml.safe_load(default_config_path().read_text())
    mutate(data)
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_packaged_default_is_the_repo_config():
    assert default_config_path().resolve() == (REPO / "configs/synth/multicamvideo.yaml").resolve()
    assert load_config().video.frames == 81


@pytest.mark.parametrize("mutate,needle", [
    (lambda d: d["trajectories"]["pan"].update(speed=3), "trajectories.pan.speed: unknown key"),
    (lambda d: d["hemisphere"].update(radii_m=[0.4, 3]), "hemisphere.radii_m"),
    (lambda d: d["video"].update(frames="many"), "video.frames"),
    (lambda d: d["trajectories"]["tilt"].update(angle_deg=[30, 5]), "trajectories.tilt.angle_deg"),
    (lambda d: d.update(lenses=[]), "lenses"),
    (lambda d: [b.update(weight=0) for b in d["trajectories"].values()], "weights"),
    (lambda d: d["video"].update(width=1279), "video.width"),
    (lambda d: d.pop("speed"), "speed: Field required"),
])
def test_config_errors_name_the_key(tmp_path, mutate, needle):
    p = _cfg(tmp_path, mutate)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(p) in str(e.value) and needle in str(e.value)
    r = run(app, ["plan", "--scenes", "1", "--out", str(tmp_path / "o"), "--config", str(p)])
    assert r.exit_code == 2 and needle.split(":")[0] in r.output and not (tmp_path / "o").exists()


def test_catalog_errors(tmp_path):
    data = yaml.safe_load((REPO / "synth/assets/embedded_catalog.yaml").read_text())
    for mutate, needle in [
        (lambda d: d.update(environments=[]), "environments"),
        (lambda d: d["characters"].append(dict(d["characters"][0])), "duplicate characters ids"),
        (lambda d: d["environments"][0]["free_space_cm"].update(min=[0, 0, 0], max=[0, 10, 10]), "min < max"),
        (lambda d: d["animations"].__setitem__(slice(None), [a for a in d["animations"] if a["id"] != "panda_walk"]),
         "character 'panda' has no animation"),
    ]:
        d = json.loads(json.dumps(data))
        mutate(d)
        p = tmp_path / "cat.yaml"
        p.write_text(yaml.safe_dump(d))
        with pytest.raises(ConfigError, match=needle):
            load_catalog(p)


def test_refuses_other_seed_or_config_and_keeps_data(tmp_path):
    out = tmp_path / "ds"
    assert run(app, ["plan", "--scenes", "3", "--seed", "1", "--out", str(out)]).exit_code == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    r = run(app, ["plan", "--scenes", "3", "--seed", "2", "--out", str(out)])
    assert r.exit_code == 2 and "seed 1 (now 2)" in r.output
    cfg = _cfg(tmp_path, lambda d: d["trajectories"]["pan"].update(angle_deg=[10, 20]))
    r = run(app, ["plan", "--scenes", "3", "--seed", "1", "--out", str(out), "--config", str(cfg)])
    assert r.exit_code == 2 and "trajectories.pan.angle_deg" in r.output
    assert before == {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    # same settings: resume/extend works and skips complete scenes
    r = run(app, ["plan", "--scenes", "5", "--seed", "1", "--out", str(out)])
    assert r.exit_code == 0 and "3 already complete" in r.output
    assert len(list(out.glob("train/*/scene*"))) == 5


def test_validate_reports_every_problem(tmp_path):
    out = tmp_path / "ds"
    assert run(app, ["plan", "--scenes", "4", "--out", str(out)]).exit_code == 0
    scenes = sorted(out.glob("train/*/scene*"))
    cam_json = scenes[0] / "cameras/camera_extrinsics.json"
    data = json.loads(cam_json.read_text())
    data["frame3"]["cam02"] = "[1 0 0 0] [0 1 0 0] [0 0 1 0]"
    cam_json.write_text(json.dumps(data))
    cam_json2 = scenes[1] / "cameras/camera_extrinsics.json"
    data = json.loads(cam_json2.read_text())
    data["frame5"]["cam04"] = "[2 0 0 0] [0 1 0 0] [0 0 1 0] [0 0 0 1] "
    del data["frame80"]
    cam_json2.write_text(json.dumps(data))
    (scenes[2] / "videos").mkdir()
    (scenes[2] / "videos" / "cam01.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 truncated")
    r = run(app, ["validate", str(out)])
    assert r.exit_code == 1
    out_text = " ".join(r.output.split())
    assert "frame3 cam02" in out_text and str(cam_json) in out_text.replace("\n", "")
    assert "80 frames; expected 81" in out_text and "not orthonormal on frame5" in out_text
    assert "unreadable video" in out_text and "cam02.mp4: missing video" in out_text


def test_validate_official_layout(tmp_path, example):
    """An official-format dataset (no scene.json, no synth_run.json) validates with upstream's defaults."""
    scene = tmp_path / "MultiCam/train/f24_aperture5/scene1"
    (scene / "cameras").mkdir(parents=True)
    shutil.copy(example / "cameras/camera_extrinsics.json", scene / "cameras/camera_extrinsics.json")
    val = tmp_path / "MultiCam/val/10basic_trajectories/cameras"
    val.mkdir(parents=True)
    shutil.copy(example / "cameras/camera_extrinsics.json", val / "camera_extrinsics.json")
    r = run(app, ["validate", str(tmp_path / "MultiCam")])
    assert r.exit_code == 0, r.output
    r = run(app, ["plot", str(scene), "--out", str(tmp_path / "p.png")])
    assert r.exit_code == 0 and (tmp_path / "p.png").stat().st_size > 10_000


def test_plot_png(tmp_path):
    out = tmp_path / "ds"
    assert run(app, ["plan", "--scenes", "1", "--out", str(out)]).exit_code == 0
    scene = next(out.glob("train/*/scene0"))
    r = run(app, ["plot", str(scene), "--out", str(tmp_path / "s.png")])
    assert r.exit_code == 0
    from PIL import Image

    img = np.asarray(Image.open(tmp_path / "s.png").convert("L"))
    assert img.shape[0] > 500 and (img < 128).mean() > 0.005  # something was drawn


def test_shards():
    assert parse_shard("2/4") == (2, 4) and parse_shard(None) == (0, 1)
    for bad in ("4/4", "1", "a/b", "-1/3"):
        with pytest.raises(ValueError):
            parse_shard(bad)
    parts = [shard_indices(10, (i, 3)) for i in range(3)]
    assert sorted(sum(parts, [])) == list(range(10))
