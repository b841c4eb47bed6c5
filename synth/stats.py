"""``synth stats``: sampled distributions of a dataset against the configured ranges.

Reads ``scene.json`` (sampled parameters) and ``camera_extrinsics.json`` (start pitch, distances, measured with
upstream's conversion) of every scene; the configured ranges come from the dataset's ``synth_run.json`` (or the
default config).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from .config import SynthConfig, load_config
from .geometry import axes_to_rotator
from .multicam_format import CAMERA_JSON, iter_scene_dirs, read_camera_fmatrices
from .writer import RUN_MANIFEST, read_scene_json

__all__ = ["DatasetStats", "collect_stats", "Numeric"]


@dataclass
class Numeric:
    """A sampled quantity with its configured range (None = no range)."""

    name: str
    values: List[float] = field(default_factory=list)
    expected: Optional[Tuple[float, float]] = None

    def summary(self) -> Dict[str, float]:
        v = np.asarray(self.values, float)
        if not len(v):
            return {"n": 0}
        q = np.percentile(v, [0, 5, 50, 95, 100])
        return {"n": int(len(v)), "min": q[0], "p5": q[1], "median": q[2], "p95": q[3], "max": q[4]}

    def out_of_range(self, tol: float = 1e-6) -> int:
        if self.expected is None or not self.values:
            return 0
        v = np.asarray(self.values, float)
        return int(np.sum((v < self.expected[0] - tol) | (v > self.expected[1] + tol)))


@dataclass
class DatasetStats:
    scenes: int = 0
    cameras: int = 0
    categorical: Dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    expected_fractions: Dict[str, Dict[str, float]] = field(default_factory=dict)
    numeric: Dict[str, Numeric] = field(default_factory=dict)

    def add(self, name: str, value: float, expected: Optional[Tuple[float, float]] = None) -> None:
        self.numeric.setdefault(name, Numeric(name, expected=expected)).values.append(float(value))

    def to_json(self) -> dict:
        return {
            "scenes": self.scenes, "cameras": self.cameras,
            "categorical": {k: dict(v) for k, v in self.categorical.items()},
            "expected_fractions": self.expected_fractions,
            "numeric": {k: {**v.summary(), "expected": v.expected, "out_of_range": v.out_of_range()}
                        for k, v in self.numeric.items()},
        }


def _config_of(root: Path) -> SynthConfig:
    manifest = root / RUN_MANIFEST
    if manifest.exists():
        return SynthConfig.model_validate(json.loads(manifest.read_text())["config"])
    return load_config()


def _framing_block(st: DatasetStats, cfg: SynthConfig, meta: dict, fm: np.ndarray, centre: np.ndarray) -> None:
    """Roll (deg, |roll| against the configured range) and whether the start frame shows the whole character."""
    from .framing import body_in_view, roll_range

    rot = axes_to_rotator(fm)
    lo, hi = roll_range(cfg.framing.roll, cfg.framing.roll_abs_deg)
    st.add("|roll| (deg)", abs(rot[0, 2]), (max(lo - 1e-3, 0.0), hi + 1e-3))  # matrices are written with %g
    st.add("roll change over the video (deg)", np.ptp(rot[:, 2]), (0.0, 0.01))
    st.categorical["roll sign"]["0" if abs(rot[0, 2]) < 1e-3 else ("+" if rot[0, 2] > 0 else "-")] += 1
    lens, v = meta["lens"], meta["video"]
    frac = body_in_view(fm[0][3, :3] / 100, rot[0], centre, meta["character"]["height_m"], lens["focal_length_mm"],
                        lens["sensor_mm"], v["width"], v["height"], cfg.framing.margin_frac, cfg.framing.body_radius_m)
    st.categorical["start framing"]["whole body" if frac >= 1.0 else "partial body"] += 1


def collect_stats(root: Path) -> DatasetStats:
    """Distributions of every scene under ``root`` (see module docstring)."""
    root = Path(root)
    cfg = _config_of(root)
    t = cfg.trajectories
    st = DatasetStats()
    w = t.weights.model_dump()
    st.expected_fractions["trajectory"] = {k: v / sum(w.values()) for k, v in w.items()}
    st.expected_fractions["lens"] = {f"f{p.focal_length_mm:g}_aperture{p.aperture_f:g}": 1 / len(cfg.lenses)
                                     for p in cfg.lenses}
    st.expected_fractions["speed"] = {"constant": 1 - cfg.speed.eased_fraction, "eased": cfg.speed.eased_fraction}
    radii = cfg.hemisphere.radii_m
    for scene_dir in iter_scene_dirs(root):
        meta = read_scene_json(scene_dir)
        if meta is None:
            continue
        st.scenes += 1
        lens = meta["lens"]
        st.categorical["lens"][f"f{lens['focal_length_mm']:g}_aperture{lens['aperture_f']:g}"] += 1
        st.categorical["environment"][meta["environment"]["id"]] += 1
        st.categorical["character"][meta["character"]["id"]] += 1
        st.categorical["animation"][meta["animation"]["id"]] += 1
        radius = meta["environment"]["hemisphere_radius_m"]
        st.categorical["hemisphere_radius_m"][f"{radius:g}"] += 1
        centre = np.asarray(meta["character"]["location_cm"], float) / 100
        try:
            mats = read_camera_fmatrices(scene_dir / CAMERA_JSON)
        except ValueError:
            mats = {}
        for cam, c in meta["cameras"].items():
            st.cameras += 1
            fam, p, sp = c["trajectory"], c["params"], c["speed"]
            st.categorical["trajectory"][fam] += 1
            st.categorical["speed"][sp["profile"]] += 1
            if sp["profile"] == "eased":
                st.add("speed |a|", abs(sp["a"]), cfg.speed.a_abs)
                st.categorical["speed sign"]["a>0 (fast->slow)" if sp["a"] > 0 else "a<0 (slow->fast)"] += 1
            st.add("distance to character (m)", p["distance_to_character_m"])
            if cam in mats:
                m0 = mats[cam][0]
                st.add("start distance to centre / radius", np.linalg.norm(m0[3, :3] / 100 - centre) / radius,
                       (0.0, 1.0))
                pitch = axes_to_rotator(mats[cam])[:, 0]
                st.add("start pitch (deg)", pitch[0], (-cfg.start.max_abs_pitch_deg, cfg.start.max_abs_pitch_deg))
                st.add("any-frame |pitch| (deg)", np.abs(pitch).max(), (0, cfg.constraints.max_abs_pitch_deg))
                # --- roll and start framing (synth/framing.py) ---
                _framing_block(st, cfg, meta, mats[cam], centre)
            if fam == "pan":
                st.add("pan angle (deg)", p["angle_deg"], t.pan.angle_deg)
            elif fam == "tilt":
                st.add("tilt angle (deg)", p["angle_deg"], t.tilt.angle_deg)
            elif fam == "translate":
                st.add("translate distance / distance-to-character", p["distance_fraction"],
                       t.translate.distance_fraction)
                st.categorical["translate axis"][f"{'+' if p['direction'] > 0 else '-'}{p['axis']}"] += 1
            elif fam == "arc":
                st.add("arc angle (deg)", p["angle_deg"], t.arc.angle_deg)
            elif fam == "random":
                st.add("random path length / distance-to-character", p["length_fraction"], t.random.length_fraction)
                st.categorical["random waypoints"][str(p["num_waypoints"])] += 1
    if st.scenes:
        st.numeric.setdefault("hemisphere radius (m)", Numeric("hemisphere radius (m)", expected=(min(radii), max(radii))))
    for r, n in st.categorical.get("hemisphere_radius_m", {}).items():
        st.numeric["hemisphere radius (m)"].values += [float(r)] * n
    return st
