"""Camera recipe extras: constant per-camera roll (off by default, ``handheld`` preset) and full-body framing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synth.scenes.catalog import load_catalog
from synth.scenes.config import SynthConfig, load_config
from synth.scenes.framing import body_in_view, body_points, roll_range, sample_roll
from synth.core.unreal import axes_to_rotator, fmatrix_to_c2w, look_at_rotator, unreal_pose_to_fmatrix
from synth.scenes.sampling import sample_scene

CAT = load_catalog()


def _cfg(**framing) -> SynthConfig:
    cfg = load_config()
    return SynthConfig.model_validate({**cfg.model_dump(), "framing": {**cfg.framing.model_dump(), **framing}})


def _feasible(plan) -> bool:
    """Can any camera within the hemisphere frame the body? (level camera at the full radius, aimed at mid-body)"""
    base = np.asarray(plan.character_location_cm, float) / 100
    mid = base + [0, 0, plan.character_height_m / 2]
    eye = base + [plan.hemisphere_radius_m, 0, plan.character_height_m / 2]
    rot = look_at_rotator(eye * 100, mid * 100)
    return body_in_view(eye, rot, base, plan.character_height_m, plan.lens.focal_length_mm, plan.lens.sensor_mm,
                        plan.video.width, plan.video.height) >= 1.0


def _start_framing(plan, cam):
    base = np.asarray(plan.character_location_cm, float) / 100
    fm = cam.fmatrices()
    rot = axes_to_rotator(fm)  # measured from the written matrices, as synth stats does
    return rot, body_in_view(fm[0][3, :3] / 100, rot[0], base, plan.character_height_m, plan.lens.focal_length_mm,
                             plan.lens.sensor_mm, plan.video.width, plan.video.height)


def test_body_in_view_projects_known_points():
    """A camera 6 m in front of a 1.8 m body, aimed at its middle with a 24 mm lens frames it; turned 90 deg it
    does not; a 50 mm lens 2 m away cuts it."""
    base = np.array([0.0, 0.0, 0.0])
    eye = np.array([6.0, 0.0, 0.9])
    rot = look_at_rotator(eye * 100, np.array([0, 0, 90.0]))
    assert body_in_view(eye, rot, base, 1.8, 24, 23.76, 1280, 1280) == 1.0
    assert body_in_view(eye, rot + [0, 90, 0], base, 1.8, 24, 23.76, 1280, 1280) == 0.0
    near = np.array([2.0, 0.0, 0.9])
    assert body_in_view(near, look_at_rotator(near * 100, np.array([0, 0, 90.0])), base, 1.8, 50, 23.76,
                        1280, 1280) < 1.0
    assert body_points(base, 1.8).shape == (10, 3) and body_points(base, 1.8)[:, 2].max() == pytest.approx(1.8)


def test_roll_presets_and_bad_values():
    assert roll_range("none") == (0.0, 0.0) and roll_range("handheld") == (1.0, 5.0)
    assert sample_roll(np.random.default_rng(0), 0.0, 0.0) == 0.0
    with pytest.raises(ValueError, match="unknown roll preset"):
        roll_range("shaky")
    with pytest.raises(Exception, match="roll_abs_deg"):
        _cfg(roll="custom", roll_abs_deg=(5.0, 2.0))


def test_roll_round_trips_through_the_written_matrices():
    rot = np.array([[-12.0, 40.0, 3.5], [-12.0, 40.0, -4.25]])
    fm = unreal_pose_to_fmatrix(np.zeros((2, 3)), rot)
    np.testing.assert_allclose(axes_to_rotator(fm), rot, atol=1e-9)
    # roll turns the image about the optical axis: the camera's forward axis is unchanged
    c2w = fmatrix_to_c2w(fm)
    np.testing.assert_allclose(c2w[0, :3, 2], c2w[1, :3, 2], atol=1e-12)


@pytest.mark.slow  # everyday loop (-m 'not slow') stays under 3 min on 2 cores
def test_framing_over_1000_sampled_cameras():
    """Hypothesis over >= 1000 cameras (100 scenes x 10) of the default recipe: zero roll; the whole character in
    view at the start for >= 95% of all cameras (a 3 m hemisphere cannot frame a standing person head to feet with a
    35 or 50 mm lens: ``framing.lens_fits_environment`` draws such scenes' environments among larger ones)."""
    cfg = _cfg()
    feasible, all_ = [], []

    @settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(seed=st.integers(0, 2**31 - 1), index=st.integers(0, 10**6))
    def check(seed, index):
        plan = sample_scene(cfg, CAT, seed, index)
        ok = _feasible(plan)
        for cam in plan.cameras:
            rot, frac = _start_framing(plan, cam)
            assert np.abs(rot[:, 2]).max() < 1e-3  # roll off by default (up to %g rounding of the matrices)
            all_.append(frac >= 1.0)
            if ok:
                feasible.append(frac >= 1.0)

    check()
    assert len(all_) >= 1000
    assert np.mean(feasible) >= 0.95, (np.mean(feasible), len(feasible))
    assert np.mean(all_) >= 0.95, np.mean(all_)


@pytest.mark.slow  # everyday loop (-m 'not slow') stays under 3 min on 2 cores
def test_lens_fits_environment():
    """Scenes draw environments whose hemisphere lets their lens frame the tallest character; turned off, a 50 mm
    scene may land in a 3 m room again."""
    from synth.scenes.sampling import _environments_for, framing_distance_m, lens_for_index

    cfg = _cfg()
    tallest = max(c.height_m for c in CAT.drawable_characters())
    for i in range(len(cfg.lenses)):
        lens = lens_for_index(cfg, i)
        envs = _environments_for(cfg, CAT, lens)
        need = framing_distance_m(cfg, lens, tallest)
        for k in range(i, 400, len(cfg.lenses)):
            plan = sample_scene(cfg, CAT, 0, k)
            assert plan.environment_id in {e.id for e in envs}
            assert plan.hemisphere_radius_m >= need or len(envs) == len(CAT.environments)
    assert framing_distance_m(cfg, lens_for_index(cfg, 3), 1.8) > 3.0  # 50 mm: more than a room's 3 m
    off = _cfg(lens_fits_environment=False)
    assert _environments_for(off, CAT, lens_for_index(off, 3)) == list(CAT.environments)


@settings(max_examples=15, deadline=None, database=None)
@given(seed=st.integers(0, 2**31 - 1), index=st.integers(0, 10**6))
def test_handheld_roll_is_constant_small_and_of_both_signs(seed, index):
    cfg = _cfg(roll="handheld")
    plan = sample_scene(cfg, CAT, seed, index)
    rolls = []
    for cam in plan.cameras:
        rot, _ = _start_framing(plan, cam)
        assert np.ptp(rot[:, 2]) < 1e-3  # constant over the video (matrices are written with %g)
        assert 1.0 - 1e-3 <= abs(rot[0, 2]) <= 5.0 + 1e-3
        rolls.append(rot[0, 2])
    assert plan.cameras[0].rotator_deg[0, 2] == pytest.approx(rolls[0], abs=1e-3)


def test_handheld_gives_both_signs():
    cfg = _cfg(roll="handheld")
    signs = {np.sign(c.rotator_deg[0, 2]) for k in range(3) for c in sample_scene(cfg, CAT, 0, k).cameras}
    assert signs == {-1.0, 1.0}


def test_framing_can_be_disabled_and_stats_report_it(tmp_path):
    from typer.testing import CliRunner

    from synth.cli import app

    out = tmp_path / "ds"
    r = CliRunner().invoke(app, ["plan", "--scenes", "3", "--out", str(out)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["stats", str(out), "--json", str(tmp_path / "s.json")])
    assert r.exit_code == 0, r.output
    import json

    s = json.loads((tmp_path / "s.json").read_text())
    assert sum(s["categorical"]["start framing"].values()) == 30
    assert s["categorical"]["roll sign"] == {"0": 30}
    assert s["numeric"]["|roll| (deg)"]["out_of_range"] == 0
    assert "start framing" in r.output and "roll" in r.output
