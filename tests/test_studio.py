"""``recam studio`` without a browser: keyframes -> YAML moves -> ``recam infer``'s loader (round trip), presets as
keyframes, edits, warnings, the preview's geometry, the source from pose estimation, bad input, the run button."""

from __future__ import annotations

import socket

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.spatial.transform import Rotation
from typer.testing import CliRunner

from recam.cameras import PRESET_NAMES, load_trajectory, trajectory_from_moves
from recam.cli import app as recam_app
from recam.studio.app import StudioState, look_at_c2w
from recam.studio.keyframes import Keyframe, moves_from_keyframes, preset_relative
from recam.studio.preview import splat_view, trajectory_warnings
from recam.studio.source import default_intrinsics, load_source, studio_num_frames
from synth.core.projection import project_points
from synth.core.video_io import write_video
from studio_scene import synthetic_source

run = CliRunner().invoke


def pose(angles_deg, t) -> np.ndarray:
    c = np.eye(4)
    c[:3, :3] = Rotation.from_euler("YXZ", angles_deg, degrees=True).as_matrix()
    c[:3, 3] = t
    return c


poses = st.builds(pose, st.lists(st.floats(-80, 80), min_size=3, max_size=3),
                  st.lists(st.floats(-3, 3), min_size=3, max_size=3))


@settings(max_examples=40, deadline=None)
@given(n=st.sampled_from([9, 17, 81]), data=st.data())
def test_export_then_infer_loader_gives_the_same_poses_and_hits_every_keyframe(tmp_path_factory, n, data):
    frames = data.draw(st.lists(st.integers(1, n - 1), min_size=1, max_size=5, unique=True))
    eased = data.draw(st.lists(st.booleans(), min_size=len(frames), max_size=len(frames)))
    state = StudioState(n)
    for f, e in zip(frames, eased):
        i = state.add(f, data.draw(poses))
        if e:
            state.set_speed(i, "eased", 3.0)
    path = state.export(tmp_path_factory.mktemp("exp") / "t.yaml")
    loaded = load_trajectory(path, n)  # what recam infer --trajectory reads
    np.testing.assert_allclose(loaded, state.trajectory(), atol=1e-6)
    for k in state.keyframes:
        np.testing.assert_allclose(loaded[k.frame], k.c2w, atol=1e-6)
    np.testing.assert_allclose(loaded[0], np.eye(4), atol=1e-12)  # the source camera
    last = max(frames)
    np.testing.assert_allclose(loaded[last:], np.repeat(loaded[last][None], n - last, 0), atol=1e-9)  # holds


def test_interpolation_is_trajectory_from_moves():
    """Between keyframes the path is one segment of the YAML moves, e.g. a pure pan keyframe = ``{pan: 30}``."""
    state = StudioState(17)
    state.add(16, pose([30, 0, 0], [0, 0, 0]))
    np.testing.assert_allclose(state.trajectory(), trajectory_from_moves({"segments": [{"pan": 30}]}, 17),
                               atol=1e-12)
    state.set_speed(1, "eased", 2.0)
    np.testing.assert_allclose(state.trajectory(), trajectory_from_moves(
        {"segments": [{"pan": 30, "speed": {"profile": "eased", "a": 2.0}}]}, 17), atol=1e-12)


@pytest.mark.parametrize("cam_type", list(PRESET_NAMES))
def test_starting_from_a_preset_follows_it(cam_type):
    state = StudioState(81)
    state.start_from_preset(cam_type)
    err = np.abs(state.trajectory() - preset_relative(cam_type, 81))[:, :3, 3].max()
    assert err < (1e-9 if cam_type <= 6 else 2e-3), err  # look-at presets: straight lines between 5 keyframes


def test_edits_and_refusals():
    state = StudioState(17)
    with pytest.raises(ValueError, match="frame 0"):
        state.add(0)
    i = state.add(8)  # default: where the path is (the source camera)
    np.testing.assert_allclose(state.keyframes[i].c2w, np.eye(4))
    state.move(i, pose([0, 0, 0], [1, 0, 0]))
    assert state.add(8) == i and state.frames() == [0, 8]
    np.testing.assert_allclose(state.trajectory()[4, :3, 3], [0.5, 0, 0], atol=1e-12)
    state.retime(i, 12)
    assert state.frames() == [0, 12]
    with pytest.raises(ValueError):
        state.move(0, np.eye(4))
    with pytest.raises(ValueError):
        state.delete(0)
    state.delete(1)
    assert state.frames() == [0] and np.allclose(state.trajectory(), np.eye(4))
    with pytest.raises(ValueError, match="identity"):
        moves_from_keyframes([Keyframe(0, pose([5, 0, 0], [0, 0, 0]))], 9)


def test_look_at_points_the_optical_axis_at_the_target():
    c = look_at_c2w([1.0, -0.5, 0.0], [0.0, 0.0, 4.0])
    uv, z = project_points(default_intrinsics(64, 48), c, np.array([[0.0, 0.0, 4.0]]))
    np.testing.assert_allclose(uv[0], [32, 24], atol=1e-9)
    assert z[0] > 0 and c[:3, 1] @ [0, -1, 0] < 0  # upright: camera y (down) points down


def test_splat_view_draws_a_known_point_where_it_projects():
    K = default_intrinsics(64, 48)
    pts = np.array([[0.5, -0.25, 4.0], [1.0, -0.5, 8.0]])  # on one ray: the near red point hides the far green one
    img = splat_view(pts, np.array([[255, 0, 0], [0, 255, 0]], np.uint8), K, np.eye(4), 64, 48, size=1)
    u, v = (K[:2, :2] @ (pts[0, :2] / 4.0) + K[:2, 2]).astype(int)
    assert tuple(img[v, u]) == (255, 0, 0)
    assert (img == [0, 255, 0]).all(-1).sum() == 0 and (img == [255, 0, 0]).all(-1).sum() == 1


def test_warnings_upside_down_and_leaving_the_region():
    src = synthetic_source()
    pts, cams = src.points_metric(), src.c2w_metric()
    ok = StudioState(17)
    ok.add(16, pose([20, 0, 0], [0.5, 0, 0.5]))
    assert trajectory_warnings(ok.trajectory(), pts, cams) == []
    flip = StudioState(17)
    flip.add(16, pose([0, 0, 180], [0, 0, 0]))
    w = trajectory_warnings(flip.trajectory(), pts, cams)
    assert len(w) == 1 and "upside down at frames 9-16" in w[0]
    away = StudioState(17)
    away.add(16, pose([0, 0, 0], [0, 0, -30]))
    w = trajectory_warnings(away.trajectory(), pts, cams)
    assert len(w) == 1 and "leaves the reconstructed region" in w[0] and "16" in w[0]


def test_num_frames_is_4k_plus_1_within_the_video():
    assert [studio_num_frames(v, 81) for v in (5, 20, 81, 102)] == [5, 17, 81, 81]


def test_a_video_without_poses_opens_with_an_identity_source(tmp_path):
    video = tmp_path / "grey.mp4"
    write_video(video, [np.full((48, 64, 3), 128, np.uint8)] * 9, 15)
    src = load_source(video, num_frames=9, stride=4, max_size=64)
    assert src.status == "not_estimable" and "no point cloud" in src.message
    assert len(src.points) == 0 and np.allclose(src.c2w, np.eye(4)) and src.num_frames == 9


def test_cli_bad_input_exit_2(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    r = run(recam_app, ["studio", str(tmp_path / "missing.mp4"), "--port", str(free)])
    assert r.exit_code == 2 and "missing.mp4" in r.output and "no such video" in r.output, r.output
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run(recam_app, ["studio", str(tmp_path / "missing.mp4"), "--port", str(port)])
    assert r.exit_code == 2 and f"--port {port}" in r.output and "in use" in r.output, r.output
    r = run(recam_app, ["studio", "x.mp4", "--scale", "2", "--metric-scale", "m.json"])
    assert r.exit_code == 2 and "not both" in r.output
    bad = tmp_path / "metric_scale.json"
    bad.write_text('{"scale": -1}')
    from recam.studio.source import read_metric_scale
    from synth.core.run_errors import UserError
    with pytest.raises(UserError, match="metric_scale.json: field 'scale'"):
        read_metric_scale(bad)


@pytest.mark.slow
def test_source_from_pose_estimation_is_the_filmed_scene(tmp_path):
    """A video of known points filmed by a camera trucking 1 m right: COLMAP's path and points, scaled by the path,
    land on the true path and the true points."""
    room = synthetic_source(17, 1, (64, 48))
    w, h, n = 256, 192, 33
    K = default_intrinsics(w, h, 60.0)
    c2w = np.repeat(np.eye(4)[None], n, 0)
    c2w[:, 0, 3] = np.linspace(0, 1.0, n)
    video = tmp_path / "truck.mp4"
    write_video(video, [splat_view(room.points, room.colors, K, c, w, h, size=3) for c in c2w], 15, crf=12)
    src = load_source(video, num_frames=33, stride=4, max_size=256, hfov_deg=60.0)
    assert src.status == "ok" and len(src.points) > 100, src.message
    s = 1.0 / src.c2w[-1, 0, 3]  # metres per SfM unit from the true last position
    np.testing.assert_allclose(src.c2w[:, :3, 3] * s, c2w[src.frame_indices, :3, 3], atol=0.05)
    from scipy.spatial import cKDTree
    p = src.points * s
    d, _ = cKDTree(room.points).query(p)
    rel = d / np.linalg.norm(p, axis=1)  # triangulation error grows with depth (1 m baseline, points 1-8 m away)
    assert np.median(rel) < 0.05, np.median(rel)
    shuffled, _ = cKDTree(room.points).query(p[:, [2, 1, 0]])  # the check can fail: wrong axes are far off
    assert np.median(shuffled / np.linalg.norm(p, axis=1)) > 3 * np.median(rel)


@pytest.mark.slow
def test_run_button_runs_an_exported_trajectory_through_recam_infer(tmp_path):
    """The studio's export runs through ``recam infer`` (tiny model, CPU) and the result is shown."""
    import viser

    from recam.studio.app import RecamStudio
    from recam.studio.infer_job import RunConfig, result_paths
    from synth.core.video_io import probe_video

    model = tmp_path / "tiny"
    assert run(recam_app, ["init-tiny", str(model)]).exit_code == 0
    src = synthetic_source(9, 4, (64, 48))
    video = tmp_path / "clip.mp4"
    write_video(video, [src.frames[0]] * 5 + [src.frames[-1]] * 4, 15)
    cfg = RunConfig(model, model / "recammaster_tiny.ckpt", 32, 48, 1, "cpu", tmp_path / "results")
    server = viser.ViserServer(host="127.0.0.1", port=0, verbose=False)
    try:
        studio = RecamStudio(server, src, video, tmp_path, cfg)
        studio.state.add(8, pose([10, 0, 0], [0.3, 0, 0]))
        path = studio.export_from_gui()
        proc = studio.run_and_show(path, "a room")
        assert proc.returncode == 0, proc.stdout
        assert probe_video(result_paths(cfg, video, path)[0]).frames == 9
        assert studio.result_frames is not None and studio.result_frames.shape[1:3] == src.frames.shape[1:3]
        assert "result in" in studio.gui_status.content
    finally:
        server.stop()


def test_service_prints_the_url_and_why_there_is_no_point_cloud(tmp_path):
    from recam.studio.run import run as run_studio
    from recam.studio.settings import StudioSettings

    video = tmp_path / "grey.mp4"
    write_video(video, [np.full((48, 64, 3), 90, np.uint8)] * 9, 15)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lines = []
    run_studio(StudioSettings(video=video, port=port, out=tmp_path / "out", num_frames=9, max_size=64),
               log=lines.append, until=lambda: True)
    text = "\n".join(lines)
    assert f"http://127.0.0.1:{port}" in text and "not_estimable" in text and "no point cloud" in text, text
    assert (tmp_path / "out").is_dir()


def test_gui_handlers_edit_the_design_and_refuse_with_a_message(tmp_path):
    import viser

    from recam.studio.app import RecamStudio

    server = viser.ViserServer(host="127.0.0.1", port=0, verbose=False)
    try:
        studio = RecamStudio(server, synthetic_source(), tmp_path / "clip.mp4", tmp_path)
        studio._guarded(studio._add)  # at frame 0: refused, the design is kept
        assert "refused" in studio.gui_status.content and studio.state.frames() == [0]
        studio.gui_frame.value = 8
        studio._guarded(studio._add)
        studio.gui_pos.value, studio.gui_lookat.value = (0.5, 0.0, 0.0), (0.5, 0.0, 4.0)
        studio._guarded(studio._apply_lookat)
        np.testing.assert_allclose(studio.state.trajectory()[8], look_at_c2w([0.5, 0, 0], [0.5, 0, 4]), atol=1e-9)
        studio.gui_frame.value = 12
        studio._guarded(studio._retime)
        studio.gui_speed.value = "eased"
        assert studio.state.frames() == [0, 12] and studio.state.keyframes[1].speed["profile"] == "eased"
        studio.gui_preset.value = "5: Zoom In"
        studio._guarded(studio._load_preset)
        np.testing.assert_allclose(studio.state.trajectory(), preset_relative(5, 17), atol=1e-9)
        studio.gui_name.value = "../escape.yaml"  # the path policy: exports stay inside --out
        studio._guarded(studio.export_from_gui)
        assert not (tmp_path.parent / "escape.yaml").exists()
        studio._guarded(studio._delete)
        assert studio.state.frames() == [0, 4, 8, 12]
        assert studio.preview(16).shape == (64, 96, 3)
    finally:
        server.stop()
