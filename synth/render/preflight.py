"""Checks a render or plan runs before it writes anything (``synth_run.json``, ``metadata.csv``, a scene).

Before these checks a missing catalog asset or a bad ``--preset`` failed only at render time, after
``synth_run.json`` and an empty ``metadata.csv`` had been written; a read-only or full disk failed mid-scene.
:func:`preflight_render` checks, in order: the x264 preset, every file asset of the catalog (resolved and
readable), that the first scene can be sampled with this config and catalog, that the output folder can be
written, and that its file system has room for at least one scene (and warns when not for all of them).
Every failure is a :class:`PreflightError` (a ``ValueError``) naming the option, file or field.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

from ..core.output_space import (OutputSpaceError, check_free_space, check_writable, existing_ancestor,
                                 format_bytes)
from ..scenes.catalog import Catalog
from ..scenes.config import SynthConfig
from .outputs import OutputSpec

__all__ = ["PreflightError", "X264_PRESETS", "catalog_asset_files", "check_catalog_assets", "estimate_scene_bytes",
           "preflight_render"]

#: libx264's speed presets (``x264 --help``); anything else fails in the encoder, mid-scene
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo")

#: schemes of catalog assets that name no file (built procedurally, or shipped in the Panda3D wheel)
_NO_FILE_SCHEMES = ("builtin", "panda3d")

#: estimated bytes per pixel and frame of each output (H.264 at CRF 18 on rendered scenes is ~0.02-0.05; depth as
#: 16-bit PNG ~1; masks ~0.02). Deliberately generous: the check is that a scene fits, not a prediction.
_VIDEO_BPP, _DEPTH_BPP, _MASK_BPP = 0.08, 1.2, 0.05
#: fixed slack per scene (camera JSON, scene.json, encoder buffers) and for the file system
_SCENE_SLACK = 1 << 20
_FS_SLACK = 64 << 20


class PreflightError(ValueError):
    """A run would fail or write into an unusable folder; the message names the option, file or field."""


def _file_part(asset: str) -> Optional[str]:
    """The file a catalog asset of the embedded renderer names, or None when it names none (``builtin:room``).
    ``anny:<file>``, ``bvh:<file>#<range>`` and plain paths (``chars/bob.glb#Walk``) name files."""
    head = asset.split("/")[0]
    if ":" in head and not Path(asset).is_absolute():
        scheme, rest = asset.split(":", 1)
        if scheme in _NO_FILE_SCHEMES:
            return None
        asset = rest
    return asset.partition("#")[0] or None


def catalog_asset_files(catalog: Catalog) -> List[Tuple[str, str, Path]]:
    """``(what, asset, file)`` for every asset of an embedded-renderer catalog that names a file, resolved against
    the catalog's folder (``what``: ``character 'bob'``, ``animation 'walk'``, ``environment 'sky'``)."""
    out = []
    for kind, items in (("environment", catalog.environments), ("character", catalog.characters),
                        ("animation", catalog.animations)):
        for item in items:
            f = _file_part(item.asset)
            if f is not None:
                out.append((f"{kind} {item.id!r}", item.asset, Path(catalog.resolve(f))))
    return out


def check_catalog_assets(catalog: Catalog, backend: str, source: str = "catalog") -> None:
    """Every file asset of the catalog exists and is readable (one byte is read). Only for the embedded renderer:
    an Unreal catalog names assets inside the Unreal project, which only the game can resolve.

    Raises:
        PreflightError: names the catalog, the item, the file and what is wrong.
    """
    if backend != "embedded":
        return
    for what, asset, path in catalog_asset_files(catalog):
        try:
            with open(path, "rb") as f:
                f.read(1)
        except FileNotFoundError:
            raise PreflightError(f"{source}: {what}: asset file {path} not found (catalog asset {asset!r})") \
                from None
        except IsADirectoryError:
            raise PreflightError(f"{source}: {what}: asset {path} is a folder; expected a file (catalog asset "
                                 f"{asset!r})") from None
        except OSError as e:
            raise PreflightError(f"{source}: {what}: asset file {path} cannot be read ({e.strerror or e}; catalog "
                                 f"asset {asset!r})") from None


def estimate_scene_bytes(cfg: SynthConfig, spec: OutputSpec) -> int:
    """Generous estimate of one rendered scene's bytes on disk (videos plus the requested depth and masks)."""
    v = cfg.video
    pixels = cfg.cameras_per_scene * v.frames * v.width * v.height
    bpp = _VIDEO_BPP + (_DEPTH_BPP if spec.depth else 0.0) + (_MASK_BPP if spec.masks else 0.0)
    return int(pixels * bpp) + _SCENE_SLACK


def preflight_render(out: Path, cfg: SynthConfig, catalog: Catalog, backend: str, spec: OutputSpec, seed: int,
                     indices: Sequence[int], log: Optional[Callable[[str], None]] = None,
                     catalog_source: str = "catalog") -> None:
    """Every check of ``synth render`` that can run before anything is written (module docstring).

    Args:
        out: the dataset folder (need not exist).
        spec: the requested outputs (preset, depth, masks).
        seed: the effective run seed; ``indices``: the scenes of this run (shard).
        log: receives a warning when the free space holds one scene but not all of them.
        catalog_source: how to name the catalog in messages (its file).

    Raises:
        PreflightError: see the module docstring.
    """
    if spec.preset not in X264_PRESETS:
        raise PreflightError(f"--preset {spec.preset!r}: not an x264 preset; expected one of "
                             f"{', '.join(X264_PRESETS)}")
    check_catalog_assets(catalog, backend, catalog_source)
    from ..core.run_errors import UserError
    from ..dataset.run_setup import check_before_writing

    try:
        check_before_writing(out, cfg, catalog, seed, indices)
    except UserError as e:
        raise PreflightError(str(e)) from None
    one = estimate_scene_bytes(cfg, spec)
    try:
        check_free_space(out, one + _FS_SLACK, "one scene's outputs")
    except OutputSpaceError as e:
        raise PreflightError(str(e)) from None
    free = shutil.disk_usage(existing_ancestor(out)).free
    total = one * len(indices)
    if log is not None and free < total + _FS_SLACK:
        log(f"warning: --out {out}: {format_bytes(free)} free; the {len(indices)} scenes need about "
            f"{format_bytes(total)} (the run stops with a clean error when the disk fills; re-run to resume)")
