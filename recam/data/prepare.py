"""``recam prepare``: cache normalised VAE latents and UMT5 text embeddings per clip window (upstream's
``data_process`` step), resumable, shardable, atomic per file, with a manifest and a problem report."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import numpy as np
import torch

from synth.core.sharding import select_shard
from synth.core.video_io import VideoReadError, probe_video, read_video

from ..video import frames_to_tensor, resize_center_crop
from .cache import item_path, read_meta, write_item, write_manifest
from .formats import Problem, VideoItem, enumerate_items

__all__ = ["PrepareSettings", "PrepareReport", "prepare_dataset", "load_frames", "dyn_mask_latent"]


@dataclass(frozen=True)
class PrepareSettings:
    num_frames: int = 81
    height: int = 480
    width: int = 832
    stride: int = 1
    cache_dtype: str = "bf16"
    options: dict = field(default_factory=dict)

    def digest(self, model_id: str) -> str:
        d = {"num_frames": self.num_frames, "height": self.height, "width": self.width, "stride": self.stride,
             "cache_dtype": self.cache_dtype, "model": model_id}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class PrepareReport:
    written: int = 0
    skipped: int = 0
    problems: List[Problem] = field(default_factory=list)
    seconds: float = 0.0


def load_frames(item: VideoItem, height: int, width: int) -> np.ndarray:
    """The item's window frames, resized and centre-cropped like upstream: ``[F, height, width, 3]`` uint8.

    Raises:
        VideoReadError: unreadable video/images, too few frames, or a frame count that differs from the poses.
    """
    from PIL import Image

    if isinstance(item.video, (list, tuple)):
        files = item.video
        if item.expected_video_frames is not None and len(files) != item.expected_video_frames:
            raise VideoReadError(f"{files[0].parent}: {len(files)} images for {item.expected_video_frames} poses")
        try:
            frames = np.stack([np.asarray(Image.open(files[i]).convert("RGB")) for i in item.frames])
        except (OSError, ValueError) as e:
            raise VideoReadError(f"{files[0].parent}: unreadable image ({e})") from None
    else:
        path = Path(item.video)
        if item.expected_video_frames is not None:
            n = probe_video(path).frames
            if n != item.expected_video_frames:
                raise VideoReadError(f"{path}: {n} video frames but {item.expected_video_frames} poses "
                                     f"(frame-count mismatch)")
        stride = int(item.frames[1] - item.frames[0]) if len(item.frames) > 1 else 1
        frames, _ = read_video(path, len(item.frames), start=int(item.frames[0]), stride=stride)
    return resize_center_crop(frames, height, width)


def dyn_mask_latent(path: Path, frames: np.ndarray, shape: Tuple[int, int, int]) -> np.ndarray:
    """SpatialVID dynamic masks (``dyn_masks.npz``: per-frame CSR ``f_{i}_data/indices/indptr`` + ``shape``) at the
    latent frames, max-pooled to the latent grid ``(F_lat, h, w)``; frames without a mask count as static."""
    from scipy.sparse import csr_matrix

    from ..cameras import latent_frame_indices

    z = np.load(path)
    h0, w0 = (int(v) for v in np.asarray(z["shape"]).ravel()[-2:])
    f_lat, h, w = shape
    out = np.zeros(shape, np.uint8)
    for j, pos in enumerate(latent_frame_indices(len(frames))[:f_lat]):
        f = int(frames[pos])
        if f"f_{f}_data" not in z:
            continue
        m = csr_matrix((z[f"f_{f}_data"], z[f"f_{f}_indices"], z[f"f_{f}_indptr"]), shape=(h0, w0)).toarray() > 0
        ys = (np.arange(h) * h0 // h)
        xs = (np.arange(w) * w0 // w)
        out[j] = np.maximum.reduceat(np.maximum.reduceat(m, ys, axis=0), xs, axis=1)[:h, :w]
    return out


def prepare_dataset(kind: str, root: Path, model_dir: Path, cache: Path, settings: PrepareSettings,
                    shard: Tuple[int, int] = (0, 1), device: str = "cpu", batch_text: int = 8,
                    on_item: Optional[Callable[[str, str], None]] = None, vae_tiling: bool = False) -> PrepareReport:
    """Encode every window of a dataset into the cache (see module docstring). Items already cached with the same
    settings are skipped; broken items are reported and skipped. Returns the report (also written as
    ``<cache>/<kind>/problems.json``)."""
    from diffusers import AutoencoderKLWan
    from transformers import AutoTokenizer, UMT5EncoderModel

    from ..encoders import encode_prompts, encode_video_latents
    from ..pipeline import load_components_error

    t0 = time.perf_counter()
    model_dir = Path(model_dir)
    for sub in ("tokenizer", "text_encoder", "vae"):
        if not (model_dir / sub).is_dir():
            raise load_components_error(model_dir, sub)
    items, problems = enumerate_items(kind, root, settings.num_frames, settings.stride, **settings.options)
    items = select_shard(items, shard)
    report = PrepareReport(problems=list(problems))
    model_id = hashlib.sha256(((model_dir / "vae" / "config.json").read_text() +
                               (model_dir / "text_encoder" / "config.json").read_text()).encode()).hexdigest()[:16]
    digest = settings.digest(model_id)
    todo = []
    for it in items:
        meta = read_meta(item_path(cache, kind, it.key))
        if meta is not None and meta.get("settings") == digest and meta.get("caption") == it.caption and \
                meta.get("metric_scale") == it.metric_scale:
            report.skipped += 1
            if on_item:
                on_item(it.key, "skipped")
        else:
            todo.append(it)
    empty_path = Path(cache) / "empty_context.safetensors"
    dt = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[settings.cache_dtype]
    if todo or not empty_path.exists():
        tok = AutoTokenizer.from_pretrained(str(model_dir / "tokenizer"), local_files_only=True)
        te = UMT5EncoderModel.from_pretrained(str(model_dir / "text_encoder"), local_files_only=True).to(device).eval()
    if not empty_path.exists():  # the empty prompt's embedding, for text dropout in training
        emb, n = encode_prompts(tok, te, [""], device=device)
        write_item(empty_path, {"context": emb[0, :n[0]].to(dt).cpu()}, {"kind": "empty_context", "settings": digest})
    if todo:
        vae = AutoencoderKLWan.from_pretrained(str(model_dir / "vae"), local_files_only=True).to(device).eval()
        if vae_tiling:
            vae.enable_tiling()
        for it in todo:
            try:
                frames = load_frames(it, settings.height, settings.width)
            except VideoReadError as e:
                report.problems.append(Problem(str(it.video if not isinstance(it.video, list) else it.video[0]),
                                               str(e).split(": ", 1)[-1]))
                if on_item:
                    on_item(it.key, "problem")
                continue
            lat = encode_video_latents(vae, frames_to_tensor(frames)[None], device=device)[0]
            emb, lengths = encode_prompts(tok, te, [it.caption], device=device)
            tensors = {"latents": lat.to(dt).cpu(), "context": emb[0, :lengths[0]].to(dt).cpu(),
                       "c2w": torch.from_numpy(it.c2w.astype(np.float64)),
                       "frames": torch.from_numpy(np.asarray(it.frames, np.int64))}
            if it.k_norm is not None:
                tensors["k_norm"] = torch.from_numpy(np.asarray(it.k_norm, np.float64))
            if it.dyn_mask is not None:
                tensors["dyn_mask"] = torch.from_numpy(dyn_mask_latent(it.dyn_mask, it.frames, tuple(lat.shape[1:])))
            meta = {"kind": kind, "key": it.key, "group": it.group, "camera": it.camera, "caption": it.caption,
                    "metric_scale": it.metric_scale if it.metric_scale is not None else "",
                    "source": str(it.video if not isinstance(it.video, list) else Path(it.video[0]).parent),
                    "settings": digest, "c2w0": it.c2w[0].tolist(), "num_frames": settings.num_frames,
                    "height": settings.height, "width": settings.width, "latent_shape": list(lat.shape)}
            write_item(item_path(cache, kind, it.key), tensors, meta)
            report.written += 1
            if on_item:
                on_item(it.key, "written")
    write_manifest(cache)
    from synth.core.atomic import atomic_write_text

    atomic_write_text(Path(cache) / kind / f"problems.shard{shard[0]}of{shard[1]}.json",
                      json.dumps([{"path": p.path, "reason": p.reason} for p in report.problems], indent=1) + "\n")
    report.seconds = time.perf_counter() - t0
    return report
