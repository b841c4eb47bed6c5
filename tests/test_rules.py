"""The recipe rules written once (:mod:`synth.scenes.rules`): the registry, the one ``segment_distance``, and the
agreement of the two callers: a trajectory the sampler rejects is reported by ``synth validate`` from the written
files, and a trajectory the sampler accepts is not (away from the written precision's slack)."""

from __future__ import annotations

import dataclasses
import functools
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from synth.core.units import CM_PER_M
from synth.core.multicam_format import write_scene_files
from synth.dataset.validate import TOL, Recipe, ValidateOptions, validate_scene
from synth.scenes import rules as R
from synth.scenes.catalog import load_catalog
from synth.scenes.config import config_digest, load_config
from synth.scenes.sampling import constraint_violation, sample_scene

CFG = load_config()
CAT = load_catalog()
RECIPE = Recipe(CFG, "the default config", config_digest(CFG))
OPTS = ValidateOptions(videos=False)

#: the validator's message of each rule the sampler rejects with (what it names of the config)
KEYWORD = {"pitch": "(constraints.max_abs_pitch_deg)", "walls": "constraints.wall_margin_m",
           "min_height": "constraints.min_camera_height_m", "ceiling": "constraints.ceiling_margin_m",
           "clearance": "m from the character; expected >", "start_pitch": "(start.max_abs_pitch_deg)",
           "dolly_zoom_size": "(trajectories.dolly_zoom.size_tolerance)"}


def test_registry_order_stages_and_lookup():
    names = [r.name for r in R.rules()]
    assert len(names) == len(set(names)) >= 20
    assert {r.name for r in R.rules("trajectory")} == {"pitch", "walls", "min_height", "ceiling", "clearance",
                                                       "dolly_zoom_size"}
    assert [r.name for r in R.rules("start")] == ["start_pitch"]
    assert set(KEYWORD) == {r.name for r in R.rules() if r.stage}
    assert all(r.summary for r in R.rules() if r.stage)  # the sampler's reason
    assert R.get_rule("clearance").summary == "comes too close to the character"
    with pytest.raises(KeyError, match="unknown recipe rule 'nope'; registered: .*clearance"):
        R.get_rule("nope")
    with pytest.raises(ValueError, match="already registered"):
        R.register_rule(type("Other", (R.Rule,), {"name": "pitch"}))
    with pytest.raises(ValueError, match="stage"):
        R.register_rule(type("Bad", (R.Rule,), {"name": "bad_stage", "stage": "later"}))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(*[st.floats(-10, 10, allow_nan=False)] * 3), min_size=1, max_size=6),
       st.tuples(*[st.floats(-5, 5, allow_nan=False)] * 3), st.floats(0, 4, allow_nan=False))
def test_segment_distance_is_the_minimum_over_the_segment(points, base, height):
    p, b = np.array(points), np.array(base)
    d = R.segment_distance(p, b, height)
    samples = b + np.linspace(0, height, 4001)[:, None] * [0, 0, 1]
    brute = np.linalg.norm(p[:, None] - samples[None], axis=-1).min(1)
    assert d.shape == (len(p),) and np.all(d <= brute + 1e-12) and np.allclose(d, brute, atol=height / 4000 + 1e-12)
    # (..., 3) batches give the same distances as rows
    assert np.array_equal(R.segment_distance(np.stack([p, p]), b, height), np.stack([d, d]))


@functools.lru_cache(maxsize=None)
def _scene():
    spec = sample_scene(CFG, CAT, 11, 2)
    env = next(e for e in CAT.environments if e.id == spec.environment_id)
    return spec, env


def _violations(spec, env, loc_m, rot, tol):
    """Rule names of the sampler's stages broken by one trajectory, with slack ``tol`` (metres, degrees)."""
    ctx = R.RuleContext(cfg=CFG, free_lo_m=np.asarray(env.free_space_cm.min) / CM_PER_M,
                        free_hi_m=np.asarray(env.free_space_cm.max) / CM_PER_M,
                        char_base_m=np.asarray(spec.character_location_cm) / CM_PER_M,
                        char_height_m=spec.character_height_m, loc_m=loc_m[None], rot_deg=rot[None], tol=tol)
    return {v.rule for stage in ("start", "trajectory") for v in R.check(ctx, stage)}


@settings(max_examples=40, deadline=None)
@given(cam=st.integers(0, 9), offset=st.tuples(*[st.floats(-6, 6, allow_nan=False)] * 3),
       dpitch=st.floats(-70, 70, allow_nan=False), start_dpitch=st.floats(-30, 30, allow_nan=False),
       toward=st.floats(0, 1.2, allow_nan=False), ramp=st.booleans())
def test_sampler_and_validate_agree(cam, offset, dpitch, start_dpitch, toward, ramp):
    """Move one camera of a planned scene (its path shifted by ``offset`` metres and tilted by ``dpitch`` degrees,
    and ``toward`` of the way to the torso, all at once or growing over the video; its start pitch by
    ``start_dpitch``): the sampler rejects it exactly
    when ``synth validate`` reports it from the written files, rule by rule."""
    spec, env = _scene()
    cs = spec.cameras[cam]
    frames = len(cs.location_cm)
    u = np.linspace(0.0, 1.0, frames)[:, None] if ramp else np.ones((frames, 1))
    loc0 = cs.location_cm / CM_PER_M
    torso = np.asarray(spec.aim_point_cm) / CM_PER_M
    loc = loc0 + u * (np.asarray(offset) * (toward < 0.5) + toward * (torso - loc0[0]))
    rot = np.array(cs.rotator_deg, float)
    rot[:, 0] += u[:, 0] * dpitch + start_dpitch
    assume(np.abs(rot[:, 0]).max() < 89.0)  # beyond the pole a rotator has another spelling (yaw + 180)
    # poses within the written precision's slack of a limit may go either way: the validator allows TOL
    strict, lax = _violations(spec, env, loc, rot, -2 * TOL), _violations(spec, env, loc, rot, 2 * TOL)
    assume(strict == lax)
    reason = constraint_violation(CFG, env, np.asarray(spec.character_location_cm) / CM_PER_M,
                                  spec.character_height_m, loc, rot)
    start_reason = constraint_violation(CFG, env, np.asarray(spec.character_location_cm) / CM_PER_M,
                                        spec.character_height_m, loc[:1], rot[:1], "start")
    moved = dataclasses.replace(cs, location_cm=loc * CM_PER_M, rotator_deg=rot)
    cams = list(spec.cameras)
    cams[cam] = moved
    with tempfile.TemporaryDirectory() as tmp:
        scene = Path(tmp) / "scene0"
        write_scene_files(scene, dataclasses.replace(spec, cameras=cams))
        problems = [p.message for p in validate_scene(scene, recipe=RECIPE, options=OPTS)]
    mine = [m for m in problems if m.startswith(f"{cs.name} frame")]
    reported = {rule for rule, key in KEYWORD.items() if any(key in m for m in mine)}
    event(f"reported: {sorted(reported)}")
    assert (reason is None and start_reason is None) == (not reported), (reason, start_reason, problems)
    assert reported == strict, problems
    assert (reason is None) == (not (reported - {"start_pitch"}))
    assert (start_reason is None) == ("start_pitch" not in reported)
    # every other camera is untouched and valid
    assert all(m.startswith(cs.name) or m.startswith(f"cameras.{cs.name}.") for m in problems), problems


def test_rules_report_frame_and_camera():
    spec, env = _scene()
    cs = spec.cameras[0]
    loc = np.repeat(cs.location_cm[None] / CM_PER_M, 3, 0)  # (3, F, 3): three copies of cam01
    rot = np.repeat(np.asarray(cs.rotator_deg, float)[None], 3, 0)
    loc[1, 40:, 2] = -100.0  # below the floor from frame 40
    rot[2, 7:, 0] = 85.0  # too steep from frame 7
    ctx = R.RuleContext(cfg=CFG, free_lo_m=np.asarray(env.free_space_cm.min) / CM_PER_M,
                        free_hi_m=np.asarray(env.free_space_cm.max) / CM_PER_M,
                        char_base_m=np.asarray(spec.character_location_cm) / CM_PER_M,
                        char_height_m=spec.character_height_m, loc_m=loc, rot_deg=rot)
    found = {(v.rule, v.camera, v.frame) for v in R.check(ctx, "trajectory")}
    assert ("min_height", 1, 40) in found and ("pitch", 2, 7) in found
    assert not any(c == 0 for _, c, _ in found)
    # the cameras the context marks invalid are skipped
    ctx = dataclasses.replace(ctx, valid=np.array([True, False, True]))
    assert {v.camera for v in R.check(ctx, "trajectory")} == {2}
