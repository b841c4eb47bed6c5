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
from pydantic import ValidationError

from ..scenes.config import SynthConfig, load_config
from ..core.errors import ConfigError, format_validation_error
from ..core.units import CM_PER_M
from ..core.unreal import axes_to_rotator
from ..core.layout import CAMERA_JSON, RUN_MANIFEST, lens_dir_name
from ..core.multicam_format import iter_scene_dirs, read_camera_fmatrices
from ..core.scene_spec import SceneSpec
from ..families import families
from .writer import read_spec_or_none

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
    """The run's config from ``synth_run.json`` (version-1 configs are upgraded), else the default."""
    manifest = root / RUN_MANIFEST
    if manifest.exists():
        try:
            return SynthConfig.model_validate(json.loads(manifest.read_text())["config"])
        except ValidationError as e:  # e.g. a family that is not registered in this installation
            raise ConfigError(format_validation_error(e, f"{manifest}: config")) from None
    return load_config()


def _framing_block(st: DatasetStats, cfg: SynthConfig, spec: SceneSpec, fm: np.ndarray, centre: np.ndarray) -> None:
    """Roll (deg, |roll| against the configured range) and whether the start frame shows the whole character."""
    from ..scenes.framing import body_in_view, roll_range

    rot = axes_to_rotator(fm)
    lo, hi = roll_range(cfg.framing.roll, cfg.framing.roll_abs_deg)
    st.add("|roll| (deg)", abs(rot[0, 2]), (max(lo - 1e-3, 0.0), hi + 1e-3))  # matrices are written with %g
    st.add("roll change over the video (deg)", np.ptp(rot[:, 2]), (0.0, 0.01))
    st.categorical["roll sign"]["0" if abs(rot[0, 2]) < 1e-3 else ("+" if rot[0, 2] > 0 else "-")] += 1
    lens, v = spec.lens, spec.video
    frac = body_in_view(fm[0][3, :3] / CM_PER_M, rot[0], centre, spec.character_height_m, lens.focal_length_mm,
                        lens.sensor_mm, v.width, v.height, cfg.framing.margin_frac, cfg.framing.body_radius_m)
    st.categorical["start framing"]["whole body" if frac >= 1.0 else "partial body"] += 1


def collect_stats(root: Path) -> DatasetStats:
    """Distributions of every scene under ``root`` (see module docstring).

    Raises:
        ConfigError: the config in ``synth_run.json`` is invalid here (e.g. names a family not registered).
    """
    root = Path(root)
    cfg = _config_of(root)
    t = cfg.trajectories
    st = DatasetStats()
    w = t.weights
    registered = families()
    st.expected_fractions["trajectory"] = {k: v / sum(w.values()) for k, v in w.items()}
    st.expected_fractions["lens"] = {lens_dir_name(p.focal_length_mm, p.aperture_f): 1 / len(cfg.lenses)
                                     for p in cfg.lenses}
    st.expected_fractions["speed"] = {"constant": 1 - cfg.speed.eased_fraction, "eased": cfg.speed.eased_fraction}
    radii = cfg.hemisphere.radii_m
    for scene_dir in iter_scene_dirs(root):
        spec = read_spec_or_none(scene_dir)
        if spec is None:
            continue
        st.scenes += 1
        st.categorical["lens"][scene_dir.parent.name] += 1
        st.categorical["environment"][spec.environment_id] += 1
        st.categorical["character"][spec.character_id] += 1
        st.categorical["animation"][spec.animation_id] += 1
        radius = spec.hemisphere_radius_m
        st.categorical["hemisphere_radius_m"][f"{radius:g}"] += 1
        centre = np.asarray(spec.character_location_cm, float) / CM_PER_M
        try:
            mats = read_camera_fmatrices(scene_dir / CAMERA_JSON)
        except ValueError:
            mats = {}
        for c in spec.cameras:
            cam = c.name
            st.cameras += 1
            fam, p, sp = c.family, c.params, c.speed
            st.categorical["trajectory"][fam] += 1
            st.categorical["speed"][sp.profile] += 1
            if sp.profile == "eased":
                st.add("speed |a|", abs(sp.a), cfg.speed.a_abs)
                st.categorical["speed sign"]["a>0 (fast->slow)" if sp.a > 0 else "a<0 (slow->fast)"] += 1
            st.add("distance to character (m)", p["distance_to_character_m"])
            if cam in mats:
                m0 = mats[cam][0]
                st.add("start distance to centre / radius", np.linalg.norm(m0[3, :3] / CM_PER_M - centre) / radius,
                       (0.0, 1.0))
                pitch = axes_to_rotator(mats[cam])[:, 0]
                st.add("start pitch (deg)", pitch[0], (-cfg.start.max_abs_pitch_deg, cfg.start.max_abs_pitch_deg))
                st.add("any-frame |pitch| (deg)", np.abs(pitch).max(), (0, cfg.constraints.max_abs_pitch_deg))
                _framing_block(st, cfg, spec, mats[cam], centre)
            fam_impl, block = registered.get(fam), t.get(fam)
            if fam_impl is not None and block is not None:
                for name, value, expected in fam_impl.stats(p, block):
                    st.add(name, value, expected)
            if fam_impl is not None:
                for name, value in fam_impl.categorical(p).items():
                    st.categorical[name][value] += 1
    if st.scenes:
        st.numeric.setdefault("hemisphere radius (m)",
                              Numeric("hemisphere radius (m)", expected=(min(radii), max(radii))))
    for r, n in st.categorical.get("hemisphere_radius_m", {}).items():
        st.numeric["hemisphere radius (m)"].values += [float(r)] * n
    return st
