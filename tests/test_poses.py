"""The one camera-pose type ``synth.core.poses.Poses``: round trips between conventions (hypothesis), construction
checks, relative poses equal to upstream's bit for bit, and projection of known points."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recam.cameras import load_camera_extrinsics
from synth.core.intrinsics import intrinsics_from_lens
from synth.core.pose_checks import PoseError
from synth.core.poses import Poses
from synth.core.rigid import relative_cam_emb
from synth.core.units import SENSOR_MM
from synth.core.unreal import fmatrix_to_c2w, unreal_points_to_world, unreal_pose_to_fmatrix

angles = st.floats(-179.0, 179.0, allow_nan=False)
pitches = st.floats(-89.0, 89.0, allow_nan=False)
coords = st.floats(-1e4, 1e4, allow_nan=False)
unreal_pose = st.tuples(st.tuples(coords, coords, coords), st.tuples(pitches, angles, angles))


def _fmatrices(poses):
    loc, rot = zip(*poses)
    return unreal_pose_to_fmatrix(np.array(loc), np.array(rot))


@settings(max_examples=200, deadline=None)
@given(st.lists(unreal_pose, min_size=1, max_size=6))
def test_fmatrix_poses_w2c_opengl_round_trips(poses):
    m = _fmatrices(poses)
    p = Poses.from_fmatrix(m)
    assert p.c2w.shape == (len(poses), 4, 4) and p.c2w.dtype == np.float64
    assert np.allclose(np.linalg.det(p.rotations), 1.0)  # proper rotations inside, whatever Unreal's handedness
    assert np.allclose(p.to_fmatrix(), m, atol=1e-9 * (1 + np.abs(m)))
    assert np.allclose(Poses.from_w2c(p.w2c).c2w, p.c2w, atol=1e-9)
    assert np.allclose(Poses.from_opengl(p.to_opengl()).c2w, p.c2w, atol=1e-12)
    assert np.array_equal(Poses.from_upstream_c2w(p.upstream_c2w()).c2w, p.c2w)
    # the upstream convention is exactly upstream's literal conversion
    assert np.array_equal(p.upstream_c2w(), fmatrix_to_c2w(m))
    # from_unreal is from_fmatrix of Unreal's transform path; to_unreal gives back the same matrices
    loc, rot = (np.array(v) for v in zip(*poses))
    assert np.array_equal(Poses.from_unreal(loc, rot).c2w, p.c2w)
    loc2, rot2 = p.to_unreal()
    assert np.allclose(loc2, loc, atol=1e-6)
    assert np.allclose(unreal_pose_to_fmatrix(loc2, rot2)[:, :3, :3], m[:, :3, :3], atol=1e-9)
    # OpenGL axes: y up, z backward
    gl = p.to_opengl()
    assert np.array_equal(gl[:, :3, 1], -p.c2w[:, :3, 1]) and np.array_equal(gl[:, :3, 2], -p.c2w[:, :3, 2])


@settings(max_examples=200, deadline=None)
@given(st.lists(unreal_pose, min_size=2, max_size=6), st.integers(0, 1))
def test_relative_poses_equal_upstream_bit_for_bit(poses, ref):
    """The world mirror inside Poses leaves relative poses (hence cam_emb) exactly as upstream computes them."""
    m = _fmatrices(poses)
    up = fmatrix_to_c2w(m)
    p = Poses.from_fmatrix(m)
    assert np.array_equal(p.cam_emb(ref), relative_cam_emb(up[ref], up))
    other = Poses.from_fmatrix(m[::-1])
    assert np.array_equal(p.cam_emb(other[0]), relative_cam_emb(up[-1], up))
    rel = p.relative_to(ref)
    assert np.allclose(rel.c2w[ref], np.eye(4), atol=1e-9)


def test_golden_cam_emb_through_poses(golden):
    data = np.load(golden / "cameras.npz")
    cams = load_camera_extrinsics(golden / "scene_camera_extrinsics.json")
    for (a, b), want in zip(data["pairs"], data["pair_cam_emb"]):
        src, tgt = (Poses.from_upstream_c2w(cams[f"cam{c:02d}"]) for c in (a, b))
        got = tgt[::4].cam_emb(src[0])
        assert np.array_equal(got, relative_cam_emb(cams[f"cam{a:02d}"][0], cams[f"cam{b:02d}"][::4]))
        assert np.abs(got - want).max() <= 1e-6


def test_projecting_known_points():
    """A camera at (3390, 1380, 240) cm looking along Unreal +X: a point 5 m ahead is at the image centre, one 1 m
    to the right (Unreal +Y) and 0.5 m up lands right of and above the centre by f * offset / depth."""
    w, h = 832, 480
    K = intrinsics_from_lens(24.0, SENSOR_MM, w, h)
    f = K[0, 0]
    cam = Poses.from_unreal([[3390.0, 1380.0, 240.0]], [[0.0, 0.0, 0.0]])
    pts = unreal_points_to_world([[3890.0, 1380.0, 240.0], [3890.0, 1480.0, 290.0], [2890.0, 1380.0, 240.0]])
    uv, z = cam.project(K, pts)
    assert uv.shape == (1, 3, 2) and z.shape == (1, 3)
    assert np.allclose(z[0], [5.0, 5.0, -5.0])
    assert np.allclose(uv[0, 0], [w / 2, h / 2])
    assert np.allclose(uv[0, 1], [w / 2 + f * 1.0 / 5.0, h / 2 - f * 0.5 / 5.0])
    # yawing 90 deg (pan right) turns the camera to Unreal +Y: the point 1 m to the right is now straight ahead
    turned = Poses.from_unreal([[3390.0, 1380.0, 240.0]], [[0.0, 90.0, 0.0]])
    uv2, z2 = turned.project(K, unreal_points_to_world([[3390.0, 1480.0, 240.0]]))
    assert np.allclose(uv2[0, 0], [w / 2, h / 2]) and np.isclose(z2[0, 0], 1.0)


@settings(max_examples=100, deadline=None)
@given(st.lists(unreal_pose, min_size=1, max_size=4), st.floats(-3, 3), st.floats(-3, 3), st.floats(0.5, 50))
def test_projecting_points_in_camera_coordinates(poses, x, y, depth):
    """A point placed at camera coordinates (x, y, depth) projects to K (x/depth, y/depth) in every frame."""
    p = Poses.from_fmatrix(_fmatrices(poses))
    K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    for i in range(len(p)):
        world = p.c2w[i] @ np.array([x, y, depth, 1.0])
        uv, z = p[i].project(K, world[None, :3])
        assert np.isclose(z[0, 0], depth, atol=1e-6 * (1 + np.abs(world).max()))
        tol = 1e-6 * (1 + np.abs(world).max())
        assert np.allclose(uv[0, 0], [320 + 500 * x / depth, 240 + 500 * y / depth], atol=tol)


def test_construction_checks_and_immutability():
    p = Poses.from_unreal([[0.0, 0.0, 0.0]], [[10.0, 20.0, 30.0]])
    with pytest.raises(ValueError):
        p.c2w[0, 0, 3] = 1.0  # read-only
    with pytest.raises(PoseError, match=r"traj.json: .*det\(R\) of frame 0 is -1.000; expected \+1"):
        Poses.from_c2w(p.upstream_c2w(), where="traj.json")  # upstream's Unreal-world c2w is not a Poses c2w
    bad = p.c2w.copy()
    bad[0, 1, 1] = np.nan
    with pytest.raises(PoseError, match="non-finite"):
        Poses(bad)
    with pytest.raises(PoseError, match=r"expected \(F, 4, 4\)"):
        Poses.from_c2w(np.eye(3))
    assert len(Poses.from_c2w(np.eye(4))) == 1
    assert np.allclose(p.scaled(2.0).centres, 2.0 * p.centres)


def test_camera_spec_poses_are_the_written_poses():
    """A scene's camera gives its poses as written to camera_extrinsics.json (%g-quantised FMatrix rows)."""
    from synth.core.fmatrix_text import format_fmatrix, parse_fmatrix
    from synth.core.scene_spec import CameraSpec, SpeedProfile

    loc = np.array([[3390.0, 1380.0, 240.0], [3400.123456789, 1370.0, 250.0]])
    rot = np.array([[0.0, 0.0, 0.0], [5.0, 12.3456789, -3.0]])
    cam = CameraSpec("cam01", "static", {}, SpeedProfile("constant"), loc, rot)
    written = np.stack([parse_fmatrix(format_fmatrix(m)) for m in unreal_pose_to_fmatrix(loc, rot)])
    assert np.array_equal(cam.poses().upstream_c2w(), fmatrix_to_c2w(written))
