"""FVD and FVD-V: one number each per run, the Fréchet distance of I3D features of the generated videos vs the true
target videos (FVD) and vs their source videos (FVD-V: SynCamMaster's view synchronisation, the generated view
against the source view of the same scene and time; ReCamMaster's Table 1) of all scored pairs. One metric because both use
the same I3D features of the generated videos and the one ``--fvd-i3d`` flag. The I3D weights are loaded by :func:`recam.eval.fvd.load_i3d` (a safetensors state dict
into the project's :class:`recam.eval.i3d.InceptionI3d`; TorchScript only with ``--trust-model-code``; local only);
per-pair features are cached in ``<out>/fvd_features/<pair_id>.npz`` with the file's SHA-256."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from .base import Metric, MetricOptions, RunContext, option, register_metric

__all__ = ["FVD_DIR", "compute_fvd", "FVD", "FVDOptions"]

FVD_DIR = "fvd_features"


def _pair_features(root: Path, pair, frames: int, gen_path: Path, model) -> Dict[str, np.ndarray]:
    from synth.core.layout import VIDEOS_DIR
    from synth.core.video_io import VideoReadError, read_video

    from ...video import resize_center_crop

    videos = Path(root) / "train" / pair.scene / VIDEOS_DIR
    gen, _ = read_video(gen_path, frames)
    tgt, _ = read_video(videos / f"{pair.target}.mp4", frames)
    try:  # FVD-V (generated vs source): optional, the source may be absent (e.g. --videos of another model only)
        src, _ = read_video(videos / f"{pair.source}.mp4", frames)
    except (VideoReadError, OSError):
        src = None
    n = min(len(gen), len(tgt), frames)
    if src is not None and len(src) < n:
        src = None  # a shorter source: no FVD-V for this pair (FVD keeps its n frames)
    h, w = gen.shape[1], gen.shape[2]
    clips = [gen[:n], resize_center_crop(tgt[:n], h, w)]  # as scored per pair
    if src is not None:
        clips.append(resize_center_crop(src[:n], h, w))
    f = model.features(np.stack(clips))
    return {"gen": f[0], "real": f[1], "src": f[2] if src is not None else np.zeros(0, f.dtype),
            "frames": np.int64(n)}


def compute_fvd(root: Path, pairs: Sequence[Any], results: Mapping[str, Mapping[str, str]], out: Path, model,
                videos_dir: Optional[Path] = None,
                on_fvd: Optional[Callable[[int, int], None]] = None) -> Dict[str, object]:
    """FVD of the generated videos vs the true target videos of every scored pair (one number per run).

    Per pair the I3D features of the generated video (``videos_dir/<pair_id>.mp4``, else ``out/videos/``) and of
    the true target video (its first ``frames`` frames, resized and centre-cropped to the generated video's size as
    for PSNR) are cached in ``out/fvd_features/<pair_id>.npz`` with the I3D file's SHA-256 (features of another
    file are recomputed, never mixed). Pairs without a score (``frames`` empty) or with unreadable videos are left
    out and counted.

    Returns:
        ``{"fvd": float | None, "videos": N (per set), "frames": sorted distinct frame counts, "i3d": path,
        "i3d_sha256", "skipped": pair ids, "note"}``; ``fvd`` is None with fewer than 2 videos.
    """
    from synth.core.atomic import atomic_write_bytes
    from synth.core.video_io import VideoReadError

    from ..fvd import fvd_from_features

    from synth.core.paths import safe_join

    from ..pairs import check_pair

    for p in pairs:  # the path policy, before anything is written: pair ids become file names
        check_pair(p)
    cache = Path(out) / FVD_DIR
    cache.mkdir(parents=True, exist_ok=True)
    gen, real, src, frames, skipped = [], [], [], set(), []
    for i, pair in enumerate(pairs):
        row = results.get(pair.pair_id, {})
        if not row.get("frames"):
            skipped.append(pair.pair_id)
            continue
        path = safe_join(cache, f"{pair.pair_id}.npz", what="pair_id")
        feats = None
        if path.is_file():
            with np.load(path, allow_pickle=False) as z:
                if (str(z["i3d_sha256"]) == model.sha256 and int(z["frames"]) == int(row["frames"])
                        and "src" in z.files):  # older caches lack the source features (FVD-V): recomputed
                    feats = {k: z[k] for k in ("gen", "real", "src", "frames")}
        if feats is None:
            gen_path = (Path(videos_dir) if videos_dir is not None else Path(out) / "videos") / f"{pair.pair_id}.mp4"
            try:
                feats = _pair_features(Path(root), pair, int(row["frames"]), gen_path, model)
            except (VideoReadError, OSError) as e:
                skipped.append(f"{pair.pair_id} ({type(e).__name__}: {e})")
                continue
            buf = io.BytesIO()
            np.savez(buf, i3d_sha256=np.array(model.sha256), **feats)
            atomic_write_bytes(path, buf.getvalue())
        gen.append(feats["gen"])
        real.append(feats["real"])
        if feats["src"].size:
            src.append((feats["gen"], feats["src"]))
        frames.add(int(feats["frames"]))
        if on_fvd:
            on_fvd(i + 1, len(pairs))
    n = len(gen)
    value = fvd_from_features(np.stack(gen), np.stack(real)) if n >= 2 else None
    note = (f"FVD over {n} generated vs {n} true target videos ({'/'.join(map(str, sorted(frames)))} frames, I3D "
            f"{model.path.name}): biased on few videos (the 400-d feature covariance of N videos has rank < N); "
            f"compare only runs with the same number of videos and frames" if n >= 2 else
            f"FVD not computed: {n} scored video(s), at least 2 are needed")
    # FVD-V (SynCamMaster / ReCamMaster's view synchronisation): the same distance between the generated videos
    # and their source videos (the other view of the same scene and time), over the pairs whose source was read
    value_v = fvd_from_features(np.stack([g for g, _ in src]), np.stack([s for _, s in src])) if len(src) >= 2 \
        else None
    if value_v is not None:
        note += f"; FVD-V over the {len(src)} pairs whose source video was read (generated vs source)"
    return {"fvd": value, "videos": n, "frames": sorted(frames), "i3d": str(model.path), "i3d_sha256": model.sha256,
            "fvd_v": value_v, "fvd_v_videos": len(src), "skipped": skipped, "note": note}


class FVDOptions(MetricOptions):
    fvd_i3d: Optional[Path] = option(None, help="Local I3D weights (.safetensors, converted once from StyleGAN-V's "
                                     "i3d_torchscript.pt by python -m recam.eval.i3d): FVD of generated vs true "
                                     "target videos over all pairs (optional; nothing is downloaded).")
    trust_model_code: bool = option(False, flag="--trust-model-code", help="Also accept a TorchScript --fvd-i3d "
                                    "file (it runs code from the file: only for files you trust).")


@register_metric
class FVD(Metric):
    name = "fvd"
    label = "FVD"
    help = "Fréchet video distance (I3D features) of all generated vs all true target videos"
    Options = FVDOptions
    needs = frozenset({"target", "weights"})
    order = 90
    per_run = True
    missing_note = ("FVD not computed: give --fvd-i3d PATH (local I3D weights in safetensors, python -m "
                    "recam.eval.i3d); nothing is downloaded")
    progress_text = "I3D features of pair"

    def enabled(self, options: FVDOptions) -> bool:
        return options.fvd_i3d is not None

    def setup(self, options: FVDOptions, device: str) -> Any:
        from ...infer import resolve_device_dtype
        from ..fvd import load_i3d

        return load_i3d(options.fvd_i3d, str(resolve_device_dtype(device, "auto")[0]),
                        trust_model_code=options.trust_model_code)

    def record(self, options: FVDOptions, state) -> Dict[str, Any]:
        return {"fvd_i3d": str(state.path), "i3d_sha256": state.sha256}

    def aggregate(self, run: RunContext, state) -> Dict[str, Any]:
        return compute_fvd(run.root, run.pairs, run.results, run.out, state, run.videos_dir, run.on_progress)

    def summary_row(self, record: Mapping[str, Any]) -> Optional[Tuple[int, float]]:
        return None if record.get("fvd") is None else (record["videos"], record["fvd"])
