"""Image metrics of generated videos against true target videos: PSNR / SSIM (scikit-image), LPIPS and CLIP scores
from local weights only (nothing is downloaded; a clear message names what is missing). Camera-accuracy metrics:
:mod:`synth.core.camera_metrics`."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

import numpy as np

__all__ = ["psnr", "ssim", "video_psnr_ssim", "MissingWeightsError", "lpips_score", "clip_scores"]


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
