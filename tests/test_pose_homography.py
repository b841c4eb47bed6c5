"""homography_rotation: the rotation of a rotating camera's homography, and the non-rigidity that tells a rotation
from a translation in front of a plane (the parallax gate of synth.core.pose_estimation)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from synth.core.pose_estimation import PoseOptions, homography_rotation

K = np.array([[400.0, 0, 256], [0, 400.0, 148], [0, 0, 1]])


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 100_000), st.floats(0.1, 20.0), st.floats(-5.0, 5.0).filter(lambda s: abs(s) > 1e-3))
def test_a_rotating_camera_gives_its_rotation_and_zero_nonrigidity(seed, deg, scale):
    rng = np.random.default_rng(seed)
    R = Rotation.from_rotvec(np.radians(deg) * (v := rng.normal(size=3)) / np.linalg.norm(v)).as_matrix()
    H = scale * K @ R @ np.linalg.inv(K)  # a homography's scale and sign are arbitrary
    r, dev = homography_rotation(H, K)
    assert np.abs(r - R).max() < 1e-9 and dev < 1e-9


@pytest.mark.parametrize("t_over_d", [0.005, 0.012, 0.03])
def test_a_translation_in_front_of_a_plane_is_not_a_rotation(t_over_d):
    """H = K (R + t n^T / d) K^-1 (Hartley & Zisserman 13.2): the non-rigidity grows with |t| / d and a step of
    the embedded 832x480 clips' translations (>= 0.006 measured) exceeds the gate's threshold."""
    R = Rotation.from_euler("y", 2.0, degrees=True).as_matrix()
    n = np.array([0.0, 0.0, -1.0])  # a wall facing the camera
    for t in (np.array([1.0, 0, 0]), np.array([0, 0, 1.0]), np.array([0.6, 0.0, 0.8])):  # along, towards, both
        H = K @ (R + np.outer(t * t_over_d, n)) @ np.linalg.inv(K)
        _, dev = homography_rotation(H, K)
        assert t_over_d / 2 * 0.9 <= dev <= t_over_d * 1.1
    assert homography_rotation(K @ (R + np.outer([0.006, 0, 0], n)) @ np.linalg.inv(K), K)[1] < \
        PoseOptions().max_nonrigidity < 0.006  # threshold between pans (<= 0.0022) and translations (>= 0.006)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 100_000), st.floats(0.1, 20.0))
def test_rotation_from_matches_recovers_a_rotation_from_projected_points(seed, deg):
    from synth.core.pose_estimation import rotation_from_matches

    rng = np.random.default_rng(seed)
    R = Rotation.from_rotvec(np.radians(deg) * (v := rng.normal(size=3)) / np.linalg.norm(v)).as_matrix()
    X = np.c_[rng.uniform(-2, 2, size=(60, 2)), rng.uniform(3, 10, size=60)]  # points in front of camera a
    pa = X @ K.T
    pb = (X @ R.T) @ K.T
    pa, pb = pa[:, :2] / pa[:, 2:], pb[:, :2] / pb[:, 2:]
    assert np.abs(rotation_from_matches(pa, pb, K) - R).max() < 1e-9
    noisy = rotation_from_matches(pa + rng.normal(scale=0.5, size=pa.shape), pb, K)  # 0.5 px noise
    assert np.degrees(np.arccos(np.clip((np.trace(noisy.T @ R) - 1) / 2, -1, 1))) < 0.2


def test_verify_second_opinions_run_in_order_and_stop_at_the_first_that_agrees(tmp_path, monkeypatch):
    """A flagged camera is estimated again with half the stride, the other mapper, guided matching with 2x features,
    then full resolution (video larger than max_size); the first estimate that agrees with the file clears it."""
    import synth.core.pose_estimation as pe
    from synth.core.unreal import c2w_to_fmatrix
    from synth.core.layout import CAMERA_JSON, VIDEOS_DIR
    from synth.core.multicam_format import write_camera_extrinsics
    from synth.core.video_io import write_video
    from synth.dataset.verify import VerifyItem, verify_camera

    scene = tmp_path / "train" / "f18_aperture10" / "scene0"
    n = 9
    c2w = np.tile(np.eye(4), (n, 1, 1))
    c2w[:, 1, 1] = -1.0  # upstream c2w lives in Unreal's left-handed world (det -1); verify checks the file's poses
    c2w[:, 0, 3] = np.linspace(0, 1.0, n)  # 1 m along x
    c2w[:, 2, 3] = -5.0
    write_camera_extrinsics(scene / CAMERA_JSON, {"cam01": c2w_to_fmatrix(c2w)})
    write_video(scene / VIDEOS_DIR / "cam01.mp4", np.zeros((n, 360, 640, 3), np.uint8), 15)
    calls = []

    def fake(video, K, opts, num_frames=None, workdir=None, agree_at=None):
        calls.append(opts)
        idx = np.arange(0, n, opts.stride)
        est = np.linalg.inv(c2w[idx[0]]) @ c2w[idx]
        if len(calls) != agree_at:  # a wrong SfM solution: rotations drift by up to 10 deg
            est[:, :3, :3] = Rotation.from_euler("y", np.linspace(0, 10, len(idx))[:, None], degrees=True).as_matrix()
        return pe.PoseEstimate("ok", idx, est, np.ones(len(idx), bool), frame0_depth=5.0)

    item = VerifyItem(scene, "f18_aperture10/scene0", "cam01")
    opts = PoseOptions(stride=2, max_size=512, max_features=1000)
    for agree_at, flagged in ((4, False), (5, False), (None, True)):
        calls.clear()
        monkeypatch.setattr(pe, "estimate_video_poses", lambda *a, _at=agree_at, **k: fake(*a, agree_at=_at, **k))
        chk = verify_camera(item, opts)
        assert chk.flagged is flagged and chk.reasons == ("rotation" if flagged else "")
        want = [(2, "global", False, 1000, 512), (1, "global", False, 1000, 512), (2, "incremental", False, 1000, 512),
                (2, "global", True, 2000, 512), (2, "global", False, 1000, 0)][:agree_at or 5]
        assert [(o.stride, o.mapper, o.guided_matching, o.max_features, o.max_size) for o in calls] == want
    assert "full resolution" in chk.message and "guided matching" in chk.message
