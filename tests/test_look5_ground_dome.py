"""Grounds that continue their skies without smears (issue 23, look-2 item 3): the HDRI is projected onto a grounded
dome (flat floor + sphere wall, ``params.projection_radius_m``) and the floor fades into a matched ground where the
flat projection stretches the map into radial streaks (``params.ground_match``).

Measured by :mod:`synth.testing.ground_measure` on every image-lit environment of the catalog, before (the flat
floor projection alone: ``projection_radius_m`` 1e6, ``ground_match: false``, the look of the ``look3`` merge) and
after (the defaults): the radial smear of the far floor seen top-down (~1 = isotropic; the procedural floor gives
1.00) and the horizon seam beyond the sky's own. ``benchmarks/measure_ground.py`` prints the same table.
"""

from __future__ import annotations

import numpy as np
import pytest

from synth.render.embedded.environments import (PROJECTION_HEIGHT_M, PROJECTION_RADIUS_M, ground_match,
                                                projection_radius)


def test_projection_radius_default_and_override():
    assert projection_radius({}) == PROJECTION_RADIUS_M
    assert projection_radius({"projection_radius_m": 80}) == 80.0
    assert PROJECTION_RADIUS_M > PROJECTION_HEIGHT_M


@pytest.mark.parametrize("bad", [0, 1.0, -5, "far", True, float("nan"), float("inf")])
def test_projection_radius_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="params.projection_radius_m"):
        projection_radius({"projection_radius_m": bad})


def test_projection_radius_must_exceed_the_projection_height():
    with pytest.raises(ValueError, match="above the projection height"):
        projection_radius({"projection_radius_m": 3.0, "projection_height_m": 4.0})


def test_ground_match_param():
    assert ground_match({}) is True and ground_match({"ground_match": False}) is False
    with pytest.raises(ValueError, match="params.ground_match: expected true or false"):
        ground_match({"ground_match": "no"})


@pytest.mark.slow
def test_image_lit_grounds_without_smears_or_seams():
    from synth.render.embedded.backend import EmbeddedBackend
    from synth.scenes.catalog import load_catalog
    from synth.testing.ground_measure import measure_ground

    cat = load_catalog()
    envs = [e for e in cat.environments if e.asset.lower().endswith(".exr")]
    if not envs:
        pytest.skip("no image-lit environment in the catalog (synth assets build adds the HDRIs)")
    flat = {"projection_radius_m": 1.0e6, "ground_match": False}
    be = EmbeddedBackend(cat, 4, quality="standard")
    before, after = {}, {}
    try:
        for env in envs:
            before[env.id] = measure_ground(be, env.model_copy(update={"params": {**env.params, **flat}}), 96)[0]
            after[env.id] = measure_ground(be, env, 96)[0]
    finally:
        be.close()
    table = {k: {m: (round(before[k][m], 3), round(after[k][m], 3)) for m in after[k]} for k in after}
    print("\n(before, after) per image-lit environment:", table)
    # the far floor's streaks are gone: near-isotropic everywhere, far below the flat projection's
    assert np.mean([a["smear"] for a in after.values()]) < 0.15 * np.mean([b["smear"] for b in before.values()])
    streaky = {k: v["smear"] for k, v in table.items() if not (v["smear"][1] < 4.0 and v["smear"][1] <
                                                                 v["smear"][0])}
    assert not streaky, f"radial smear (before, after) should fall and stay < 4: {streaky}"
    # the dome and the matched ground add no seam at the horizon
    seams = {k: v["seam"] for k, v in table.items() if not (v["seam"][1] <= max(v["seam"][0], 0.0) + 0.02)}
    assert not seams, f"horizon seam (before, after) grew: {seams}"
