"""Camera accuracy of the generated video: poses estimated from its frames (:mod:`synth.core.pose_estimation`,
COLMAP / GLOMAP, CamI2V protocol) against the requested trajectory -> RotErr / TransErr / CamMC
(:mod:`synth.core.camera_metrics`), with a plot of both trajectories per pair; and the same estimator on the true
target video (``ref_*``: the estimator's own error floor)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import numpy as np

from .base import Column, Metric, MetricOptions, PairContext, option, register_metric

__all__ = ["pose_scores", "plot_pair", "CameraAccuracy", "ReferenceCameraAccuracy", "ReferenceOptions"]

_STATUS = "ok / partial / rotation_only / static / not_estimable / failed"
_ROT = "sum over sampled frames, degrees (rot_err_rad in results.csv: radians)"
_TRANS = "sum over sampled frames, each trajectory normalised by its largest translation"
_CAMMC = "sum over sampled frames, normalised translations"


def pose_scores(frames: np.ndarray, K: np.ndarray, gt_c2w: np.ndarray, opts):
    """Poses estimated from every ``opts.stride``-th frame of ``frames`` ``(F, H, W, 3)`` uint8 with intrinsics ``K``
    (pixels), and their :func:`synth.core.camera_metrics.camera_metrics` against ``gt_c2w`` ``(F, 4, 4)`` (OpenCV
    c2w, metres) at the same frames (None without rotations). Returns ``(estimate, metrics or None)``."""
    from synth.core.camera_metrics import camera_metrics
    from synth.core.pose_estimation import estimate_poses

    idx = np.arange(0, len(frames), opts.stride)
    est = estimate_poses(frames[idx], K, opts, idx)
    cm = camera_metrics(gt_c2w[idx], est.c2w) if est.has_rotation else None
    return est, cm


def plot_pair(path: Path, pair_id: str, gt_rel: np.ndarray, est, cm) -> None:
    """Requested (``gt_rel``, ``(N, 4, 4)`` relative to frame 0) vs estimated trajectory (top view, normalised) and
    the per-frame errors, as a PNG written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from synth.core.camera_metrics import normalize_translations, relative_to_first

    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3.4))
    g = normalize_translations(gt_rel)[:, :3, 3]
    a.plot(g[:, 0], g[:, 2], "-", color="C0", label="requested")
    if est is not None and est.has_translation:
        e = normalize_translations(relative_to_first(est.c2w))[:, :3, 3]
        a.plot(e[:, 0], e[:, 2], "o", ms=3, color="C3", label="estimated")
    a.set_xlabel("x (normalised)")
    a.set_ylabel("z (normalised)")
    a.set_aspect("equal", adjustable="datalim")
    a.legend(fontsize=7)
    if cm is not None:
        b.plot(cm.rot_err_deg_per_frame, "o-", ms=3, label="rotation error (deg)")
        b.plot(cm.trans_err_per_frame, "s-", ms=3, label="translation error (norm.)")
        b.legend(fontsize=7)
    b.set_xlabel("sample")
    fig.suptitle(f"{pair_id} [{est.status if est is not None else 'no poses'}]", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    tmp.replace(path)


@register_metric
class CameraAccuracy(Metric):
    name = "camera"
    label = "RotErr/TransErr/CamMC"
    help = "poses estimated from the generated video vs the requested trajectory (plots/<pair_id>.png)"
    columns = (Column("pose_status", _STATUS, summarize=False), Column("rot_err_rad", "radians", summarize=False),
               Column("rot_err_deg", _ROT), Column("trans_err", _TRANS), Column("cammc", _CAMMC))
    needs = frozenset({"poses"})
    order = 40

    def score(self, ctx: PairContext, state) -> Dict[str, Any]:
        from synth.core.camera_metrics import relative_to_first

        est, cm = pose_scores(ctx.generated, ctx.K, ctx.target_c2w, ctx.pose_options)
        row: Dict[str, Any] = {"pose_status": est.status}
        if est.status != "ok":
            ctx.say(f"poses: {est.status} ({est.message})")
        if cm is not None:
            row.update(rot_err_rad=cm.rot_err_rad, rot_err_deg=cm.rot_err_deg, trans_err=cm.trans_err,
                       cammc=cm.cammc)
        plot_pair(ctx.out / "plots" / f"{ctx.pair.pair_id}.png", ctx.pair.pair_id,
                  relative_to_first(ctx.target_c2w[est.frame_indices]), est, cm)
        return row


class ReferenceOptions(MetricOptions):
    reference_poses: bool = option(True, flag="--reference-poses/--no-reference-poses",
                                   help="Also estimate poses on the true target video (estimator floor).")


@register_metric
class ReferenceCameraAccuracy(Metric):
    name = "reference_camera"
    label = "reference RotErr/TransErr/CamMC"
    help = "the same estimator on the true target video: its own error floor"
    columns = (Column("ref_pose_status", _STATUS, summarize=False), Column("ref_rot_err_deg", _ROT),
               Column("ref_trans_err", _TRANS), Column("ref_cammc", _CAMMC))
    Options = ReferenceOptions
    needs = frozenset({"target", "poses"})
    order = 50

    def enabled(self, options: ReferenceOptions) -> bool:
        return options.reference_poses

    def score(self, ctx: PairContext, state) -> Dict[str, Any]:
        est, cm = pose_scores(ctx.target, ctx.K, ctx.target_c2w, ctx.pose_options)
        row: Dict[str, Any] = {"ref_pose_status": est.status}
        if cm is not None:
            row.update(ref_rot_err_deg=cm.rot_err_deg, ref_trans_err=cm.trans_err, ref_cammc=cm.cammc)
        return row
