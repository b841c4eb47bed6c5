"""FVD: one number per run, the Fréchet distance of I3D features of the generated videos vs the true target
videos of all scored pairs. The I3D file is loaded by :func:`recam.eval.fvd.load_i3d` (TorchScript, local only);
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
    from synth.core.video_io import read_video

    from ...video import resize_center_crop

    gen, _ = read_video(gen_path, frames)
    tgt, _ = read_video(root / "train" / pair.scene / VIDEOS_DIR / f"{pair.target}.mp4", frames)
    n = min(len(gen), len(tgt), frames)
    gen, tgt = gen[:n], resize_center_crop(tgt[:n], gen.shape[1], gen.shape[2])  # as scored per pair
    f = model.features(np.stack([gen, tgt]))
    return {"gen": f[0], "real": f[1], "frames": np.int64(n)}


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

    cache = Path(out) / FVD_DIR
    cache.mkdir(parents=True, exist_ok=True)
    gen, real, frames, skipped = [], [], set(), []
    for i, pair in enumerate(pairs):
        row = results.get(pair.pair_id, {})
        if not row.get("frames"):
            skipped.append(pair.pair_id)
            continue
        path = cache / f"{pair.pair_id}.npz"
        feats = None
        if path.is_file():
            with np.load(path, allow_pickle=False) as z:
                if str(z["i3d_sha256"]) == model.sha256 and int(z["frames"]) == int(row["frames"]):
                    feats = {k: z[k] for k in ("gen", "real", "frames")}
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
        frames.add(int(feats["frames"]))
        if on_fvd:
            on_fvd(i + 1, len(pairs))
    n = len(gen)
    value = fvd_from_features(np.stack(gen), np.stack(real)) if n >= 2 else None
    note = (f"FVD over {n} generated vs {n} true target videos ({'/'.join(map(str, sorted(frames)))} frames, I3D "
            f"{model.path.name}): biased on few videos (the 400-d feature covariance of N videos has rank < N); "
            f"compare only runs with the same number of videos and frames" if n >= 2 else
            f"FVD not computed: {n} scored video(s), at least 2 are needed")
    return {"fvd": value, "videos": n, "frames": sorted(frames), "i3d": str(model.path), "i3d_sha256": model.sha256,
            "skipped": skipped, "note": note}


class FVDOptions(MetricOptions):
    fvd_i3d: Optional[Path] = option(None, help="Local TorchScript I3D (i3d_torchscript.pt, StyleGAN-V's): FVD of "
                                     "generated vs true target videos over all pairs (optional; nothing is "
                                     "downloaded).")


@register_metric
class FVD(Metric):
    name = "fvd"
    label = "FVD"
    help = "Fréchet video distance (I3D features) of all generated vs all true target videos"
    Options = FVDOptions
    needs = frozenset({"target", "weights"})
    order = 90
    per_run = True
    missing_note = "FVD not computed: give --fvd-i3d PATH (a local i3d_torchscript.pt); nothing is downloaded"
    progress_text = "I3D features of pair"

    def enabled(self, options: FVDOptions) -> bool:
        return options.fvd_i3d is not None

    def setup(self, options: FVDOptions, device: str) -> Any:
        from ...infer import resolve_device_dtype
        from ..fvd import load_i3d

        return load_i3d(options.fvd_i3d, str(resolve_device_dtype(device, "auto")[0]))

    def record(self, options: FVDOptions, state) -> Dict[str, Any]:
        return {"fvd_i3d": str(state.path), "i3d_sha256": state.sha256}

    def aggregate(self, run: RunContext, state) -> Dict[str, Any]:
        return compute_fvd(run.root, run.pairs, run.results, run.out, state, run.videos_dir, run.on_progress)

    def summary_row(self, record: Mapping[str, Any]) -> Optional[Tuple[int, float]]:
        return None if record.get("fvd") is None else (record["videos"], record["fvd"])
