"""Camera-accuracy and image metrics for generated (or rendered) videos.

Camera metrics follow CamI2V / RealCam-I2V (ZGCTroy/CamI2V ``evaluation/glomap_evaluation.py``; REFERENCE §3). Both
trajectories are ``(N, 4, 4)`` OpenCV c2w; each is first made relative to its own frame 0 (``inv(c2w[0]) @ c2w``),
so a left-handed world (MultiCamVideo's Unreal axes) and a right-handed one (COLMAP) compare directly.

* ``RotErr = sum_i arccos((tr(R_gt,i^T R_est,i) - 1) / 2)``, in **radians** as upstream (``rot_err_rad``); the
  same sum in degrees is ``rot_err_deg``. Per-frame curves are in degrees.
* ``TransErr = sum_i ||t_gt,i - t_est,i||`` after dividing each trajectory's translations by its own largest
  ``||t_i||`` (relative variant; unitless). When the estimate's metric scale is known (``est_scale`` metres per
  estimate unit), the absolute variant divides both by the ground truth's largest ``||t_i||`` (upstream's
  ``TransErr_abs``) and ``trans_err_m`` is the plain sum of distances in metres.
* ``CamMC = sum_i ||[R|t]_gt,i - [R|t]_est,i||_F`` on the same normalised translations.

Frames whose estimate is NaN (unregistered) are left out of the sums; ``n_frames`` says how many were used.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np

__all__ = ["CameraMetrics", "relative_to_first", "rotation_errors_rad", "normalize_translations", "camera_metrics",
           "align_sim3", "umeyama", "psnr", "ssim", "video_psnr_ssim", "MissingWeightsError", "lpips_score",
           "clip_scores"]


def relative_to_first(c2w: np.ndarray) -> np.ndarray:
    """``inv(c2w[0]) @ c2w[i]`` for each i: ``(N, 4, 4)`` -> ``(N, 4, 4)``, frame 0 = identity (rigid c2w).

    NaN translations (rotation-only estimates) stay NaN without spoiling the rotations.
    """
    c2w = np.asarray(c2w, np.float64)
    r0t = c2w[0, :3, :3].T
    out = np.array(c2w, copy=True)
    out[:, :3, :3] = np.einsum("ij,njk->nik", r0t, c2w[:, :3, :3])
    out[:, :3, 3] = (c2w[:, :3, 3] - c2w[0, :3, 3]) @ r0t.T
    return out


def rotation_errors_rad(r_gt: np.ndarray, r_est: np.ndarray) -> np.ndarray:
    """Geodesic angles ``arccos((tr(R_gt^T R_est) - 1) / 2)`` in radians: ``(N, 3, 3)`` x2 -> ``(N,)``."""
    tr = np.einsum("nji,nji->n", r_gt, r_est)  # trace(R_gt^T R_est)
    return np.arccos(np.clip((tr - 1.0) / 2.0, -1.0, 1.0))


def normalize_translations(c2w: np.ndarray, ref: Optional[np.ndarray] = None, eps: float = 1e-9) -> np.ndarray:
    """Divide translations by the largest ``||t_i||`` of ``ref`` (default: itself), as upstream's ``normalize_t``."""
    ref = c2w if ref is None else ref
    scale = np.nanmax(np.linalg.norm(ref[:, :3, 3], axis=1)) + eps
    out = np.array(c2w, np.float64, copy=True)
    out[:, :3, 3] /= scale
    return out


@dataclass
class CameraMetrics:
    """Camera-accuracy metrics of one estimated trajectory against its ground truth (sums over frames).

    ``*_per_frame`` lists have one value per frame (NaN where not available). Translation metrics are NaN when the
    estimate has no translation (rotation-only) or when the ground truth does not move (nothing to normalise)."""

    n_frames: int
    rot_err_rad: float
    rot_err_deg: float
    trans_err: float
    cammc: float
    trans_err_abs: float = float("nan")
    cammc_abs: float = float("nan")
    trans_err_m: float = float("nan")
    rot_err_deg_per_frame: Sequence[float] = ()
    trans_err_per_frame: Sequence[float] = ()
    cammc_per_frame: Sequence[float] = ()

    def scalars(self) -> Dict[str, float]:
        """The summed metrics (no curves), for CSV rows."""
        return {k: v for k, v in asdict(self).items() if not k.endswith("per_frame")}


def camera_metrics(gt_c2w: np.ndarray, est_c2w: np.ndarray, est_scale: Optional[float] = None,
                   min_gt_motion: float = 1e-6) -> CameraMetrics:
    """RotErr / TransErr / CamMC (module docstring) of ``est_c2w`` against ``gt_c2w``.

    Args:
        gt_c2w, est_c2w: ``(N, 4, 4)`` c2w of the same N frames (any common frame of reference each; both are made
            relative to their frame 0). NaN rows of ``est_c2w`` (unregistered frames) are skipped; NaN translations
            only (rotation-only estimates) give NaN translation metrics.
        est_scale: metres (ground-truth units) per estimate unit, when known: adds the absolute variants.
        min_gt_motion: ground-truth largest translation below which translations are not normalised (static
            camera or pure rotation): translation metrics are NaN then.

    Raises:
        ValueError: shapes differ or are not ``(N, 4, 4)``.
    """
    gt, est = np.asarray(gt_c2w, np.float64), np.asarray(est_c2w, np.float64)
    if gt.shape != est.shape or gt.ndim != 3 or gt.shape[1:] != (4, 4):
        raise ValueError(f"camera_metrics: need two (N, 4, 4) trajectories of equal length, got {gt.shape} and "
                         f"{est.shape}")
    gt = relative_to_first(gt)
    est = relative_to_first(est)
    n = len(gt)
    rot_ok = np.isfinite(est[:, :3, :3]).all(axis=(1, 2))
    rot = np.full(n, np.nan)
    rot[rot_ok] = rotation_errors_rad(gt[rot_ok, :3, :3], est[rot_ok, :3, :3])
    t_ok = rot_ok & np.isfinite(est[:, :3, 3]).all(axis=1)
    gt_extent = np.max(np.linalg.norm(gt[:, :3, 3], axis=1))
    terr = np.full(n, np.nan)
    cmc = np.full(n, np.nan)
    out = CameraMetrics(n_frames=int(rot_ok.sum()), rot_err_rad=float(np.nansum(rot)),
                        rot_err_deg=float(np.degrees(np.nansum(rot))), trans_err=float("nan"), cammc=float("nan"))
    if t_ok.any() and t_ok.sum() == rot_ok.sum() and gt_extent > min_gt_motion:
        g, e = gt[t_ok], est[t_ok]
        gn, en = normalize_translations(g), normalize_translations(e)
        terr[t_ok] = np.linalg.norm(gn[:, :3, 3] - en[:, :3, 3], axis=1)
        cmc[t_ok] = np.linalg.norm((gn[:, :3, :4] - en[:, :3, :4]).reshape(len(g), 12), axis=1)
        out.trans_err, out.cammc = float(terr[t_ok].sum()), float(cmc[t_ok].sum())
        if est_scale is not None:
            em = np.array(e, copy=True)
            em[:, :3, 3] *= est_scale
            out.trans_err_m = float(np.linalg.norm(g[:, :3, 3] - em[:, :3, 3], axis=1).sum())
            ga, ea = normalize_translations(g), normalize_translations(em, g)
            out.trans_err_abs = float(np.linalg.norm(ga[:, :3, 3] - ea[:, :3, 3], axis=1).sum())
            out.cammc_abs = float(np.linalg.norm((ga[:, :3, :4] - ea[:, :3, :4]).reshape(len(g), 12), axis=1).sum())
    out.rot_err_deg_per_frame = [float(x) for x in np.degrees(rot)]
    out.trans_err_per_frame = [float(x) for x in terr]
    out.cammc_per_frame = [float(x) for x in cmc]
    return out


def umeyama(src: np.ndarray, dst: np.ndarray, with_scale: bool = True):
    """Least-squares similarity ``dst ~ s R src + t`` of point sets ``(N, 3)`` (Umeyama 1991).

    Returns ``(s, R (3, 3), t (3,))``. Raises ValueError for fewer than 3 points or a degenerate ``src``."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    if len(src) < 3:
        raise ValueError(f"umeyama: need >= 3 points, got {len(src)}")
    ms, md = src.mean(0), dst.mean(0)
    xs, xd = src - ms, dst - md
    var = (xs ** 2).sum() / len(src)
    if var < 1e-18:
        raise ValueError("umeyama: source points coincide")
    u, d, vt = np.linalg.svd(xd.T @ xs / len(src))
    sgn = np.diag([1.0, 1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    r = u @ sgn @ vt
    s = float(np.trace(np.diag(d) @ sgn) / var) if with_scale else 1.0
    return s, r, md - s * r @ ms


def align_sim3(gt_c2w: np.ndarray, est_c2w: np.ndarray, min_extent: float = 1e-9):
    """Similarity ``(s, R, t)`` mapping the estimate's world onto the ground truth's, from all poses.

    Unlike Umeyama on camera centres alone (degenerate for pans and straight lines), the rotation comes from the
    orientations (chordal mean of ``R_gt,i R_est,i^T``); scale and translation then from the centres in least
    squares. ``s`` is NaN when the estimate's centres do not spread (no translation to scale).

    Args:
        gt_c2w, est_c2w: ``(N, 4, 4)``; rows with NaN rotations are ignored, NaN translations leave s NaN.

    Returns:
        ``(s, R (3, 3), t (3,), aligned (N, 4, 4))``; ``aligned`` = the estimate in ground-truth coordinates
        (translations NaN when s is NaN).
    """
    gt, est = np.asarray(gt_c2w, np.float64), np.asarray(est_c2w, np.float64)
    ok = np.isfinite(est[:, :3, :3]).all(axis=(1, 2))
    r = _proj_so3(np.einsum("nij,nkj->ik", gt[ok, :3, :3], est[ok, :3, :3]))
    tok = ok & np.isfinite(est[:, :3, 3]).all(axis=1)
    s, t = float("nan"), np.full(3, np.nan)
    if tok.sum() >= 2:
        cg, ce = gt[tok, :3, 3], est[tok, :3, 3] @ r.T
        mg, me = cg.mean(0), ce.mean(0)
        den = ((ce - me) ** 2).sum()
        if den > min_extent:
            s = float(((cg - mg) * (ce - me)).sum() / den)
            t = mg - s * me
    aligned = np.full_like(est, np.nan)
    aligned[:, 3] = [0, 0, 0, 1]
    aligned[ok, :3, :3] = np.einsum("ij,njk->nik", r, est[ok, :3, :3])
    if np.isfinite(s):
        aligned[tok, :3, 3] = s * est[tok, :3, 3] @ r.T + t
    return s, r, t, aligned


def _proj_so3(m: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    return u @ np.diag([1.0, 1.0, d]) @ vt


# ---------------------------------------------------------------------------------------------------------------
# image metrics (scikit-image), LPIPS from local weights only


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images or videos of equal shape (data range 255; inf when identical)."""
    from skimage.metrics import peak_signal_noise_ratio

    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"psnr: shapes differ: {a.shape} vs {b.shape}")
    if np.array_equal(a, b):
        return float("inf")
    return float(peak_signal_noise_ratio(a, b, data_range=255))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two ``(H, W, 3)`` uint8 images (scikit-image, Gaussian window as Wang et al. 2004)."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(np.asarray(a), np.asarray(b), channel_axis=-1, data_range=255,
                                       gaussian_weights=True, sigma=1.5, use_sample_covariance=False))


def video_psnr_ssim(pred: np.ndarray, target: np.ndarray) -> Dict[str, object]:
    """Per-frame and mean PSNR (dB) / SSIM of two ``(F, H, W, 3)`` uint8 videos of equal shape."""
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(f"video_psnr_ssim: shapes differ: {pred.shape} vs {target.shape}")
    p = [psnr(x, y) for x, y in zip(pred, target)]
    s = [ssim(x, y) for x, y in zip(pred, target)]
    finite = [x for x in p if np.isfinite(x)]
    return {"psnr": float(np.mean(finite)) if finite else float("inf"), "ssim": float(np.mean(s)),
            "psnr_per_frame": p, "ssim_per_frame": s}


class MissingWeightsError(FileNotFoundError):
    """A learned metric was asked for without the local weights it needs (nothing is downloaded)."""


def lpips_score(pred: np.ndarray, target: np.ndarray, weights: Optional[Path]) -> float:
    """Mean LPIPS over frames with the ``lpips`` package and a local weights file.

    ``weights``: the linear-layer file of ``lpips`` (e.g. ``alex.pth`` / ``vgg.pth``, v0.1); the backbone's
    ImageNet weights must already be in torch's hub cache (``$TORCH_HOME``): nothing is downloaded.

    Raises:
        MissingWeightsError: no weights given, the file is missing, the ``lpips`` package is not installed, or the
            backbone is not cached.
    """
    if weights is None:
        raise MissingWeightsError("LPIPS needs --lpips-weights PATH (lpips' linear layers, e.g. alex.pth v0.1, and "
                                  "the AlexNet/VGG ImageNet backbone in $TORCH_HOME); nothing is downloaded")
    weights = Path(weights)
    if not weights.is_file():
        raise MissingWeightsError(f"{weights}: LPIPS weights file not found")
    try:
        import lpips  # type: ignore
    except ImportError:
        raise MissingWeightsError("LPIPS: the 'lpips' package is not installed (pip install lpips)") from None
    import torch

    net = "vgg" if "vgg" in weights.name else ("squeeze" if "squeeze" in weights.name else "alex")
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    if not hub.is_dir() or not any(net[:4] in p.name for p in hub.iterdir()):
        raise MissingWeightsError(f"LPIPS: the {net} ImageNet backbone is not in {hub} (torch hub cache); put it "
                                  f"there first: nothing is downloaded")
    model = lpips.LPIPS(net=net, pretrained=True, model_path=str(weights), pnet_rand=False, verbose=False).eval()

    def t(x):
        return torch.from_numpy(np.asarray(x)).permute(0, 3, 1, 2).float() / 127.5 - 1.0

    with torch.no_grad():
        return float(model(t(pred), t(target)).mean())


_CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
_CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)


def clip_scores(gen: np.ndarray, src: Optional[np.ndarray], model_dir: Optional[Path],
                prompt: Optional[str] = None) -> Dict[str, float]:
    """CLIP scores of a generated video, x100 as in the papers, from a local ``transformers`` CLIP folder.

    * ``clip_v``: mean cosine similarity of corresponding frames of ``gen`` and ``src`` (view synchronisation,
      SynCamMaster / ReCamMaster's CLIP-V); needs ``src``.
    * ``clip_t``: mean cosine similarity of the frames with ``prompt`` (only when the folder holds its tokenizer,
      ``tokenizer.json`` or ``vocab.json``).

    Frames ``(F, H, W, 3)`` uint8 are resized (shorter side) and centre-cropped to the model's image size and
    normalised with CLIP's mean / std.

    Raises:
        MissingWeightsError: no folder given or it holds no CLIP model (nothing is downloaded).
    """
    if model_dir is None:
        raise MissingWeightsError("CLIP scores need --clip-model DIR: a local transformers CLIP folder (e.g. "
                                  "openai/clip-vit-large-patch14 fetched once); nothing is downloaded")
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise MissingWeightsError(f"{model_dir}: no CLIP model (config.json + weights) there")
    import torch
    from transformers import CLIPModel

    from ..video import resize_center_crop

    model = CLIPModel.from_pretrained(str(model_dir), local_files_only=True).eval()
    size = model.config.vision_config.image_size

    def feats(frames):
        x = resize_center_crop(np.asarray(frames), size, size).astype(np.float32) / 255.0
        x = torch.from_numpy((x - _CLIP_MEAN) / _CLIP_STD).permute(0, 3, 1, 2)
        with torch.no_grad():
            out = model.get_image_features(pixel_values=x)
        out = out if isinstance(out, torch.Tensor) else out.pooler_output
        return torch.nn.functional.normalize(out.float(), dim=-1)

    g = feats(gen)
    scores: Dict[str, float] = {}
    if src is not None:
        n = min(len(gen), len(src))
        scores["clip_v"] = float(100 * (g[:n] * feats(src[:n])).sum(-1).mean())
    if prompt:
        tok = None
        if any((model_dir / f).is_file() for f in ("tokenizer.json", "vocab.json")):
            from transformers import CLIPTokenizer

            tok = CLIPTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        if tok is not None:
            ids = tok([prompt], padding=True, truncation=True, return_tensors="pt")
            with torch.no_grad():
                t = model.get_text_features(**ids)
            t = t if isinstance(t, torch.Tensor) else t.pooler_output
            t = torch.nn.functional.normalize(t.float(), dim=-1)
            scores["clip_t"] = float(100 * (g @ t.T).mean())
    return scores
