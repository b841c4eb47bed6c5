"""Given-pose geometry: how well *written* camera poses and intrinsics explain pixel correspondences.

No pose is estimated here: matched image points of two views (two frames of one camera, or two cameras of one scene at
the same instant) are tested against the epipolar geometry that the written poses imply. Conventions: OpenCV c2w
``(4, 4)`` (x right, y down, z forward), any right-handed world, metres (the tests below are scale-free except the
depth reprojection); pixel coordinates ``(column, row)`` of continuous image coordinates (``K`` as
:func:`synth.core.intrinsics.intrinsics_from_lens`); residuals in pixels.

Residuals (each per match, in pixels of view ``b``):

* :func:`sampson_px` -- first-order distance of a match to the epipolar geometry ``F = K_b^-T [t]x R K_a^-1`` of the
  written relative pose (``X_b = R X_a + t``): correct poses leave the sub-pixel noise of the matcher; a wrong
  rotation, focal length or translation direction moves matches off their epipolar lines. Blind to the sign and
  length of ``t`` (the sign is tested by :func:`cheirality`) and undefined when ``t = 0``.
* :func:`rotation_transfer_px` -- distance of ``x_b`` from ``K_b R K_a^-1 x_a``: exact for a pure rotation (or a scene
  far away relative to the baseline: the parallax of a point at depth ``Z`` is at most ``f |t| / Z`` pixels) and a 2D
  test, so it checks rotation and focal length of pans, tilts and long lenses where Sampson is weak.
* :func:`depth_reprojection_px` -- where a rendered depth map of view ``a`` exists, back-project ``x_a`` at its depth,
  move it by the written metric pose and project into ``b``: checks the metric scale as well (metres vs cm).
* :func:`depth_consistency` -- dense, no matching: where both views have rendered depth maps, a grid of view ``b``'s
  pixels is lifted at its depth, moved by the written metric poses and projected into ``a``; ``a``'s own depth there
  must not be clearly *farther* (a *free-space violation*: ``a`` would see through a surface that ``b`` says is
  there; nearer is an occlusion, no contradiction), and the grey values of the points whose depths agree must
  correlate (high-passed NCC: a pose error too small for the depths shows as misaligned texture).
* :func:`cheirality` -- the fraction of matches with parallax that triangulate in front of both cameras (a reversed
  translation puts them behind).

Matching: :func:`track_klt` (pyramidal Lucas-Kanade tracks of corners through consecutive frames; fast and accurate
for small motion) and :func:`match_sift` (SIFT + ratio test + mutual check, then a RANSAC fundamental matrix that
keeps only matches with *some* consistent two-view geometry: for wide baselines between cameras). Both from OpenCV.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .rigid import invert_rigid

__all__ = ["relative_pose", "fundamental_from_pose", "sampson_px", "rotation_transfer_px", "depth_reprojection_px",
           "cheirality", "parallax_bound_px", "PairStats", "pair_stats", "track_klt", "sift_features", "match_sift",
           "gray", "DepthConsistency", "depth_consistency", "high_pass",
           "nearest_depth", "lift_grid"]


def relative_pose(c2w_a: np.ndarray, c2w_b: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """``(R (3, 3), t (3,))`` with ``X_b = R X_a + t`` for camera-frame points of ``a`` and ``b`` (OpenCV axes; ``t``
    in the poses' unit)."""
    T = invert_rigid(np.asarray(c2w_b, dtype=np.float64)) @ np.asarray(c2w_a, dtype=np.float64)
    return T[:3, :3], T[:3, 3]


def _skew(t: np.ndarray) -> np.ndarray:
    return np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]], dtype=np.float64)


def fundamental_from_pose(K_a: np.ndarray, K_b: np.ndarray, R: np.ndarray, t: np.ndarray) -> Optional[np.ndarray]:
    """``F`` ``(3, 3)`` with ``x_b^T F x_a = 0`` (pixels) for the relative pose ``X_b = R X_a + t``; ``t`` is
    normalised (F's scale does not matter), None when ``|t|`` is 0 (pure rotation: no epipolar geometry)."""
    n = float(np.linalg.norm(t))
    if n <= 0:
        return None
    E = _skew(np.asarray(t, dtype=np.float64) / n) @ R
    return np.linalg.inv(K_b).T @ E @ np.linalg.inv(K_a)


def _h(x: np.ndarray) -> np.ndarray:
    return np.concatenate([np.asarray(x, dtype=np.float64), np.ones((len(x), 1))], axis=1)


def sampson_px(F: np.ndarray, x_a: np.ndarray, x_b: np.ndarray) -> np.ndarray:
    """Sampson distance ``(N,)`` in pixels of matches ``x_a``, ``x_b`` ``(N, 2)`` to ``F`` (first-order geometric
    error: ``(x_b^T F x_a)^2 / (|(F x_a)_{12}|^2 + |(F^T x_b)_{12}|^2)``, square-rooted)."""
    ha, hb = _h(x_a), _h(x_b)
    Fa = ha @ F.T
    Fb = hb @ F
    num = np.einsum("ni,ni->n", hb, Fa)
    den = Fa[:, 0] ** 2 + Fa[:, 1] ** 2 + Fb[:, 0] ** 2 + Fb[:, 1] ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(num) / np.sqrt(den)


def rotation_transfer_px(K_a: np.ndarray, K_b: np.ndarray, R: np.ndarray, x_a: np.ndarray,
                         x_b: np.ndarray) -> np.ndarray:
    """``|x_b - pi(K_b R K_a^-1 x_a)|`` ``(N,)`` in pixels (inf where the point rotates behind camera ``b``)."""
    p = _h(x_a) @ (K_b @ R @ np.linalg.inv(K_a)).T
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = p[:, :2] / p[:, 2:3]
        d = np.linalg.norm(uv - x_b, axis=1)
    d[~(p[:, 2] > 0)] = np.inf
    return d


def depth_reprojection_px(K_a: np.ndarray, K_b: np.ndarray, R: np.ndarray, t: np.ndarray, depth_a: np.ndarray,
                          x_a: np.ndarray, x_b: np.ndarray) -> np.ndarray:
    """Reprojection error ``(N,)`` in pixels of ``x_a`` lifted at its planar depth ``depth_a[row, col]`` (metres; 0 =
    unknown -> NaN), moved by ``(R, t)`` (metres) and projected into ``b``, against ``x_b``."""
    h, w = depth_a.shape
    c = np.clip(np.round(x_a[:, 0] - 0.5).astype(int), 0, w - 1)
    r = np.clip(np.round(x_a[:, 1] - 0.5).astype(int), 0, h - 1)
    z = depth_a[r, c].astype(np.float64)
    X = (_h(x_a) @ np.linalg.inv(K_a).T) * z[:, None]
    Xb = X @ R.T + t
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = (Xb[:, :2] / Xb[:, 2:3]) @ K_b[:2, :2].T + K_b[:2, 2]
        d = np.linalg.norm(uv - x_b, axis=1)
    d[~(z > 0) | ~(Xb[:, 2] > 0)] = np.nan
    return d


def cheirality(K_a: np.ndarray, K_b: np.ndarray, R: np.ndarray, t: np.ndarray, x_a: np.ndarray, x_b: np.ndarray,
               min_parallax_px: float = 3.0) -> Tuple[float, int]:
    """``(fraction in front, count)``: of the matches whose parallax (distance from the rotation transfer) exceeds
    ``min_parallax_px``, the fraction that triangulate (least squares ``z_b d_b = z_a R d_a + t``) at positive depth
    in both cameras; ``(nan, 0)`` without such matches or when ``t = 0``."""
    if float(np.linalg.norm(t)) <= 0:
        return float("nan"), 0
    sel = rotation_transfer_px(K_a, K_b, R, x_a, x_b) > min_parallax_px
    if not sel.any():
        return float("nan"), 0
    da = (_h(x_a[sel]) @ np.linalg.inv(K_a).T) @ R.T
    db = _h(x_b[sel]) @ np.linalg.inv(K_b).T
    # [ -R d_a  d_b ] [z_a z_b]^T = t  (normal equations, 2x2 per match)
    a11 = np.einsum("ni,ni->n", da, da)
    a12 = -np.einsum("ni,ni->n", da, db)
    a22 = np.einsum("ni,ni->n", db, db)
    b1 = -da @ t
    b2 = db @ t
    det = a11 * a22 - a12 ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        za = (a22 * b1 - a12 * b2) / det
        zb = (a11 * b2 - a12 * b1) / det
    ok = np.isfinite(za) & np.isfinite(zb)
    if not ok.any():
        return float("nan"), 0
    return float(np.mean((za[ok] > 0) & (zb[ok] > 0))), int(ok.sum())


def parallax_bound_px(K: np.ndarray, t: np.ndarray, depth_m: float) -> float:
    """Largest parallax in pixels that a translation ``t`` (metres, camera frame) gives a point at depth
    ``depth_m``: ``f |t| / depth`` (an upper bound for points at least that far)."""
    return float(K[0, 0] * np.linalg.norm(t) / max(depth_m, 1e-9))


@dataclass(frozen=True)
class PairStats:
    """Robust statistics of one view pair's residuals.

    Attributes:
        kind: ``"sampson"`` (translating pair), ``"rotation"`` (transfer of ``K R K^-1``) or ``"depth"``.
        n: matches used.
        median_px: median residual (pixels).
        inlier_frac: fraction of matches with residual <= the threshold.
        front_frac: :func:`cheirality` fraction (nan if not applicable), ``front_n`` its count.
    """

    kind: str
    n: int
    median_px: float
    inlier_frac: float
    front_frac: float = float("nan")
    front_n: int = 0


def pair_stats(K_a: np.ndarray, K_b: np.ndarray, c2w_a: np.ndarray, c2w_b: np.ndarray, x_a: np.ndarray,
               x_b: np.ndarray, threshold_px: float, depth_m: float, max_parallax_px: float = 1.0,
               depth_a: Optional[np.ndarray] = None) -> PairStats:
    """Residuals of matches ``x_a``/``x_b`` ``(N, 2)`` under the written poses, summarised.

    The residual is the depth reprojection when ``depth_a`` (metres) is given, else the rotation transfer when the
    written translation moves a point at ``depth_m`` (the camera's distance to what it looks at; metres) by at most
    ``max_parallax_px``, else the Sampson distance (plus the cheirality of the translation's sign).
    """
    R, t = relative_pose(c2w_a, c2w_b)
    n = len(x_a)
    if n == 0:
        return PairStats("none", 0, float("nan"), float("nan"))
    front, fn = float("nan"), 0
    if depth_a is not None:
        kind, r = "depth", depth_reprojection_px(K_a, K_b, R, t, depth_a, x_a, x_b)
        r = r[np.isfinite(r)]
    elif parallax_bound_px(K_a, t, depth_m) <= max_parallax_px or np.linalg.norm(t) == 0:
        kind, r = "rotation", rotation_transfer_px(K_a, K_b, R, x_a, x_b)
    else:
        kind, r = "sampson", sampson_px(fundamental_from_pose(K_a, K_b, R, t), x_a, x_b)
        front, fn = cheirality(K_a, K_b, R, t, x_a, x_b, min_parallax_px=max(3.0, 2 * threshold_px))
    r = np.where(np.isnan(r), np.inf, r)
    if len(r) == 0:
        return PairStats(kind, 0, float("nan"), float("nan"))
    return PairStats(kind, len(r), float(np.median(r)), float(np.mean(r <= threshold_px)), front, fn)


@dataclass(frozen=True)
class DepthConsistency:
    """Dense depth / photometric agreement of view ``b`` lifted into view ``a`` (:func:`depth_consistency`).

    Attributes:
        n: co-visible grid points: ``b``'s point lands inside ``a``'s image, in front of it.
        violation_frac: fraction of the ``n`` where ``a``'s depth (the nearest in a 3x3 neighbourhood; sky, depth 0,
            counts as infinitely far) exceeds the predicted depth by more than the relative tolerance.
        agree_n: points whose predicted depth agrees with ``a``'s (nearest pixel) within the tolerance.
        ncc: normalised cross-correlation of the high-passed grey values of ``b`` and ``a`` at the ``agree_n``
            points (nan without images or with fewer than 20 such points).
    """

    n: int
    violation_frac: float
    agree_n: int
    ncc: float


def high_pass(g: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """``(H, W)`` float32 grey image minus its Gaussian blur (``sigma`` pixels): texture, without the shading and
    exposure that differ between views."""
    import cv2

    g = np.asarray(g, dtype=np.float32)
    return g - cv2.GaussianBlur(g, (0, 0), sigma)


def depth_consistency(K_a: np.ndarray, c2w_a: np.ndarray, depth_a: np.ndarray, K_b: np.ndarray, c2w_b: np.ndarray,
                      depth_b: np.ndarray, stride: int = 8, rel_tol: float = 0.05,
                      tex_a: Optional[np.ndarray] = None, tex_b: Optional[np.ndarray] = None,
                      near_a: Optional[np.ndarray] = None,
                      grid_b: Optional[Tuple[np.ndarray, np.ndarray, np.ndarray]] = None) -> DepthConsistency:
    """Whether the written poses and intrinsics of two views explain their rendered depth maps (and textures).

    Every ``stride``-th pixel centre of ``b`` with known depth on a smooth patch (:func:`lift_grid` with
    ``smooth_tol = rel_tol``) is lifted (``X = z K_b^-1 [u, v, 1]``), taken to the
    world by ``c2w_b`` and into ``a`` by ``c2w_a^-1``, and projected by ``K_a``.

    Args:
        K_a, K_b: ``(3, 3)`` intrinsics in pixels of the depth maps.
        c2w_a, c2w_b: ``(4, 4)`` OpenCV c2w, metres (the depth maps' unit).
        depth_a, depth_b: ``(H, W)`` planar depth (metres, 0 = unknown / sky).
        stride: grid step in pixels of ``b``.
        rel_tol: relative depth tolerance (0.05: 5 cm at 1 m, 50 cm at 10 m).
        tex_a, tex_b: optional ``(h, w)`` float images (e.g. :func:`high_pass` grey) of the same views at any
            resolution (coordinates are scaled by ``w / W``, ``h / H``) for the photometric NCC.
        near_a: :func:`nearest_depth` of ``depth_a`` when already computed (it is the same for every pair).
        grid_b: :func:`lift_grid` ``(K_b, depth_b, stride)`` when already computed.

    Returns:
        :class:`DepthConsistency`.
    """
    H, W = depth_b.shape
    Ha, Wa = depth_a.shape
    u, v, Xb = lift_grid(K_b, depth_b, stride, rel_tol) if grid_b is None else grid_b
    T = invert_rigid(np.asarray(c2w_a, np.float64)) @ np.asarray(c2w_b, np.float64)
    Xa = Xb @ T[:3, :3].T + T[:3, 3]
    za = Xa[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        ua = K_a[0, 0] * Xa[:, 0] / za + K_a[0, 2]
        va = K_a[1, 1] * Xa[:, 1] / za + K_a[1, 2]
    vis = (za > 1e-6) & (ua >= 0) & (ua < Wa) & (va >= 0) & (va < Ha)
    n = int(vis.sum())
    if n == 0:
        return DepthConsistency(0, float("nan"), 0, float("nan"))
    ua, va, za = ua[vis], va[vis], za[vis]
    ci = np.clip(np.floor(ua).astype(int), 0, Wa - 1)
    ri = np.clip(np.floor(va).astype(int), 0, Ha - 1)
    near = nearest_depth(depth_a) if near_a is None else near_a
    viol = near[ri, ci] > za * (1 + rel_tol)
    d_at = depth_a[ri, ci]
    agree = (d_at > 0) & (np.abs(d_at - za) <= rel_tol * za)
    ncc = float("nan")
    if tex_a is not None and tex_b is not None and agree.sum() >= 20:
        sb = np.array(tex_b.shape[::-1], np.float64) / (W, H)
        sa = np.array(tex_a.shape[::-1], np.float64) / (Wa, Ha)
        ib = _sample(tex_b, u[vis][agree] * sb[0], v[vis][agree] * sb[1])
        ia = _sample(tex_a, ua[agree] * sa[0], va[agree] * sa[1])
        ib, ia = ib - ib.mean(), ia - ia.mean()
        den = float(np.sqrt((ib ** 2).sum() * (ia ** 2).sum()))
        ncc = float((ib * ia).sum() / den) if den > 0 else float("nan")
    return DepthConsistency(n, float(viol.mean()), int(agree.sum()), ncc)


def lift_grid(K: np.ndarray, depth: np.ndarray, stride: int,
              smooth_tol: Optional[float] = None) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every ``stride``-th pixel centre with known depth, lifted: ``(u (N,), v (N,) continuous pixel coordinates,
    X (N, 3) camera-frame points in metres, OpenCV axes)`` for ``K`` ``(3, 3)`` and planar ``depth`` ``(H, W)``
    (metres, 0 = unknown). With ``smooth_tol``, only points whose 3x3 neighbourhood is known and within
    ``smooth_tol`` (relative) of their depth: no silhouette and no surface seen at a grazing angle (the far rim of
    the ground), where a fraction of a pixel changes the depth by more than any tolerance."""
    import cv2

    H, W = depth.shape
    v, u = np.mgrid[stride // 2:H:stride, stride // 2:W:stride]
    z = depth[v, u].astype(np.float64)
    ok = z > 0
    if smooth_tol is not None:
        d = np.where(depth > 0, depth, np.inf).astype(np.float32)
        k3 = np.ones((3, 3), np.uint8)
        hi = cv2.dilate(d, k3, borderType=cv2.BORDER_REPLICATE)[v, u]
        lo = cv2.erode(d, k3, borderType=cv2.BORDER_REPLICATE)[v, u]
        with np.errstate(invalid="ignore"):
            ok &= np.isfinite(hi) & (hi - lo <= smooth_tol * z)
    u, v, z = u[ok] + 0.5, v[ok] + 0.5, z[ok]
    X = np.stack([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z], axis=1)
    return u, v, X


def nearest_depth(depth: np.ndarray) -> np.ndarray:
    """``(H, W)`` float32: the nearest depth (metres) of each pixel's 3x3 neighbourhood, unknown (0, the sky) as
    infinitely far. A point on a silhouette of one view that lands one pixel beside the silhouette in the other is
    then not a free-space violation (aliasing of the rasterised edge)."""
    import cv2

    d = np.where(depth > 0, depth, np.inf).astype(np.float32)
    return cv2.erode(d, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)


def _sample(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``img`` at continuous pixel coordinates ``x``, ``y`` (pixel centres at +0.5)."""
    h, w = img.shape
    x = np.clip(x - 0.5, 0, w - 1)
    y = np.clip(y - 0.5, 0, h - 1)
    x0 = np.minimum(np.floor(x).astype(int), w - 2) if w > 1 else np.zeros(len(x), int)
    y0 = np.minimum(np.floor(y).astype(int), h - 2) if h > 1 else np.zeros(len(y), int)
    fx, fy = x - x0, y - y0
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    return ((1 - fy) * ((1 - fx) * img[y0, x0] + fx * img[y0, x1])
            + fy * ((1 - fx) * img[y1, x0] + fx * img[y1, x1])).astype(np.float64)


def gray(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB -> ``(H, W)`` uint8 luma."""
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def track_klt(frames: Sequence[np.ndarray], window: int, max_corners: int = 200, quality: float = 0.01,
              fb_max_px: float = 1.0) -> Dict[Tuple[int, int], Tuple[np.ndarray, np.ndarray]]:
    """Correspondences between frames of one video by pyramidal Lucas-Kanade tracking.

    Corners (Shi-Tomasi) are detected at every ``window``-th frame (the anchors) and tracked frame by frame up to the
    next anchor; a track is kept while its forward-backward error stays below ``fb_max_px``.

    Args:
        frames: ``F`` gray ``(H, W)`` uint8 frames (consecutive frames of the video).
        window: frames between anchors (>= 1).

    Returns:
        ``{(i, j): (x_i (N, 2), x_j (N, 2))}`` pixel coordinates (column, row; pixel centres at +0.5) for every
        consecutive pair ``(i, i + 1)`` and every anchor pair ``(a, a + window)``.
    """
    import cv2

    win = (21, 21)
    lk = dict(winSize=win, maxLevel=3, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))
    out: Dict[Tuple[int, int], Tuple[np.ndarray, np.ndarray]] = {}
    F = len(frames)
    for a in range(0, F - 1, window):
        p0 = cv2.goodFeaturesToTrack(frames[a], maxCorners=max_corners, qualityLevel=quality, minDistance=7,
                                     blockSize=7)
        if p0 is None:
            continue
        anchor = p0.reshape(-1, 2).astype(np.float32)
        cur, alive = anchor.copy(), np.ones(len(anchor), bool)
        for i in range(a, min(a + window, F - 1)):
            pa, pb = frames[i], frames[i + 1]
            nxt, st, _ = cv2.calcOpticalFlowPyrLK(pa, pb, cur, None, **lk)
            back, st2, _ = cv2.calcOpticalFlowPyrLK(pb, pa, nxt, None, **lk)
            ok = (st.ravel() == 1) & (st2.ravel() == 1) & (np.linalg.norm(back - cur, axis=1) < fb_max_px)
            pair_ok = ok & alive
            out[(i, i + 1)] = (cur[pair_ok].astype(np.float64) + 0.5, nxt[pair_ok].astype(np.float64) + 0.5)
            alive &= ok
            cur = nxt
        j = min(a + window, F - 1)
        if j - a > 1:
            out[(a, j)] = (anchor[alive].astype(np.float64) + 0.5, cur[alive].astype(np.float64) + 0.5)
    return out


def sift_features(gray_img: np.ndarray, n_features: int = 1000):
    """SIFT ``(keypoints (N, 2) pixels, descriptors (N, 128) float32)`` of a gray uint8 image."""
    import cv2

    kp, des = cv2.SIFT_create(nfeatures=n_features).detectAndCompute(gray_img, None)
    pts = np.array([k.pt for k in kp], dtype=np.float64).reshape(-1, 2) + 0.5
    return pts, (des if des is not None else np.zeros((0, 128), np.float32))


def match_sift(feat_a, feat_b, ratio: float = 0.8, ransac_px: float = 2.0,
               min_matches: int = 15) -> Tuple[np.ndarray, np.ndarray]:
    """Mutual nearest neighbours passing Lowe's ratio test, then the inliers of a RANSAC fundamental matrix (matches
    that some two-view geometry explains; the written poses are tested on these). Returns ``(x_a, x_b)`` ``(N, 2)``
    (empty when fewer than ``min_matches`` survive)."""
    import cv2

    pa, da = feat_a
    pb, db = feat_b
    empty = (np.zeros((0, 2)), np.zeros((0, 2)))
    if len(pa) < min_matches or len(pb) < min_matches:
        return empty
    bf = cv2.BFMatcher(cv2.NORM_L2)
    ab = bf.knnMatch(da, db, k=2)
    ba = bf.match(db, da)
    back = {m.queryIdx: m.trainIdx for m in ba}
    ia, ib = [], []
    for m in ab:
        if len(m) == 2 and m[0].distance < ratio * m[1].distance and back.get(m[0].trainIdx) == m[0].queryIdx:
            ia.append(m[0].queryIdx)
            ib.append(m[0].trainIdx)
    if len(ia) < min_matches:
        return empty
    xa, xb = pa[ia], pb[ib]
    _, mask = cv2.findFundamentalMat(xa, xb, cv2.FM_RANSAC, ransac_px, 0.99, 500)
    if mask is None:
        return empty
    keep = mask.ravel().astype(bool)
    if keep.sum() < min_matches:
        return empty
    return xa[keep], xb[keep]


def summarize(values: List[float]) -> Tuple[float, float]:
    """``(median, max)`` of the finite values (nan, nan if none)."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=np.float64)
    return (float(np.median(v)), float(v.max())) if len(v) else (float("nan"), float("nan"))
