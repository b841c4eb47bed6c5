"""The metrics of ``recam eval``, one module per metric (the registry: :mod:`.base`).

Importing the package imports every module in it (``pkgutil``), so a metric is added by adding a file: a
:class:`~.base.Metric` subclass with ``@register_metric`` (see ``docs/architecture.md``, "Adding an evaluation
metric"). Image metrics: PSNR / SSIM (scikit-image), LPIPS and CLIP from local weights only (nothing is downloaded;
a clear message names what is missing); camera accuracy from estimated poses (:mod:`synth.core.camera_metrics`);
FVD over the run (:mod:`recam.eval.fvd` loads the I3D file).
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import (Column, Metric, MetricOptions, MissingWeightsError, PairContext, RunContext, UnknownMetricError,
                   get_metric, metrics, option, option_flags, register_metric)

for _m in pkgutil.iter_modules(__path__):
    if _m.name != "base" and not _m.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_m.name}")

from .clip import clip_scores  # noqa: E402  (re-exported: the functions' historical home)
from .lpips import lpips_score  # noqa: E402
from .psnr import psnr  # noqa: E402
from .ssim import ssim, video_psnr_ssim  # noqa: E402

__all__ = ["Column", "Metric", "MetricOptions", "MissingWeightsError", "PairContext", "RunContext",
           "UnknownMetricError", "get_metric", "metrics", "option", "option_flags", "register_metric", "psnr", "ssim",
           "video_psnr_ssim", "lpips_score", "clip_scores"]
