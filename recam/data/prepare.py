"""``recam prepare``: cache normalised VAE latents and UMT5 text embeddings per clip window (upstream's
``data_process`` step), as a pipeline: DataLoader workers decode and preprocess clips ahead (prefetch) while the
main process encodes captions in batches and clips with the VAE on the device, then writes each item atomically.

Resumable (items cached with the same settings are skipped), shardable (``--shard i/n`` for cluster arrays, and
one launch per node: ``torchrun --nproc_per_node N -m recam.cli prepare ...`` or ``recam prepare --devices N``
shard across ranks from ``RANK`` / ``WORLD_SIZE``), with a manifest and problem reports merged across shards. A
cache records the settings that produced it and refuses others (``overwrite=True`` replaces on purpose).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from synth.core.atomic import atomic_write_text
from synth.core.multicam_format import DatasetFormatError
from synth.core.sharding import select_shard
from synth.core.video_io import VideoReadError

from ..video import RESIZE_MODES
from .cache import item_path, read_meta, write_item, write_manifest
from .clips import load_frames, load_frames_sized
from .formats import Problem, VideoItem, enumerate_items
from .formats.base import clip_intrinsics

__all__ = ["PrepareSettings", "PrepareReport", "CacheSettingsError", "prepare_dataset", "load_frames",
           "dyn_mask_latent", "CACHE_DTYPES", "VAE_DTYPES", "dist_env", "merge_shard_reports", "launch_local", "launch_engine",
           "ClipProgress"]

#: ``--cache_dtype`` values -> torch dtypes of the stored latents and embeddings
CACHE_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
#: ``--vae_dtype`` values (bf16 halves VAE memory and time on GPUs; latents differ slightly from fp32)
VAE_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
SETTINGS_FILE = "prepare_settings.json"


class CacheSettingsError(ValueError):
    """The cache was built with other settings (the message lists each differing value, cache vs requested)."""


@dataclass(frozen=True)
class PrepareSettings:
    """What determines a cache's contents (recorded in the cache; a different value is refused).

    Attributes:
        num_frames, height, width, stride: the window (frames 4k + 1; pixels multiples of 16).
        cache_dtype: dtype of the stored tensors (:data:`CACHE_DTYPES`).
        resize: ``exact`` (upstream's PIL bilinear) or ``fast`` (swscale in the decoder).
        vae_dtype: dtype the VAE runs in (:data:`VAE_DTYPES`).
        vae_tiling: upstream's tiled VAE encoding (less memory, slightly different latents).
        options: reader options (not part of the recorded settings: they choose items, not their contents).
    """

    num_frames: int = 81
    height: int = 480
    width: int = 832
    stride: int = 1
    cache_dtype: str = "bf16"
    options: dict = field(default_factory=dict)
    resize: str = "exact"
    vae_dtype: str = "fp32"
    vae_tiling: bool = False

    def __post_init__(self):
        for name, value, valid in (("cache_dtype", self.cache_dtype, CACHE_DTYPES),
                                   ("resize", self.resize, RESIZE_MODES), ("vae_dtype", self.vae_dtype, VAE_DTYPES)):
            if value not in valid:
                raise ValueError(f"--{name} must be one of {', '.join(valid)}; got {value!r}")

    def recorded(self, model_id: str) -> Dict[str, object]:
        """The settings as recorded in the cache (every field but ``options``, plus the model's id)."""
        d = {k: v for k, v in asdict(self).items() if k != "options"}
        d["model"] = model_id
        return d

    def digest(self, model_id: str) -> str:
        """16 hex digits over :meth:`recorded` (settings at their defaults are left out of the hash, so caches
        written before they existed keep their digest)."""
        d = self.recorded(model_id)
        for k, default in (("resize", "exact"), ("vae_dtype", "fp32"), ("vae_tiling", False)):
            if d[k] == default:
                del d[k]
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


_DEFAULTS = {"resize": "exact", "vae_dtype": "fp32", "vae_tiling": False}


@dataclass
class PrepareReport:
    written: int = 0
    skipped: int = 0
    problems: List[Problem] = field(default_factory=list)
    seconds: float = 0.0
    shard: Tuple[int, int] = (0, 1)


#: the largest dynamic-mask frame decoded (pixels): SpatialVID's masks are video-sized
MAX_MASK_PIXELS = 8192 * 8192


def dyn_mask_latent(path: Path, frames: np.ndarray, shape: Tuple[int, int, int],
                    annotated: Optional[np.ndarray] = None) -> np.ndarray:
    """SpatialVID dynamic masks (``dyn_masks.npz``: per-frame CSR ``f_{i}_data/indices/indptr`` + ``shape``) at the
    latent frames, max-pooled to the latent grid ``(F_lat, h, w)``; frames without a mask count as static.

    Upstream stores the masks by **annotated-frame index** (``dynamic_mask/inference_batch.py`` saves ``f_{i}`` in
    the order of the annotated images; REFERENCE §4): ``annotated`` ``(N,)`` is ``indexes.txt``'s video frame of each
    annotated frame ``i``, and video frame ``f`` reads the mask of the annotated frame nearest to it (exact when
    ``f`` is annotated: with annotations every 6th frame, video frames 24 and 48 read ``f_4`` and ``f_8``).
    ``annotated`` None: ``frames`` are annotated-frame indices already.

    Raises:
        DatasetFormatError: an unreadable or inconsistent file (named, with the member), a mask larger than
            :data:`MAX_MASK_PIXELS`; never another exception, so one bad clip does not stop a run.
    """
    import zipfile

    from scipy.sparse import csr_matrix

    from ..cameras import latent_frame_indices

    f_lat, h, w = shape
    out = np.zeros(shape, np.uint8)
    member = "shape"
    try:
        with np.load(path, allow_pickle=False) as z:
            if not hasattr(z, "files"):
                raise ValueError("a single .npy array, not an .npz archive")
            h0, w0 = (int(v) for v in np.asarray(z["shape"]).ravel()[-2:])
            if not (0 < h0 and 0 < w0 and h0 * w0 <= MAX_MASK_PIXELS):
                raise ValueError(f"mask shape {h0}x{w0} outside 1..{MAX_MASK_PIXELS} pixels")
            for j, pos in enumerate(latent_frame_indices(len(frames))[:f_lat]):
                f = int(frames[pos])
                if annotated is not None:  # video frame -> the nearest annotated frame's index (indexes.txt)
                    f = int(np.argmin(np.abs(np.asarray(annotated) - f)))
                member = f"f_{f}_data"
                if member not in z:
                    continue
                sp = csr_matrix((z[member], z[f"f_{f}_indices"], z[f"f_{f}_indptr"]), shape=(h0, w0))
                sp.check_format(full_check=True)  # indices within the shape: toarray does not check them
                m = sp.toarray() > 0
                ys = (np.arange(h) * h0 // h)
                xs = (np.arange(w) * w0 // w)
                out[j] = np.maximum.reduceat(np.maximum.reduceat(m, ys, axis=0), xs, axis=1)[:h, :w]
    except (OSError, ValueError, KeyError, TypeError, IndexError, EOFError, MemoryError, zipfile.BadZipFile) as e:
        raise DatasetFormatError(f"{path}: unreadable dynamic masks at {member!r} ({type(e).__name__}: "
                                 f"{str(e)[:200]}); expected dyn_masks.npz with shape and per-frame CSR "
                                 f"f_<i>_data / f_<i>_indices / f_<i>_indptr") from None
    return out


# ------------------------------------------------------------------------------------------------------------------
# Settings recorded in the cache
# ------------------------------------------------------------------------------------------------------------------


def _differences(recorded: Dict[str, object], wanted: Dict[str, object]) -> List[str]:
    keys = [k for k in wanted if k in recorded or k in _DEFAULTS]
    return [f"{k}: cache {recorded.get(k, _DEFAULTS.get(k))!r}, requested {wanted[k]!r}" for k in keys
            if recorded.get(k, _DEFAULTS.get(k)) != wanted[k]]


def _item_settings(meta: Dict[str, object]) -> Dict[str, object]:
    """Settings an item records (caches from before ``prepare_settings`` hold only the window and digest)."""
    if isinstance(meta.get("prepare_settings"), dict):
        return meta["prepare_settings"]
    return {k: meta[k] for k in ("num_frames", "height", "width") if k in meta}


def _refuse(where: Path, recorded: Dict[str, object], wanted: Dict[str, object], count: str) -> None:
    diff = _differences(recorded, wanted) or [f"settings digest: cache {recorded.get('digest', '?')}, requested "
                                              f"{wanted.get('digest', '?')} (model or dtype)"]
    raise CacheSettingsError(f"{where}: {count} built with other settings: " + "; ".join(diff) +
                             ". Use another --out, or --overwrite to replace them on purpose.")


def _check_settings_file(cache: Path, kind: str, wanted: Dict[str, object], overwrite: bool) -> None:
    f = Path(cache) / kind / SETTINGS_FILE
    if overwrite or not f.exists():
        return
    try:
        recorded = json.loads(f.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CacheSettingsError(f"{f}: unreadable ({e}); remove it or use --overwrite") from None
    if recorded.get("digest") != wanted["digest"]:
        _refuse(f, recorded, wanted, "the cache was")


# ------------------------------------------------------------------------------------------------------------------
# Distributed: one launch per node (torchrun or --devices), merged reports
# ------------------------------------------------------------------------------------------------------------------


def dist_env() -> Tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from torchrun's environment (``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``); ``(0, 1, 0)`` outside a distributed launch.

    Raises:
        ValueError: malformed values.
    """
    try:
        rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
        local = int(os.environ.get("LOCAL_RANK", rank))
    except ValueError:
        raise ValueError(f"RANK / WORLD_SIZE / LOCAL_RANK must be integers, got {os.environ.get('RANK')!r} / "
                         f"{os.environ.get('WORLD_SIZE')!r} / {os.environ.get('LOCAL_RANK')!r}") from None
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"RANK must be in 0..WORLD_SIZE-1, got RANK={rank} WORLD_SIZE={world}")
    return rank, world, local


def _combine(shard: Tuple[int, int], rank: int, world: int) -> Tuple[int, int]:
    """A rank's share of a ``--shard i/n`` share: clips ``k`` with ``k % (n world) == i world + rank``."""
    i, n = shard
    return i * world + rank, n * world


def merge_shard_reports(cache: Path, kind: str) -> List[Dict[str, str]]:
    """Union of every ``problems.shard*of*.json`` of a kind (duplicates removed) written to ``problems.json``,
    and the manifest rebuilt from every complete item. Safe to run by every shard: the last one to finish leaves
    the complete files."""
    seen, merged = set(), []
    for f in sorted((Path(cache) / kind).glob("problems.shard*of*.json")):
        try:
            entries = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # a shard being rewritten: its final version is merged by whoever finishes last
        for e in entries:
            k = (e.get("path"), e.get("reason"))
            if k not in seen:
                seen.add(k)
                merged.append(e)
    atomic_write_text(Path(cache) / kind / "problems.json", json.dumps(merged, indent=1) + "\n")
    write_manifest(cache)
    return merged


def _process_group(world: int):
    """A gloo group for the ranks of a torchrun / ``--devices`` launch (None when not launched that way)."""
    import torch.distributed as dist

    if world <= 1 or not dist.is_available():
        return None
    if dist.is_initialized():
        return dist
    if "MASTER_ADDR" not in os.environ:
        return None
    dist.init_process_group("gloo")
    return dist


# ------------------------------------------------------------------------------------------------------------------
# Progress
# ------------------------------------------------------------------------------------------------------------------


class ClipProgress:
    """Progress lines from the first clip on (no terminal needed): clips done of total, clips/s of the clips
    encoded so far, ETA; then at most every ``every`` seconds and at the end."""

    def __init__(self, total: int, log: Callable[[str], None], label: str = "prepare", every: float = 10.0):
        self.total, self.log, self.label, self.every = total, log, label, every
        self.done = {"written": 0, "skipped": 0, "problem": 0}
        self.t0 = time.perf_counter()
        self.last = None

    def line(self) -> str:
        n = sum(self.done.values())
        worked = self.done["written"] + self.done["problem"]
        dt = time.perf_counter() - self.t0
        rate = worked / dt if dt > 0 and worked else 0.0
        left = self.total - n
        eta = f"{int(left / rate // 60)}m{int(left / rate % 60):02d}s" if rate > 0 else "--"
        return (f"{self.label}: {n}/{self.total} clips ({self.done['written']} written, {self.done['skipped']} "
                f"cached, {self.done['problem']} broken), {rate:.2f} clips/s, ETA {eta}")

    def update(self, what: str) -> None:
        self.done[what] += 1
        now = time.perf_counter()
        n = sum(self.done.values())
        if what != "skipped" and (self.last is None or now - self.last >= self.every) or n == self.total:
            self.last = now
            self.log(self.line())


# ------------------------------------------------------------------------------------------------------------------
# The pipeline
# ------------------------------------------------------------------------------------------------------------------


class ClipFrames(torch.utils.data.Dataset):
    """Decoded, preprocessed frames of clip windows (runs in DataLoader workers): ``(index, [F, H, W, 3] uint8
    tensor or None, Problem or None)``; a broken clip is a problem, not an exception, so the stream goes on."""

    def __init__(self, items: Sequence[VideoItem], height: int, width: int, resize: str):
        self.items, self.height, self.width, self.resize = list(items), height, width, resize

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        it = self.items[i]
        try:
            frames, size = load_frames_sized(it, self.height, self.width, self.resize)
            k = None  # the clip's intrinsics (F, 4) after resize + centre crop, from the source frame's
            if it.intrinsics is not None and size is not None:
                k = clip_intrinsics(it.intrinsics, size, (self.width, self.height))
            return i, torch.from_numpy(frames), None, k
        except VideoReadError as e:  # "<file>: <reason>"
            head, _, reason = str(e).partition(": ")
            return i, None, Problem(head if reason else it.source, reason or str(e)), None


def _identity(x):
    return x


def _model_id(model_dir: Path) -> str:
    return hashlib.sha256(((model_dir / "vae" / "config.json").read_text() +
                           (model_dir / "text_encoder" / "config.json").read_text()).encode()).hexdigest()[:16]


def no_clip_message(kind: str, root: Path) -> str:
    """The error for a dataset folder in which the reader of ``kind`` found no clip at all: the layout it expected
    and the folders it saw (RealEstate10K's parent folder holds ``test/`` and ``train/``, not the clips)."""
    from .formats import get_kind

    root = Path(root)
    subs = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    seen = (f"; it holds the folders {', '.join(subs[:10])}{' ...' if len(subs) > 10 else ''} (a split folder such "
            f"as {root / subs[0]} may be the dataset root)" if subs else "; it holds no folder")
    return (f"{root}: no clip found for --kind {kind}; expected {get_kind(kind).layout or 'its layout'} under this "
            f"folder{seen}")


def prepare_dataset(kind: str, root: Path, model_dir: Path, cache: Path, settings: PrepareSettings,
                    shard: Tuple[int, int] = (0, 1), device: str = "cpu", batch_text: int = 8,
                    on_item: Optional[Callable[[str, str], None]] = None, vae_tiling: Optional[bool] = None,
                    workers: int = 0, prefetch: int = 2, overwrite: bool = False,
                    log: Optional[Callable[[str], None]] = None) -> PrepareReport:
    """Encode every window of a dataset into the cache (see module docstring).

    Args:
        shard: ``(i, n)`` share of the clips (``--shard``); within a distributed launch each rank takes its part
            of that share (:func:`dist_env`).
        device: where the VAE and text encoder run.
        batch_text: captions encoded per text-encoder call.
        on_item: ``on_item(key, "written" | "skipped" | "problem")`` after each clip.
        vae_tiling: overrides ``settings.vae_tiling`` (kept for callers of the old signature).
        workers: DataLoader workers decoding ahead (0: in this process; the cache entries are byte-identical).
        prefetch: clips each worker decodes ahead.
        overwrite: replace items cached with other settings instead of refusing.
        log: progress lines (clips/s, ETA) from the first clip.

    Returns:
        The report of this process (also written as ``<cache>/<kind>/problems.shard{i}of{n}.json``; every
        shard's reports are merged into ``problems.json`` and the manifest when the last one finishes).

    Raises:
        FileNotFoundError: a model component is missing. CacheSettingsError: the cache holds items built with
        other settings (and not ``overwrite``). DatasetFormatError, ValueError: unreadable dataset metadata, or no
        clip at all in ``root`` (the message names the layout the kind expects).
    """
    from diffusers import AutoencoderKLWan
    from transformers import AutoTokenizer, UMT5EncoderModel

    from ..encoders import encode_prompts, encode_video_latents
    from ..components import load_components_error

    t0 = time.perf_counter()
    if vae_tiling is not None and vae_tiling != settings.vae_tiling:
        from dataclasses import replace

        settings = replace(settings, vae_tiling=vae_tiling)
    rank, world, _ = dist_env()
    shard = _combine(shard, rank, world)
    group = _process_group(world)
    model_dir, cache = Path(model_dir), Path(cache)
    for sub in ("tokenizer", "text_encoder", "vae"):
        if not (model_dir / sub).is_dir():
            raise load_components_error(model_dir, sub)
    model_id = _model_id(model_dir)
    digest = settings.digest(model_id)
    wanted = {**settings.recorded(model_id), "digest": digest}
    _check_settings_file(cache, kind, wanted, overwrite)
    items, problems = enumerate_items(kind, root, settings.num_frames, settings.stride, **settings.options)
    if not items and not problems:  # before anything is written: an empty cache would fail only in training
        raise DatasetFormatError(no_clip_message(kind, root))
    items = select_shard(items, shard)
    report = PrepareReport(problems=list(problems), shard=shard)
    todo, conflicts = [], []
    for it in items:
        meta = read_meta(item_path(cache, kind, it.key))
        if meta is not None and meta.get("settings") == digest:
            if meta.get("caption") == it.caption and meta.get("metric_scale") == it.metric_scale:
                report.skipped += 1
                if on_item:
                    on_item(it.key, "skipped")
                continue
        elif meta is not None and not overwrite:
            conflicts.append((it, meta))
        todo.append(it)
    total_conflicts = len(conflicts)
    if group is not None:  # every rank refuses together (none waits at a barrier for a rank that stopped)
        t = torch.tensor([total_conflicts])
        group.all_reduce(t)
        total_conflicts = int(t.item())
    if total_conflicts and not conflicts:
        raise CacheSettingsError(f"{cache / kind}: {total_conflicts} cached item(s) of other ranks were built with "
                                 f"other settings; use another --out, or --overwrite to replace them on purpose.")
    if conflicts:
        it, meta = conflicts[0]
        _refuse(item_path(cache, kind, it.key), {**_item_settings(meta), "digest": meta.get("settings")}, wanted,
                f"{len(conflicts)} cached item(s) (e.g. this one) were")
    (cache / kind).mkdir(parents=True, exist_ok=True)
    if rank == 0 or not (cache / kind / SETTINGS_FILE).exists():
        atomic_write_text(cache / kind / SETTINGS_FILE, json.dumps(wanted, indent=1) + "\n")
    progress = ClipProgress(len(items), log, f"prepare {kind} [{shard[0]}/{shard[1]}]") if log else None
    if progress and report.skipped:
        progress.done["skipped"] = report.skipped
    empty_path = cache / "empty_context.safetensors"
    dt = CACHE_DTYPES[settings.cache_dtype]
    if todo:  # workers start decoding now, while the models load
        # Spawned, not forked: a fork copies whatever locks this process's threads hold at that instant (Mesa's
        # llvmpipe, OpenCV, Ray, OpenMP pools of an earlier job in the same process), and a worker can wait on
        # one forever: seen as a hung `recam prepare` inside the test suite after rendering tests had run.
        stream = iter(torch.utils.data.DataLoader(
            ClipFrames(todo, settings.height, settings.width, settings.resize), batch_size=None, shuffle=False,
            num_workers=workers, prefetch_factor=prefetch if workers else None, collate_fn=_identity,
            pin_memory=str(device).startswith("cuda"), multiprocessing_context="spawn" if workers else None))
    if todo or not empty_path.exists():
        tok = AutoTokenizer.from_pretrained(str(model_dir / "tokenizer"), local_files_only=True)
        te = UMT5EncoderModel.from_pretrained(str(model_dir / "text_encoder"), local_files_only=True).to(device).eval()
    if not empty_path.exists():  # the empty prompt's embedding, for text dropout in training
        emb, n = encode_prompts(tok, te, [""], device=device)
        write_item(empty_path, {"context": emb[0, :n[0]].to(dt).cpu()}, {"kind": "empty_context", "settings": digest})
    if todo:
        vae = AutoencoderKLWan.from_pretrained(str(model_dir / "vae"), local_files_only=True,
                                               torch_dtype=VAE_DTYPES[settings.vae_dtype]).to(device).eval()
        if settings.vae_tiling:
            vae.enable_tiling()

        def flush(batch: List[Tuple[VideoItem, torch.Tensor]]) -> None:
            if not batch:
                return
            emb, lengths = encode_prompts(tok, te, [it.caption for it, _ in batch], device=device)
            for j, (it, frames) in enumerate(batch):
                # uint8 to the device first (4x fewer bytes), then frames_to_tensor's exact ops there
                x = frames.to(device, non_blocking=True).permute(3, 0, 1, 2).float().div(127.5).sub(1.0)
                lat = encode_video_latents(vae, x[None], device=device)[0]
                tensors = {"latents": lat.to(dt).cpu(), "context": emb[j, :lengths[j]].to(dt).cpu(),
                           "c2w": torch.from_numpy(it.c2w.astype(np.float64)),
                           "frames": torch.from_numpy(np.asarray(it.frames, np.int64))}
                k = clip_k.pop(it.key, None)
                if k is not None:  # normalised to the clip (resize + centre crop), per frame and its first frame
                    tensors["intrinsics"] = torch.from_numpy(np.asarray(k, np.float64))
                    tensors["k_norm"] = tensors["intrinsics"][0].clone()
                if it.dyn_mask is not None:
                    try:
                        mask = dyn_mask_latent(it.dyn_mask, it.frames, tuple(lat.shape[1:]),
                                               it.extra.get("annotated_frames"))
                    except DatasetFormatError as e:  # this clip is broken, not the run
                        report.problems.append(Problem(str(it.dyn_mask), str(e).split(": ", 1)[-1]))
                        if on_item:
                            on_item(it.key, "problem")
                        if progress:
                            progress.update("problem")
                        continue
                    tensors["dyn_mask"] = torch.from_numpy(mask)
                meta = {"kind": kind, "key": it.key, "group": it.group, "camera": it.camera, "caption": it.caption,
                        "metric_scale": it.metric_scale if it.metric_scale is not None else "",
                        "source": it.source, "settings": digest, "prepare_settings": wanted,
                        "c2w0": it.c2w[0].tolist(), "num_frames": settings.num_frames, "height": settings.height,
                        "width": settings.width, "latent_shape": list(lat.shape)}
                write_item(item_path(cache, kind, it.key), tensors, meta)
                report.written += 1
                if on_item:
                    on_item(it.key, "written")
                if progress:
                    progress.update("written")

        pending: List[Tuple[VideoItem, torch.Tensor]] = []
        clip_k: Dict[str, np.ndarray] = {}
        for i, frames, problem, k in stream:  # workers decode the next clips while this process encodes
            if problem is not None:
                report.problems.append(problem)
                if on_item:
                    on_item(todo[i].key, "problem")
                if progress:
                    progress.update("problem")
                continue
            if k is not None:
                clip_k[todo[i].key] = k
            pending.append((todo[i], frames))
            if len(pending) >= batch_text:
                flush(pending)
                pending = []
        flush(pending)
    atomic_write_text(cache / kind / f"problems.shard{shard[0]}of{shard[1]}.json",
                      json.dumps([{"path": p.path, "reason": p.message} for p in report.problems], indent=1) + "\n")
    if group is not None:
        group.barrier()  # every rank's items and report are written
    if group is None or rank == 0:
        merge_shard_reports(cache, kind)
    if group is not None:
        group.barrier()
    report.seconds = time.perf_counter() - t0
    return report


# ------------------------------------------------------------------------------------------------------------------
# --devices N: N local processes, as torchrun would start them
# ------------------------------------------------------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_stderr(line: str) -> None:
    import sys

    print(line, file=sys.stderr, flush=True)


def _rank_main(rank: int, world: int, port: int, queue, args: tuple, kwargs: dict) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    if str(kwargs.get("device", "")).startswith("cuda"):
        kwargs = {**kwargs, "device": f"cuda:{rank}"}
    try:
        report = prepare_dataset(*args, **kwargs)
        queue.put((rank, report, None))
    except Exception as e:  # reported to the parent, which fails with the message
        queue.put((rank, None, f"{type(e).__name__}: {e}"))
        raise
    finally:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def launch_local(devices: int, *args, **kwargs) -> List[PrepareReport]:
    """Run :func:`prepare_dataset` in ``devices`` processes (ranks of one gloo group, one device each on CUDA),
    as ``torchrun --nproc_per_node devices`` would; returns their reports by rank.

    Raises:
        RuntimeError: a rank failed (its message included).
    """
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    kwargs = {k: v for k, v in kwargs.items() if k != "on_item"}  # callbacks stay in this process
    if kwargs.get("log") is not None:
        kwargs["log"] = _log_stderr
    try:
        mp.start_processes(_rank_main, args=(devices, _free_port(), queue, args, kwargs), nprocs=devices,
                           join=True, start_method="spawn")
    except mp.ProcessRaisedException:
        pass
    results = {}
    while not queue.empty():
        rank, report, err = queue.get()
        results[rank] = (report, err)
    refused = [e.split(": ", 1)[1] for _, (_, e) in sorted(results.items()) if e and e.startswith("CacheSettingsError")]
    if refused:
        raise CacheSettingsError(max(refused, key=len))
    errors = [f"rank {r}: {e}" for r, (_, e) in sorted(results.items()) if e]
    if errors or len(results) != devices:
        raise RuntimeError("; ".join(errors) or f"{devices - len(results)} rank(s) died without a report")
    return [results[r][0] for r in range(devices)]


class _PrepareWorker:
    """A worker of the execution layer: runs :func:`prepare_dataset` on one share of the clips per unit (the unit is
    the ``(i, n)`` share), with the device Ray assigned (``--device auto``: its GPU, else the CPU)."""

    def __init__(self, args: tuple, kwargs: dict, device: str):
        for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):  # a worker is no torchrun rank: no process group
            os.environ.pop(k, None)
        self.args, self.kwargs = args, {**kwargs, "device": _prepare_device(device, 1, 0)}

    def __call__(self, shard: Tuple[int, int]) -> PrepareReport:
        return prepare_dataset(*self.args, shard=tuple(shard), **self.kwargs)


def _make_prepare_worker(args: tuple, kwargs: dict, device: str, ctx) -> _PrepareWorker:
    """The execution layer's worker factory for ``recam prepare`` (module level: pickled to processes / actors)."""
    return _PrepareWorker(args, kwargs, device)


def launch_engine(s, settings: PrepareSettings, shard: Tuple[int, int], kwargs: dict,
                  log: Callable[[str], None]) -> List[PrepareReport]:
    """Run ``recam prepare`` on the execution layer (``--engine``): the clips of ``shard`` split into
    ``s.devices`` units (``(i, n)`` shares, the same split as ``--devices`` ranks, so the cache and its
    ``problems.shard*`` files are the same), one worker per unit (``--gpus-per-worker``: its GPU from Ray).

    Raises:
        CacheSettingsError: a worker found items cached with other settings.
        RuntimeError: a unit failed (its reason included).
    """
    import functools

    from synth.core.engine import Job, run_job

    units = [_combine(shard, j, s.devices) for j in range(s.devices)]
    worker_kwargs = {k: v for k, v in kwargs.items() if k not in ("shard", "device", "log", "on_item")}
    worker_kwargs["log"] = _log_stderr if kwargs.get("log") is not None else None
    make = functools.partial(_make_prepare_worker, (s.kind, s.dataset, s.model_dir, s.out, settings),
                             worker_kwargs, s.device)
    log(f"prepare {s.kind}: {len(units)} unit(s) on engine {s.engine.resolved(s.devices)}")
    job = Job("prepare", units, make, s.devices, root=s.out, unit_label=lambda u: f"shard {u[0]}/{u[1]}")
    outcomes = list(run_job(job, s.engine))
    failed = [o for o in outcomes if not o.ok]
    refused = [o.error.split(": ", 1)[1] for o in failed if o.error.startswith("CacheSettingsError")]
    if refused:
        raise CacheSettingsError(max(refused, key=len))
    if failed:
        raise RuntimeError("; ".join(f"shard {o.unit[0]}/{o.unit[1]} (node {o.node}): {o.error}" for o in failed))
    merge_shard_reports(s.out, s.kind)  # every unit's report is written: the complete problems.json and manifest
    return [o.value for o in sorted(outcomes, key=lambda o: o.unit)]


def run(s, log: Callable[[str], None] = print) -> List[PrepareReport]:
    """``recam prepare``: cache the windows of ``s.dataset`` (a :class:`recam.data.prepare_settings.PrepareRunSettings`)
    in ``s.out``, in this process, in ``s.devices`` local processes or as one rank of a torchrun launch; print the
    broken clips and a summary through ``log``.

    Returns:
        every process's report.

    Raises:
        UserError: a bad shard, device or torchrun environment, a dataset or model folder that cannot be read, a
            cache built with other settings (exit 2); a rank of ``--devices`` failed (exit 1).
    """
    from rich.markup import escape

    from synth.core.engine import EngineSetupError
    from synth.core.multicam_format import DatasetFormatError
    from synth.core.run_errors import UserError
    from synth.core.sharding import parse_shard

    try:
        window = s.window
        settings = PrepareSettings(cache_dtype=s.cache_dtype, options=s.reader_options, resize=s.resize,
                                   vae_dtype=s.vae_dtype, vae_tiling=s.vae_tiling, **window)
        shard = parse_shard(s.shard)
        _, world, local = dist_env()
        device = _prepare_device(s.device, world, local)
    except ValueError as e:
        raise UserError(str(e)) from None
    kwargs = dict(shard=shard, device=device, batch_text=s.batch_text, workers=s.workers, prefetch=s.prefetch,
                  overwrite=s.overwrite, log=log)
    try:
        if s.engine.engine is not None:  # the execution layer: --devices units of the shard, on any engine
            if world > 1:
                raise UserError("--engine starts its own workers; under torchrun leave it unset")
            reports = launch_engine(s, settings, shard, kwargs, log)
        elif s.devices > 1:
            if world > 1:
                raise UserError("--devices N starts its own ranks; under torchrun leave it at 1")
            log(f"prepare {s.kind}: {s.devices} processes on this node")
            reports = launch_local(s.devices, s.kind, s.dataset, s.model_dir, s.out, settings, **kwargs)
        else:
            reports = [prepare_dataset(s.kind, s.dataset, s.model_dir, s.out, settings, **kwargs)]
    except (CacheSettingsError, ValueError, FileNotFoundError, DatasetFormatError) as e:
        raise UserError(str(e)) from None
    except EngineSetupError as e:  # a worker cannot see --out or cannot start
        raise UserError(str(e)) from None
    except RuntimeError as e:  # a rank of --devices failed
        raise UserError(str(e), code=1) from None
    problems = list(dict.fromkeys(p for r in reports for p in r.problems))
    for p in problems[:50]:
        log(f"[yellow]broken[/yellow] {escape(str(p))}")
    if len(problems) > 50:
        log(f"... {len(problems) - 50} more (all in {s.out / s.kind}/problems.json)")
    log(f"{sum(r.written for r in reports)} written, {sum(r.skipped for r in reports)} already cached, "
        f"{len(problems)} broken ({max(r.seconds for r in reports):.1f} s); cache: [bold]{s.out.resolve()}[/bold]")
    return reports


def _prepare_device(device: str, world: int, local: int) -> str:
    """``--device`` resolved: ``auto`` is this rank's GPU under a multi-process launch, the GPU, else the CPU.

    Raises:
        ValueError: an unknown device, or CUDA asked for on a machine without it.
    """
    if device == "auto":
        if not torch.cuda.is_available():
            return "cpu"
        return f"cuda:{local}" if world > 1 else "cuda"
    from ..devices import resolve_device_dtype

    try:
        dev = str(resolve_device_dtype(device, "fp32")[0])
    except (ValueError, RuntimeError) as e:
        raise ValueError(f"--device: {e}") from None
    if dev.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: CUDA is not available on this machine")
    return dev
