"""Every rule of the MultiCamVideo recipe, checked on 1,000 planned scenes (10,000 cameras) from the written files
alone: ``camera_extrinsics.json`` parsed back with upstream's conversion (literal re-implementation below, not our
library) and ``scene.json``. The checks are an independent computation of each rule."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from typer.testing import CliRunner

from synth.cli import app
from synth.scenes.config import load_config

N_SCENES = 1000
SEED = 7


def upstream_c2w(text: str) -> np.ndarray:
    """Literal copy of the steps in ReCamMaster's train_recammaster.py (parse_matrix + conversion)."""
    rows = text.strip().split("] [")
    m = np.array([list(map(float, r.replace("[", "").replace("]", "").split())) for r in rows])
    c2w = m.T[:, [1, 2, 0, 3]]
    c2w[:3, 1] *= -1.0
    c2w[:3, 3] /= 100
    return c2w


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    out = tmp_path_factory.mktemp("plan") / "ds"
    res = CliRunner().invoke(app, ["plan", "--scenes", str(N_SCENES), "--seed", str(SEED), "--out", str(out)])
    assert res.exit_code == 0, res.output
    scenes = []
    for sj in sorted(out.glob("train/*/scene*/scene.json")):
        meta = json.loads(sj.read_text())
        raw = json.loads((sj.parent / "cameras" / "camera_extrinsics.json").read_text())
        c2w = {cam: np.stack([upstream_c2w(raw[f"frame{f}"][cam]) for f in range(len(raw))]) for cam in raw["frame0"]}
        scenes.append((sj.parent, meta, c2w))
    return out, scenes


def progress(profile: str, a, n: int) -> np.ndarray:
    x = np.arange(n) / (n - 1)
    return x if profile == "constant" else (1 - np.exp(-a * x)) / (1 - np.exp(-a))


def yaw_pitch(fwd: np.ndarray):
    """Unreal yaw/pitch (deg) of forward vectors (..., 3) in Unreal axes."""
    return np.degrees(np.arctan2(fwd[..., 1], fwd[..., 0])), np.degrees(np.arcsin(np.clip(fwd[..., 2], -1, 1)))


def wrap(d):
    return (np.asarray(d) + 180.0) % 360.0 - 180.0


def seg_dist(p, base, h):
    z = np.clip(p[:, 2], base[2], base[2] + h)
    return np.linalg.norm(p - np.c_[np.full(len(p), base[0]), np.full(len(p), base[1]), z], axis=1)


@pytest.mark.slow  # plans 1,000 scenes (~2 min of CPU); the everyday loop stays under 3 min on 2 cores
def test_counts_and_layout(planned):
    out, scenes = planned
    cfg = load_config()
    assert len(scenes) == N_SCENES
    n_cams = sum(len(c) for _, _, c in scenes)
    assert n_cams == N_SCENES * 10 >= 10_000
    for d, meta, c2w in scenes:
        assert list(c2w) == [f"cam{j:02d}" for j in range(1, 11)]
        assert all(v.shape == (81, 4, 4) for v in c2w.values())
        lens = meta["lens"]
        assert d.parent.name == f"f{lens['focal_length_mm']:g}_aperture{lens['aperture_f']:g}"
        assert d.name == f"scene{meta['index']}"
        assert meta["seed"] == SEED
    # lens presets balanced: counts differ by at most one
    counts = Counter(d.parent.name for d, _, _ in scenes)
    assert len(counts) == len(cfg.lenses) and max(counts.values()) - min(counts.values()) <= 1
    rows = (out / "metadata.csv").read_text().splitlines()
    assert rows[0] == "file_name,text" and len(rows) == 1 + n_cams
    assert rows[1].split(",", 1)[1].startswith('"')


@pytest.mark.slow  # plans 1,000 scenes (~2 min of CPU); the everyday loop stays under 3 min on 2 cores
def test_every_rule(planned):
    _, scenes = planned
    cfg = load_config()
    t, c, s = cfg.trajectories, cfg.constraints, cfg.start
    tol = 1e-3
    fam_counts, signs = Counter(), Counter()
    for d, meta, c2w in scenes:
        env = meta["environment"]
        R = env["hemisphere_radius_m"]
        assert R in cfg.hemisphere.radii_m
        lo = np.array(env["free_space_cm"]["min"]) / 100
        hi = np.array(env["free_space_cm"]["max"]) / 100
        width = min(hi[0] - lo[0], hi[1] - lo[1])
        fitting = [r for r in cfg.hemisphere.radii_m if 2 * r <= width + 1e-9]
        assert R == (max(fitting) if fitting else min(cfg.hemisphere.radii_m)), d
        ch = meta["character"]
        base = np.array(ch["location_cm"]) / 100
        height = ch["height_m"]
        torso = base + [0, 0, height * cfg.placement.torso_height_fraction]
        assert np.allclose(np.array(ch["aim_point_cm"]) / 100, torso, atol=1e-5)
        f_mm, sensor = meta["lens"]["focal_length_mm"], meta["lens"]["sensor_mm"]
        W, H = meta["video"]["width"], meta["video"]["height"]
        fpx = f_mm / sensor * W
        for cam, M in c2w.items():
            info = meta["cameras"][cam]
            fam, p, sp = info["trajectory"], info["params"], info["speed"]
            fam_counts[fam] += 1
            P, Rm = M[:, :3, 3], M[:, :3, :3]
            fwd = Rm[:, :, 2]
            # upstream conversion keeps the left-handed world: det = -1
            assert np.allclose(np.linalg.det(Rm), -1, atol=1e-4)
            # --- start: inside the hemisphere, clear of the character, pitch, aimed at the torso
            assert np.linalg.norm(P[0] - base) <= R + tol and P[0, 2] >= base[2] - tol, (d, cam)
            assert seg_dist(P[:1], base, height)[0] > 0.5
            yaw0, pitch0 = yaw_pitch(fwd[0])
            assert abs(pitch0) <= s.max_abs_pitch_deg + tol
            ty, tp = yaw_pitch((torso - P[0]) / np.linalg.norm(torso - P[0]))
            assert abs(wrap(yaw0 - ty)) <= s.aim_jitter_deg + tol and abs(pitch0 - tp) <= s.aim_jitter_deg + tol
            # no roll: camera x axis stays horizontal
            assert np.abs(Rm[:, 2, 0]).max() < 1e-4
            # --- every frame: free space, floor, clearance, pitch
            assert np.all(P[:, :2] >= lo[:2] + c.wall_margin_m - tol) and np.all(P[:, :2] <= hi[:2] - c.wall_margin_m + tol)
            assert np.all(P[:, 2] >= lo[2] + c.min_camera_height_m - tol) and np.all(P[:, 2] <= hi[2] - c.ceiling_margin_m + tol)
            assert np.all(seg_dist(P, base, height) > c.min_clearance_m - tol)
            yaw, pitch = yaw_pitch(fwd)
            assert np.all(np.abs(pitch) <= c.max_abs_pitch_deg + tol)
            # --- speed profile
            assert sp["profile"] in ("constant", "eased")
            if sp["profile"] == "eased":
                assert cfg.speed.a_abs[0] - 1e-9 <= abs(sp["a"]) <= cfg.speed.a_abs[1] + 1e-9
                signs[np.sign(sp["a"])] += 1
            u = progress(sp["profile"], sp["a"], len(P))
            d0 = np.linalg.norm(P[0] - torso)
            assert p["distance_to_character_m"] == pytest.approx(d0, abs=2e-4)
            dyaw, dpitch = wrap(yaw - yaw0), pitch - pitch0
            moved = np.linalg.norm(P - P[0], axis=1)
            # --- families
            if fam == "static":
                assert moved.max() < 1e-5 and np.abs(dyaw).max() < 1e-3 and np.abs(dpitch).max() < 1e-3
            elif fam in ("pan", "tilt"):
                lo_a, hi_a = (t.pan if fam == "pan" else t.tilt).angle_deg
                assert lo_a - tol <= p["angle_deg"] <= hi_a + tol
                assert moved.max() < 1e-5
                sign = {"right": 1, "left": -1, "up": 1, "down": -1}[p["direction"]]
                change, other = (dyaw, dpitch) if fam == "pan" else (dpitch, dyaw)
                assert np.abs(change - sign * p["angle_deg"] * u).max() < 2e-3, (d, cam)
                assert np.abs(other).max() < 2e-3
            elif fam == "translate":
                axis = {"x": 0, "y": 1, "z": 2}[p["axis"]]
                direction = Rm[0][:, axis] if p["frame"] == "camera" else np.eye(3)[axis]
                total = P[-1] - P[0]
                assert np.linalg.norm(total) == pytest.approx(p["distance_m"], abs=2e-4)
                # %g keeps 6 significant digits: positions up to ~20 m carry 1e-4 m of quantisation each
                q = 2e-4 / np.linalg.norm(total)
                assert np.allclose(total / np.linalg.norm(total), p["direction"] * direction, atol=q + 1e-5)
                frac = np.linalg.norm(total) / d0
                assert t.translate.distance_fraction[0] - 1e-3 <= frac <= t.translate.distance_fraction[1] + 1e-3
                assert np.abs(P - (P[0] + u[:, None] * total)).max() < 2e-4
                assert np.abs(dyaw).max() < 1e-3 and np.abs(dpitch).max() < 1e-3
            elif fam == "arc":
                assert t.arc.angle_deg[0] - tol <= p["angle_deg"] <= t.arc.angle_deg[1] + tol
                rel = P[:, :2] - base[:2]
                r_h = np.linalg.norm(rel, axis=1)
                assert np.ptp(r_h) < 2e-4 and np.ptp(P[:, 2]) < 2e-4
                ang = np.degrees(np.unwrap(np.arctan2(rel[:, 1], rel[:, 0])))
                sign = 1 if p["direction"] == "left" else -1
                assert np.abs((ang - ang[0]) - sign * p["angle_deg"] * u).max() < 2e-2
                assert np.abs(dyaw - sign * p["angle_deg"] * u).max() < 2e-3
            elif fam == "random":
                r = t.random
                assert r.waypoints[0] <= p["num_waypoints"] <= r.waypoints[1] == 3
                length = np.linalg.norm(np.diff(P, axis=0), axis=1).sum()
                assert length == pytest.approx(p["length_m"], rel=0.02, abs=2e-3)
                assert r.length_fraction[0] - 2e-3 <= p["length_m"] / d0 <= r.length_fraction[1] + 2e-3
                wps = np.array(p["waypoints_cm"]) / 100
                assert np.linalg.norm(P[-1] - wps[-1]) < 2e-3
                max_step = np.linalg.norm(np.diff(P, axis=0), axis=1).max()
                for w in wps:  # the path passes through every waypoint (between two frames at most)
                    assert np.linalg.norm(P - w, axis=1).min() <= max_step + 2e-3
                # keeps aiming at the torso with the start's jitter offset
                ty_all, tp_all = yaw_pitch((torso - P) / np.linalg.norm(torso - P, axis=1)[:, None])
                assert np.abs(wrap((yaw - ty_all) - (yaw0 - ty))).max() < 1e-2
                assert np.abs((pitch - tp_all) - (pitch0 - tp)).max() < 1e-2
            # --- the character's torso stays in view for arc and random (look-at) paths
            if fam in ("arc", "random"):
                w2c_R = np.swapaxes(Rm, 1, 2)
                pc = np.einsum("fij,fj->fi", w2c_R, torso - P)
                uv = pc[:, :2] / pc[:, 2:] * fpx + [W / 2, H / 2]
                assert np.all(pc[:, 2] > 0) and np.all((uv >= 0) & (uv <= [W, H])), (d, cam)
    # family mixture near its weights (10,000 draws: 4 sigma), both signs of `a` present
    total = sum(fam_counts.values())
    w = t.weights
    for fam, weight in w.items():
        pexp = weight / sum(w.values())
        assert abs(fam_counts[fam] / total - pexp) < 4 * np.sqrt(pexp * (1 - pexp) / total) + 0.01, fam_counts
    assert signs[1] > 0 and signs[-1] > 0


@pytest.mark.slow  # plans 1,000 scenes (~2 min of CPU); the everyday loop stays under 3 min on 2 cores
def test_validate_and_stats_accept_plan(planned, tmp_path):
    out, _ = planned
    r = CliRunner().invoke(app, ["validate", str(out)])
    assert r.exit_code == 0, r.output
    # the JSON goes outside the dataset: outputs never go into an input dataset (path policy, docs/errors.md)
    r = CliRunner().invoke(app, ["stats", str(out), "--strict", "--json", str(tmp_path / "stats.json")])
    assert r.exit_code == 0, r.output
    st = json.loads((tmp_path / "stats.json").read_text())
    assert st["cameras"] == N_SCENES * 10
    assert all(v["out_of_range"] == 0 for v in st["numeric"].values())


def test_scene_identity_independent_of_shards(tmp_path):
    full, sharded = tmp_path / "full", tmp_path / "sharded"
    run = CliRunner().invoke
    assert run(app, ["plan", "--scenes", "12", "--seed", "3", "--out", str(full)]).exit_code == 0
    for i in (2, 0, 1):  # out of order
        assert run(app, ["plan", "--scenes", "12", "--seed", "3", "--out", str(sharded), "--shard", f"{i}/3"]).exit_code == 0
    files = sorted(p.relative_to(full) for p in full.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(sharded) for p in sharded.rglob("*") if p.is_file())
    for f in files:
        assert (full / f).read_bytes() == (sharded / f).read_bytes(), f
