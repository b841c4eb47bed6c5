"""Camera-accuracy metrics of estimated trajectories against the true ones (``synth verify``, ``recam eval``).

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
from typing import Dict, Optional, Sequence

import numpy as np

from .rigid import nearest_rotation

__all__ = ["CameraMetrics", "relative_to_first", "rotation_errors_rad", "normalize_translations", "camera_metrics",
           "align_sim3", "umeyama"]


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
    r = nearest_rotation(np.einsum("nij,nkj->ik", gt[ok, :3, :3], est[ok, :3, :3]))
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
