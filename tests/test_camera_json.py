"""camera_extrinsics.json: what is written is what is read back, frame by frame and camera by camera (hypothesis)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from synth.core.multicam_format import read_camera_array, read_camera_fmatrices, write_camera_extrinsics

_values = st.floats(min_value=-1e5, max_value=1e5, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def _cameras(draw):
    """camNN -> (F, 4, 4) random FMatrices (any values: the format does not care whether they are poses)."""
    c, f = draw(st.integers(1, 4)), draw(st.integers(1, 6))
    mats = draw(arrays(np.float64, (c, f, 4, 4), elements=_values))
    names = [f"cam{i + 1:02d}" for i in draw(st.permutations(range(c)))]  # not necessarily sorted
    return dict(zip(names, mats))


@settings(max_examples=60, deadline=None)
@given(_cameras())
def test_camera_json_write_read_round_trip(cams):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "camera_extrinsics.json"
        write_camera_extrinsics(path, cams)
        data = json.loads(path.read_text())
        frames = len(next(iter(cams.values())))
        # keys in order: frame0..frame{F-1}, and in each frame the cameras in the order given
        assert list(data) == [f"frame{f}" for f in range(frames)]
        assert all(list(v) == list(cams) for v in data.values())
        back = read_camera_fmatrices(path, strict=True)
        names, arr = read_camera_array(path)
    assert list(back) == names == sorted(cams)  # readers list the cameras sorted by name
    for i, name in enumerate(names):
        # FMatrix::ToString() keeps 6 significant digits (%g): frame f of camera c is exactly its own pose, rounded
        want = np.vectorize(lambda v: float("%g" % v))(cams[name])
        np.testing.assert_array_equal(back[name], want)
        np.testing.assert_array_equal(arr[i], want)
