"""Trajectory-family registry: a new family is one class plus its YAML block (plan, captions, validate, stats);
config errors for unknown families; version-1 configs still load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import field_validator
from typer.testing import CliRunner

from synth.cli import app
from synth.scenes.config import SynthConfig, config_digest, default_config_path, load_config
from synth.core.errors import ConfigError
from synth.core.layout import CAMERA_JSON, METADATA_CSV, RUN_MANIFEST
from synth.core.multicam_format import load_camera_extrinsics, read_scene_spec
from synth.families import (FamilyBlock, FamilyContext, TrajectoryFamily, UnknownFamilyError, families, get_family,
                            register_family)
from synth.families.base import Range, check_range, round_json, sentence

run = CliRunner().invoke
REPO = Path(__file__).resolve().parents[1]

#: the built-in families (the modules of :mod:`synth.families`), in draw order, read from the registry
#: the zooming families live in the zoom recipe (configs/synth/multicamvideo_zoom.yaml), not in MultiCamVideo's
ZOOM = ["zoom", "dolly_zoom"]
BUILTIN = [n for n, f in families().items() if type(f).__module__.startswith("synth.families.") and n not in ZOOM]


# --- the toy family: everything a new family needs, in one class ------------------------------------------------
class DollyZoomConfig(FamilyBlock):
    distance_fraction: Range

    @field_validator("distance_fraction")
    @classmethod
    def _r(cls, v: Range) -> Range:
        return check_range(v, 0.0, 0.9, positive=True)


@register_family
class DollyZoom(TrajectoryFamily):
    """Move along the start's optical axis (in or out) by a fraction of the distance to the character."""

    name = "toy_dolly"
    Config = DollyZoomConfig

    def sample(self, block, ctx: FamilyContext, rng):
        frac = rng.uniform(*block.distance_fraction)
        inward = bool(rng.uniform() < 0.5)
        forward = ctx.torso_m - ctx.start_loc_m
        forward = forward / np.linalg.norm(forward)
        dist = frac * ctx.distance_to_character_m
        loc = ctx.start_loc_m + ctx.u[:, None] * (dist if inward else -dist) * forward
        rot = np.repeat(np.asarray(ctx.start_rot_deg, float)[None], len(ctx.u), 0)
        params = {"direction": "in" if inward else "out", "distance_m": round_json(dist),
                  "distance_fraction": round_json(frac)}
        return params, loc, rot

    def caption(self, params, speed_phrase):
        return sentence(f"the camera dollies {params['direction']} by {params['distance_m']:.1f} metres {speed_phrase}")

    def stats(self, params, block):
        return [("dolly distance / distance-to-character", params["distance_fraction"], block.distance_fraction)]

    def categorical(self, params):
        return {"dolly direction": params["direction"]}


def _config(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(default_config_path().read_text())
    mutate(data)
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def test_builtin_families_registered(tmp_path):
    assert len(BUILTIN) >= 6 and "toy_dolly" not in BUILTIN
    assert list(load_config().trajectories) == BUILTIN
    assert list(load_config(REPO / "configs/synth/multicamvideo_zoom.yaml").trajectories) == BUILTIN + ZOOM
    # the draw order is the families', not the YAML's (the digest ignores key order, so must the scenes)
    p = tmp_path / "sorted.yaml"
    p.write_text(yaml.safe_dump(yaml.safe_load(default_config_path().read_text()), sort_keys=True))
    assert list(load_config(p).trajectories) == list(load_config().trajectories)
    assert config_digest(load_config(p)) == config_digest(load_config())
    assert {*BUILTIN, *ZOOM, "toy_dolly"} <= set(families())
    with pytest.raises(UnknownFamilyError, match="unknown trajectory family 'warp'; registered: .*pan"):
        get_family("warp")
    with pytest.raises(ValueError, match="Python identifier"):
        register_family(type("Weights", (TrajectoryFamily,), {"name": "weights"}))

    class Other(TrajectoryFamily):
        name = "pan"

    with pytest.raises(ValueError, match="already registered"):
        register_family(Other)


def test_new_family_is_one_class_and_a_yaml_block(tmp_path):
    cfg = _config(tmp_path, lambda d: d["trajectories"].update(
        toy_dolly={"weight": 2.0, "distance_fraction": [0.1, 0.4]}))
    out = tmp_path / "ds"
    r = run(app, ["plan", "--scenes", "3", "--seed", "2", "--out", str(out), "--config", str(cfg)])
    assert r.exit_code == 0, r.output
    block = load_config(cfg).trajectories.toy_dolly
    fam = get_family("toy_dolly")
    seen = 0
    for scene in sorted(out.glob("train/*/scene*")):
        spec = read_scene_spec(scene)
        c2w = load_camera_extrinsics(scene / CAMERA_JSON)
        torso = np.asarray(spec.aim_point_cm) / 100
        for cam in spec.cameras:
            if cam.family != "toy_dolly":
                continue
            seen += 1
            p = cam.params
            assert fam.check(p, block) == []
            assert 0.1 <= p["distance_fraction"] <= 0.4 and p["direction"] in ("in", "out")
            assert cam.caption.startswith(f"The camera dollies {p['direction']} by")
            pos = c2w[cam.name][:, :3, 3]
            to_torso = (torso - pos[0]) / np.linalg.norm(torso - pos[0])
            moved = pos[-1] - pos[0]
            assert np.linalg.norm(moved) == pytest.approx(p["distance_m"], abs=2e-4)
            assert np.dot(moved, to_torso) * (1 if p["direction"] == "in" else -1) > 0
            # the camera keeps its start rotation
            assert np.abs(c2w[cam.name][:, :3, :3] - c2w[cam.name][:1, :3, :3]).max() < 1e-5
    assert seen >= 3  # weight 2 of 3 in the mixture: ~20 of 30 cameras
    assert "The camera dollies" in (out / METADATA_CSV).read_text()
    assert fam.check({**p, "distance_fraction": 0.9}, block) == [
        "dolly distance / distance-to-character 0.9 outside the configured [0.1, 0.4]"]

    r = run(app, ["validate", str(out)])
    assert r.exit_code == 0, r.output
    r = run(app, ["stats", str(out), "--strict", "--json", str(tmp_path / "st.json")])
    assert r.exit_code == 0, r.output
    st = json.loads((tmp_path / "st.json").read_text())
    assert st["categorical"]["trajectory"]["toy_dolly"] == seen
    assert st["expected_fractions"]["trajectory"]["toy_dolly"] == pytest.approx(2.0 / 3.0)
    assert sum(st["categorical"]["dolly direction"].values()) == seen
    num = st["numeric"]["dolly distance / distance-to-character"]
    assert num["n"] == seen and num["expected"] == [0.1, 0.4] and num["out_of_range"] == 0


def test_unknown_family_key_fails_clearly(tmp_path):
    cfg = _config(tmp_path, lambda d: d["trajectories"].update(warp={"weight": 1.0}))
    with pytest.raises(ConfigError) as e:
        load_config(cfg)
    msg = str(e.value)
    assert str(cfg) in msg and "trajectories.warp: unknown trajectory family; registered:" in msg and "pan" in msg
    r = run(app, ["plan", "--scenes", "1", "--out", str(tmp_path / "o"), "--config", str(cfg)])
    assert r.exit_code == 2 and "trajectories.warp" in r.output and not (tmp_path / "o").exists()
    # a family's own keys are checked by its Config
    cfg = _config(tmp_path, lambda d: d["trajectories"]["arc"].pop("weight"))
    with pytest.raises(ConfigError, match=r"trajectories\.arc\.weight: Field required"):
        load_config(cfg)


def _as_v1(data: dict) -> dict:
    """A version-2 config document written the version-1 way (weights beside the blocks; static had no block)."""
    traj = data["trajectories"]
    v1 = {"weights": {k: b["weight"] for k, b in traj.items()}}
    v1.update({k: {kk: vv for kk, vv in b.items() if kk != "weight"} for k, b in traj.items() if k != "static"})
    return {**data, "version": 1, "trajectories": v1}


def test_version_1_configs_and_manifests_still_load(tmp_path):
    data = yaml.safe_load(default_config_path().read_text())
    p = tmp_path / "v1.yaml"
    p.write_text(yaml.safe_dump(_as_v1(data), sort_keys=False))
    assert config_digest(load_config(p)) == config_digest(load_config())
    assert list(load_config(p).trajectories) == list(load_config().trajectories)
    # a dataset whose synth_run.json holds a version-1 config: stats reads its ranges and weights
    out = tmp_path / "ds"
    assert run(app, ["plan", "--scenes", "2", "--out", str(out)]).exit_code == 0
    assert run(app, ["stats", str(out), "--json", str(tmp_path / "a.json")]).exit_code == 0
    manifest = json.loads((out / RUN_MANIFEST).read_text())
    manifest["config"] = _as_v1(manifest["config"])
    (out / RUN_MANIFEST).write_text(json.dumps(manifest))
    r = run(app, ["stats", str(out), "--strict", "--json", str(tmp_path / "b.json")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "a.json").read_text() == (tmp_path / "b.json").read_text()


@settings(max_examples=30, deadline=None)
@given(st.permutations(BUILTIN),
       st.lists(st.floats(0, 10, allow_nan=False), min_size=len(BUILTIN), max_size=len(BUILTIN)))
def test_v1_upgrade_keeps_every_weight_in_draw_order(order, weights):
    assume(sum(weights) > 0)
    data = yaml.safe_load(default_config_path().read_text())
    v1 = _as_v1(data)
    v1["trajectories"]["weights"] = dict(zip(order, weights))
    cfg = SynthConfig.model_validate(v1)
    assert cfg.version == 2 and list(cfg.trajectories) == BUILTIN
    assert cfg.trajectories.weights == dict(zip(order, weights))
    assert cfg.trajectories.arc.angle_deg == tuple(data["trajectories"]["arc"]["angle_deg"])
