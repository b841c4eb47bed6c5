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
