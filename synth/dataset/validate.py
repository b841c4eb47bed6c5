"""``synth validate``: check a MultiCamVideo-format dataset (ours or the official one) and report every problem.

Checks, each reported with the file and the field:

* **format** (every dataset): layout (lens folders, scene folders, ``val/`` reference trajectories), camera JSON
  completeness (frames x cameras), the exact ``FMatrix::ToString()`` grammar of every matrix string (commas, tabs,
  double spaces are rejected: upstream's ``parse_matrix`` cannot read them), poses (finite, orthonormal,
  right-handed rows in Unreal's world, FMatrix padding), ``metadata.csv`` (UTF-8, references), and, where videos
  exist, their frame count, fps, size and readability; with ``decode=True`` every frame of every video is decoded
  and corrupt frames are reported.
* **recipe** (our datasets, which carry ``scene.json``): every rule of the configured recipe from the written
  cameras and ``scene.json``: hemisphere radius, start distance (``start.min_distance_m`` .. radius, > clearance,
  above the ground), start aimed at the torso within ``start.aim_jitter_deg``, start and per-frame pitch limits,
  free space, floor and ceiling margins, clearance from the character on every frame,
  family parameters (through the trajectory-family registry), speed profile, lens preset and video settings. The
  recipe is the config stored in the dataset's ``synth_run.json`` (its digest is checked) or the default config.

Scenes are independent: :func:`validate_dataset` checks them in ``jobs`` processes.
"""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..core.units import CM_PER_M
from ..core.unreal import axes_to_rotator
from ..core.layout import (CAMERA_JSON, METADATA_CSV, PARTIAL_DIR, RUN_MANIFEST, SCENE_JSON, TRAIN_DIR, VAL_BASIC,
                          VIDEOS_DIR, camera_names, parse_lens_dir_name)
from ..core.multicam_format import DatasetFormatError, iter_scene_dirs, read_camera_array, read_metadata_csv
from ..core.problems import Problem
from ..core.scene_spec import SceneSpec, SceneSpecError
from ..core.video_check import decode_video_problems
from ..core.video_io import VideoReadError, probe_video
from ..scenes.framing import roll_range

__all__ = ["Problem", "ValidateOptions", "Recipe", "load_recipe", "validate_dataset", "validate_scene",
           "family_problems", "OFFICIAL"]

#: |R R^T - I| tolerance: the strings carry 6 significant digits.
ORTHO_TOL = 2e-5
#: Slack of the roll checks (degrees): the axes are written with 6 significant digits.
ROLL_TOL = 0.01
#: Slack of the recipe checks (metres, degrees): positions are written with 6 significant digits.
TOL = 1e-3
OFFICIAL = {"frames": 81, "cameras": 10, "fps": 15.0, "width": 1280, "height": 1280}


@dataclass(frozen=True)
class ValidateOptions:
    """What to check: ``videos`` probes every video (frames, fps, size); ``decode`` decodes every frame."""

    videos: bool = True
    decode: bool = False


@dataclass(frozen=True)
class Recipe:
    """The configured recipe a dataset is checked against (``cfg`` a :class:`synth.scenes.config.SynthConfig`), where it
    came from, and its digest."""

    cfg: Any
    source: str
    digest: str


# ------------------------------------------------------------------------------------------------------------------
# The recipe
# ------------------------------------------------------------------------------------------------------------------


def load_recipe(root: Path, config: Optional[Path] = None) -> Tuple[Optional[Recipe], List[Problem]]:
    """The recipe of a dataset: ``config`` if given, else the config stored in ``<root>/synth_run.json`` (its
    ``config_digest`` must match), else the default config.

    Returns ``(recipe, problems)``; ``recipe`` is None when the manifest is unreadable (then only format rules run).

    Raises:
        synth.core.errors.ConfigError: ``config`` is not a valid config file (bad input, exit 2).
    """
    from pydantic import ValidationError

    from ..scenes.config import SynthConfig, config_digest, load_config

    if config is not None:
        cfg = load_config(config)
        return Recipe(cfg, str(config), config_digest(cfg)), []
    path = Path(root) / RUN_MANIFEST
    if not path.is_file():
        cfg = load_config()
        return Recipe(cfg, "the default config", config_digest(cfg)), []
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or not isinstance(manifest.get("config"), dict):
            raise ValueError("expected an object with a 'config' object")
        cfg = SynthConfig.model_validate(manifest["config"])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError, ValidationError) as e:
        msg = str(e).splitlines()[0]
        return None, [Problem(str(path), f"config: unreadable run manifest ({msg}); only the format rules were "
                                         f"checked")]
    digest = config_digest(manifest["config"])  # as written (a version-1 config keeps its own digest)
    problems = []
    if manifest.get("config_digest") != digest:
        problems.append(Problem(str(path), f"config_digest: {manifest.get('config_digest')!r} does not match its "
                                           f"config ({digest}); the config was edited after the run"))
    return Recipe(cfg, str(path), digest), problems


def _family_checker():
    """``check(name, params, cfg) -> list[str] | None`` (None: unknown family) through the trajectory-family
    registry (:mod:`synth.families`): each family checks its own parameters against its config block."""
    from ..families import get_family

    def check(name: str, params: Dict[str, Any], cfg) -> Optional[List[str]]:
        try:
            fam = get_family(name)
        except (KeyError, ValueError):
            return None
        if name not in cfg.trajectories:
            return [f"trajectory: family {name!r} is not configured in the run's config"]
        return list(fam.check(params, cfg.trajectories[name]))

    return check


def _in(v: Any, lo: float, hi: float, field: str, tol: float = TOL) -> Optional[str]:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
        return f"{field}: expected a number in [{lo:g}, {hi:g}], got {v!r}"
    if not lo - tol <= v <= hi + tol:
        return f"{field}: {v:g} outside the configured [{lo:g}, {hi:g}]"
    return None


def family_problems(checker, name: str, params: Any, cfg) -> List[str]:
    """Problems of one camera's family and parameters (``params`` a dict), as ``field: message`` strings."""
    if not isinstance(params, dict):
        return [f"params: expected an object, got {params!r}"[:200]]
    try:
        res = checker(name, params, cfg)
    except (TypeError, ValueError, KeyError) as e:  # a malformed parameter the family's check did not expect
        return [f"params: malformed ({type(e).__name__}: {e})"]
    if res is None:
        return [f"trajectory: unknown family {name!r}"]
    return res


# ------------------------------------------------------------------------------------------------------------------
# One scene
# ------------------------------------------------------------------------------------------------------------------


def _pose_problems(path: str, names: Sequence[str], m: np.ndarray) -> Iterator[Problem]:
    """Pose validity of ``m`` ``(C, F, 4, 4)`` FMatrix rows (forward, right, up, location)."""
    finite = np.isfinite(m.reshape(m.shape[0], m.shape[1], -1)).all(-1)
    r = np.where(finite[..., None, None], m[..., :3, :3], np.eye(3))
    err = np.abs(r @ np.swapaxes(r, -1, -2) - np.eye(3)).max(axis=(-1, -2))
    det = np.linalg.det(r)
    pad = np.maximum(np.abs(np.where(finite[..., None], m[..., :3, 3], 0)).max(-1),
                     np.abs(np.where(finite, m[..., 3, 3], 1) - 1))
    for i, cam in enumerate(names):
        if not finite[i].all():
            yield Problem(path, f"{cam}: non-finite values (NaN or inf) on frames "
                                f"{np.flatnonzero(~finite[i])[:5].tolist()}; expected finite numbers")
        if (err[i] > ORTHO_TOL).any():
            f = int(np.argmax(err[i]))
            yield Problem(path, f"{cam}: axes not orthonormal on frame{f} (max |R R^T - I| = {err[i, f]:.2e}; "
                                f"expected <= {ORTHO_TOL:g})")
        elif (det[i] < 0).any():
            f = int(np.argmin(det[i]))
            yield Problem(path, f"{cam}: rows (forward, right, up) are not right-handed-in-Unreal on frame{f} "
                                f"(det {det[i, f]:.3f}; expected +1)")
        if (pad[i] > 1e-6).any():
            yield Problem(path, f"{cam}: FMatrix padding on frame{int(np.argmax(pad[i]))}: expected 0 as the "
                                f"4th value of rows 1-3 and 1 as the last value")


def _segment_distance(p: np.ndarray, base: np.ndarray, height: float) -> np.ndarray:
    """Distance of points ``(..., 3)`` to the vertical segment ``[base, base + height z]`` (same units)."""
    z = np.clip(p[..., 2], base[2], base[2] + height)
    return np.sqrt((p[..., 0] - base[0]) ** 2 + (p[..., 1] - base[1]) ** 2 + (p[..., 2] - z) ** 2)


def _first(mask: np.ndarray) -> int:
    return int(np.argmax(mask))


def _recipe_problems(scene_dir: Path, spec: SceneSpec, names: Sequence[str], m: np.ndarray, recipe: Recipe,
                     checker) -> Iterator[Problem]:
    """Every rule of the recipe, from ``scene.json`` and the written poses ``m`` ``(C, F, 4, 4)`` FMatrix."""
    cfg = recipe.cfg
    sj, cj = str(scene_dir / SCENE_JSON), str(scene_dir / CAMERA_JSON)
    src = recipe.source
    if spec.config_digest and spec.config_digest != recipe.digest:
        yield Problem(sj, f"config_digest: {spec.config_digest!r}; expected {recipe.digest!r} ({src})")
    # --- scene-level settings
    if len(spec.cameras) != cfg.cameras_per_scene:
        yield Problem(sj, f"cameras: {len(spec.cameras)}; expected cameras_per_scene = {cfg.cameras_per_scene}")
    v = cfg.video
    if (spec.video.frames, spec.video.width, spec.video.height) != (v.frames, v.width, v.height) or \
            abs(spec.video.fps - v.fps) > 1e-9:
        yield Problem(sj, f"video: {spec.video.to_json()}; expected the configured {v.model_dump()}")
    lenses = [(p.focal_length_mm, p.aperture_f) for p in cfg.lenses]
    if (spec.lens.focal_length_mm, spec.lens.aperture_f) not in lenses:
        yield Problem(sj, f"lens: f{spec.lens.focal_length_mm:g} aperture {spec.lens.aperture_f:g} is not a "
                          f"configured preset; expected one of " + ", ".join(f"f{a:g}/{b:g}" for a, b in lenses))
    if abs(spec.lens.sensor_mm - cfg.sensor_mm) > 1e-9:
        yield Problem(sj, f"lens.sensor_mm: {spec.lens.sensor_mm:g}; expected {cfg.sensor_mm:g}")
    radius = spec.hemisphere_radius_m
    lo = np.asarray(spec.free_space_cm[0]) / CM_PER_M
    hi = np.asarray(spec.free_space_cm[1]) / CM_PER_M
    if radius not in cfg.hemisphere.radii_m:
        yield Problem(sj, f"environment.hemisphere_radius_m: {radius:g}; expected one of {cfg.hemisphere.radii_m}")
    else:
        width = min(hi[0] - lo[0], hi[1] - lo[1])
        fitting = [r for r in cfg.hemisphere.radii_m if 2 * r <= cfg.hemisphere.fit * width + 1e-9]
        allowed = ([max(fitting)] if cfg.hemisphere.radius_choice == "largest_fitting" else fitting) if fitting \
            else [min(cfg.hemisphere.radii_m)]
        if radius not in allowed:
            yield Problem(sj, f"environment.hemisphere_radius_m: {radius:g}; expected {allowed} "
                              f"(hemisphere.radius_choice {cfg.hemisphere.radius_choice} in a free space "
                              f"{hi[0] - lo[0]:.2f} x {hi[1] - lo[1]:.2f} m)")
    base = np.asarray(spec.character_location_cm) / CM_PER_M
    height = spec.character_height_m
    torso = base + np.array([0.0, 0.0, height * cfg.placement.torso_height_fraction])
    if np.abs(np.asarray(spec.aim_point_cm) / CM_PER_M - torso).max() > TOL:
        yield Problem(sj, f"character.aim_point_cm: {list(spec.aim_point_cm)}; expected the torso "
                          f"{(torso * CM_PER_M).round(4).tolist()} (placement.torso_height_fraction "
                          f"{cfg.placement.torso_height_fraction:g})")
    # --- per camera, from the written poses
    fin = np.isfinite(m).all(axis=(-1, -2))
    loc = np.where(fin[..., None], m[..., 3, :3], 0.0) / CM_PER_M  # (C, F, 3) metres
    fwd = np.where(fin[..., None], m[..., 0, :3], np.array([1.0, 0, 0]))
    pitch = np.degrees(np.arctan2(fwd[..., 2], np.hypot(fwd[..., 0], fwd[..., 1])))  # (C, F)
    c, s = cfg.constraints, cfg.start
    clear = _segment_distance(loc, base, height)  # (C, F)
    start_d = np.linalg.norm(loc[:, 0] - base, axis=-1)
    lo_xy, hi_xy = lo[:2] + c.wall_margin_m - TOL, hi[:2] - c.wall_margin_m + TOL
    out_xy = ((loc[..., :2] < lo_xy) | (loc[..., :2] > hi_xy)).any(-1)
    floor_z, ceil_z = lo[2] + c.min_camera_height_m - TOL, hi[2] - c.ceiling_margin_m + TOL
    to_torso = torso - loc[:, 0]  # (C, 3) start -> torso
    yaw0 = np.degrees(np.arctan2(fwd[:, 0, 1], fwd[:, 0, 0]))
    aim_yaw = (yaw0 - np.degrees(np.arctan2(to_torso[:, 1], to_torso[:, 0])) + 180.0) % 360.0 - 180.0
    aim_pitch = pitch[:, 0] - np.degrees(np.arctan2(to_torso[:, 2], np.hypot(to_torso[:, 0], to_torso[:, 1])))
    specs = {cs.name: cs for cs in spec.cameras}
    roll = axes_to_rotator(np.where(fin[..., None, None], m, np.eye(4)))[..., 2]  # (C, F) degrees
    roll_lo, roll_hi = roll_range(cfg.framing.roll, cfg.framing.roll_abs_deg)
    for i, cam in enumerate(names):
        if not fin[i].all():
            continue  # reported by the pose checks
        where = f"{cam}"
        if not roll_lo - ROLL_TOL <= abs(roll[i, 0]) <= roll_hi + ROLL_TOL:
            yield Problem(cj, f"{where} frame0: roll {roll[i, 0]:+.3f} deg; expected |roll| in "
                              f"[{roll_lo:g}, {roll_hi:g}] (framing.roll {cfg.framing.roll})")
        if np.ptp(roll[i]) > ROLL_TOL:
            yield Problem(cj, f"{where}: roll changes by {np.ptp(roll[i]):.3f} deg over the video; expected a "
                              f"constant roll (framing)")
        d0 = start_d[i]
        if d0 > radius + TOL:
            yield Problem(cj, f"{where} frame0: start {d0:.3f} m from the hemisphere centre; expected <= the "
                              f"hemisphere radius {radius:g} m")
        if d0 < s.min_distance_m - TOL:
            yield Problem(cj, f"{where} frame0: start {d0:.3f} m from the hemisphere centre; expected >= "
                              f"start.min_distance_m {s.min_distance_m:g}")
        off_yaw, off_pitch = aim_yaw[i], aim_pitch[i]
        if max(abs(off_yaw), abs(off_pitch)) > s.aim_jitter_deg + TOL:
            yield Problem(cj, f"{where} frame0: aimed {off_yaw:+.2f} deg (yaw), {off_pitch:+.2f} deg (pitch) off the "
                              f"torso; expected within start.aim_jitter_deg {s.aim_jitter_deg:g}")
        if loc[i, 0, 2] < base[2] - TOL:
            yield Problem(cj, f"{where} frame0: start {base[2] - loc[i, 0, 2]:.3f} m below the ground of the "
                              f"hemisphere; expected on or above it")
        if clear[i, 0] <= c.min_clearance_m - TOL:
            yield Problem(cj, f"{where} frame0: start {clear[i, 0]:.3f} m from the character; expected > "
                              f"{c.min_clearance_m:g} m (constraints.min_clearance_m)")
        if abs(pitch[i, 0]) > s.max_abs_pitch_deg + TOL:
            yield Problem(cj, f"{where} frame0: start pitch {pitch[i, 0]:.2f} deg; expected |pitch| <= "
                              f"{s.max_abs_pitch_deg:g} (start.max_abs_pitch_deg)")
        bad = np.abs(pitch[i]) > c.max_abs_pitch_deg + TOL
        if bad.any():
            f = _first(bad)
            yield Problem(cj, f"{where} frame{f}: pitch {pitch[i, f]:.2f} deg; expected |pitch| <= "
                              f"{c.max_abs_pitch_deg:g} (constraints.max_abs_pitch_deg)")
        if out_xy[i].any():
            f = _first(out_xy[i])
            yield Problem(cj, f"{where} frame{f}: location ({loc[i, f, 0]:.2f}, {loc[i, f, 1]:.2f}) m outside the "
                              f"free space x [{lo[0]:.2f}, {hi[0]:.2f}] y [{lo[1]:.2f}, {hi[1]:.2f}] m less "
                              f"constraints.wall_margin_m {c.wall_margin_m:g}")
        bad = loc[i, :, 2] < floor_z
        if bad.any():
            f = _first(bad)
            yield Problem(cj, f"{where} frame{f}: height {loc[i, f, 2]:.2f} m; expected >= floor {lo[2]:.2f} + "
                              f"constraints.min_camera_height_m {c.min_camera_height_m:g}")
        bad = loc[i, :, 2] > ceil_z
        if bad.any():
            f = _first(bad)
            yield Problem(cj, f"{where} frame{f}: height {loc[i, f, 2]:.2f} m; expected <= free-space top "
                              f"{hi[2]:.2f} - constraints.ceiling_margin_m {c.ceiling_margin_m:g}")
        bad = clear[i] <= c.min_clearance_m - TOL
        if bad.any():
            f = _first(bad)
            yield Problem(cj, f"{where} frame{f}: {clear[i, f]:.3f} m from the character; expected > "
                              f"{c.min_clearance_m:g} m (constraints.min_clearance_m)")
        cs = specs.get(cam)
        if cs is None:
            continue
        field = f"cameras.{cam}"
        for msg in family_problems(checker, cs.family, cs.params, cfg):
            yield Problem(sj, f"{field}.params.{msg}" if not msg.startswith("trajectory:") else f"{field}.{msg}")
        dist = cs.params.get("distance_to_character_m") if isinstance(cs.params, dict) else None
        d_torso = float(np.linalg.norm(loc[i, 0] - torso))
        if isinstance(dist, (int, float)) and not isinstance(dist, bool) and abs(dist - d_torso) > 2e-3:
            yield Problem(sj, f"{field}.params.distance_to_character_m: {dist:g}; the written start is "
                              f"{d_torso:.4f} m from the torso")
        sp = cs.speed
        if sp.profile == "eased":
            msg = _in(abs(sp.a), *cfg.speed.a_abs, f"{field}.speed.a (|a|)", tol=1e-9)
            if msg:
                yield Problem(sj, msg)
        elif cfg.speed.eased_fraction >= 1.0:
            yield Problem(sj, f"{field}.speed.profile: constant; expected eased (speed.eased_fraction = 1)")
    if cfg.speed.eased_fraction <= 0.0:
        for cs in spec.cameras:
            if cs.speed.profile == "eased":
                yield Problem(sj, f"cameras.{cs.name}.speed.profile: eased; expected constant "
                                  f"(speed.eased_fraction = 0)")


def _video_problems(vdir: Path, names: Sequence[str], exp: Dict[str, Any], opts: ValidateOptions
                    ) -> Iterator[Problem]:
    for cam in names:
        vp = vdir / f"{cam}.mp4"
        if not vp.is_file():
            yield Problem(str(vp), "missing video")
            continue
        try:
            info = probe_video(vp)
        except VideoReadError as e:
            yield Problem(str(vp), str(e).split(": ", 1)[-1])
            continue
        if info.frames != exp["frames"]:
            yield Problem(str(vp), f"{info.frames} frames; expected {exp['frames']}")
        if exp["fps"] and abs(info.fps - float(exp["fps"])) > 1e-3:
            yield Problem(str(vp), f"{info.fps:g} fps; expected {exp['fps']:g}")
        if (info.width, info.height) != (exp["width"], exp["height"]):
            yield Problem(str(vp), f"size {info.width}x{info.height}; expected {exp['width']}x{exp['height']}")
        if opts.decode:
            yield from (Problem(str(vp), msg) for msg in decode_video_problems(vp, info.frames))
    extra = sorted(p.name for p in vdir.glob("*.mp4") if p.stem not in names)
    if extra:
        yield Problem(str(vdir), f"videos without cameras in the JSON: {extra}")


def _scene_expectations(spec: Optional[SceneSpec]) -> Dict[str, Any]:
    if spec is None:
        return dict(OFFICIAL)
    v = spec.video
    return {"frames": v.frames, "cameras": len(spec.cameras), "fps": v.fps, "width": v.width, "height": v.height}


def _read_spec(scene_dir: Path) -> Tuple[Optional[SceneSpec], Optional[Problem]]:
    path = scene_dir / SCENE_JSON
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, None
    except OSError as e:
        return None, Problem(str(path), f"cannot be read ({e.strerror or e})")
    try:
        data = json.loads(raw.decode("utf-8"))
        return SceneSpec.from_json(data, str(path)), None
    except UnicodeDecodeError as e:
        return None, Problem(str(path), f"not UTF-8 (byte offset {e.start}); expected a UTF-8 JSON file")
    except (json.JSONDecodeError, RecursionError) as e:
        return None, Problem(str(path), f"not valid JSON ({e})")
    except SceneSpecError as e:
        return None, Problem(str(path), str(e).split(": ", 1)[-1])


def validate_scene(scene_dir: Path, check_videos: bool = True, official_ok: bool = True,
                   recipe: Optional[Recipe] = None, options: Optional[ValidateOptions] = None,
                   _checker=None) -> List[Problem]:
    """Problems of one scene folder (``cameras/`` + optional ``videos/`` + optional ``scene.json``).

    Args:
        scene_dir: ``.../train/<lens>/scene<N>`` (or ``val/10basic_trajectories``).
        check_videos: probe the videos (ignored when ``options`` is given).
        official_ok: a missing ``scene.json`` is fine (official data); else it is a problem.
        recipe: check the recipe's rules when the scene has a ``scene.json`` (None: format rules only).
        options: :class:`ValidateOptions`.
    """
    scene_dir = Path(scene_dir)
    opts = options or ValidateOptions(videos=check_videos)
    problems: List[Problem] = []
    spec, err = _read_spec(scene_dir)
    if err is not None:
        problems.append(err)
    elif spec is None and not official_ok:
        problems.append(Problem(str(scene_dir), f"missing {SCENE_JSON}"))
    if spec is not None:
        lens = parse_lens_dir_name(scene_dir.parent.name)
        if lens is not None and (abs(lens[0] - spec.lens.focal_length_mm) > 1e-9 or
                                 abs(lens[1] - spec.lens.aperture_f) > 1e-9):
            problems.append(Problem(str(scene_dir / SCENE_JSON), f"lens: {spec.lens.to_json()} does not match the "
                                                                 f"folder {scene_dir.parent.name}"))
    exp = _scene_expectations(spec)
    cams = list(camera_names(exp["cameras"]))
    cj = scene_dir / CAMERA_JSON
    try:
        names, m = read_camera_array(cj, strict=True)
    except DatasetFormatError as e:
        return problems + [Problem(str(cj), str(e).split(": ", 1)[-1])]
    p = str(cj)
    if names != cams:
        problems.append(Problem(p, f"cameras {names}; expected {cams[0]}..{cams[-1]} ({len(cams)})"))
    if m.shape[1] != exp["frames"]:
        problems.append(Problem(p, f"{m.shape[1]} frames; expected {exp['frames']}"))
    if spec is not None and list(spec.camera_names()) != names:
        problems.append(Problem(str(scene_dir / SCENE_JSON), f"cameras: {list(spec.camera_names())} differ from the "
                                                             f"camera JSON's {names}"))
    problems += list(_pose_problems(p, names, m))
    if spec is not None and recipe is not None:
        problems += list(_recipe_problems(scene_dir, spec, names, m, recipe, _checker or _family_checker()))
    vdir = scene_dir / VIDEOS_DIR
    if opts.videos and vdir.exists():
        problems += list(_video_problems(vdir, names, exp, opts))
    return problems


def _validate_chunk(args) -> List[Tuple[List[Problem], int]]:
    dirs, official_ok, recipe, opts = args
    checker = _family_checker()
    out = []
    for d in dirs:
        vdir = d / VIDEOS_DIR
        n = sum(1 for _ in vdir.glob("*.mp4")) if opts.videos and vdir.is_dir() else 0
        out.append((validate_scene(d, official_ok=official_ok, recipe=recipe, options=opts, _checker=checker), n))
    return out


def _chunks(items: Sequence[Path], size: int) -> Iterable[Sequence[Path]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def validate_dataset(root: Path, check_videos: bool = True, jobs: int = 1, options: Optional[ValidateOptions] = None,
                     config: Optional[Path] = None, progress=None) -> Tuple[List[Problem], Dict[str, int]]:
    """Validate a dataset root (or a single scene folder). Returns ``(problems, counts)``.

    Args:
        root: dataset root (``train/``, ``metadata.csv``, optional ``synth_run.json``) or one scene folder.
        check_videos: probe videos (ignored when ``options`` is given).
        jobs: processes checking scenes in parallel (1: in this process).
        options: :class:`ValidateOptions` (``decode=True`` decodes every frame).
        config: check against this config instead of the dataset's ``synth_run.json`` / the default.
        progress: optional callable ``progress(done, total)`` called as scenes finish.

    Raises:
        synth.core.errors.ConfigError: ``config`` is invalid.
    """
    root = Path(root)
    opts = options or ValidateOptions(videos=check_videos)
    counts = {"scenes": 0, "videos": 0, "metadata_rows": 0}
    if not root.exists():
        return [Problem(str(root), "does not exist")], counts
    if (root / CAMERA_JSON).exists():  # a single scene: its run manifest sits at <root>/../../..
        run_root = root.parent.parent.parent if root.parent.parent.name == TRAIN_DIR else root
        recipe, problems = load_recipe(run_root, config)
        counts["scenes"] = 1
        vdir = root / VIDEOS_DIR
        counts["videos"] = sum(1 for _ in vdir.glob("*.mp4")) if opts.videos and vdir.is_dir() else 0
        return problems + validate_scene(root, official_ok=True, recipe=recipe, options=opts), counts
    ours = (root / RUN_MANIFEST).exists()
    recipe, problems = load_recipe(root, config)
    train = root / TRAIN_DIR
    if not train.is_dir():
        problems.append(Problem(str(train), "missing: expected train/<f{focal}_aperture{aperture}>/scene<N>/"))
    else:
        for lens_dir in sorted(p for p in train.iterdir() if not p.name.startswith(".")):
            if not lens_dir.is_dir() or parse_lens_dir_name(lens_dir.name) is None:
                problems.append(Problem(str(lens_dir), "not a lens folder f{focal}_aperture{aperture}"))
    scene_dirs = list(iter_scene_dirs(root))
    counts["scenes"] = len(scene_dirs)
    size = max(1, min(64, len(scene_dirs) // (4 * max(jobs, 1)) or 1))
    tasks = [(list(ch), not ours, recipe, opts) for ch in _chunks(scene_dirs, size)]
    done = 0
    if progress:
        progress(0, len(scene_dirs))
    if jobs > 1 and len(tasks) > 1:
        with ProcessPoolExecutor(max_workers=jobs) as ex:
            results = ex.map(_validate_chunk, tasks)
            for res in results:
                for probs, n in res:
                    problems += probs
                    counts["videos"] += n
                done += len(res)
                if progress:
                    progress(done, len(scene_dirs))
    else:
        for t in tasks:
            res = _validate_chunk(t)
            for probs, n in res:
                problems += probs
                counts["videos"] += n
            done += len(res)
            if progress:
                progress(done, len(scene_dirs))
    if train.is_dir() and not scene_dirs:
        problems.append(Problem(str(train), "no scene folders"))
    val = root / VAL_BASIC
    if val.exists():
        problems += validate_scene(val, options=opts)
    problems += _metadata_problems(root, ours, counts)
    partial = root / PARTIAL_DIR
    if partial.exists() and any(partial.iterdir()):
        problems.append(Problem(str(partial), "unfinished scenes from an interrupted run (not part of the "
                                              "dataset; a re-run of the same command finishes them)"))
    return problems, counts


def _metadata_problems(root: Path, ours: bool, counts: Dict[str, int]) -> List[Problem]:
    meta_path = root / METADATA_CSV
    train = root / TRAIN_DIR
    problems: List[Problem] = []
    if not meta_path.exists():
        if ours:
            problems.append(Problem(str(meta_path), "missing (synth writes it at the end of every run; "
                                                    "`synth index DIR` rebuilds it)"))
        return problems
    try:
        rows = read_metadata_csv(meta_path)
    except DatasetFormatError as e:
        msg = str(e)
        where, _, rest = msg.partition(": ")
        return [Problem(where, rest)]
    counts["metadata_rows"] = len(rows)
    seen: Dict[str, int] = {}
    for i, r in enumerate(rows, start=2):
        video = train / r.file_name
        parts = Path(r.file_name).parts
        if len(parts) != 4 or parts[2] != VIDEOS_DIR or not r.file_name.endswith(".mp4") or ".." in parts:
            problems.append(Problem(f"{meta_path}:{i}", f"file_name: {r.file_name!r} is not "
                                                        f"<lens>/scene<N>/videos/camNN.mp4"))
            continue
        if r.file_name in seen:
            problems.append(Problem(f"{meta_path}:{i}", f"file_name: {r.file_name} repeats line {seen[r.file_name]}"))
        seen.setdefault(r.file_name, i)
        scene_dir = video.parent.parent
        if not (scene_dir / CAMERA_JSON).exists():
            problems.append(Problem(f"{meta_path}:{i}", f"file_name: {r.file_name}: scene folder missing"))
        elif (scene_dir / VIDEOS_DIR).exists() and not video.exists():
            problems.append(Problem(f"{meta_path}:{i}", f"file_name: {r.file_name}: video missing"))
    return problems
