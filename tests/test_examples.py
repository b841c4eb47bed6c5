"""Example files shipped in configs/ load and mean what their comments say."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recam.cameras import load_trajectory

REPO = Path(__file__).resolve().parents[1]


def test_trajectory_example_loads():
    c2w = load_trajectory(REPO / "configs/recam/trajectory_example.yaml", 81)
    assert c2w.shape == (81, 4, 4)
    np.testing.assert_allclose(c2w[0], np.eye(4), atol=1e-12)
    mid = c2w[40]
    # arc left about a pivot 3 m ahead: the camera moved left (-x) and forward (+z), still facing the pivot
    assert mid[0, 3] < -0.5 and mid[2, 3] > 0.0
    pivot = np.array([0.0, 0.0, 3.0])
    to_pivot = (pivot - mid[:3, 3]) / np.linalg.norm(pivot - mid[:3, 3])
    assert np.degrees(np.arccos(np.clip(to_pivot @ mid[:3, 2], -1, 1))) < 1e-6
    assert c2w[-1, 1, 3] < mid[1, 3] - 0.25  # pedestal up 0.3 m = -y in OpenCV axes
