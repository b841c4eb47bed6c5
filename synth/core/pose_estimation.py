"""Camera poses from a video with COLMAP (``pycolmap``), following the CamI2V / RealCam-I2V evaluation protocol.

Protocol (ZGCTroy/CamI2V ``evaluation/glomap_evaluation.py``): SIFT features with the known intrinsics held fixed
(one ``SIMPLE_PINHOLE`` camera ``f, cx, cy``), sequential matching, a mapper that does not refine the intrinsics
(GLOMAP's global mapper upstream; ``pycolmap.global_mapping`` is GLOMAP merged into COLMAP 3.12+), poses relative to
frame 0. Deviations made for speed on small CPUs and all configurable in :class:`PoseOptions`: every ``stride``-th
frame only (4 = the 21 latent frames of an 81-frame clip), images downscaled to ``max_size`` pixels on the long side
(K scaled with them), upstream's affine-shape / domain-size-pooling SIFT and guided matching off by default
(``PoseOptions.cami2v()`` turns them on).

When SfM cannot initialise (no parallax: a pan, a tilt, a static camera) the clip falls back to rotations from
frame-to-frame homographies (``H = K R K^-1`` for a rotating camera; ``R`` fitted to the bearings of each
homography's RANSAC inliers): status ``rotation_only`` (or ``static`` when
the total rotation stays below ``static_deg``), translations NaN. A clip with too few features or matches
(textureless, blank) is ``not_estimable``; any other error is ``failed`` with its message. Nothing raises for a
bad clip: :func:`estimate_video_poses` always returns a :class:`PoseEstimate`.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .rigid import nearest_rotation

__all__ = ["PoseOptions", "PoseEstimate", "STATUSES", "estimate_poses", "estimate_video_poses", "scale_intrinsics",
           "homography_rotation", "rotation_from_matches"]

#: ``ok``: SfM registered every frame; ``partial``: SfM registered frame 0 and at least ``min_registered`` of the
#: frames (the others NaN); ``rotation_only`` / ``static``: homography fallback (translation NaN);
#: ``not_estimable``: too little texture or too few matches; ``failed``: an error (message in ``PoseEstimate.message``).
STATUSES = ("ok", "partial", "rotation_only", "static", "not_estimable", "failed")


@dataclass(frozen=True)
class PoseOptions:
    """Settings of :func:`estimate_poses` (defaults: CamI2V protocol, fast on 2 CPU cores).

    Attributes:
        stride: use video frames ``0, stride, 2*stride, ...`` (4: the latent frames of a 4k+1 clip).
        max_size: downscale so the long side is at most this many pixels (0: keep); K is scaled with the image.
        mapper: ``global`` (GLOMAP, as CamI2V) or ``incremental`` (COLMAP's incremental mapper).
        refine_intrinsics: let bundle adjustment refine the focal length (False in the protocol).
        overlap: sequential matching: each frame is matched with the next ``overlap`` frames.
        max_features: SIFT features per image.
        first_octave: SIFT's first octave (COLMAP's default -1 upsamples the image 2x: 4x slower).
        affine_shape / domain_size_pooling / guided_matching: upstream's SIFT settings (slow on CPU).
        num_threads: threads of feature extraction, matching and mapping.
        min_features: median SIFT features per frame below which a clip is ``not_estimable``.
        min_matches: verified matches between consecutive frames below which a pair is unusable.
        min_registered: fraction of frames SfM must register for ``ok`` / ``partial``.
        static_deg: a rotation-only clip whose largest rotation from frame 0 stays below this is ``static``.
        min_baseline: an SfM result whose largest camera displacement is below this fraction of the median
            scene depth in frame 0 has no usable parallax (pan, tilt, static): rotations from homographies instead.
        min_points: ... or when SfM triangulated fewer 3D points than this ...
        homography_fit / max_disagreement_deg: ... or when a homography explains at least ``homography_fit`` of
            the matches between consecutive frames (median, within 1 px per 512 px) and SfM's rotations differ
            from the homographies' by more than ``max_disagreement_deg`` somewhere.
        max_nonrigidity: ... but only when those homographies are rotations: the median over consecutive frames of
            the largest |singular value - 1| of ``K^-1 H K`` (det 1) is at most this. A camera translating in front
            of a dominant plane (a wall) has homographies too, ``R + t n^T / d``, whose "rotations" are biased:
            measured on embedded 832x480 clips (stride 4) pans 0.0005-0.0022, translations and arcs 0.006-0.020.
        seed: COLMAP's random seed (RANSAC, mapper), for repeatable estimates.
    """

    stride: int = 4
    max_size: int = 512
    mapper: str = "global"
    refine_intrinsics: bool = False
    overlap: int = 10
    max_features: int = 2048
    first_octave: int = 0
    affine_shape: bool = False
    domain_size_pooling: bool = False
    guided_matching: bool = False
    num_threads: int = 2
    min_features: int = 40
    min_matches: int = 20
    min_registered: float = 0.8
    static_deg: float = 0.5
    min_baseline: float = 0.01
    min_points: int = 30
    homography_fit: float = 0.8
    max_disagreement_deg: float = 5.0
    max_nonrigidity: float = 0.004
    seed: int = 0

    def __post_init__(self):
        if self.stride < 1:
            raise ValueError(f"PoseOptions.stride must be >= 1, got {self.stride}")
        if self.mapper not in ("global", "incremental"):
            raise ValueError(f"PoseOptions.mapper must be 'global' or 'incremental', got {self.mapper!r}")
        if self.max_size < 0 or self.num_threads < 1 or not 0 < self.min_registered <= 1:
            raise ValueError(f"PoseOptions: max_size >= 0, num_threads >= 1, 0 < min_registered <= 1; got {self}")

    @classmethod
    def cami2v(cls, **kw) -> "PoseOptions":
        """Upstream's exact feature settings (affine shape, domain-size pooling, guided matching), full frame rate
        and full resolution: slower, for comparison with published numbers."""
        base = dict(stride=1, max_size=0, affine_shape=True, domain_size_pooling=True, guided_matching=True,
                    max_features=8192, first_octave=-1)
        base.update(kw)
        return cls(**base)

    def replace(self, **kw) -> "PoseOptions":
        return dataclasses.replace(self, **kw)


@dataclass
class PoseEstimate:
    """Result of pose estimation for one clip.

    Attributes:
        status: one of :data:`STATUSES`.
        frame_indices: ``(N,)`` int, the video frames the poses belong to.
        c2w: ``(N, 4, 4)`` float64 OpenCV c2w relative to frame ``frame_indices[0]`` (identity there), in SfM
            units (arbitrary scale); rows of unregistered frames are NaN; translations NaN for ``rotation_only`` /
            ``static``; all NaN for ``not_estimable`` / ``failed``.
        registered: ``(N,)`` bool, frames with a rotation.
        frame0_depth: median depth (SfM units) of the 3D points seen in frame 0 (NaN without SfM): with a metric
            scale ``s`` (metres per SfM unit), ``s * frame0_depth`` is the scene's typical depth in metres.
        message: why a clip is not ``ok``.
        seconds: wall time.
        K: ``(3, 3)`` intrinsics the poses were estimated with (at the downscaled size).
        extra: with SfM also ``points_xyz`` ``(P, 3)`` float64, the sparse 3D points in frame 0's camera frame
            (OpenCV axes, SfM units), and ``points_rgb`` ``(P, 3)`` uint8 their colours.
    """

    status: str
    frame_indices: np.ndarray
    c2w: np.ndarray
    registered: np.ndarray
    frame0_depth: float = float("nan")
    message: str = ""
    seconds: float = 0.0
    K: Optional[np.ndarray] = None
    extra: dict = field(default_factory=dict)

    @property
    def has_rotation(self) -> bool:
        return self.status in ("ok", "partial", "rotation_only", "static")

    @property
    def has_translation(self) -> bool:
        return self.status in ("ok", "partial")


def scale_intrinsics(K: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """K of an image resized by ``(sx, sy)``. Continuous pixel coordinates with pixel centres at ``+0.5`` (the
    convention of :func:`synth.core.intrinsics.intrinsics_from_lens` and of COLMAP), so every entry simply scales."""
    K2 = np.array(K, dtype=np.float64, copy=True)
    K2[0] *= sx
    K2[1] *= sy
    return K2


def _nan_estimate(status: str, idx: np.ndarray, msg: str, t0: float, K=None) -> PoseEstimate:
    n = len(idx)
    return PoseEstimate(status, idx, np.full((n, 4, 4), np.nan), np.zeros(n, bool), message=msg,
                        seconds=time.perf_counter() - t0, K=K)


def _resize(frames: np.ndarray, K: np.ndarray, max_size: int):
    from PIL import Image

    h, w = frames.shape[1:3]
    s = 1.0 if max_size <= 0 or max(h, w) <= max_size else max_size / max(h, w)
    if s == 1.0:
        return frames, np.asarray(K, np.float64)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    out = np.stack([np.asarray(Image.fromarray(f).resize((nw, nh), Image.BOX)) for f in frames])
    return out, scale_intrinsics(K, nw / w, nh / h)


def homography_rotation(H: np.ndarray, K: np.ndarray):
    """The rotation a homography implies for a purely rotating camera, and how far it is from one.

    For a camera rotating by ``R`` (cam_b from cam_a) with intrinsics ``K``, ``x_b ~ K R K^-1 x_a``, so
    ``M = K^-1 H K`` scaled to ``det(M) = 1`` (fixing H's scale and sign) is ``R``. A camera translating by ``t``
    in front of a plane (normal ``n``, distance ``d``) gives ``M = R + t n^T / d`` instead (Hartley & Zisserman,
    eq. 13.2): not a rotation.

    Args:
        H: ``(3, 3)`` homography mapping pixels of image a to image b.
        K: ``(3, 3)`` intrinsics of both images (pixels).

    Returns:
        ``(R (3, 3) nearest rotation to M, nonrigidity = max_i |sigma_i(M) - 1|)`` (0 for a pure rotation; about
        ``|t| / (2 d)`` to ``|t| / d`` for a translation).
    """
    m = np.linalg.inv(K) @ np.asarray(H, np.float64) @ K
    m = m / np.cbrt(np.linalg.det(m))
    return nearest_rotation(m), float(np.abs(np.linalg.svd(m, compute_uv=False) - 1.0).max())


def rotation_from_matches(pa: np.ndarray, pb: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Least-squares rotation ``R`` (cam_b from cam_a) of a purely rotating camera from matched pixels.

    Bearings ``x = normalise(K^-1 [u, v, 1])`` satisfy ``x_b = R x_a``; ``R`` solves Wahba's problem by SVD
    (Kabsch). 3 degrees of freedom instead of a homography's 8: measured on the 832x480 study, the largest
    rotation error of pans / tilts fell from 0.1-9.5 deg (``homography_rotation``) to 0.05-0.9 deg.

    Args:
        pa, pb: ``(N, 2)`` pixel coordinates (N >= 2, inliers of a homography) in images a and b.
        K: ``(3, 3)`` intrinsics of both images.
    """
    Kinv = np.linalg.inv(K)

    def bearings(p):
        x = np.c_[np.asarray(p, np.float64), np.ones(len(p))] @ Kinv.T
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    u, _, vt = np.linalg.svd(bearings(pb).T @ bearings(pa))
    return u @ np.diag([1.0, 1.0, np.linalg.det(u @ vt)]) @ vt


def _rotation_fallback(db_path: Path, names: Sequence[str], K: np.ndarray, opts: PoseOptions):
    """Chain frame-to-frame rotations of a purely rotating camera from COLMAP's stored matches: a homography's
    RANSAC inliers, then :func:`rotation_from_matches` on them.

    Returns ``(rotations (N, 3, 3) c2w relative to frame 0 or None, median fraction of matches a homography
    explains within 1 px per 512 px of image, message, median over consecutive frames of the largest
    |singular value - 1| of ``K^-1 H K`` scaled to det 1)``. The last is ~0 for a rotation (``K^-1 H K = R``); a
    camera translating in front of a plane gives a homography too, ``K^-1 H K = R + t n^T / d``, and it grows with
    ``|t| / d``."""
    import pycolmap

    db = pycolmap.Database.open(str(db_path))
    try:
        ids = {im.name: im.image_id for im in db.read_all_images()}
        cam = db.read_all_cameras()[0]
        tight = max(cam.width, cam.height) / 512.0
        rots, fits, devs = [np.eye(3)], [], []
        for a, b in zip(names[:-1], names[1:]):
            ia, ib = ids[a], ids[b]
            m = db.read_matches(ia, ib) if db.exists_matches(ia, ib) else np.zeros((0, 2), np.uint32)
            if len(m) < opts.min_matches:
                return None, 0.0, f"{len(m)} matches between {a} and {b} (< {opts.min_matches})", np.nan
            ka, kb = db.read_keypoints(ia)[:, :2], db.read_keypoints(ib)[:, :2]
            pa, pb = ka[m[:, 0]].astype(np.float64), kb[m[:, 1]].astype(np.float64)
            ransac = pycolmap.RANSACOptions()
            ransac.max_error = 4.0
            ransac.random_seed = opts.seed
            res = pycolmap.estimate_homography_matrix(pa, pb, ransac)
            if res is None or int(res["num_inliers"]) < opts.min_matches:
                return None, 0.0, f"no homography between {a} and {b}", np.nan
            H = np.asarray(res["H"])
            q = np.c_[pa, np.ones(len(pa))] @ H.T
            fits.append(float(np.mean(np.linalg.norm(q[:, :2] / q[:, 2:] - pb, axis=1) < tight)))
            _, dev = homography_rotation(H, K)
            devs.append(dev)
            inl = np.asarray(res["inlier_mask"], bool).reshape(-1)
            r_ba = rotation_from_matches(pa[inl], pb[inl], K)
            rots.append(rots[-1] @ r_ba.T)
        return np.stack(rots), float(np.median(fits)), "", float(np.median(devs))
    finally:
        db.close()


def estimate_poses(frames: np.ndarray, K: np.ndarray, options: PoseOptions = PoseOptions(),
                   frame_indices: Optional[Sequence[int]] = None, workdir: Optional[Path] = None) -> PoseEstimate:
    """Estimate per-frame c2w of a clip with COLMAP, frame 0 fixed at the identity.

    Args:
        frames: ``(N, H, W, 3)`` uint8 RGB, already subsampled (``options.stride`` is not applied here).
        K: ``(3, 3)`` pinhole intrinsics in pixels of ``frames`` (fx, fy ~ equal; SIMPLE_PINHOLE uses their mean).
        options: see :class:`PoseOptions`.
        frame_indices: video frame index of each frame (default ``0..N-1``), stored in the result.
        workdir: where COLMAP's images and database go (default: a temporary folder, deleted afterwards).

    Returns:
        :class:`PoseEstimate` (never raises for a bad clip; ``status`` says what happened).
    """
    t0 = time.perf_counter()
    frames = np.asarray(frames)
    idx = np.asarray(frame_indices if frame_indices is not None else range(len(frames)), dtype=int)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) < 2:
        return _nan_estimate("failed", idx, f"need (N>=2, H, W, 3) frames, got shape {frames.shape}", t0)
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="recam_poses_") as tmp:
            return _estimate(frames, K, options, idx, Path(tmp), t0)
    return _estimate(frames, K, options, idx, Path(workdir), t0)


def _estimate(frames, K, opts: PoseOptions, idx, work: Path, t0) -> PoseEstimate:
    import pycolmap
    from PIL import Image

    pycolmap.logging.minloglevel = 2  # COLMAP's INFO lines would flood the job's output
    try:
        frames, Ks = _resize(frames, K, opts.max_size)
        img_dir = work / "images"
        img_dir.mkdir(parents=True, exist_ok=True)
        names = [f"{i:05d}.png" for i in idx]
        for name, f in zip(names, frames):
            Image.fromarray(f).save(img_dir / name, compress_level=1)
        db_path = work / "database.db"
        if db_path.exists():
            db_path.unlink()
        pycolmap.set_random_seed(opts.seed)
        reader = pycolmap.ImageReaderOptions()
        reader.camera_model = "SIMPLE_PINHOLE"
        f = 0.5 * (Ks[0, 0] + Ks[1, 1])
        reader.camera_params = f"{f},{Ks[0, 2]},{Ks[1, 2]}"
        ext = pycolmap.FeatureExtractionOptions()
        ext.num_threads = opts.num_threads
        ext.use_gpu = False
        ext.sift.max_num_features = opts.max_features
        ext.sift.first_octave = opts.first_octave
        ext.sift.estimate_affine_shape = opts.affine_shape
        ext.sift.domain_size_pooling = opts.domain_size_pooling
        pycolmap.extract_features(db_path, img_dir, image_names=names, camera_mode=pycolmap.CameraMode.SINGLE,
                                  reader_options=reader, extraction_options=ext, device=pycolmap.Device.cpu)
        db = pycolmap.Database.open(str(db_path))
        try:
            nfeat = [db.num_keypoints_for_image(im.image_id) for im in db.read_all_images()]
        finally:
            db.close()
        if not nfeat or np.median(nfeat) < opts.min_features:
            return _nan_estimate("not_estimable", idx, f"too little texture: median {np.median(nfeat or [0]):.0f} "
                                 f"SIFT features per frame (< {opts.min_features})", t0, Ks)
        match = pycolmap.FeatureMatchingOptions()
        match.num_threads = opts.num_threads
        match.use_gpu = False
        match.guided_matching = opts.guided_matching
        pairing = pycolmap.SequentialPairingOptions()
        pairing.overlap = opts.overlap
        pairing.num_threads = opts.num_threads
        verify = pycolmap.TwoViewGeometryOptions()
        verify.ransac.random_seed = opts.seed
        pycolmap.match_sequential(db_path, matching_options=match, pairing_options=pairing,
                                  verification_options=verify, device=pycolmap.Device.cpu)
        recs = _map(db_path, img_dir, work / "sparse", names, opts)
        est = _from_reconstruction(recs, names, idx, opts)
        rots, h_fit, why, h_dev = _rotation_fallback(db_path, names, Ks, opts)
        if est is not None:
            est.seconds, est.K = time.perf_counter() - t0, Ks
            baseline = np.nanmax(np.linalg.norm(est.c2w[:, :3, 3], axis=1))
            est.extra["baseline_over_depth"] = float(baseline / est.frame0_depth)
            est.extra["homography_fit"] = h_fit
            est.extra["homography_nonrigidity"] = h_dev
            no_parallax = (baseline < opts.min_baseline * est.frame0_depth
                           or est.extra["num_points3D"] < opts.min_points)
            if rots is not None and h_fit >= opts.homography_fit and h_dev <= opts.max_nonrigidity:
                # homography-dominant clip whose homographies are rotations: SfM's rotations must agree with them
                # (a pan's SfM solution has arbitrary positions and can drag the rotations with it)
                ok = est.registered
                tr = np.einsum("nji,nji->n", rots[ok], est.c2w[ok, :3, :3])
                dis = float(np.degrees(np.arccos(np.clip((tr - 1) / 2, -1, 1))).max())
                est.extra["sfm_vs_homography_deg"] = dis
                no_parallax = no_parallax or dis > opts.max_disagreement_deg
            if not no_parallax or rots is None:
                return est
        if rots is None:
            return _nan_estimate("not_estimable", idx, f"SfM failed and no rotation-only fallback: {why}", t0, Ks)
        c2w = np.tile(np.eye(4), (len(idx), 1, 1))
        c2w[:, :3, :3] = rots
        c2w[:, :3, 3] = np.nan
        ang = np.degrees(np.arccos(np.clip((np.trace(rots, axis1=1, axis2=2) - 1) / 2, -1, 1)))
        status = "static" if ang.max() < opts.static_deg else "rotation_only"
        why_sfm = "SfM could not initialise" if est is None else "SfM found no parallax"
        return PoseEstimate(status, idx, c2w, np.ones(len(idx), bool), message=
                            f"{why_sfm}; rotations from homographies "
                            f"(max {ang.max():.2f} deg from frame 0)", seconds=time.perf_counter() - t0, K=Ks,
                            extra={**(est.extra if est is not None else {}), "homography_fit": h_fit,
                                   "homography_nonrigidity": h_dev})
    except Exception as e:  # noqa: BLE001 - a clip's failure is reported, never raised
        return _nan_estimate("failed", idx, f"{type(e).__name__}: {e}", t0)


def _map(db_path: Path, img_dir: Path, out: Path, names, opts: PoseOptions):
    import pycolmap

    out.mkdir(parents=True, exist_ok=True)
    refine = opts.refine_intrinsics
    if opts.mapper == "incremental":
        o = pycolmap.IncrementalPipelineOptions()
        o.num_threads = opts.num_threads
        o.random_seed = opts.seed
        o.ba_refine_focal_length = refine
        o.ba_refine_principal_point = False
        o.ba_refine_extra_params = False
        o.mapper.abs_pose_refine_focal_length = refine
        o.mapper.abs_pose_refine_extra_params = False
        o.min_model_size = 3
        return pycolmap.incremental_mapping(db_path, img_dir, out, options=o)
    o = pycolmap.GlobalPipelineOptions()
    o.num_threads = opts.num_threads
    o.random_seed = opts.seed
    o.mapper.num_threads = opts.num_threads
    o.mapper.random_seed = opts.seed
    ba = o.mapper.bundle_adjustment
    ba.refine_focal_length = refine
    ba.refine_principal_point = False
    ba.refine_extra_params = False
    o.mapper.global_positioning.use_gpu = False
    ba.ceres.use_gpu = False
    return pycolmap.global_mapping(db_path, img_dir, out, options=o)


def _from_reconstruction(recs, names, idx, opts: PoseOptions) -> Optional[PoseEstimate]:
    """Poses of the largest reconstruction holding frame 0, or None when it registers too few frames."""
    best = None
    for rec in (recs or {}).values():
        reg = {rec.image(i).name for i in rec.reg_image_ids()}
        if names[0] in reg and (best is None or len(reg) > best[1]):
            best = (rec, len(reg))
    if best is None or best[1] < max(2, opts.min_registered * len(names)):
        return None
    rec = best[0]
    by_name = {rec.image(i).name: rec.image(i) for i in rec.reg_image_ids()}
    n = len(names)
    c2w = np.full((n, 4, 4), np.nan)
    registered = np.zeros(n, bool)
    for k, name in enumerate(names):
        im = by_name.get(name)
        if im is None:
            continue
        w2c = np.eye(4)
        w2c[:3, :4] = im.cam_from_world().matrix()
        c2w[k] = np.linalg.inv(w2c)
        registered[k] = True
    ref = np.linalg.inv(c2w[0])
    c2w = np.einsum("ij,njk->nik", ref, c2w)
    # median depth of the 3D points observed in frame 0 (for a metric-scale sanity check)
    im0 = by_name[names[0]]
    w2c0 = np.eye(4)
    w2c0[:3, :4] = im0.cam_from_world().matrix()
    pts = [rec.point3D(p.point3D_id).xyz for p in im0.points2D if p.has_point3D()]
    depth = float(np.median((np.asarray(pts) @ w2c0[:3, :3].T + w2c0[:3, 3])[:, 2])) if pts else float("nan")
    status = "ok" if registered.all() else "partial"
    msg = "" if status == "ok" else f"SfM registered {registered.sum()}/{n} frames"
    # the sparse point cloud in frame 0's camera frame (same units as c2w), with colours (recam studio draws it)
    ids = list(rec.point3D_ids()) if hasattr(rec, "point3D_ids") else list(rec.points3D)
    xyz = np.array([rec.point3D(i).xyz for i in ids], dtype=np.float64).reshape(-1, 3)
    rgb = np.array([rec.point3D(i).color for i in ids], dtype=np.uint8).reshape(-1, 3)
    return PoseEstimate(status, idx, c2w, registered, frame0_depth=depth, message=msg,
                        extra={"num_points3D": int(rec.num_points3D()), "mapper": opts.mapper,
                               "points_xyz": xyz @ w2c0[:3, :3].T + w2c0[:3, 3], "points_rgb": rgb})


def estimate_video_poses(path: Path, K: np.ndarray, options: PoseOptions = PoseOptions(),
                         num_frames: Optional[int] = None, workdir: Optional[Path] = None) -> PoseEstimate:
    """:func:`estimate_poses` on frames ``0, stride, ...`` of a video file (all of them, or the first
    ``num_frames`` video frames). ``K`` is in pixels of the video. An unreadable video gives status ``failed``."""
    from .video_io import VideoReadError, read_video

    t0 = time.perf_counter()
    try:
        frames, _ = read_video(Path(path), None, start=0, stride=options.stride)
    except VideoReadError as e:
        return _nan_estimate("failed", np.zeros(0, int), str(e), t0)
    idx = np.arange(len(frames)) * options.stride
    if num_frames is not None:
        keep = idx < num_frames
        frames, idx = frames[keep], idx[keep]
    est = estimate_poses(frames, K, options, idx, workdir)
    est.seconds = time.perf_counter() - t0
    return est
