"""``synth validate``: every recipe rule from the written cameras and scene.json, the exact FMatrix::ToString()
grammar, --decode, --jobs, official datasets (format rules only), exit codes; the batched camera parser."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from synth.cli import app
from synth.scenes.config import default_config_path
from synth.core.fmatrix_text import (FMatrixParseError, format_fmatrix, parse_fmatrix, parse_fmatrix_strict,
                                     strict_fmatrix_problem)
from synth.core.unreal import unreal_pose_to_fmatrix
from synth.core.multicam_format import DatasetFormatError, read_camera_array
from synth.core.video_io import write_video

run = CliRunner().invoke


def _text(r) -> str:
    return " ".join(r.output.split())


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    out = tmp_path_factory.mktemp("val") / "ds"
    r = run(app, ["plan", "--scenes", "4", "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


def _copy(planned, tmp_path) -> Path:
    dst = tmp_path / "ds"
    shutil.copytree(planned, dst)
    return dst


def _scene(ds: Path, k: int = 0) -> Path:
    return next(ds.glob(f"train/*/scene{k}"))


def _set_camera(scene: Path, cam: str, loc_cm, rot_deg) -> None:
    """Give ``cam`` a fixed pose on every frame in the camera JSON (scene.json unchanged)."""
    p = scene / "cameras/camera_extrinsics.json"
    data = json.loads(p.read_text())
    s = format_fmatrix(unreal_pose_to_fmatrix(np.asarray(loc_cm, float), np.asarray(rot_deg, float)))
    for frame in data.values():
        frame[cam] = s
    p.write_text(json.dumps(data, indent=4))


def test_planned_dataset_is_valid_with_jobs(planned):
    r = run(app, ["validate", str(planned)])
    assert r.exit_code == 0, r.output
    r = run(app, ["validate", str(planned), "--jobs", "2"])
    assert r.exit_code == 0 and "valid" in r.output, r.output
    r = run(app, ["validate", str(_scene(planned))])  # one scene: the run's recipe is found above it
    assert r.exit_code == 0, r.output


def test_camera_inside_character_and_far_underground_are_reported(planned, tmp_path):
    ds = _copy(planned, tmp_path)
    scene = _scene(ds)
    spec = json.loads((scene / "scene.json").read_text())
    base = np.array(spec["character"]["location_cm"], float)
    # cam03 inside the character (1 m up its axis), looking straight down; cam05 50 m away, 5 m underground
    _set_camera(scene, "cam03", base + [0, 0, 100], [-90, 0, 0])
    _set_camera(scene, "cam05", base + [5000, 0, -500], [0, 180, 0])
    r = run(app, ["validate", str(ds)])
    assert r.exit_code == 1
    t = _text(r)
    cj = str(scene / "cameras/camera_extrinsics.json")
    assert cj in t
    assert "cam03 frame0: start 0.000 m from the character; expected > 0.5 m" in t
    assert "cam03 frame0: start pitch -90.00 deg; expected |pitch| <= 45" in t
    assert "cam03 frame0: pitch -90.00 deg; expected |pitch| <= 80 (constraints.max_abs_pitch_deg)" in t
    assert "cam05 frame0: start 50.249 m from the hemisphere centre; expected <= the hemisphere radius" in t
    assert "cam05 frame0: start 5.000 m below the ground" in t
    assert "cam05 frame0: aimed +0.00 deg (yaw), -6." in t and "expected within start.aim_jitter_deg 5" in t
    assert "cam05 frame0: location" in t and "outside the free space" in t
    assert "cam05 frame0: height" in t and "constraints.min_camera_height_m" in t
    # the other scenes and cameras stay clean
    assert "cam01" not in t and "scene1" not in t


def test_family_speed_lens_and_settings_rules(planned, tmp_path):
    ds = _copy(planned, tmp_path)
    scene = _scene(ds)
    p = scene / "scene.json"
    spec = json.loads(p.read_text())
    cams = spec["cameras"]
    by_family = {}
    for name, c in cams.items():
        by_family.setdefault(c["trajectory"], name)
    fam_cam = by_family.get("pan") or by_family.get("arc") or by_family.get("tilt")
    cams[fam_cam]["params"]["angle_deg"] = 170.0
    eased = next((n for n, c in cams.items() if c["speed"]["profile"] == "eased"), "cam02")
    cams[eased]["speed"] = {"profile": "eased", "a": -20.0}
    cams["cam04"]["trajectory"] = "teleport"
    spec["lens"]["sensor_mm"] = 36.0
    spec["environment"]["hemisphere_radius_m"] = 4.0
    spec["video"]["fps"] = 30
    p.write_text(json.dumps(spec, indent=1))
    r = run(app, ["validate", str(ds)])
    assert r.exit_code == 1
    t = _text(r)
    # the family's own check (registry) names the parameter and its configured range
    assert f"cameras.{fam_cam}.params.angle_deg" in t and "170 outside the configured [" in t
    assert f"cameras.{eased}.speed.a (|a|): 20 outside the configured [0.5, 5]" in t
    assert "cameras.cam04.trajectory: unknown family 'teleport'" in t
    assert "lens.sensor_mm: 36; expected 23.76" in t
    assert "environment.hemisphere_radius_m: 4; expected one of [3.0, 5.0, 7.0, 10.0]" in t
    assert "video: " in t and "'fps': 30" in t
    assert str(p) in t


def test_lens_outside_presets_and_config_digest(planned, tmp_path):
    ds = _copy(planned, tmp_path)
    scene = _scene(ds)
    p = scene / "scene.json"
    spec = json.loads(p.read_text())
    spec["config_digest"] = "0123456789abcdef"
    p.write_text(json.dumps(spec))
    lens_dir = scene.parent
    spec["lens"]["focal_length_mm"] = 85
    odd = lens_dir.parent / "f85_aperture10" / scene.name
    shutil.move(str(scene), str(odd))
    (odd / "scene.json").write_text(json.dumps(spec))
    r = run(app, ["validate", str(ds)])
    t = _text(r)
    assert r.exit_code == 1
    assert "lens: f85 aperture 10 is not a configured preset" in t
    assert "config_digest: '0123456789abcdef'; expected" in t
    # a config given on the command line replaces the run's: its own digest is expected
    cfg = yaml.safe_load(default_config_path().read_text())
    cfg["lenses"].append({"focal_length_mm": 85, "aperture_f": 10})
    cp = tmp_path / "c.yaml"
    cp.write_text(yaml.safe_dump(cfg))
    r = run(app, ["validate", str(ds), "--config", str(cp)])
    assert r.exit_code == 1 and "not a configured preset" not in _text(r)


@pytest.mark.parametrize("bad,found", [
    ("[1, 0, 0, 0] [0 1 0 0] [0 0 1 0] [0 0 0 1] ", "a comma"),
    ("[1 0 0 0]\t[0 1 0 0] [0 0 1 0] [0 0 0 1] ", "a tab"),
    ("[1 0 0 0]  [0 1 0 0] [0 0 1 0] [0 0 0 1] ", "a double space"),
    ("[1 0 0 0] [0 1 0 0] [0 0 1 0] [0 0 0 1]", "no space after the last ']'"),
    ("[1 0 0 0] [0 1 0 0] [0 0 +1 0] [0 0 0 1] ", "'[0 0 +1 0] [' at character 20"),
])
def test_exact_fmatrix_grammar(planned, tmp_path, bad, found):
    ds = _copy(planned, tmp_path)
    p = _scene(ds, 1) / "cameras/camera_extrinsics.json"
    data = json.loads(p.read_text())
    data["frame3"]["cam02"] = bad
    p.write_text(json.dumps(data))
    r = run(app, ["validate", str(ds)])
    t = _text(r)
    assert r.exit_code == 1 and f"{p}: frame3 cam02: expected exactly '[%g %g %g %g] ' four times" in t
    assert f"found {found}" in t
    assert "[0 0 0 1]" in r.output  # rich markup did not eat the bracketed text
    # the tolerant reader (recam, plot) still reads it
    read_camera_array(p, strict=False)


def test_official_layout_format_rules_only(tmp_path, example):
    """Without scene.json (official MultiCamVideo) only the format rules apply: a camera far underground passes
    the recipe (there is none), a malformed matrix does not."""
    scene = tmp_path / "MC/train/f24_aperture5/scene1"
    (scene / "cameras").mkdir(parents=True)
    src = json.loads((example / "cameras/camera_extrinsics.json").read_text())
    s = format_fmatrix(unreal_pose_to_fmatrix(np.array([0.0, 0.0, -5000.0]), np.array([-89.0, 0.0, 0.0])))
    for f in src.values():
        f["cam03"] = s
    (scene / "cameras/camera_extrinsics.json").write_text(json.dumps(src, indent=4))
    r = run(app, ["validate", str(tmp_path / "MC")])
    assert r.exit_code == 0, r.output
    src["frame7"]["cam03"] = "[0 0 0 0] [0 0 0 0] [0 0 0 0] [0 0 0 1] "
    (scene / "cameras/camera_extrinsics.json").write_text(json.dumps(src, indent=4))
    r = run(app, ["validate", str(tmp_path / "MC")])
    assert r.exit_code == 1 and "cam03: axes not orthonormal on frame7" in _text(r)


def _small_cfg(tmp_path) -> Path:
    cfg = yaml.safe_load(default_config_path().read_text())
    cfg["video"] = {"frames": 9, "fps": 15, "width": 64, "height": 64}
    p = tmp_path / "small.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def test_decode_finds_garbled_frames(tmp_path):
    out = tmp_path / "ds"
    r = run(app, ["plan", "--scenes", "1", "--out", str(out), "--config", str(_small_cfg(tmp_path))])
    assert r.exit_code == 0, r.output
    scene = _scene(out)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(9)]
    for j in range(1, 11):
        write_video(scene / f"videos/cam{j:02d}.mp4", frames, 15)
    r = run(app, ["validate", str(out), "--decode"])
    assert r.exit_code == 0, r.output
    bad = scene / "videos/cam04.mp4"
    b = bytearray(bad.read_bytes())
    mid = len(b) // 2
    b[mid:mid + 64] = bytes(x ^ 0xFF for x in b[mid:mid + 64])
    bad.write_bytes(bytes(b))
    r = run(app, ["validate", str(out)])  # demuxing alone does not see it
    assert r.exit_code == 0, r.output
    r = run(app, ["validate", str(out), "--decode"])
    t = _text(r)
    assert r.exit_code == 1 and f"{bad}: frame" in t and "garbled" in t


def test_exit_codes_for_bad_input(tmp_path):
    r = run(app, ["validate", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "does not exist" in r.output
    f = tmp_path / "file.txt"
    f.write_text("x")
    r = run(app, ["validate", str(f)])
    assert r.exit_code == 2 and "is a file" in r.output
    (tmp_path / "ds").mkdir()
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nvideo: {frames: many}\n")
    r = run(app, ["validate", str(tmp_path / "ds"), "--config", str(bad)])
    assert r.exit_code == 2 and str(bad) in _text(r) and "video.frames" in r.output
    r = run(app, ["validate", str(tmp_path / "ds")])  # an empty folder is a dataset that fails its checks
    assert r.exit_code == 1 and "missing: expected train/" in _text(r)


# ------------------------------------------------------------------------------------------------------------------
# The batched camera parser: bit-identical to the per-matrix one, same errors.
# ------------------------------------------------------------------------------------------------------------------

def test_batched_parser_equals_per_matrix(planned, example):
    for p in [example / "cameras/camera_extrinsics.json", *planned.glob("train/*/scene*/cameras/*.json")]:
        data = json.loads(p.read_text())
        names, arr = read_camera_array(p, strict=True)
        ref = np.stack([[parse_fmatrix(data[f"frame{f}"][c]) for f in range(len(data))] for c in names])
        assert arr.tobytes() == ref.tobytes()


@pytest.mark.parametrize("bad", [
    "[1 0 0 0] [0 1 0 0] [0 0 1 0]", "[1 0 0] [0 1 0] [0 0 1] [0 0 0] ", "[1 0 0 0] [0 1 0 0] [0 0 1 0] [0 0 0 1] x",
    "[1 0 0 0] [0 1 0 0] [0 0 1 0] [0 0 0 1] [", "[a 0 0 0] [0 1 0 0] [0 0 1 0] [0 0 0 1] ", 42, None,
    "[1 0 0 0] [0 1 0 0] [0 0 1.2.3 0] [0 0 0 1] ", "",
])
def test_batched_parser_same_error_as_per_matrix(tmp_path, bad):
    good = "[1 0 0 0] [-0 1 0 0] [0 -0 1 0] [3390 1380 240 1] "
    data = {f"frame{f}": {f"cam{c:02d}": good for c in (1, 2)} for f in range(3)}
    data["frame2"]["cam02"] = bad
    p = tmp_path / "camera_extrinsics.json"
    p.write_text(json.dumps(data))
    for strict, parse in ((True, parse_fmatrix_strict), (False, parse_fmatrix)):
        try:
            parse(bad)
        except FMatrixParseError as e:
            want = f"{p}: frame2 cam02: {e}"
        else:
            continue
        with pytest.raises(DatasetFormatError) as err:
            read_camera_array(p, strict=strict)
        assert str(err.value) == want


_num = st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=64).map(lambda x: "%g" % x),
                 st.sampled_from(["1.0", "1.", ".5", "+1", "1e5", "1E+05", "1e+5", "01", "-", "nan", "inf", "1,0",
                                  "1.2.3", "e+05", "--1", "1-2", "0x10", "1_0", "\u0661"]))
_sep = st.sampled_from([" ", " ", " ", " ", "  ", "\t", ",", ""])


@st.composite
def _matrix_strings(draw):
    rows = []
    for _ in range(draw(st.integers(3, 5))):
        nums = [draw(_num) for _ in range(draw(st.integers(3, 5)))]
        rows.append("[" + draw(_sep).join(nums) + "]" + draw(st.sampled_from([" ", " ", "", "  ", "\n"])))
    return draw(st.sampled_from(["", " "])) + "".join(rows)


@settings(max_examples=300, deadline=None)
@given(_matrix_strings())
def test_fuzz_camera_strings(text):
    """The strict parser accepts exactly the %g grammar; the batched path agrees with it bit for bit (or defers to
    it); the tolerant parser raises only FMatrixParseError."""
    from synth.core.multicam_format import _batch_numbers

    strict_ok = strict_fmatrix_problem(text) is None
    batch = _batch_numbers([text])
    if batch is not None:
        assert strict_ok
        assert batch.reshape(4, 4).tobytes() == parse_fmatrix_strict(text).tobytes()
    elif strict_ok:
        assert "inf" in text or "nan" in text  # the batch path leaves non-finite numbers to the slow path
    try:
        m = parse_fmatrix_strict(text)
        assert strict_ok and m.shape == (4, 4)
        assert m.tobytes() == parse_fmatrix(text).tobytes()  # the tolerant parser reads what the strict one does
    except FMatrixParseError:
        assert not strict_ok
    try:
        parse_fmatrix(text)
    except FMatrixParseError:
        pass


def test_roll_rule(tmp_path):
    """A handheld-roll dataset is valid under its own recipe; checked against the no-roll recipe, every rolled camera
    is reported with its roll and the configured range."""
    cfg = yaml.safe_load(default_config_path().read_text())
    cfg["framing"]["roll"] = "handheld"
    hand = tmp_path / "handheld.yaml"
    hand.write_text(yaml.safe_dump(cfg))
    ds = tmp_path / "ds"
    runner = CliRunner()
    assert runner.invoke(app, ["plan", "--scenes", "2", "--config", str(hand), "--out", str(ds)]).exit_code == 0
    r = runner.invoke(app, ["validate", str(ds)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["validate", str(ds), "--config", str(default_config_path())])
    text = " ".join(r.output.split())
    assert r.exit_code == 1 and text.count("expected |roll| in [0, 0] (framing.roll none)") == 20, text[-2000:]
