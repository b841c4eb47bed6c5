"""``synth studio``: scenes read for drawing (cameras in the right-handed world, character, check status per
camera from synth validate and synth verify's CSV), and bad input."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from synth.cli import app as synth_app
from synth.core.poses import Poses
from synth.core.video_io import write_video
from synth.studio.scenes import list_scenes, load_scene_view, read_verify_csv

run = CliRunner().invoke


@pytest.fixture(scope="module")
def planned(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("plan") / "ds"
    r = run(synth_app, ["plan", "--scenes", "1", "--out", str(root)])
    assert r.exit_code == 0, r.output
    return root


def test_scene_view_cameras_character_and_statuses(planned, tmp_path):
    scene = list_scenes(planned)[0]
    name = f"{scene.parent.name}/{scene.name}"
    v = load_scene_view(planned, scene)
    assert set(v.status.values()) == {"ok"} and len(v.cameras) == 10
    c = v.cameras["cam01"]
    Poses.from_c2w(c)  # proper rotations: a right-handed world
    # each camera looks at the character at its first frame (the recipe aims at the torso): the character's base
    # projects below the image centre, inside the frame
    from synth.core.intrinsics import intrinsics_from_lens
    from synth.core.units import SENSOR_MM
    K = intrinsics_from_lens(float(scene.parent.name[1:].split("_")[0]), SENSOR_MM, 1280, 1280)
    uv, z = Poses.from_c2w(c[:1]).project(K, v.character[None] + [0, 0, 0.9])
    assert z[0] > 0 and np.all((uv[0] > 0) & (uv[0] < 1280)), uv
    # synth verify's CSV colours cameras; validate problems name one camera
    csv = tmp_path / "verify.csv"
    csv.write_text(f"scene,camera,flagged,reasons\n{name},cam03,True,rotation\n{name},cam02,False,\n")
    vdir = scene / "videos"
    vdir.mkdir()
    try:
        write_video(vdir / "cam01.mp4", [np.full((64, 64, 3), 100, np.uint8)] * 9, 15)
        v = load_scene_view(planned, scene, read_verify_csv(csv))
    finally:
        (vdir / "cam01.mp4").unlink()
        vdir.rmdir()
    assert v.status["cam03"] == "flagged" and "rotation" in v.notes["cam03"][-1]
    assert v.status["cam01"] == "invalid" and any("64x64" in n for n in v.notes["cam01"])
    assert v.status["cam04"] == "invalid"  # cam04's video is missing once the videos folder exists
    assert read_verify_csv(tmp_path / "absent.csv") == {}


def test_synth_studio_bad_input_exit_2(planned, tmp_path):
    r = run(synth_app, ["studio", str(tmp_path / "empty")])
    assert r.exit_code == 2 and "no scene folders" in r.output, r.output
    r = run(synth_app, ["studio", str(planned), "--verify-csv", str(tmp_path / "nope.csv")])
    assert r.exit_code == 2 and "nope.csv" in r.output, r.output
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run(synth_app, ["studio", str(planned), "--port", str(port)])
    assert r.exit_code == 2 and f"--port {port}" in r.output and "in use" in r.output, r.output
