"""Mat.Pix. (ReCamMaster's Table 1, view synchronisation): how many pixels of each generated frame are matched in
the source frame of the same time, by OpenCV's SIFT (no learned weights).

ReCamMaster counts GIM matches above a confidence of 0.5; GIM's weights are not here, so this column is the SIFT
version, with its thresholds stated: per frame pair, SIFT keypoints (OpenCV defaults) on the grey frames, mutual
2-NN matches kept by Lowe's ratio test at :data:`RATIO`, then the inliers of a RANSAC fundamental matrix at
:data:`RANSAC_PX` pixels (a generated view of the same scene at the same time is related to the source by epipolar
geometry). The column is the mean inlier count per frame pair, over ``--matpix-stride``-spaced frames. Numbers are
comparable between runs of this project, not with the paper's GIM counts.
"""

from __future__ import annotations

from typing import Any, Dict

import numpy as np

from .base import Column, Metric, MetricOptions, PairContext, option, register_metric

__all__ = ["matched_pixels", "MatchedPixels", "MatchedPixelsOptions", "RATIO", "RANSAC_PX"]

#: Lowe's ratio test threshold (best / second-best descriptor distance)
RATIO = 0.75
#: RANSAC threshold of the fundamental matrix (pixels, Sampson distance)
RANSAC_PX = 1.0
#: fewer tentative matches than this: no RANSAC (the pair counts 0 inliers)
_MIN_MATCHES = 8


def _pair_inliers(sift, a: np.ndarray, b: np.ndarray) -> int:
    import cv2

    ka, da = sift.detectAndCompute(cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_RGB2GRAY), None)
    kb, db = sift.detectAndCompute(cv2.cvtColor(np.ascontiguousarray(b), cv2.COLOR_RGB2GRAY), None)
    if da is None or db is None or len(ka) < 2 or len(kb) < 2:
        return 0
    knn = cv2.BFMatcher(cv2.NORM_L2).knnMatch(da, db, k=2)
    good = [m[0] for m in knn if len(m) == 2 and m[0].distance < RATIO * m[1].distance]
    if len(good) < _MIN_MATCHES:
        return 0
    pa = np.float32([ka[m.queryIdx].pt for m in good])
    pb = np.float32([kb[m.trainIdx].pt for m in good])
    _, mask = cv2.findFundamentalMat(pa, pb, cv2.FM_RANSAC, RANSAC_PX, 0.999)
    return 0 if mask is None else int(mask.sum())


def matched_pixels(generated: np.ndarray, source: np.ndarray, stride: int = 1) -> float:
    """Mean number of SIFT matches per frame pair that survive the ratio test (:data:`RATIO`) and a RANSAC
    fundamental matrix (:data:`RANSAC_PX` px) between ``generated[i]`` and ``source[i]``, ``i = 0, stride, ...``.

    Args:
        generated, source: ``(F, H, W, 3)`` uint8 frames of the same size (the first ``min`` frames are used).

    Raises:
        ValueError: frames of different sizes or not ``(F, H, W, 3)``.
    """
    import cv2

    generated, source = np.asarray(generated), np.asarray(source)
    if generated.ndim != 4 or generated.shape[-1] != 3 or generated.shape[1:] != source.shape[1:]:
        raise ValueError(f"matched pixels need (F, H, W, 3) frames of one size, got {generated.shape} and "
                         f"{source.shape}")
    n = min(len(generated), len(source))
    sift = cv2.SIFT_create()
    counts = [_pair_inliers(sift, generated[i], source[i]) for i in range(0, n, max(1, int(stride)))]
    return float(np.mean(counts)) if counts else float("nan")


class MatchedPixelsOptions(MetricOptions):
    matpix: bool = option(False, flag="--matpix/--no-matpix", help="Mat.Pix.: SIFT matches (ratio 0.75, RANSAC "
                          "F inliers at 1 px) between each generated frame and the source frame of the same time.")
    matpix_stride: int = option(1, help="Mat.Pix. on every N-th frame.", ge=1)


@register_metric
class MatchedPixels(Metric):
    name = "matched_pixels"
    label = "Mat.Pix."
    help = "SIFT matches between generated and source frames (view synchronisation; ratio 0.75, RANSAC 1 px)"
    columns = (Column("mat_pix", "SIFT inlier matches per frame pair (ratio 0.75, RANSAC F at 1 px)"),)
    Options = MatchedPixelsOptions
    needs = frozenset({"source"})
    order = 100

    def enabled(self, options: MatchedPixelsOptions) -> bool:
        return options.matpix

    def score(self, ctx: PairContext, state: MatchedPixelsOptions) -> Dict[str, Any]:
        return {"mat_pix": matched_pixels(ctx.generated, ctx.source, state.matpix_stride)}
