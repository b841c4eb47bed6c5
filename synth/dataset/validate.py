"""``synth validate``: check a MultiCamVideo-format dataset (ours or the official one) and report every problem.

Checks, each reported with the file and the field:

* **format** (every dataset): layout (lens folders, scene folders, ``val/`` reference trajectories), camera JSON
  completeness (frames x cameras), the exact ``FMatrix::ToString()`` grammar of every matrix string (commas, tabs,
  double spaces are rejected: upstream's ``parse_matrix`` cannot read them), poses (finite, orthonormal,
  right-handed rows in Unreal's world, FMatrix padding), ``metadata.csv`` (UTF-8, references), and, where videos
  exist, their frame count, fps, size and readability; ``cameras/camera_intrinsics.json`` of zooming cameras
  (:mod:`synth.dataset.intrinsics_check`); with ``decode=True`` every frame of every video is decoded
  and corrupt frames are reported.
* **recipe** (our datasets, which carry ``scene.json``): every rule of the configured recipe from the written
  cameras and ``scene.json``: hemisphere radius, start distance (``start.min_distance_m`` .. radius, > clearance,
  above the ground), start aimed at the torso within ``start.aim_jitter_deg``, start and per-frame pitch limits,
  free space, floor and ceiling margins, clearance from the character on every frame, the dolly-zoom size rule,
  family parameters (through the trajectory-family registry), speed profile, lens preset and video settings. The
  recipe is the config stored in the dataset's ``synth_run.json`` (its digest is checked) or the default config.
  The rules are those the sampler rejects with (:mod:`synth.scenes.rules`), here with the written precision's slack.

Scenes are independent: :func:`validate_dataset` checks them in ``jobs`` processes.
"""

from __future__ import annotations

import contextlib

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..core.units import CM_PER_M
from ..core.unreal import axes_to_rotator
from ..core.layout import (CAMERA_JSON, METADATA_CSV, PARTIAL_DIR, RUN_MANIFEST, SCENE_JSON, TRAIN_DIR, VAL_BASIC,
                          VIDEOS_DIR, camera_names, parse_lens_dir_name)
from ..core.multicam_format import (DatasetFormatError, DuplicateKeyError, iter_scene_dirs, loads_json_strict,
                                    read_camera_array, read_metadata_csv)
from ..core.problems import Problem
from ..core.scene_spec import SceneSpec, SceneSpecError
from ..core.video_check import decode_video_problems
from ..core.video_io import VideoReadError, probe_video
from ..scenes.rules import RuleContext, check as check_rules
from ..scenes.rules.family_params import family_checker, family_problems
from .intrinsics_check import intrinsics_problems

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


#: the family check of the registry (kept under its old name: ``_validate_chunk`` builds one per process)
_family_checker = family_checker


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


def _recipe_problems(scene_dir: Path, spec: SceneSpec, names: Sequence[str], m: np.ndarray, recipe: Recipe,
                     checker, focal_mm: Optional[np.ndarray] = None) -> Iterator[Problem]:
    """Every rule of the recipe (:mod:`synth.scenes.rules`), from ``scene.json`` and the written poses ``m``
    ``(C, F, 4, 4)`` FMatrix rows (Unreal cm); cameras with non-finite poses are left to the pose checks."""
    paths = {"scene": str(scene_dir / SCENE_JSON), "cameras": str(scene_dir / CAMERA_JSON)}
    fin = np.isfinite(m).all(axis=(-1, -2))  # (C, F)
    ctx = RuleContext(
        cfg=recipe.cfg, free_lo_m=np.asarray(spec.free_space_cm[0]) / CM_PER_M,
        free_hi_m=np.asarray(spec.free_space_cm[1]) / CM_PER_M,
        char_base_m=np.asarray(spec.character_location_cm) / CM_PER_M, char_height_m=spec.character_height_m,
        loc_m=np.where(fin[..., None], m[..., 3, :3], 0.0) / CM_PER_M,
        rot_deg=axes_to_rotator(np.where(fin[..., None, None], m, np.eye(4))),
        radius_m=spec.hemisphere_radius_m, names=list(names), valid=fin.all(-1), spec=spec, digest=recipe.digest,
        source=recipe.source, checker=checker, tol=TOL, roll_tol=ROLL_TOL, focal_mm=focal_mm)
    for v in check_rules(ctx):
        yield Problem(paths[v.file], v.message)


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
        data = loads_json_strict(raw.decode("utf-8"))
        return SceneSpec.from_json(data, str(path)), None
    except DuplicateKeyError as e:
        return None, Problem(str(path), str(e))
    except UnicodeDecodeError as e:
        return None, Problem(str(path), f"not UTF-8 (byte offset {e.start}); expected a UTF-8 JSON file")
    except (json.JSONDecodeError, RecursionError) as e:
        return None, Problem(str(path), f"not valid JSON ({e})")
    except SceneSpecError as e:
        return None, Problem(str(path), str(e).split(": ", 1)[-1])


#: Folders a scene may hold: the format's (cameras/, videos/) and the render's ground truth (depth/, masks/, joints/,
#: synth.render.outputs). Anything else is foreign, e.g. a dataset rendered with ``--out`` inside the scene.
SCENE_SUBDIRS = frozenset({CAMERA_JSON.parts[0], VIDEOS_DIR, "depth", "masks", "joints"})


def _foreign_folders(scene_dir: Path) -> List[Problem]:
    """One problem per folder (or link to one) inside ``scene_dir`` that is not in :data:`SCENE_SUBDIRS`."""
    try:
        entries = sorted(scene_dir.iterdir())
    except OSError:
        return []
    return [Problem(str(p), f"foreign folder inside the scene (a scene holds only "
                            f"{', '.join(sorted(d + '/' for d in SCENE_SUBDIRS))} and {SCENE_JSON}); move it out")
            for p in entries if (p.is_dir() or p.is_symlink()) and p.name not in SCENE_SUBDIRS]


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
    problems: List[Problem] = _foreign_folders(scene_dir)
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
    intr_problems, focal_mm = intrinsics_problems(scene_dir, spec, names, m.shape[1])  # camera_intrinsics.json
    problems += intr_problems
    if spec is not None and recipe is not None:
        problems += list(_recipe_problems(scene_dir, spec, names, m, recipe, _checker or _family_checker(), focal_mm))
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
    # spawned, not forked: a fork copies locks other threads of this process hold (Mesa's llvmpipe, OpenMP, Ray) and
    # a worker can wait on one forever; tasks and _validate_chunk travel by pickle either way
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) \
        if jobs > 1 and len(tasks) > 1 else None
    with pool or contextlib.nullcontext():
        for res in (pool.map if pool else map)(_validate_chunk, tasks):  # in task order either way
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
