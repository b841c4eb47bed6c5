"""Camera-geometry core: golden parity with upstream, round trips (hypothesis) and projection of known points."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recam.cameras import load_camera_extrinsics, relative_cam_emb
from synth.core.fmatrix_text import FMatrixParseError, format_fmatrix, parse_fmatrix
from synth.core.intrinsics import focal_mm_from_hfov, horizontal_fov_deg, intrinsics_from_lens
from synth.core.projection import project_points
from synth.core.rigid import invert_rigid, relative_poses
from synth.core.units import SENSOR_MM
from synth.core.unreal import (axes_to_rotator, c2w_to_fmatrix, fmatrix_to_c2w, fmatrix_to_unreal_pose, quat_to_axes,
                               rotator_to_axes, rotator_to_quat, unreal_pose_to_fmatrix)


def unreal_pose_to_c2w(loc_cm, rot_deg):
    return fmatrix_to_c2w(unreal_pose_to_fmatrix(loc_cm, rot_deg))

angles = st.floats(-179.0, 179.0, allow_nan=False)
pitches = st.floats(-89.0, 89.0, allow_nan=False)
coords = st.floats(-1e4, 1e4, allow_nan=False)


def test_golden_infer_cam_emb(golden, example):
    ref = np.load(golden / "cameras.npz")["infer_cam_emb"]
    cams = load_camera_extrinsics(example / "cameras" / "camera_extrinsics.json")
    got = np.stack([relative_cam_emb(cams[f"cam{t:02d}"][0], cams[f"cam{t:02d}"][::4]) for t in range(1, 11)])
    assert got.shape == (10, 21, 12)
    assert np.abs(got - ref).max() <= 1e-6


def test_golden_pair_cam_emb(golden):
    data = np.load(golden / "cameras.npz")
    cams = load_camera_extrinsics(golden / "scene_camera_extrinsics.json")
    got = np.stack([relative_cam_emb(cams[f"cam{a:02d}"][0], cams[f"cam{b:02d}"][::4]) for a, b in data["pairs"]])
    assert np.abs(got - data["pair_cam_emb"]).max() <= 1e-6


def test_identity_string_matches_upstream_bytes(example):
    s = json.loads((example / "cameras" / "camera_extrinsics.json").read_text())["frame0"]["cam01"]
    assert format_fmatrix(unreal_pose_to_fmatrix([3390, 1380, 240], [0, 0, 0])) == s
    assert s.endswith("] ")


def test_upstream_conversion_literal(golden):
    """fmatrix_to_c2w equals upstream's literal code path (transpose, reorder, negate, /100)."""
    raw = json.loads((golden / "scene_camera_extrinsics.json").read_text())
    for cam in ("cam01", "cam07"):
        text = raw["frame40"][cam]
        rows = text.strip().split("] [")
        m = np.array([list(map(float, r.replace("[", "").replace("]", "").split())) for r in rows])
        c2w = m.T[:, [1, 2, 0, 3]]
        c2w[:3, 1] *= -1.0
        c2w[:3, 3] /= 100
        assert np.array_equal(fmatrix_to_c2w(parse_fmatrix(text)), c2w)


@settings(max_examples=500, deadline=None)
@given(pitches, angles, angles)
def test_rotator_matrix_round_trip(p, y, r):
    axes = rotator_to_axes(p, y, r)
    assert np.allclose(axes @ axes.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(axes) == pytest.approx(1.0)
    back = axes_to_rotator(axes)
    assert np.allclose(rotator_to_axes(*back), axes, atol=1e-9)
    if abs(p) < 89.0:  # away from the pole the rotator itself is recovered
        d = (back - [p, y, r] + 180.0) % 360.0 - 180.0
        assert np.abs(d).max() < 1e-7
    # Unreal's quaternion path builds the same matrix
    assert np.allclose(quat_to_axes(rotator_to_quat(p, y, r)), axes, atol=1e-12)


@settings(max_examples=500, deadline=None)
@given(coords, coords, st.floats(0, 5e3), pitches, angles, angles)
def test_pose_string_pose_round_trip(x, y, z, p, yaw, r):
    m = unreal_pose_to_fmatrix([x, y, z], [p, yaw, r])
    s = format_fmatrix(m)
    m2 = parse_fmatrix(s)
    # %g keeps 6 significant digits
    assert np.allclose(m2[:3, :3], m[:3, :3], atol=1e-6)
    assert np.allclose(m2[3, :3], m[3, :3], rtol=1e-5, atol=1e-5)
    loc, rot = fmatrix_to_unreal_pose(m2)
    assert np.allclose(rotator_to_axes(*rot), m[:3, :3], atol=1e-5)
    # c2w (metres) and back
    c2w = fmatrix_to_c2w(m2)
    assert np.linalg.det(c2w[:3, :3]) == pytest.approx(-1.0, abs=1e-5)
    assert np.allclose(c2w_to_fmatrix(c2w), m2, atol=1e-9)
    loc2, rot2 = fmatrix_to_unreal_pose(c2w_to_fmatrix(c2w))
    assert np.allclose(loc2, loc, atol=1e-9)
    assert np.allclose(rotator_to_axes(*rot2), rotator_to_axes(*rot), atol=1e-9)


def test_parser_tolerant_and_strict():
    m = parse_fmatrix("[1 0 0 0][ -0, 1, 0, 0 ] [0 -0 1 0]   [3.39e3 1380. .5 1]")
    assert m[3, 0] == 3390 and m[3, 2] == 0.5 and m[1, 1] == 1
    for bad in ["[1 0 0 0] [0 1 0 0] [0 0 1 0]", "[1 0 0] [0 1 0] [0 0 1] [0 0 0]",
                "[1 0 0 0] [0 1 0 0] [0 0 1 0] [0 0 0 1] junk", 42]:
        with pytest.raises(FMatrixParseError):
            parse_fmatrix(bad)


def test_axes_semantics():
    """Positive yaw pans right (X towards Y); positive pitch tilts up; OpenCV axes right/down/forward."""
    fwd, right, up = rotator_to_axes(0, 90, 0)
    assert np.allclose(fwd, [0, 1, 0], atol=1e-12)
    fwd, right, up = rotator_to_axes(30, 0, 0)
    assert fwd[2] > 0 and up[0] < 0
    c2w = unreal_pose_to_c2w([0, 0, 0], [0, 0, 0])
    assert np.allclose(c2w[:3, 0], [0, 1, 0])   # camera x = Unreal right (+Y)
    assert np.allclose(c2w[:3, 1], [0, 0, -1])  # camera y = down
    assert np.allclose(c2w[:3, 2], [1, 0, 0])   # camera z = forward (+X)


@pytest.mark.parametrize("focal,fov", [(18, 66.85), (24, 52.67), (35, 37.50), (50, 26.73)])
def test_fov_table(focal, fov):
    assert horizontal_fov_deg(focal) == pytest.approx(fov, abs=0.005)
    assert focal_mm_from_hfov(horizontal_fov_deg(focal)) == pytest.approx(focal)


def test_project_known_points():
    """A camera at (100, 200, 150) cm yawed 90 deg (looking along +Y): project points placed in its frame."""
    K = intrinsics_from_lens(24, SENSOR_MM, 1280, 720)
    c2w = unreal_pose_to_c2w([100, 200, 150], [0, 90, 0])
    ahead = np.array([1.0, 2.0 + 3.0, 1.5])          # 3 m straight ahead (metres, Unreal axes)
    right = ahead + np.array([-0.5, 0, 0])            # camera right is Unreal -X when yaw = 90
    above = ahead + np.array([0, 0, 0.4])
    uv, z = project_points(K, c2w, np.stack([ahead, right, above]))
    f = 24 / SENSOR_MM * 1280
    assert np.allclose(z, 3.0)
    assert np.allclose(uv[0], [640, 360])
    assert np.allclose(uv[1], [640 + f * 0.5 / 3, 360])
    assert np.allclose(uv[2], [640, 360 - f * 0.4 / 3])


@settings(max_examples=200, deadline=None)
@given(coords, coords, st.floats(0, 3e3), pitches, angles, angles, pitches, angles, angles)
def test_relative_pose_is_proper_and_consistent(x, y, z, p, yw, r, p2, yw2, r2):
    a = unreal_pose_to_c2w([x, y, z], [p, yw, r])
    b = unreal_pose_to_c2w([y, z, x], [p2, yw2, r2])
    rel = relative_poses(a, b[None])[0]
    assert np.linalg.det(rel[:3, :3]) == pytest.approx(1.0)
    assert np.allclose(a @ rel, b, atol=1e-9)
    emb = relative_cam_emb(a, np.stack([a, b]))
    assert np.allclose(emb[0], [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0], atol=1e-6)
    assert emb.dtype == np.float32 and emb.shape == (2, 12)


def test_invert_rigid():
    c2w = unreal_pose_to_c2w([10, -20, 30], [10, 20, 30])
    assert np.allclose(invert_rigid(c2w) @ c2w, np.eye(4), atol=1e-12)


def test_load_camera_extrinsics_errors(tmp_path):
    from synth.core.multicam_format import DatasetFormatError

    p = tmp_path / "camera_extrinsics.json"
    p.write_text('{"frame0": {"cam01": "[1 0 0 0] [0 1 0 0] [0 0 1 0]"}}')
    with pytest.raises(DatasetFormatError, match=r"frame0 cam01"):
        load_camera_extrinsics(p)
    p.write_text('{"frame0": {"cam01": "[1 0 0 0] [0 1 0 0] [0 0 1 0] [0 0 0 1] "}, "frame2": {}}')
    with pytest.raises(DatasetFormatError, match="frame0..frame1"):
        load_camera_extrinsics(p)
    p.write_text("{not json")
    with pytest.raises(DatasetFormatError, match="not valid JSON"):
        load_camera_extrinsics(p)
    with pytest.raises(DatasetFormatError, match="not found"):
        load_camera_extrinsics(tmp_path / "missing.json")


# ------------------------------------------------------------------------------------------------ rotation angles
@settings(max_examples=60, deadline=None)
@given(st.floats(-179.0, 179.0), st.floats(-179.0, 179.0), st.integers(0, 2), st.booleans())
def test_rotation_angle_deg_on_known_angles(a_deg, b_deg, axis, mirrored):
    """Two rotations about one axis by a and b degrees are |a - b| apart (geodesic, at most 180), whether both are
    proper or both mirrored (Unreal's left-handed world: det -1)."""
    from scipy.spatial.transform import Rotation

    from synth.core.rigid import rotation_angle_deg

    ax = np.eye(3)[axis]
    r_a = Rotation.from_rotvec(np.radians(a_deg) * ax).as_matrix()
    r_b = Rotation.from_rotvec(np.radians(b_deg) * ax).as_matrix()
    if mirrored:
        m = np.diag([1.0, -1.0, 1.0])
        r_a, r_b = m @ r_a, m @ r_b
    want = abs(a_deg - b_deg)
    want = 360.0 - want if want > 180.0 else want
    assert float(rotation_angle_deg(r_a, r_b)) == pytest.approx(want, abs=1e-6)


def test_rotation_angle_deg_fixed_values_and_batches():
    from synth.core.rigid import rotation_angle_deg

    rz = lambda deg: np.array([[np.cos(np.radians(deg)), -np.sin(np.radians(deg)), 0.0],  # noqa: E731
                               [np.sin(np.radians(deg)), np.cos(np.radians(deg)), 0.0], [0.0, 0.0, 1.0]])
    flip = np.diag([-1.0, 1.0, 1.0])  # mirrored (det -1), as Unreal's c2w
    got = rotation_angle_deg(np.stack([np.eye(3), np.eye(3), np.eye(3), flip, flip @ rz(10)]),
                             np.stack([rz(0), rz(30), rz(90), flip @ rz(45), flip @ rz(190)]))
    np.testing.assert_allclose(got, [0.0, 30.0, 90.0, 45.0, 180.0], atol=1e-9)
