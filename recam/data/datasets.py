"""Training datasets: MultiCamVideo pairs and single-view clips (I2V / T2V), from the latent cache or raw video.

Sample dict (one item; the default collate stacks them):

=================  ==============================  ============================================================
key                shape, dtype                    meaning
=================  ==============================  ============================================================
sample_id          str                             ``<kind>:<target key>`` or ``...<-<condition camera>``
kind, task         str                             dataset kind; ``v2v`` (pair), ``i2v`` or ``t2v`` (single view)
cam_emb            [F_lat, 12] float32             target poses at ``range(F)[::4]`` relative to the condition
                                                   camera's frame 0 (upstream's contract); translations in metres
                                                   when ``metric`` is True
source_keep        [F_lat] bool                    which source latent frames are real (the trainer replaces the
                                                   others with noise): all (v2v), frame 0 (i2v), none (t2v)
metric             bool                            translations are in metres
latents            [16, 2 F_lat, h, w]             (cache) target then source latents, in the cache's dtype (bf16
                                                   by default: half the inter-process traffic; the trainer casts)
context            [512, D]                        (cache) UMT5 embeddings of the target caption, zero-padded
dyn_mask           [F_lat, h, w] float32           (cache, SpatialVID) 1 on dynamic objects, else 0 (optional)
cam_intr           [F_lat, 4] float32              (pairs whose cache holds ``intrinsics``) the target-to-source
                                                   intrinsics condition (``recam.cameras.intrinsics_condition``):
                                                   zero for equal lenses; used with ``model.intrinsics: true``
video              [2, 3, F, H, W] uint8           (raw) target and source frames (0..255; the trainer maps them
                                                   to [-1, 1] on its device: 4x less to move between processes)
prompt             str                             (raw) the target caption
=================  ==============================  ============================================================

Broken samples: problems found while indexing are collected in ``dataset.problems``; with ``on_error='fail'``
the dataset refuses to build (listing them), with ``'skip'`` they are left out. A sample that fails while loading
(truncated video, unreadable cache file) raises :class:`SampleError` (``fail``) or is replaced by the next good
sample and counted in ``dataset.load_errors`` (``skip``); it is never retried forever.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from synth.core.rigid import relative_cam_emb
from synth.core.video_io import VideoReadError

from ..cameras import intrinsics_condition, latent_frame_indices
from ..encoders import pad_context
from .cache import iter_items, load_item, read_meta
from .clips import load_frames
from .formats import Problem, VideoItem, enumerate_items, get_kind

__all__ = ["SampleError", "DatasetBuildError", "CacheSource", "RawSource", "MultiCamPairDataset",
           "SingleViewDataset", "build_dataset", "collate"]

log = logging.getLogger(__name__)


class SampleError(RuntimeError):
    """A sample could not be loaded; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: str, reason: str, sample_id: str = ""):
        super().__init__(f"{path}: {reason}" + (f" (sample {sample_id})" if sample_id else ""))
        self.path, self.reason, self.sample_id = path, reason, sample_id


class DatasetBuildError(ValueError):
    """A dataset holds broken samples and ``on_error='fail'``."""


@dataclass
class ItemInfo:
    key: str
    group: str
    camera: str
    c2w0: np.ndarray  # (4, 4)
    metric: bool


class CacheSource:
    """Items of one kind in the latent cache (``recam prepare``).

    ``expect``: settings the items must have been prepared with (``num_frames``, ``height``, ``width``); an item
    with other values is refused (:class:`DatasetBuildError` naming the file and both values): a cache built for
    another size must not train a config silently.
    """

    def __init__(self, cache: Path | str, kind: str, expect: Optional[Dict[str, int]] = None):
        self.cache, self.kind = Path(cache), kind
        self.paths: Dict[str, Path] = {}
        self.info: Dict[str, ItemInfo] = {}
        self.problems: List[Problem] = []
        for p in iter_items(self.cache, kind):
            m = read_meta(p)
            if m is None or "key" not in m:
                self.problems.append(Problem(str(p), "unreadable cache file"))
                continue
            bad = [f"{k} {m[k]} (cache) vs {v} (requested)" for k, v in (expect or {}).items()
                   if v is not None and k in m and m[k] != v]
            if bad:
                raise DatasetBuildError(f"{p}: prepared with other settings: {', '.join(bad)}; run `recam prepare` "
                                        f"with this config into another cache (or --overwrite)")
            key = str(m["key"])
            self.paths[key] = p
            self.info[key] = ItemInfo(key, str(m.get("group") or key), str(m.get("camera") or ""),
                                      np.asarray(m["c2w0"], float), m.get("metric_scale") is not None)
        if not self.paths and not self.problems:
            self.problems.append(Problem(str(self.cache / kind), f"no cached {kind} items (run `recam prepare`)"))

    @property
    def keys(self) -> List[str]:
        return list(self.paths)

    def load(self, key: str) -> Dict[str, object]:
        try:
            d = load_item(self.paths[key])
        except Exception as e:  # safetensors raises several types for damaged files
            raise SampleError(str(self.paths[key]), f"unreadable cache file ({type(e).__name__}: {e})") from None
        return {"latents": d["latents"], "context": pad_context(d["context"]),
                "c2w": d["c2w"].numpy(), "dyn_mask": d.get("dyn_mask"),
                "intrinsics": d["intrinsics"].numpy() if "intrinsics" in d else None}


class RawSource:
    """Items of a dataset read from raw video (for training with frozen encoders, or without a cache)."""

    def __init__(self, kind: str, root: Path | str, num_frames: int, height: int, width: int, stride: int = 1,
                 resize: str = "exact", **options):
        self.kind, self.height, self.width, self.resize = kind, height, width, resize
        items, self.problems = enumerate_items(kind, root, num_frames, stride, **options)
        self.items: Dict[str, VideoItem] = {it.key: it for it in items}
        self.info = {k: ItemInfo(k, it.group or k, it.camera, it.c2w[0], it.metric) for k, it in self.items.items()}

    @property
    def keys(self) -> List[str]:
        return list(self.items)

    def load(self, key: str) -> Dict[str, object]:
        it = self.items[key]
        try:
            frames = load_frames(it, self.height, self.width, self.resize)  # streamed: no full-size stack
        except VideoReadError as e:
            head, _, reason = str(e).partition(": ")
            raise SampleError(head if reason else it.source, reason or str(e)) from None
        video = torch.from_numpy(frames).permute(3, 0, 1, 2)  # [3, F, H, W] uint8 (a view: the collate copies)
        return {"video": video, "prompt": it.caption, "c2w": it.c2w, "dyn_mask": None}


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Angle between two cameras' optical axes (OpenCV z columns)."""
    za, zb = a[:3, 2], b[:3, 2]
    return float(np.degrees(np.arccos(np.clip(np.dot(za, zb) / np.linalg.norm(za) / np.linalg.norm(zb), -1, 1))))


class _Base(Dataset):
    def __init__(self, source, num_frames: int, on_error: str, seed: int):
        if on_error not in ("skip", "fail"):
            raise ValueError(f"on_error must be 'skip' or 'fail', got {on_error!r}")
        self.source, self.on_error, self.seed = source, on_error, seed
        self.lat_idx = latent_frame_indices(num_frames)
        self.problems: List[Problem] = list(source.problems)
        self.load_errors: List[Tuple[str, str]] = []
        self.epoch = 0
        if self.problems and on_error == "fail":
            raise DatasetBuildError(f"{len(self.problems)} broken samples:\n" +
                                    "\n".join(f"  {p}" for p in self.problems[:50]))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _safe(self, index: int):
        """Load sample ``index``; on failure fail or move to the next index (bounded)."""
        n = len(self)
        for k in range(min(n, 64)):
            i = (index + k) % n
            try:
                return self._get(i)
            except SampleError as e:
                if self.on_error == "fail":
                    raise
                self.load_errors.append((e.path, e.reason))
                log.warning("skipping broken sample: %s", e)
        raise SampleError("<dataset>", "64 consecutive samples failed to load; see the warnings")

    def __getitem__(self, index: int):
        return self._safe(index)


class MultiCamPairDataset(_Base):
    """Ordered pairs (condition camera, target camera) of different cameras of each scene.

    One code path for upstream's MultiCamVideo and ``synth`` output. ``cam_emb`` = target poses relative to the
    condition camera's frame 0 (golden-tested against upstream). Filters: ``max_angle_deg`` between the two
    cameras' optical axes at frame 0, ``min_baseline_m`` / ``max_baseline_m`` between their centres.
    """

    def __init__(self, source, num_frames: int = 81, max_angle_deg: Optional[float] = None,
                 min_baseline_m: Optional[float] = None, max_baseline_m: Optional[float] = None,
                 on_error: str = "skip", seed: int = 0):
        super().__init__(source, num_frames, on_error, seed)
        groups: Dict[str, List[str]] = defaultdict(list)
        for key, info in source.info.items():
            groups[info.group].append(key)
        self.pairs: List[Tuple[str, str]] = []
        for g in sorted(groups):
            keys = sorted(groups[g])
            for cond in keys:
                for tgt in keys:
                    if cond == tgt:
                        continue
                    a, b = source.info[cond].c2w0, source.info[tgt].c2w0
                    if max_angle_deg is not None and _angle_deg(a, b) > max_angle_deg:
                        continue
                    base = float(np.linalg.norm(a[:3, 3] - b[:3, 3]))
                    if (min_baseline_m is not None and base < min_baseline_m) or \
                            (max_baseline_m is not None and base > max_baseline_m):
                        continue
                    self.pairs.append((cond, tgt))

    def __len__(self) -> int:
        return len(self.pairs)

    def _get(self, i: int):
        cond_key, tgt_key = self.pairs[i]
        tgt, cond = self.source.load(tgt_key), self.source.load(cond_key)
        cam = relative_cam_emb(cond["c2w"][0], tgt["c2w"][self.lat_idx])
        out = {"sample_id": f"{self.source.kind}:{tgt_key}<-{self.source.info[cond_key].camera or cond_key}",
               "kind": self.source.kind, "task": "v2v", "cam_emb": torch.from_numpy(cam),
               "source_keep": torch.ones(len(self.lat_idx), dtype=torch.bool),
               "metric": bool(self.source.info[tgt_key].metric)}
        if tgt.get("intrinsics") is not None and cond.get("intrinsics") is not None:  # clip-normalised, per frame
            out["cam_intr"] = torch.from_numpy(intrinsics_condition(tgt["intrinsics"][self.lat_idx],
                                                                    cond["intrinsics"][self.lat_idx]))
        if "latents" in tgt:
            out["latents"] = torch.cat([tgt["latents"], cond["latents"]], dim=1)
            out["context"] = tgt["context"]
        else:
            out["video"] = torch.stack([tgt["video"], cond["video"]])
            out["prompt"] = tgt["prompt"]
        return out


class SingleViewDataset(_Base):
    """Single-view clips as I2V / T2V samples (ReCamMaster paper): the source is the clip itself with every latent
    frame but the first (I2V) or all of them (T2V) to be replaced by noise, and ``cam_emb`` is the clip's own
    trajectory relative to its frame 0. The task is drawn per (seed, epoch, index) with ``task_probs``."""

    def __init__(self, source, num_frames: int = 81, task_probs: Optional[Dict[str, float]] = None,
                 require_metric: bool = False, on_error: str = "skip", seed: int = 0):
        super().__init__(source, num_frames, on_error, seed)
        self.task_probs = dict(task_probs or {"i2v": 0.5, "t2v": 0.5})
        if set(self.task_probs) - {"i2v", "t2v"} or abs(sum(self.task_probs.values()) - 1) > 1e-6:
            raise ValueError(f"task_probs must give i2v and t2v probabilities summing to 1, got {self.task_probs}")
        self.keys = [k for k in sorted(source.keys) if source.info[k].metric or not require_metric]
        self.problems += [Problem(k, "no metric scale") for k in sorted(source.keys) if k not in self.keys]

    def __len__(self) -> int:
        return len(self.keys)

    def task_of(self, i: int) -> str:
        rng = np.random.default_rng([self.seed, self.epoch, i])
        return "i2v" if rng.random() < self.task_probs.get("i2v", 0.0) else "t2v"

    def _get(self, i: int):
        key = self.keys[i]
        d = self.source.load(key)
        task = self.task_of(i)
        keep = torch.zeros(len(self.lat_idx), dtype=torch.bool)
        if task == "i2v":
            keep[0] = True
        cam = relative_cam_emb(d["c2w"][0], d["c2w"][self.lat_idx])
        out = {"sample_id": f"{self.source.kind}:{key}", "kind": self.source.kind, "task": task,
               "cam_emb": torch.from_numpy(cam), "source_keep": keep, "metric": bool(self.source.info[key].metric)}
        if "latents" in d:
            out["latents"] = torch.cat([d["latents"], d["latents"]], dim=1)
            out["context"] = d["context"]
            if d.get("dyn_mask") is not None:
                out["dyn_mask"] = d["dyn_mask"].float()
        else:
            out["video"] = d["video"].unsqueeze(0).expand(2, *d["video"].shape)  # source = target: a view, no copy
            out["prompt"] = d["prompt"]
        return out


def build_dataset(kind: str, *, cache: Optional[Path] = None, root: Optional[Path] = None, num_frames: int = 81,
                  height: Optional[int] = None, width: Optional[int] = None, stride: int = 1, on_error: str = "skip",
                  seed: int = 0, pair_filters: Optional[Dict] = None, task_probs: Optional[Dict[str, float]] = None,
                  require_metric: bool = False, options: Optional[Dict] = None) -> Dataset:
    """A dataset of ``kind`` from a cache (preferred) or raw files (``root``).

    Pairs (:class:`MultiCamPairDataset`) for kinds registered as ``paired``, else single-view clips. ``height``
    / ``width``: the raw frames' size (default 480 x 832); for a cache, the size its items must have (checked
    when given, like ``num_frames``).

    Raises:
        UnknownKindError: unknown kind. DatasetBuildError: broken samples with ``on_error='fail'``, or cached
        items prepared with another window or size.
    """
    if (cache is None) == (root is None):
        raise ValueError("give exactly one of cache= or root=")
    k = get_kind(kind)
    if cache is not None:
        src = CacheSource(cache, kind, {"num_frames": num_frames, "height": height, "width": width})
    else:
        src = RawSource(kind, root, num_frames, height or 480, width or 832, stride, require_metric=require_metric,
                        **(options or {}))
    if k.paired:
        return MultiCamPairDataset(src, num_frames, on_error=on_error, seed=seed, **(pair_filters or {}))
    return SingleViewDataset(src, num_frames, task_probs, require_metric, on_error, seed)


def collate(samples):
    """Stack tensors, keep strings/bools as lists (``sample_id``, ``task``, ``prompt``, ``kind``, ``metric``). The
    optional intrinsics condition ``cam_intr`` is zero (the source's lens) for samples without it (single-view
    clips, data without intrinsics) when others of the batch have it."""
    if any("cam_intr" in s for s in samples):
        ref = next(s["cam_intr"] for s in samples if "cam_intr" in s)
        samples = [s if "cam_intr" in s else {**s, "cam_intr": torch.zeros_like(ref)} for s in samples]
    out = {}
    for k in samples[0]:
        vals = [s[k] for s in samples]
        out[k] = torch.stack(vals) if isinstance(vals[0], torch.Tensor) else vals
    return out
