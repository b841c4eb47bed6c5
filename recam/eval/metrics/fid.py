"""FID (ReCamMaster's Table 1, visual quality): one number per run, the Fréchet distance of Inception-v3 pool
features (2048-d) of every generated frame vs every true target frame of the scored pairs.

Weights: NVIDIA's TorchScript Inception of StyleGAN2-ADA / StyleGAN-V metrics (``inception-2015-12-05.pt``, the
TensorFlow FID network ported; the reference implementation of FID), local only, loaded with ``torch.jit.load``,
which runs code from the file: only with ``--fid-trust-model-code``. It is called as ``model(x,
return_features=True)`` on ``(N, 3, 299, 299)`` uint8 frames (resized on the shorter side and centre-cropped here)
and must return ``(N, D)`` features. The Fréchet distance is :func:`recam.eval.fvd.frechet_distance` (shared with
FVD).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np

from .base import Metric, MetricOptions, MissingWeightsError, RunContext, option, register_metric

__all__ = ["FID", "FIDOptions", "load_inception", "InceptionFeatures", "fid_from_frames", "compute_fid",
           "FID_RESOLUTION"]

#: Inception-v3's input size
FID_RESOLUTION = 299


class InceptionFeatures:
    """A loaded Inception: :meth:`features` ``(N, H, W, 3)`` uint8 -> ``(N, D)`` float64. ``path``, ``sha256``."""

    def __init__(self, model, path: Path, sha256: str, device: str, batch_size: int = 16):
        self.model, self.path, self.sha256, self.device, self.batch_size = model, Path(path), sha256, device, \
            batch_size

    def features(self, frames: np.ndarray) -> np.ndarray:
        import torch

        from ...video import resize_center_crop

        frames = resize_center_crop(np.asarray(frames), FID_RESOLUTION, FID_RESOLUTION)
        out = []
        for i in range(0, len(frames), self.batch_size):
            x = torch.from_numpy(np.ascontiguousarray(frames[i:i + self.batch_size])).permute(0, 3, 1, 2)
            with torch.no_grad():
                f = self.model(x.to(self.device), return_features=True)
            out.append(f.reshape(len(x), -1).double().cpu().numpy())
        return np.concatenate(out)


def load_inception(path: Optional[Path], device: str = "cpu", trust_model_code: bool = False) -> InceptionFeatures:
    """The FID Inception from a local TorchScript file.

    Raises:
        MissingWeightsError: no path, or no file there (names it; nothing is downloaded). ValueError: the file was
            given without ``trust_model_code`` (TorchScript runs code from the file), or is not TorchScript.
    """
    import torch

    from ..fvd import file_sha256

    if path is None:
        raise MissingWeightsError("FID needs --fid-inception FILE: NVIDIA's TorchScript inception-2015-12-05.pt "
                                  "(StyleGAN2-ADA metrics) fetched once; nothing is downloaded")
    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"--fid-inception {path}: not found; expected the TorchScript "
                                  f"inception-2015-12-05.pt")
    if not trust_model_code:
        raise ValueError(f"--fid-inception {path}: a TorchScript file runs code from the file; pass "
                         f"--fid-trust-model-code for a file you trust")
    try:
        model = torch.jit.load(str(path), map_location=device).eval()
    except RuntimeError as e:
        raise ValueError(f"--fid-inception {path}: not a TorchScript file ({str(e).splitlines()[0]})") from None
    return InceptionFeatures(model, path, file_sha256(path), device)


def fid_from_frames(model: InceptionFeatures, generated: np.ndarray, real: np.ndarray) -> float:
    """FID of two sets of frames ``(N, H, W, 3)`` uint8 (at least 2 each)."""
    from ..fvd import feature_stats, frechet_distance

    return frechet_distance(*feature_stats(model.features(generated)), *feature_stats(model.features(real)))


def compute_fid(run: RunContext, model: InceptionFeatures) -> Dict[str, Any]:
    """FID over the run: the frames of every scored pair's generated video (``videos_dir/<pair_id>.mp4``) vs its
    true target video's first ``frames`` frames, resized and centre-cropped to the generated size (as for PSNR).
    Unscored pairs and unreadable videos are left out and listed.

    Returns:
        ``{"fid", "frames" (per set), "videos", "inception", "inception_sha256", "skipped", "note"}``; ``fid`` is
        None with fewer than 2 frames.
    """
    from synth.core.layout import VIDEOS_DIR
    from synth.core.paths import safe_join
    from synth.core.video_io import VideoReadError, read_video

    from ...video import resize_center_crop
    from ..pairs import check_pair

    gen_f, real_f, skipped, videos = [], [], [], 0
    for i, pair in enumerate(run.pairs):
        check_pair(pair)
        row = run.results.get(pair.pair_id, {})
        if not row.get("frames"):
            skipped.append(pair.pair_id)
            continue
        n = int(row["frames"])
        try:
            gen, _ = read_video(safe_join(run.videos_dir, f"{pair.pair_id}.mp4", what="pair_id"), n)
            tgt, _ = read_video(Path(run.root) / "train" / pair.scene / VIDEOS_DIR / f"{pair.target}.mp4", n)
        except (VideoReadError, OSError) as e:
            skipped.append(f"{pair.pair_id} ({type(e).__name__}: {e})")
            continue
        n = min(len(gen), len(tgt))
        gen_f.append(model.features(gen[:n]))
        real_f.append(model.features(resize_center_crop(tgt[:n], gen.shape[1], gen.shape[2])))
        videos += 1
        if run.on_progress:
            run.on_progress(i + 1, len(run.pairs))
    from ..fvd import feature_stats, frechet_distance

    frames = sum(len(f) for f in gen_f)
    value = (frechet_distance(*feature_stats(np.concatenate(gen_f)), *feature_stats(np.concatenate(real_f)))
             if frames >= 2 else None)
    note = (f"FID over {frames} generated vs {frames} true target frames of {videos} videos (Inception "
            f"{model.path.name}); biased on few frames: compare runs with the same frame count" if value is not None
            else f"FID not computed: {frames} scored frame(s), at least 2 are needed")
    return {"fid": value, "frames": frames, "videos": videos, "inception": str(model.path),
            "inception_sha256": model.sha256, "skipped": skipped, "note": note}


class FIDOptions(MetricOptions):
    fid_inception: Optional[Path] = option(None, help="Local FID Inception (NVIDIA's TorchScript "
                                           "inception-2015-12-05.pt): FID of generated vs true target frames over "
                                           "all pairs (optional; nothing is downloaded).")
    fid_trust_model_code: bool = option(False, flag="--fid-trust-model-code", help="Load the TorchScript "
                                        "--fid-inception file (it runs code from the file: only for files you "
                                        "trust).")


@register_metric
class FID(Metric):
    name = "fid"
    label = "FID"
    help = "Fréchet Inception distance of all generated vs all true target frames"
    Options = FIDOptions
    needs = frozenset({"target", "weights"})
    order = 89  # before FVD (90): FVD stays the last per-run note
    per_run = True
    missing_note = ("FID not computed: give --fid-inception FILE --fid-trust-model-code (NVIDIA's TorchScript "
                    "inception-2015-12-05.pt); nothing is downloaded")
    progress_text = "Inception features of pair"

    def enabled(self, options: FIDOptions) -> bool:
        return options.fid_inception is not None

    def setup(self, options: FIDOptions, device: str) -> Any:
        from ...infer import resolve_device_dtype

        return load_inception(options.fid_inception, str(resolve_device_dtype(device, "auto")[0]),
                              options.fid_trust_model_code)

    def record(self, options: FIDOptions, state) -> Dict[str, Any]:
        return {"fid_inception": str(state.path), "inception_sha256": state.sha256}

    def aggregate(self, run: RunContext, state) -> Dict[str, Any]:
        return compute_fid(run, state)

    def summary_row(self, record: Mapping[str, Any]) -> Optional[Tuple[int, float]]:
        return None if record.get("fid") is None else (record["videos"], record["fid"])
