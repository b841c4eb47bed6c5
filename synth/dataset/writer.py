"""Writing datasets: the run manifest, atomic scene folders and ``metadata.csv``.

A scene is assembled in ``<out>/.partial/`` and renamed into ``<out>/train/<lens>/scene<N>`` only when complete,
so the dataset never holds a half-written scene; re-runs skip complete scenes. ``synth_run.json`` pins the seed,
config and catalog of the run: a different one aimed at the same folder is refused, nothing overwritten.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

from ..scenes.asset_manifest import asset_manifest
from ..scenes.catalog import Catalog
from ..scenes.config import SynthConfig, config_digest
from ..core.atomic import atomic_write_text, replace_dir
from ..core.paths import read_text_nofollow
from ..core.layout import (CAMERA_JSON, METADATA_CSV, PARTIAL_DIR, RUN_MANIFEST, TRAIN_DIR, scene_dir_name,
                          video_relpath)
from ..core.multicam_format import (DatasetFormatError, MetadataRow, format_metadata_csv, iter_scene_dirs,
                                   read_scene_spec)
from ..core.scene_spec import SceneSpec

__all__ = ["DatasetMismatchError", "ensure_run_manifest", "scene_outputs_present", "staged_scene", "rebuild_metadata",
           "finish_run", "read_spec_or_none"]


class DatasetMismatchError(RuntimeError):
    """The output folder holds scenes made with another seed, config or catalog."""


def _flatten(d: Any, prefix: str = "") -> Dict[str, Any]:
    if isinstance(d, dict):
        out: Dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: d}


def ensure_run_manifest(out: Path, seed: int, cfg: SynthConfig, catalog: Catalog,
                        render: Optional[dict] = None) -> None:
    """Create ``<out>/synth_run.json`` or check that the existing one has this seed, config and catalog.

    It also records the asset manifest of the catalog (``assets``: source, version, licence of every asset) and
    ``render`` options that change the images (e.g. ``{"quality": "standard"}``; checked when both runs state them).

    Raises:
        DatasetMismatchError: the folder was made with other settings, or holds a dataset without a manifest.
    """
    out = Path(out)
    path = out / RUN_MANIFEST
    manifest = {"format": "synth-run", "version": 1, "seed": seed, "config_digest": config_digest(cfg),
                "catalog_digest": catalog.digest(), "catalog_backend": catalog.backend,
                "config": cfg.model_dump(mode="json")}
    manifest["assets"] = asset_manifest(catalog)
    if render:
        manifest["render"] = render
    if path.exists():
        try:
            old = json.loads(read_text_nofollow(path, "run manifest"))  # a planted symlink is refused, not read
        except ValueError as e:  # not JSON, not UTF-8, or a symlink (UnsafePathError)
            raise DatasetMismatchError(f"{path}: unreadable run manifest ({e}); refusing to write into {out}")
        problems = []
        if old.get("seed") != seed:
            problems.append(f"seed {old.get('seed')} (now {seed})")
        if old.get("config_digest") != manifest["config_digest"]:
            a, b = _flatten(old.get("config", {})), _flatten(manifest["config"])
            diff = [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
            problems.append("config differs (" + "; ".join(diff[:6]) + (" ..." if len(diff) > 6 else "") + ")")
        if old.get("catalog_digest") != manifest["catalog_digest"]:
            problems.append("asset catalog differs")
        if render and old.get("render") and old["render"] != render:
            problems.append(f"render options {old['render']} (now {render})")
        if problems:
            raise DatasetMismatchError(
                f"{out} holds scenes made with other settings: {', '.join(problems)}. Use another --out, or the "
                f"same seed/config/catalog to extend or resume it. Nothing was written.")
        return
    if (out / TRAIN_DIR).exists() and any(iter_scene_dirs(out)):
        raise DatasetMismatchError(f"{out} already holds scenes but no {RUN_MANIFEST}; refusing to mix runs. "
                                   f"Use an empty --out.")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(manifest, indent=2) + "\n")


def read_spec_or_none(scene_dir: Path) -> Optional[SceneSpec]:
    """The typed ``scene.json`` of a scene folder, or None if it is absent or malformed (resume and indexing treat
    such a scene as unfinished; ``synth validate`` reports why)."""
    try:
        return read_scene_spec(scene_dir)
    except (FileNotFoundError, DatasetFormatError):
        return None


def scene_outputs_present(scene_dir: Path, plan: SceneSpec, extra_files: Sequence[str] = ()) -> bool:
    """True if ``scene_dir`` holds this plan's scene.json (same config and catalog), its camera JSON, and every
    relative path in ``extra_files`` (e.g. ``videos/cam01.mp4``)."""
    scene_dir = Path(scene_dir)
    done = read_spec_or_none(scene_dir)
    if done is None or (done.config_digest, done.catalog_digest, done.seed, done.index) != \
            (plan.config_digest, plan.catalog_digest, plan.seed, plan.index):
        return False
    return (scene_dir / CAMERA_JSON).is_file() and all((scene_dir / f).is_file() for f in extra_files)


def _partial_root(out: Path) -> Path:
    return Path(out) / PARTIAL_DIR


@contextlib.contextmanager
def staged_scene(out: Path, plan: SceneSpec) -> Iterator[Path]:
    """Yield an empty staging folder for ``plan``; on normal exit it replaces ``<out>/<plan.relpath>`` in one
    rename, on any exception (Ctrl-C included) it is deleted. Stale staging folders of the same scene (from a
    killed run) are removed first: only one worker owns a scene index at a time."""
    root = _partial_root(out)
    root.mkdir(parents=True, exist_ok=True)
    prefix = f"{scene_dir_name(plan.index)}."
    for stale in root.glob(prefix + "*"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = root / f"{prefix}{socket.gethostname()}.{os.getpid()}"
    staging.mkdir(parents=True)
    try:
        yield staging
        replace_dir(staging, Path(out) / plan.relpath)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def rebuild_metadata(out: Path) -> int:
    """Rewrite ``<out>/metadata.csv`` from every complete scene's ``scene.json`` (one row per camera video, text =
    scene caption + camera caption). Safe to run while other shards work: it reads only finished scenes.

    Returns the number of rows written.
    """
    out = Path(out)
    rows: List[MetadataRow] = []
    for scene_dir in iter_scene_dirs(out):
        spec = read_spec_or_none(scene_dir)
        if spec is None:
            continue
        rel = scene_dir.relative_to(out / TRAIN_DIR).as_posix()
        for cam in spec.cameras:
            rows.append(MetadataRow(video_relpath(rel, cam.name), f"{spec.caption} {cam.caption}".strip()))
    atomic_write_text(out / METADATA_CSV, format_metadata_csv(rows))
    return len(rows)


def finish_run(out: Path) -> int:
    """End of a plan/render run (also after errors): rebuild ``metadata.csv`` and drop an empty staging folder.
    Returns the number of metadata rows."""
    rows = rebuild_metadata(out)
    partial = _partial_root(out)
    try:
        partial.rmdir()  # only succeeds when empty: other shards' work in progress stays
    except OSError:
        pass
    return rows
