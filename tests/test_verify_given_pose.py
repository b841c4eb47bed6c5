"""Given-pose verification (issue 27): the residual geometry on projected known points, and ``synth verify`` on small
renders -- correct scenes of every trajectory family pass, each of the 8 tamper kinds is caught."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from synth.core.given_pose import (cheirality, depth_reprojection_px, fundamental_from_pose, relative_pose,
                                   rotation_transfer_px, sampson_px)
from synth.core.projection import project_points

K = np.array([[300.0, 0, 160], [0, 300.0, 120], [0, 0, 1]])


def _rot(axis: np.ndarray, deg: float) -> np.ndarray:
    import cv2

    a = np.asarray(axis, float)
    return cv2.Rodrigues(a / np.linalg.norm(a) * np.radians(deg))[0]


def _c2w(R, c):
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = R, c
    return m


def _scene_points(rng, n=200):
    """Points 4..12 m in front of the first camera (looking along +z)."""
    uv = rng.uniform([10, 10], [310, 230], size=(n, 2))
    z = rng.uniform(4, 12, n)
    return np.c_[(uv - K[:2, 2]) / K[0, 0] * z[:, None], z]


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.floats(2.0, 20.0), st.floats(0.3, 1.5))
def test_sampson_zero_for_written_pose_and_large_for_a_wrong_one(seed, deg, baseline):
    rng = np.random.default_rng(seed)
    X = _scene_points(rng)
    A = _c2w(np.eye(3), np.zeros(3))
    B = _c2w(_rot(rng.normal(size=3), deg), rng.normal(size=3) * baseline / np.sqrt(3) + [0, 0, 0.1])
    xa, za = project_points(K, A, X)
    xb, zb = project_points(K, B, X)
    keep = (za > 0) & (zb > 0)
    xa, xb = xa[keep], xb[keep]
    R, t = relative_pose(A, B)
    assert np.median(sampson_px(fundamental_from_pose(K, K, R, t), xa, xb)) < 1e-6
    # camera b turned by 10 degrees more about the baseline (in its own frame): every ray changes epipolar plane,
    # so matches leave their epipolar lines (a turn within the epipolar planes is what Sampson cannot see; the
    # rotation transfer and cheirality cover it)
    B_bad = B.copy()
    B_bad[:3, :3] = B[:3, :3] @ _rot(t, 10.0)
    Rb, tb = relative_pose(A, B_bad)
    assert np.median(sampson_px(fundamental_from_pose(K, K, Rb, tb), xa, xb)) > 2.0


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.02, 0.1), st.floats(5.0, 20.0))
def test_parallax_bounded_rotation_test_sees_a_yaw_error_of_a_sideways_camera(seed, step_m, err_deg):
    """A sideways dolly (x) with one frame turned about the vertical axis: the turn moves points *along* the
    (horizontal) epipolar lines, so the Sampson distance barely changes, but the rotation-transfer residual exceeds
    the parallax that the written translation can give points at the character's distance or beyond."""
    from synth.dataset.verify_given import GivenPoseThresholds, _coarse_bad

    rng = np.random.default_rng(seed)
    X = _scene_points(rng)  # 4..12 m; the "character" at 4 m, so nothing is nearer than it
    A = _c2w(np.eye(3), np.zeros(3))
    B = _c2w(np.eye(3), [step_m, 0, 0])
    xa, _ = project_points(K, A, X)
    xb, _ = project_points(K, B, X)
    th = GivenPoseThresholds()
    f = K[0, 0]
    # the stated sensitivity: a turn whose shift f tan(err) exceeds the bound plus the true parallax (at most f |t| / 4)
    bound = th.coarse_factor * f * step_m / 4 + f * th.char_step_m / 4 + th.coarse_px
    assume(f * np.tan(np.radians(err_deg)) > bound + f * step_m / 4)
    assert not _coarse_bad(K, K, A, B, xa, xb, 4.0, th)  # the written pose: parallax within the bound
    B_bad = _c2w(_rot([0, 1, 0], err_deg), [step_m, 0, 0])
    Rb, tb = relative_pose(A, B_bad)
    sampson = np.median(sampson_px(fundamental_from_pose(K, K, Rb, tb), xa, xb))
    assert _coarse_bad(K, K, A, B_bad, xa, xb, 4.0, th)
    assert _coarse_bad(K, K, B_bad, A, xb, xa, 4.0, th)  # the pair after the turned frame
    assert sampson < 0.25 * np.median(rotation_transfer_px(K, K, Rb, xa, xb))  # what Sampson alone missed


def test_rotation_transfer_checks_rotation_and_focal_length():
    rng = np.random.default_rng(0)
    X = _scene_points(rng)
    A = _c2w(np.eye(3), np.zeros(3))
    B = _c2w(_rot([0, 1, 0], 8.0), np.zeros(3))  # a pan: pure rotation
    xa, _ = project_points(K, A, X)
    xb, _ = project_points(K, B, X)
    R, _ = relative_pose(A, B)
    assert np.max(rotation_transfer_px(K, K, R, xa, xb)) < 1e-9
    K_wrong = K.copy()
    K_wrong[0, 0] = K_wrong[1, 1] = 300.0 * 35 / 24  # 24 mm written as 35 mm
    assert np.median(rotation_transfer_px(K_wrong, K_wrong, R, xa, xb)) > 5.0
    R_rev, _ = relative_pose(B, A)  # the pan reversed
    assert np.median(rotation_transfer_px(K, K, R_rev, xa, xb)) > 50.0


def test_depth_reprojection_sees_units_and_cheirality_sees_a_reversed_translation():
    rng = np.random.default_rng(1)
    X = _scene_points(rng)
    A = _c2w(np.eye(3), np.zeros(3))
    B = _c2w(_rot([0, 1, 0], 3.0), np.array([0.8, 0.0, 0.2]))
    xa, za = project_points(K, A, X)
    xb, _ = project_points(K, B, X)
    depth = np.zeros((240, 320))
    cols, rows = np.floor(xa[:, 0]).astype(int), np.floor(xa[:, 1]).astype(int)
    depth[rows, cols] = za
    centres = np.c_[cols + 0.5, rows + 0.5]  # the depth pixel's centre: sub-pixel offset within 1 px
    R, t = relative_pose(A, B)
    ok = depth_reprojection_px(K, K, R, t, depth, xa, xb)
    assert np.median(ok) < 0.5
    cm = depth_reprojection_px(K, K, R, t / 100.0, depth, centres, xb)  # metres written as cm
    assert np.median(cm) > 10.0
    front, n = cheirality(K, K, R, t, xa, xb)
    assert n > 50 and front > 0.99
    back, n2 = cheirality(K, K, R, -t, xa, xb)  # frames reversed: the translation's sign flips
    assert n2 > 50 and back < 0.01


def test_default_output_is_beside_the_dataset_and_never_inside(tmp_path):
    from synth.core.run_errors import UserError
    from synth.dataset.verify_run import VerifyRunSettings, default_out, run

    ds = tmp_path / "ds"
    ds.mkdir()
    assert default_out(ds) == tmp_path / "ds.verify"
    with pytest.raises(UserError, match="inside the dataset"):
        run(VerifyRunSettings(root=ds, out=ds / "verify"))


# ---------------------------------------------------------------------------------------------------------------
# dense depth consistency on analytic depth maps: a room (inside of a sphere) with a ball in it
# ---------------------------------------------------------------------------------------------------------------

_ROOM_R, _BALL_C, _BALL_R = 8.0, np.array([1.5, 0.8, 0.0]), 1.2  # off centre: no symmetry that hides a swap


def _depth_map(K_: np.ndarray, c2w: np.ndarray, h: int = 120, w: int = 160) -> np.ndarray:
    """Planar depth (metres) of the room (sphere of radius _ROOM_R about the origin, seen from inside) and the
    ball (_BALL_C, _BALL_R) from camera ``c2w``: nearest positive ray hit per pixel centre."""
    v, u = np.mgrid[0:h, 0:w] + 0.5
    d_cam = np.stack([(u - K_[0, 2]) / K_[0, 0], (v - K_[1, 2]) / K_[1, 1], np.ones_like(u)], -1)  # z = 1
    d = d_cam @ c2w[:3, :3].T
    o = c2w[:3, 3]

    def hit(centre, r, inside):
        oc = o - centre
        a = np.einsum("hwi,hwi->hw", d, d)
        b = 2 * d @ oc
        c = oc @ oc - r * r
        disc = np.maximum(b * b - 4 * a * c, -1)
        sq = np.sqrt(np.maximum(disc, 0))
        s = (-b + sq) / (2 * a) if inside else (-b - sq) / (2 * a)
        return np.where((disc >= 0) & (s > 0), s, np.inf)

    s = np.minimum(hit(np.zeros(3), _ROOM_R, True), hit(_BALL_C, _BALL_R, False))
    return s  # the ray parameter of a z = 1 direction is the planar depth


def _look_at(c: np.ndarray, target: np.ndarray) -> np.ndarray:
    z = target - c
    z = z / np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x = x / np.linalg.norm(x)
    return _c2w(np.stack([x, np.cross(z, x), z], 1), c)


_KS = np.array([[120.0, 0, 80], [0, 120.0, 60], [0, 0, 1]])


@settings(max_examples=10, deadline=None)
@given(st.floats(0, 360), st.floats(3.0, 5.0), st.floats(20, 120), st.floats(-0.5, 1.0), st.floats(-0.5, 0.5))
def test_dense_depth_consistency_of_written_poses_and_its_contradictions(az, dist, sep, height, aim):
    """Two cameras looking at the ball from ``sep`` degrees apart: under the true poses and intrinsics almost no
    point of one depth map is seen through by the other (silhouette aliasing only); the wrong focal length (24 vs
    35 mm) makes a large fraction free-space violations."""
    from synth.core.given_pose import depth_consistency

    def cam(deg):
        a = np.radians(deg)
        c = _BALL_C + [dist * np.cos(a), dist * np.sin(a), height]
        return _look_at(c, _BALL_C + [0, 0, aim])

    A, B = cam(az), cam(az + sep)
    da, db = _depth_map(_KS, A), _depth_map(_KS, B)
    da, db = np.where(np.isfinite(da), da, 0), np.where(np.isfinite(db), db, 0)
    ok = depth_consistency(_KS, A, da, _KS, B, db, stride=4)
    assert ok.n > 100 and ok.violation_frac <= 0.02, ok  # (hypothesis found a view with exactly 200 points)
    K35 = _KS.copy()
    K35[:2, :2] *= 35 / 24
    # (a swap is not tested here: both cameras see a sphere from the same distance, the same depth map; nor metres
    # as centimetres: two cameras moved onto one point see the ball's image move onto the wall only for large
    # separations; the renders below test both)
    wrong = {"focal": depth_consistency(K35, A, da, K35, B, db, stride=4)}
    for kind, r in wrong.items():
        assert r.n > 50 and r.violation_frac > 0.05, (kind, r)


def test_dense_photometric_ncc_high_under_the_written_pose_low_under_a_shifted_one():
    """A random texture on the room's wall seen by two cameras: the textures of the points whose depths agree
    correlate (NCC > 0.9) under the written poses; camera a's pose of a later frame (turned by 3 degrees) does
    not explain them (NCC < 0.5), although the room's depths still agree: the timing test's signal."""
    from synth.core.given_pose import depth_consistency

    rng = np.random.default_rng(1)
    lut = rng.random(4096)

    def tex(K_, c2w, depth):
        h, w = depth.shape
        v, u = np.mgrid[0:h, 0:w] + 0.5
        X = np.stack([(u - K_[0, 2]) / K_[0, 0], (v - K_[1, 2]) / K_[1, 1], np.ones_like(u)], -1) * depth[..., None]
        P = X @ c2w[:3, :3].T + c2w[:3, 3]
        cell = np.floor(P * 4).astype(int)  # 25 cm cells of a 3D checker of random grey values
        return lut[(cell[..., 0] * 73856093 ^ cell[..., 1] * 19349663 ^ cell[..., 2] * 83492791) % 4096]

    A = _look_at(np.array([0.0, -2.0, 0.5]), np.array([3.0, 4.0, 0.5]))
    B = _look_at(np.array([1.0, -2.5, 0.3]), np.array([3.0, 4.0, 0.6]))
    Kb = np.array([[240.0, 0, 160], [0, 240.0, 120], [0, 0, 1]])
    da, db = _depth_map(Kb, A, 240, 320), _depth_map(Kb, B, 240, 320)
    ta, tb = tex(Kb, A, da), tex(Kb, B, db)
    ok = depth_consistency(Kb, A, da, Kb, B, db, stride=4, tex_a=ta, tex_b=tb)
    A_late = A.copy()
    A_late[:3, :3] = A[:3, :3] @ _rot([0, 1, 0], 3.0)
    late = depth_consistency(Kb, A_late, da, Kb, B, db, stride=4, tex_a=ta, tex_b=tb)
    assert ok.ncc > 0.9 and ok.violation_frac < 0.01, ok
    assert late.agree_n > 200 and late.ncc < 0.5, late


# ---------------------------------------------------------------------------------------------------------------
# small renders: correct scenes pass, tampered files are caught
# ---------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    """Scenes 0 and 1 of seed 0 (between them every trajectory family) at 320x192, 17 frames, draft, with depth."""
    from typer.testing import CliRunner

    from synth.cli import app

    root = tmp_path_factory.mktemp("vg") / "ds"
    r = CliRunner().invoke(app, ["render", "--scenes", "2", "--width", "320", "--height", "192", "--frames", "17",
                                 "--quality", "draft", "--depth", "--out", str(root)])
    assert r.exit_code == 0, r.output
    return root


def _scenes(root: Path):
    from synth.core.multicam_format import iter_scene_dirs

    return sorted(iter_scene_dirs(root), key=lambda p: p.name)


@pytest.fixture(scope="module")
def measured(rendered):
    """Measurements (tracks, matches) of each scene: the pixels, judged below against tampered files."""
    from synth.core.video_io import read_video
    from synth.dataset.verify_given import measure_scene

    out = {}
    for sd in _scenes(rendered):
        cams = sorted(p.stem for p in (sd / "videos").glob("cam*.mp4"))
        out[sd] = measure_scene(lambda c: read_video(sd / "videos" / f"{c}.mp4")[0], cams, sd / "depth")
    return out


def _judge(scene_dir: Path, files_dir: Path, meas, drop_depth: bool = False):
    from synth.dataset.verify import character_box, scene_geometry, stated_distances
    from synth.dataset.verify_given import SceneMeasurements, judge_scene

    spec, c2w, Kf, target = scene_geometry(files_dir, 320, 192)
    if drop_depth:
        meas = SceneMeasurements(meas.frames, meas.tracks, meas.cross, None, meas.seconds)
    return judge_scene(meas, c2w, Kf, target, stated_distance_m=stated_distances(spec),
                       character=character_box(spec))


@pytest.mark.slow
def test_correct_renders_of_every_family_pass(rendered, measured):
    fams, tested = set(), 0
    for sd, meas in measured.items():
        res = _judge(sd, sd, meas)
        import json

        fams |= {v["trajectory"] for v in json.loads((sd / "scene.json").read_text())["cameras"].values()}
        flagged = {c: r.reasons for c, r in res.items() if r.flagged}
        assert not flagged, (sd, flagged)
        # the check did test something: of at most 20 frame pairs per camera (17 frames), scene 0 measures 136 and
        # scene 1 (low-contrast draft grass; 114 before this wave's look changes: shoes, hair, the sunrise sky's
        # repaired sun) 86
        assert sum(r.pairs for r in res.values()) > 60
        tested += sum(r.pairs for r in res.values())
    assert tested > 200
    assert fams == {"pan", "tilt", "translate", "arc", "random", "static"}


def _copy_files(sd: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    shutil.copytree(sd / "cameras", dst / "cameras")
    shutil.copy(sd / "scene.json", dst / "scene.json")
    return dst


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["reversed", "yaw_mirrored", "metres_as_cm", "shift4", "swap", "other_scene",
                                  "rot10", "focal"])
def test_each_tamper_is_caught(rendered, measured, tmp_path, kind):
    from synth.dataset.verify_tampers import apply_tamper

    s0, s1 = _scenes(rendered)
    # scene 0: cam03 follows a random path, cam06 an arc (both move, so every tamper changes what they state)
    files = _copy_files(s0, tmp_path / "files")
    targets = apply_tamper(kind, files, "cam03", other="cam06", other_scene=s1)
    res = _judge(s0, files, measured[s0], drop_depth=True)  # pixels only: no depth maps
    if kind in ("focal", "metres_as_cm"):
        # a property of the whole scene: observable on the cameras that rotate (focal length) or translate / sit
        # away from the character (units); the scene must fail, so `synth verify` exits 1
        assert sum(r.flagged for r in res.values()) >= 2, {c: r.reasons for c, r in res.items()}
        return
    missed = [c for c in targets if not res[c].flagged]
    assert not missed, {c: (res[c].bad_pairs, res[c].cross_bad, res[c].cross_pairs) for c in missed}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["reversed", "yaw_mirrored", "metres_as_cm", "shift4", "swap", "other_scene",
                                  "rot10", "focal"])
def test_each_tamper_is_caught_on_every_target_with_depth_maps(rendered, measured, tmp_path, kind):
    """With the rendered depth maps every camera whose written geometry a tamper changed is flagged (the wrong focal
    length and metres as centimetres on all 10 cameras, static ones included), and the dense depth test alone
    (reason ``dense``) sees the kinds that change where a camera is or how it projects at an instant."""
    from synth.dataset.verify_tampers import apply_tamper

    s0, s1 = _scenes(rendered)
    files = _copy_files(s0, tmp_path / "files")
    targets = apply_tamper(kind, files, "cam03", other="cam06", other_scene=s1)
    res = _judge(s0, files, measured[s0])
    missed = {c: res[c].reasons for c in targets if not res[c].flagged}
    assert not missed and len(targets) == (10 if kind in ("focal", "metres_as_cm") else 2 if kind == "swap" else 1)
    if kind in ("reversed", "swap", "other_scene", "rot10", "focal"):
        assert all("dense" in res[c].reasons for c in targets), {c: res[c].reasons for c in targets}


@pytest.mark.slow
def test_wrong_focal_length_is_caught_on_every_camera_from_the_pixels_alone(rendered, measured, tmp_path):
    """Pixels only (no depth maps): the scene focal-length scan finds that another focal length explains the
    matches better than the one ``scene.json`` states, on both scenes, and flags every camera (static ones and
    sideways dollies included, which alone cannot see their focal length); on the correct files the written focal
    length is the best explanation (checked in test_correct_renders_of_every_family_pass)."""
    from synth.dataset.verify_tampers import apply_tamper

    for sd, meas in measured.items():
        files = _copy_files(sd, tmp_path / sd.name)
        targets = apply_tamper("focal", files, "cam01")
        res = _judge(sd, files, meas, drop_depth=True)
        assert len(targets) == 10 and all("focal" in res[c].reasons for c in targets), \
            {c: (res[c].reasons, res[c].focal_margin, res[c].focal_best_scale) for c in targets}
        correct = _judge(sd, sd, meas, drop_depth=True)
        assert all(r.focal_best_scale == 1.0 for r in correct.values()), {c: r.focal_margin for c, r in correct.items()}


@pytest.mark.slow
def test_synth_verify_command_writes_beside_the_dataset_and_flags_a_tamper(rendered, tmp_path):
    from typer.testing import CliRunner

    from synth.cli import app
    from synth.dataset.verify_tampers import apply_tamper

    s0, _ = _scenes(rendered)
    scene = tmp_path / "scene0"
    shutil.copytree(s0, scene, ignore=shutil.ignore_patterns("depth"))
    apply_tamper("rot10", scene, "cam02")  # (correct files pass: test_correct_renders_of_every_family_pass)
    r = CliRunner().invoke(app, ["verify", str(scene)], env={"COLUMNS": "300"})
    assert r.exit_code == 1, r.output
    assert str(tmp_path / "scene0.verify") in r.output.splitlines()[0]
    assert (tmp_path / "scene0.verify" / "verify.csv").is_file() and not (scene / "verify").exists()
    flagged = [ln for ln in r.output.splitlines() if ln.startswith("flagged")]
    assert any("scene0/cam02" in ln for ln in flagged), r.output


def test_recam_given_pose_metric_follows_a_pan_and_rejects_the_reversed_one():
    """Frames of a textured plane 6 m away seen by a camera panning 0.5 deg per frame (exact homographies): the
    requested pan explains them to a fraction of a pixel, the reversed pan does not."""
    import cv2

    from recam.eval.metrics import get_metric
    from recam.eval.metrics.given_pose import given_pose_scores

    rng = np.random.default_rng(0)
    tex = cv2.GaussianBlur((rng.random((480, 640)) * 255).astype(np.uint8), (0, 0), 1.5)
    Kb = np.array([[400.0, 0, 320], [0, 400.0, 240], [0, 0, 1]])
    n = 9
    c2w = np.stack([_c2w(_rot([0, 1, 0], 0.5 * k), np.zeros(3)) for k in range(n)])
    frames = []
    for k in range(n):
        R, _ = relative_pose(c2w[0], c2w[k])
        H = Kb @ R @ np.linalg.inv(Kb)
        # continuous pixel coordinates (+0.5) -> OpenCV's integer pixel centres
        S = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
        g = cv2.warpPerspective(tex, np.linalg.inv(S) @ H @ S, (640, 480), flags=cv2.INTER_CUBIC)
        frames.append(np.repeat(g[..., None], 3, axis=2))
    frames = np.stack(frames)
    good = given_pose_scores(frames, Kb, c2w)
    bad = given_pose_scores(frames, Kb, c2w[::-1].copy())
    assert good["gp_pairs"] > 5 and good["gp_median_px"] < 0.5 and good["gp_inlier_frac"] > 0.9
    assert bad["gp_median_px"] > 5.0 and bad["gp_bad_frac"] > 0.9
    assert get_metric("given_pose").columns[0].name == "gp_median_px"


@pytest.mark.slow
def test_a_rotated_frame_is_caught_by_the_parallax_bounded_test(rendered, measured, tmp_path):
    """rot10 on each camera of both scenes (every family), pixels only: the parallax-bounded rotation test (all
    matches, character included) catches the turned frame on every camera the box-cut Sampson / transfer test alone
    (``coarse_factor = inf``) caught, and on more; at this small size (320x192, 17 frames) a camera whose view has no
    trackable texture at the turned frame cannot be checked at all (reported in the message)."""
    import math

    from synth.dataset.verify import character_box, scene_geometry, stated_distances
    from synth.dataset.verify_given import GivenPoseThresholds, SceneMeasurements, judge_scene
    from synth.dataset.verify_tampers import apply_tamper

    old_th = GivenPoseThresholds(coarse_factor=math.inf)
    new, old, info = set(), set(), {}
    for sd, meas in measured.items():
        meas = SceneMeasurements(meas.frames, meas.tracks, meas.cross, None, meas.seconds)
        for cam in sorted(meas.frames):
            files = _copy_files(sd, tmp_path / f"{sd.name}_{cam}")
            apply_tamper("rot10", files, cam)
            spec, c2w, Kf, target = scene_geometry(files, 320, 192)
            kw = dict(stated_distance_m=stated_distances(spec), character=character_box(spec))
            if judge_scene(meas, c2w, Kf, target, **kw)[cam].flagged:
                new.add((sd.name, cam))
            if judge_scene(meas, c2w, Kf, target, old_th, **kw)[cam].flagged:
                old.add((sd.name, cam))
            k = len(c2w[cam]) // 2
            info[(sd.name, cam)] = {p: len(x[0]) for p, x in meas.tracks[cam].items() if k in p}
    missed = {c: info[c] for c in info if c not in new}
    assert old <= new and len(new) > len(old), (sorted(old), sorted(new))
    # of 20: 15 before this wave's look changes (shoes, hair, the sunrise sky's repaired sun), 14 after (fewer
    # tracks on scene 1's low-contrast draft grass); the cameras missed keep too few tracks outside the character's
    # box at the turned frame
    assert len(new) >= 14, missed


@settings(max_examples=50, deadline=None)
@given(st.sets(st.integers(0, 9), min_size=0, max_size=2), st.data())
def test_cross_cover_finds_the_few_wrong_cameras_every_bad_pair_shares(wrong, data):
    from synth.dataset.verify_given import cross_cover

    cams = [f"cam{i:02d}" for i in range(10)]
    w = sorted(cams[i] for i in wrong)
    # every bad pair contains a wrong camera (a wrong file contradicts only its own pairs)
    pairs = [(a, b) for a in w for b in cams if b != a]
    bad = data.draw(st.lists(st.sampled_from(pairs), unique=True) if pairs else st.just([]))
    cover = cross_cover(bad, 2)
    assert cover is not None and len(cover) <= len(w)
    assert all(set(p) & set(cover) for p in bad)
    # three disjoint bad pairs need three cameras: more than two wrong files, the matches are not trusted
    assert cross_cover(bad + [("cam00", "cam01"), ("cam02", "cam03"), ("cam04", "cam05")], 2) is None


def _ring(n_cams: int, radius: float = 6.0):
    """Cameras on a circle around the origin, each looking at it (OpenCV axes: +z forward, +y down; world z up)."""
    out = []
    for i in range(n_cams):
        a = 2 * np.pi * i / n_cams
        c = np.array([radius * np.cos(a), radius * np.sin(a), 1.5])
        z = -c / np.linalg.norm(c)
        x = np.cross(z, [0, 0, 1.0])
        x /= np.linalg.norm(x)
        out.append(_c2w(np.c_[x, np.cross(z, x), z], c))
    return out


def test_cross_test_flags_swapped_cameras_and_abstains_when_the_matches_contradict_each_other():
    """A swap makes bad only the pairs of the two swapped cameras (flagged ``cross``); wrong matches among four
    cameras (every pair of them: a tiled texture fitted by wrong geometry) cannot be two wrong files: no ``cross``."""
    from synth.dataset.verify_given import (GivenPoseResult, GivenPoseThresholds, SceneMeasurements, _cross,
                                            cross_cover)

    rng = np.random.default_rng(0)
    X = rng.uniform(-1.5, 1.5, size=(150, 3))
    poses = _ring(6)
    cams = [f"cam{i:02d}" for i in range(6)]
    Kf = lambda cam, k: K  # noqa: E731
    wrong = {c: _c2w(_rot([0, 1, 0], 25.0) @ p[:3, :3], p[:3, 3] + [0.3, -0.4, 0.2]) for c, p in zip(cams, poses)}

    def matches(corrupt=()):
        cross = {}
        for ai, a in enumerate(cams):
            for b in cams[ai + 1:]:
                pb = wrong[b] if (a, b) in corrupt else poses[cams.index(b)]
                xa, za = project_points(K, poses[ai], X)
                xb, zb = project_points(K, pb, X)
                keep = (za > 0) & (zb > 0)
                for k in (0, 1):
                    cross[(a, b, k)] = (xa[keep], xb[keep])
        return SceneMeasurements({c: 2 for c in cams}, {c: {} for c in cams}, cross, None, {c: 0.0 for c in cams})

    def flagged(m, c2w, th=GivenPoseThresholds()):
        res = {c: GivenPoseResult(c) for c in cams}
        _cross(res, cams, c2w, Kf, m, th)
        return sorted(c for c, r in res.items() if "cross" in r.reasons)

    c2w = {c: np.stack([p, p]) for c, p in zip(cams, poses)}
    assert flagged(matches(), c2w) == []
    swapped = dict(c2w, cam01=c2w["cam04"], cam04=c2w["cam01"])
    assert flagged(matches(), swapped) == ["cam01", "cam04"]
    tiled = matches(corrupt=[(a, b) for i, a in enumerate(cams[:4]) for b in cams[i + 1:4]])
    # without the cover rule the four cameras of the contradicting pairs would be flagged
    assert flagged(tiled, c2w, GivenPoseThresholds(max_cross_wrong=10)) == cams[:4]
    assert flagged(tiled, c2w) == []
    assert cross_cover([("cam00", "cam01"), ("cam02", "cam03"), ("cam00", "cam02")], 2) == ("cam00", "cam02")
