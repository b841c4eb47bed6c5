"""Camera following without SfM: how well the *requested* target poses explain the generated video's own motion
(given-pose residuals of :mod:`synth.core.given_pose`, the test ``synth verify`` applies to rendered data).

Lucas-Kanade tracks between consecutive frames and frames 4 apart of the generated video are tested against the
target trajectory: the rotation transfer ``K R K^-1`` for pairs whose requested translation moves a point 5 m away by
at most 1 px, else the Sampson distance to the requested epipolar geometry. No pose is estimated, so there is no
scale ambiguity and no SfM failure; reported beside RotErr / TransErr / CamMC. Lower ``gp_median_px`` and higher
``gp_inlier_frac`` mean the video moves as requested (on true target videos of the embedded renderer: 0.1-0.9 px and
> 0.85; docs/evaluation.md).
"""

from __future__ import annotations

from typing import Any, Dict

import numpy as np

from .base import Column, Metric, PairContext, register_metric

__all__ = ["GivenPoseFollowing", "given_pose_scores"]

SCENE_DEPTH_M = 5.0  # parallax bound: translation that moves a point this far by <= 1 px counts as rotation only
THRESHOLD_PX = 2.0
WINDOW = 4


def given_pose_scores(frames: np.ndarray, K: np.ndarray, c2w: np.ndarray, max_size: int = 512) -> Dict[str, float]:
    """Given-pose residuals of ``frames`` ``(n, h, w, 3)`` uint8 under poses ``c2w`` ``(n, 4, 4)`` (OpenCV c2w,
    metres) and intrinsics ``K`` (pixels of the frames).

    Returns:
        ``gp_median_px`` (median over frame pairs of the pair's median residual, pixels), ``gp_inlier_frac`` (mean
        fraction of matches within 2 px), ``gp_bad_frac`` (fraction of pairs with fewer than half within 2 px),
        ``gp_pairs`` (pairs with >= 20 matches); NaN where no pair had enough matches.
    """
    import cv2

    from synth.core.given_pose import gray, pair_stats, track_klt

    n = min(len(frames), len(c2w))
    h, w = frames.shape[1:3]
    f = min(1.0, max_size / max(h, w)) if max_size > 0 else 1.0
    sw, sh = max(1, round(w * f)), max(1, round(h * f))
    g = [cv2.resize(gray(x), (sw, sh), interpolation=cv2.INTER_AREA) if f < 1 else gray(x) for x in frames[:n]]
    scale = np.array([sw / w, sh / h])
    meds, inls = [], []
    for (i, j), (xa, xb) in sorted(track_klt(g, WINDOW).items()):
        s = pair_stats(K, K, c2w[i], c2w[j], xa / scale, xb / scale, THRESHOLD_PX, SCENE_DEPTH_M)
        if s.n >= 20:
            meds.append(s.median_px)
            inls.append(s.inlier_frac)
    if not meds:
        return {"gp_median_px": float("nan"), "gp_inlier_frac": float("nan"), "gp_bad_frac": float("nan"),
                "gp_pairs": 0}
    inl = np.asarray(inls)
    return {"gp_median_px": float(np.median(meds)), "gp_inlier_frac": float(inl.mean()),
            "gp_bad_frac": float(np.mean(inl < 0.5)), "gp_pairs": len(meds)}


@register_metric
class GivenPoseFollowing(Metric):
    name = "given_pose"
    label = "given-pose residual"
    help = "tracks of the generated video tested against the requested poses (no SfM; pixels)"
    columns = (Column("gp_median_px", "pixels: median over frame pairs of the median residual"),
               Column("gp_inlier_frac", "mean fraction of tracked matches within 2 px of the requested geometry"),
               Column("gp_bad_frac", "fraction of frame pairs with < 50 % of matches within 2 px"),
               Column("gp_pairs", "frame pairs with >= 20 tracked matches", summarize=False))
    needs = frozenset({"poses"})
    order = 55

    def score(self, ctx: PairContext, state) -> Dict[str, Any]:
        return given_pose_scores(ctx.generated, ctx.K, ctx.target_c2w)
