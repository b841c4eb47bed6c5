"""Motions that fit the ground (issue 23, item 7): every (motion, environment) pair the sampler can draw keeps the
body's planted feet within 2 cm of the flat ground, no sole more than 2 cm through it and no airborne stretch longer
than a jump's; clips that need a prop (climbing, hanging) are drawn only where an environment offers it.

Measured on the skinned mesh of a bank body (:func:`synth.render.embedded.bodies.foot_support`)."""

from __future__ import annotations

import copy

import pytest

from synth.core.errors import ConfigError
from look2_support import bank_body, retargeted
from synth.scenes.catalog import Catalog, load_catalog

MAX_GAP_M = 0.02
MAX_AIRBORNE_S = 0.5


def _catalog_as_built() -> Catalog:
    """The installed catalog with its motion-capture clips as the current asset builder lists them."""
    from synth.assets_build.motions import cmu_animations

    cat = load_catalog()
    built = {a["id"]: a for a in cmu_animations()[0]}
    raw = cat.model_dump(mode="json", exclude={"root"})
    raw["animations"] = [built.get(a["id"], a) for a in raw["animations"]]
    return Catalog.model_validate({**raw, "root": cat.root})


@pytest.fixture(scope="module")
def body(tmp_path_factory):
    return bank_body(tmp_path_factory)


def _support(body, cat, anim):
    from synth.render.embedded.bodies import foot_support

    rt = retargeted(body, cat, anim)
    fs = foot_support(body, rt)
    return fs["max_gap_m"], float(fs["sole_m"].min()), fs["max_airborne_s"]


@pytest.mark.slow
def test_every_drawn_motion_environment_pair_keeps_feet_on_the_ground(body):
    cat = _catalog_as_built()
    bodies = [c for c in cat.characters if c.asset.startswith("anny:")]
    char = bodies[0] if bodies else None
    if char is None:
        pytest.skip("no bank bodies in the installed catalog (run scripts/setup.sh)")
    drawn = {a.id: a for e in cat.environments for a in cat.animations_for(char.id, e)}
    assert "wave" in drawn and "squat" in drawn
    bad = {}
    for aid, anim in sorted(drawn.items()):
        gap, lowest, air = _support(body, cat, anim)
        if gap > MAX_GAP_M or lowest < -MAX_GAP_M or air > MAX_AIRBORNE_S:
            bad[aid] = (round(gap, 3), round(lowest, 3), round(air, 2))
    assert not bad, f"(planted sole height m, lowest sole m, longest airborne s) out of bounds: {bad}"
    # the climbing clips are not drawn on flat ground, and for a reason: measured, they do not fit it
    climbs = [a for a in cat.animations if a.needs]
    if climbs:
        assert not set(a.id for a in climbs) & set(drawn)
        misfits = []
        for a in climbs[1:3]:  # hanging and climbing down
            gap, lowest, air = _support(body, cat, a)
            misfits.append(gap > MAX_GAP_M or lowest < -MAX_GAP_M or air > MAX_AIRBORNE_S)
        assert all(misfits), misfits


def _tiny(props=(), needs=("climbing_frame",), only_needy=False):
    raw = {"version": 1, "backend": "embedded",
           "environments": [{"id": "flat", "description": "a lawn", "kind": "outdoor", "asset": "builtin:park",
                             "free_space_cm": {"min": [-500, -500, 0], "max": [500, 500, 500]},
                             "props": list(props)}],
           "characters": [{"id": "c", "description": "a man", "height_m": 1.8, "asset": "builtin:humanoid"}],
           "animations": [{"id": "climb", "description": "climbs", "asset": "builtin:jump", "duration_s": 1,
                           "needs": list(needs)}]
           + ([] if only_needy else [{"id": "wave", "description": "waves", "asset": "builtin:wave",
                                      "duration_s": 1}])}
    return raw


def test_clips_needing_props_are_drawn_only_where_the_props_are(tmp_path):
    import yaml

    from synth.scenes.config import load_config
    from synth.scenes.sampling import sample_scene

    cfg = load_config()
    for props, expected in (((), {"wave"}), (("climbing_frame",), {"wave", "climb"})):
        p = tmp_path / f"cat{len(props)}.yaml"
        p.write_text(yaml.safe_dump(_tiny(props)))
        cat = load_catalog(p)
        assert {a.id for a in cat.animations_for("c", cat.environment("flat"))} == expected
        assert {sample_scene(cfg, cat, 0, k).animation_id for k in range(4)} <= expected
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(_tiny(only_needy=True)))
    with pytest.raises(ConfigError, match="no animation that fits environment 'flat'"):
        load_catalog(p)
    raw = copy.deepcopy(_tiny(needs=("Climbing Frame",)))
    p.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="needs"):
        load_catalog(p)
