"""LPIPS of the generated video against the true target video, from local weights only (nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from .base import Column, Metric, MetricOptions, MissingWeightsError, PairContext, option, register_metric

__all__ = ["load_lpips", "lpips_distance", "lpips_score", "LPIPS", "LPIPSOptions"]


def load_lpips(weights: Optional[Path]):
    """The ``lpips`` package's model with a local weights file, in eval mode.

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
        import lpips  # type: ignore  # the PyPI package (absolute import), not this module
    except ImportError:
        raise MissingWeightsError("LPIPS: the 'lpips' package is not installed (pip install lpips)") from None
    import torch

    net = "vgg" if "vgg" in weights.name else ("squeeze" if "squeeze" in weights.name else "alex")
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    if not hub.is_dir() or not any(net[:4] in p.name for p in hub.iterdir()):
        raise MissingWeightsError(f"LPIPS: the {net} ImageNet backbone is not in {hub} (torch hub cache); put it "
                                  f"there first: nothing is downloaded")
    return lpips.LPIPS(net=net, pretrained=True, model_path=str(weights), pnet_rand=False, verbose=False).eval()


def lpips_distance(model, pred: np.ndarray, target: np.ndarray) -> float:
    """Mean LPIPS over frames of two ``(F, H, W, 3)`` uint8 videos with a model of :func:`load_lpips`."""
    import torch

    def t(x):
        return torch.from_numpy(np.asarray(x)).permute(0, 3, 1, 2).float() / 127.5 - 1.0

    with torch.no_grad():
        return float(model(t(pred), t(target)).mean())


def lpips_score(pred: np.ndarray, target: np.ndarray, weights: Optional[Path]) -> float:
    """Mean LPIPS over frames with the ``lpips`` package and a local weights file (:func:`load_lpips`).

    Raises:
        MissingWeightsError: see :func:`load_lpips`.
    """
    return lpips_distance(load_lpips(weights), pred, target)


class LPIPSOptions(MetricOptions):
    lpips_weights: Optional[Path] = option(None, help="Local LPIPS weights (optional; lpips' alex.pth / vgg.pth "
                                           "v0.1, backbone in $TORCH_HOME).")


@register_metric
class LPIPS(Metric):
    name = "lpips"
    label = "LPIPS"
    help = "learned perceptual distance to the true target video (mean over frames)"
    columns = (Column("lpips", "mean over frames (lower is closer)"),)
    Options = LPIPSOptions
    needs = frozenset({"target", "weights"})
    order = 20

    def enabled(self, options: LPIPSOptions) -> bool:
        return options.lpips_weights is not None

    def setup(self, options: LPIPSOptions, device: str) -> Any:
        # missing weights do not stop the run (the summary names what is missing): the error is raised per pair
        try:
            return load_lpips(options.lpips_weights)
        except MissingWeightsError as e:
            return e

    def score(self, ctx: PairContext, state) -> Dict[str, float]:
        if isinstance(state, MissingWeightsError):
            raise state
        return {"lpips": lpips_distance(state, ctx.generated, ctx.target)}
