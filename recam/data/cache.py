"""The latent cache: one safetensors file per clip window, plus a manifest.

Layout: ``<cache>/<kind>/<key>.safetensors`` and ``<cache>/manifest.json``. Tensors per file:

==============  =====================  =================================================================
name            shape, dtype           meaning
==============  =====================  =================================================================
latents         [16, F_lat, h, w]      normalised Wan VAE latents (``cache_dtype``, default bf16)
context         [L, D]                 UMT5 embeddings of the caption, true length only (padded on load)
c2w             [F, 4, 4] float64      OpenCV c2w at the window frames (metres when ``metric_scale`` set)
frames          [F] int64              source frame indices
k_norm          [4] float64            [fx/W, fy/H, cx/W, cy/H] of the clip's first frame, after upstream's resize
                                       + centre crop (optional)
intrinsics      [F, 4] float64         the same per clip frame (optional; zoom clips change them)
dyn_mask        [F_lat, h, w] uint8    SpatialVID dynamic-object mask at latent resolution (optional)
==============  =====================  =================================================================

Metadata (one JSON object under the safetensors metadata key ``recam``; version-1 caches, one string per key, are
still read): kind, key, group, camera, caption, metric_scale ("" if relative), source, settings digest and
the settings themselves (``prepare_settings``, JSON: window, size, dtypes, resize mode, model id), first pose
``c2w0`` (JSON) for fast pair filtering. ``<cache>/<kind>/prepare_settings.json`` holds the same settings for the
whole kind; ``recam prepare`` refuses to mix others into it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import torch

from synth.core.atomic import atomic_output_path, atomic_write_text

__all__ = ["CACHE_VERSION", "item_path", "write_item", "read_meta", "load_item", "iter_items", "write_manifest"]

CACHE_VERSION = "2"
#: safetensors metadata key holding the item's metadata as one JSON object (version 2)
META_KEY = "recam"


def item_path(cache: Path, kind: str, key: str) -> Path:
    """Path of an item; ``key`` is a relative, forward-slash path without ``..``."""
    if ".." in Path(key).parts or Path(key).is_absolute():
        raise ValueError(f"cache key {key!r} must be a relative path inside the cache")
    return Path(cache) / kind / f"{key}.safetensors"


def write_item(path: Path, tensors: Dict[str, torch.Tensor], meta: Dict[str, object]) -> None:
    """Write one item atomically (temporary file + rename).

    The metadata is one sorted JSON string (safetensors writes a metadata map in arbitrary order): the same
    item is the same bytes, whichever process or run wrote it.
    """
    from safetensors.torch import save_file

    md = {META_KEY: json.dumps({**meta, "cache_version": CACHE_VERSION}, sort_keys=True)}
    with atomic_output_path(Path(path)) as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=md)


def _decode_meta(md: Dict[str, str]) -> Dict[str, object]:
    if META_KEY in md:
        out: Dict[str, object] = json.loads(md[META_KEY])
    else:  # version 1: one string per key, JSON for the structured ones
        out = dict(md)
        for k in ("c2w0", "metric_scale", "latent_shape", "num_frames", "height", "width"):
            if k in out and out[k] != "":
                out[k] = json.loads(out[k])
    if out.get("metric_scale") == "":
        out["metric_scale"] = None
    return out


def read_meta(path: Path) -> Optional[Dict[str, object]]:
    """Metadata of an item, or None if the file is missing or unreadable (an interrupted write never leaves one)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return _decode_meta(f.metadata() or {})
    except (FileNotFoundError, OSError, ValueError, RuntimeError):
        return None


def load_item(path: Path) -> Dict[str, object]:
    """All tensors of an item and its metadata (under ``meta``)."""
    from safetensors import safe_open

    out: Dict[str, object] = {}
    with safe_open(str(path), framework="pt") as f:
        for k in f.keys():
            out[k] = f.get_tensor(k)
        out["meta"] = _decode_meta(f.metadata() or {})
    return out


def iter_items(cache: Path, kind: Optional[str] = None) -> Iterator[Path]:
    base = Path(cache) / kind if kind else Path(cache)
    if base.is_dir():
        yield from sorted(p for p in base.rglob("*.safetensors")
                          if not p.name.startswith(".") and p.name != "empty_context.safetensors")


def write_manifest(cache: Path) -> List[Dict[str, object]]:
    """Rebuild ``manifest.json`` from every complete item (safe while other shards write)."""
    entries = []
    for p in iter_items(cache):
        m = read_meta(p)
        if m is None:
            continue
        entries.append({"file": p.relative_to(cache).as_posix(), **{k: m.get(k) for k in (
            "kind", "key", "group", "camera", "metric_scale", "num_frames", "height", "width", "latent_shape",
            "c2w0", "settings")}})
    atomic_write_text(Path(cache) / "manifest.json", json.dumps({"version": CACHE_VERSION, "items": entries}) + "\n")
    return entries
