"""HDRI channel dropouts: the sun's core keeps its corona's colour (synth.render.embedded.ibl.repair_channel_dropouts)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synth.render.embedded.ibl import (DROPOUT_RATIO, env_light_from_map, load_hdri, repair_channel_dropouts)


def _sky(h=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.05, 2.0, (h, 2 * h, 3)).astype(np.float32)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.0, 99.0))
def test_maps_without_dropouts_are_untouched(seed, peak):
    img = _sky(seed=seed)
    img[3, 5] = peak  # bright but grey, or a saturated colour below the radiance bound: both real
    img[4, 6] = (peak, 0.0, 0.0)
    assert repair_channel_dropouts(img) is img


@pytest.mark.parametrize("col", [0, 30, 63])  # inside, and wrapping around the longitude seam
def test_dropout_core_takes_the_corona_colour(col):
    img = _sky()
    corona = np.array([40.0, 34.0, 24.0], np.float32)
    cols = [(col + d) % 64 for d in range(-5, 6)]  # wider than the 3 px ring
    for r in range(6, 17):
        for c in cols:
            img[r, c] = corona
    img[10:13, [(col + d) % 64 for d in (-1, 0, 1)]] = (0.0, 0.0, 11800.0)  # the file's blue-only core
    out = repair_channel_dropouts(img)
    core = out[10:13, [(col + d) % 64 for d in (-1, 0, 1)]].reshape(-1, 3)
    np.testing.assert_allclose(core, np.tile(11800.0 * corona / corona.max(), (9, 1)), rtol=1e-5)
    untouched = np.ones(img.shape[:2], bool)
    untouched[10:13, [(col + d) % 64 for d in (-1, 0, 1)]] = False
    np.testing.assert_array_equal(out[untouched], img[untouched])
    assert (out.min(-1) >= DROPOUT_RATIO * out.max(-1)).all()


def test_lone_dropout_becomes_white():
    img = np.zeros((16, 32, 3), np.float32)
    img[5, 5] = (0.0, 500.0, 0.0)
    np.testing.assert_allclose(repair_channel_dropouts(img)[5, 5], (500.0, 500.0, 500.0))


def test_shipped_park_sky_has_a_warm_white_sun():
    from synth.scenes.catalog import asset_cache_dir

    p = asset_cache_dir() / "hdri" / "park.exr"
    if not p.is_file():
        pytest.skip("asset cache not built (synth assets build)")
    sun = env_light_from_map(load_hdri(p)).sun_color
    assert sun.min() > 0.4 * sun.max() and sun[0] >= sun[2]  # warm white, not the file's pure blue
