"""Fréchet Video Distance (FVD) from a local TorchScript I3D file only (nothing is downloaded).

The feature extractor is the field's common one: ``i3d_torchscript.pt``, the TorchScript port of the Kinetics-400
I3D of the original TensorFlow FVD (google-research ``frechet_video_distance``) made for StyleGAN-V
(``universome/stylegan-v``, ``src/metrics/frechet_video_distance.py``) and used, with the call contract followed
here, by ``JunyaoHu/common_metrics_on_video_quality`` (``fvd/styleganv/fvd.py``):

* videos: float32 ``(B, 3, T, 224, 224)`` in [-1, 1], each frame resized (bilinear, shorter side to 224, the other
  side rounded up) and centre-cropped to 224 x 224 beforehand;
* ``model(videos, rescale=False, resize=False, return_features=True)`` -> ``(B, 400)`` logits before the softmax
  (the features);
* statistics: mean and unbiased covariance (``np.cov``) of each feature set; Fréchet distance
  ``||mu_1 - mu_2||^2 + tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2))`` with ``scipy.linalg.sqrtm`` and the imaginary part
  (numerical noise) discarded, as both implementations do. StyleGAN-V divides its covariance by N (not N - 1):
  on N videos the two differ by the factor N / (N - 1) on the covariance term.

FVD is biased on few videos (the covariance of 400-dimensional features from N << 400 videos has rank < N): numbers
are comparable only between runs with the same number of videos and frames (papers use >= 256, often 2048).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Iterable, Optional, Tuple

import numpy as np

from .errors import MissingWeightsError

__all__ = ["I3D_RESOLUTION", "I3DFeatureExtractor", "load_i3d", "preprocess_videos", "feature_stats",
           "frechet_distance", "fvd_from_features", "file_sha256"]

I3D_RESOLUTION = 224
I3D_HINT = ("FVD needs --fvd-i3d PATH: a local 'i3d_torchscript.pt' (the Kinetics-400 I3D TorchScript file of "
            "StyleGAN-V / common_metrics_on_video_quality, called as model(x, rescale=False, resize=False, "
            "return_features=True)); nothing is downloaded")


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file (read in 1 MiB blocks): the identity of the I3D weights in the feature cache."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def preprocess_videos(videos: np.ndarray, resolution: int = I3D_RESOLUTION):
    """uint8 videos ``(B, T, H, W, 3)`` -> float32 torch tensor ``(B, 3, T, resolution, resolution)`` in [-1, 1].

    Each frame: bilinear resize (``align_corners=False``) of the shorter side to ``resolution`` (the longer one to
    ``ceil(side * scale)``), centre crop, ``x / 255 * 2 - 1`` (common_metrics_on_video_quality's
    ``preprocess_single``).

    Raises:
        ValueError: not a 5-D array with 3 channels last.
    """
    import torch
    import torch.nn.functional as F

    v = np.asarray(videos)
    if v.ndim != 5 or v.shape[-1] != 3:
        raise ValueError(f"FVD: videos must be (B, T, H, W, 3) uint8, got shape {v.shape}")
    B, T, H, W, _ = v.shape
    x = torch.from_numpy(np.ascontiguousarray(v)).float().div_(255.0)      # (B, T, H, W, 3) in [0, 1]
    x = x.permute(0, 1, 4, 2, 3).reshape(B * T, 3, H, W)
    scale = resolution / min(H, W)
    size = (resolution, math.ceil(W * scale)) if H < W else (math.ceil(H * scale), resolution)
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    h0, w0 = (x.shape[2] - resolution) // 2, (x.shape[3] - resolution) // 2
    x = x[:, :, h0:h0 + resolution, w0:w0 + resolution]
    x = x.reshape(B, T, 3, resolution, resolution).permute(0, 2, 1, 3, 4)
    return (x * 2.0 - 1.0).contiguous()


class I3DFeatureExtractor:
    """A loaded TorchScript I3D: ``features(videos)`` -> ``(B, D)`` float64 (D = 400 for the real file).

    Attributes: ``path``, ``sha256`` (of the file), ``device`` (torch device string).
    """

    def __init__(self, model, path: Path, sha256: str, device: str, batch_size: int = 4):
        self.model, self.path, self.sha256, self.device, self.batch_size = model, Path(path), sha256, device, \
            max(1, int(batch_size))

    def features(self, videos: np.ndarray) -> np.ndarray:
        """Features of uint8 videos ``(B, T, H, W, 3)`` (any size; preprocessed by :func:`preprocess_videos`).

        Raises:
            ValueError: the model does not return one feature vector per video.
        """
        import torch

        out = []
        with torch.no_grad():
            for i in range(0, len(videos), self.batch_size):
                x = preprocess_videos(videos[i:i + self.batch_size]).to(self.device)
                f = self.model(x, rescale=False, resize=False, return_features=True)
                if not isinstance(f, torch.Tensor) or f.ndim != 2 or f.shape[0] != x.shape[0]:
                    raise ValueError(f"{self.path}: the I3D model returned "
                                     f"{tuple(f.shape) if isinstance(f, torch.Tensor) else type(f).__name__} for "
                                     f"{x.shape[0]} videos; expected ({x.shape[0]}, D) features")
                out.append(f.detach().double().cpu().numpy())
        return np.concatenate(out, axis=0)


def load_i3d(path: Optional[Path], device: str = "cpu", batch_size: int = 4) -> I3DFeatureExtractor:
    """Load a TorchScript I3D with ``torch.jit.load(path, map_location=device)`` (TorchScript, never unpickled).

    Raises:
        MissingWeightsError: no path given or the file does not exist (the message says what is needed).
        ValueError: the file is not a TorchScript archive (e.g. a pickled state dict such as
            ``i3d_pretrained_400.pt``).
    """
    if path is None:
        raise MissingWeightsError(I3D_HINT)
    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"{path}: I3D file not found. {I3D_HINT}")
    import torch

    import warnings

    try:
        with warnings.catch_warnings():  # the file format is TorchScript; torch >= 2.9 flags the loader deprecated
            warnings.simplefilter("ignore", DeprecationWarning)
            model = torch.jit.load(str(path), map_location=device).eval()
    except (RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path}: not a TorchScript I3D file ({first}). {I3D_HINT}") from None
    return I3DFeatureExtractor(model, path, file_sha256(path), str(device), batch_size)


def feature_stats(feats: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and unbiased covariance ``(D, D)`` (``np.cov``, N - 1) of features ``(N, D)``, N >= 2.

    Raises:
        ValueError: fewer than 2 rows or not 2-D.
    """
    f = np.asarray(feats, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"FVD needs features (N, D) of at least 2 videos, got shape {f.shape}")
    return f.mean(axis=0), np.atleast_2d(np.cov(f, rowvar=False))


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance of two Gaussians: ``||mu1 - mu2||^2 + tr(S1 + S2 - 2 sqrtm(S1 S2))``.

    ``sqrtm`` is scipy's; its imaginary part (numerical noise for PSD inputs) is discarded as in StyleGAN-V and
    pytorch-fid; when it is not finite (singular products), ``1e-6 I`` is added to both covariances first
    (pytorch-fid's rule). Symmetric in its two arguments, >= 0 up to rounding.

    Raises:
        ValueError: shapes disagree.
    """
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"frechet_distance: shapes disagree: mu {mu1.shape} / {mu2.shape}, sigma {s1.shape} / "
                         f"{s2.shape}")
    covmean = linalg.sqrtm(s1 @ s2)
    if not np.all(np.isfinite(covmean)):
        off = np.eye(d) * 1e-6
        covmean = linalg.sqrtm((s1 + off) @ (s2 + off))
    diff = mu1 - mu2
    return float(np.real(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean)))


def fvd_from_features(gen: Iterable[np.ndarray], real: Iterable[np.ndarray]) -> float:
    """FVD of two feature sets ``(N, D)`` / ``(M, D)`` (N, M >= 2): :func:`frechet_distance` of their statistics."""
    return frechet_distance(*feature_stats(np.asarray(gen)), *feature_stats(np.asarray(real)))
