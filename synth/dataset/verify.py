"""``synth verify``: an independent geometric check of a rendered dataset.

The unit of work is a scene (:func:`verify_scene`). By default (``method="given"``) the written poses and intrinsics
are tested against correspondences measured in the pixels (:mod:`synth.dataset.verify_given`: no pose is estimated,
so nothing has to converge). The SfM comparison below is kept as a second opinion (``method="both"``) and on request
(``method="sfm"``); ``recam eval`` uses the same estimator.

SfM comparison: for each camera video, poses are estimated from the pixels alone (COLMAP through :mod:`synth.core.pose_estimation`, known
intrinsics from the lens folder) and compared with ``cameras/camera_extrinsics.json`` after a similarity alignment
(:func:`synth.core.camera_metrics.align_sim3`; SfM has no scale and its own world frame). Wrong axes or a mirrored yaw show
as rotation error, a frame offset or wrong timing as rotation / translation error along the clip, a wrong field of
view as both, and wrong units as an implausible metric depth of the scene (the alignment's scale times the SfM depth
of the points seen in frame 0, compared with the camera's distance to the character from ``scene.json``, or with an
absolute range without it).

Cameras whose poses cannot be estimated (static, a pure pan or tilt: no parallax; textureless) are compared on
rotation only, or reported ``not_estimable``; those are never flagged. Everything per camera goes to a CSV (one
row per camera, written atomically after each camera, so an interrupted run resumes), the estimated poses
(``poses/<lens>_<scene>_<cam>.npz``), one plot per scene of the estimated vs written trajectories, and
``verify_summary.json``.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..core.atomic import atomic_write_text
from ..core.intrinsics import intrinsics_from_lens
from ..core.intrinsics_file import read_camera_intrinsics
from ..core.units import SENSOR_MM
from ..core.layout import CAMERA_INTRINSICS_JSON, CAMERA_JSON, SCENE_JSON, VIDEOS_DIR, parse_lens_dir_name
from ..core.multicam_format import DatasetFormatError, iter_scene_dirs, load_camera_extrinsics, read_scene_spec
from ..core.poses import Poses
from ..core.scene_spec import SceneSpec

__all__ = ["VerifyThresholds", "CameraCheck", "VerifyItem", "list_items", "select_items", "verify_camera",
           "verify_scene", "camera_K", "compare_camera", "run_verify", "plot_scene_checks", "save_estimate",
           "load_estimate", "CSV_FIELDS"]


@dataclass(frozen=True)
class VerifyThresholds:
    """Limits beyond which a camera is flagged (measured on embedded-renderer scenes; docs/evaluation.md).

    Attributes:
        rot_deg: largest per-frame rotation error after alignment (degrees).
        trans_rel: largest per-frame camera-position error after alignment, as a fraction of the written
            trajectory's extent (largest distance from its frame 0).
        min_extent_m: written trajectories moving less than this (metres) are not checked on translation.
        static_extent_m: written trajectories moving less than this (metres) are not checked on scale either.
        depth_ratio: ``(low, high)`` plausible ratio of the aligned scene depth in frame 0 to the camera's distance
            to the character (scene.json); outside it the units are wrong.
        depth_m: ``(low, high)`` plausible aligned scene depth in metres when scene.json has no distance.
    """

    rot_deg: float = 3.0
    trans_rel: float = 0.2
    min_extent_m: float = 0.2
    static_extent_m: float = 1e-3
    depth_ratio: Tuple[float, float] = (0.2, 50.0)
    depth_m: Tuple[float, float] = (0.5, 1000.0)


CSV_FIELDS = ["scene", "camera", "family", "status", "flagged", "reasons", "frames", "gp_pairs", "gp_bad_pairs",
              "gp_worst_median_px", "gp_min_inlier_frac", "gp_min_front_frac", "cross_pairs", "cross_bad",
              "cross_with", "depth_pairs", "depth_bad", "depth_median_px", "char_px", "sfm_status", "sfm_reasons",
              "gt_rot_deg", "gt_extent_m",
              "max_rot_err_deg", "mean_rot_err_deg", "max_trans_err_rel", "mean_trans_err_rel", "scale",
              "depth_m", "distance_m", "rot_err_rad", "trans_err", "cammc", "seconds", "message"]


@dataclass
class CameraCheck:
    """Verification of one camera (a CSV row plus curves for the plot)."""

    scene: str
    camera: str
    family: str = ""
    status: str = ""
    flagged: bool = False
    reasons: str = ""
    frames: int = 0
    gp_pairs: int = 0
    gp_bad_pairs: int = 0
    gp_worst_median_px: float = math.nan
    gp_min_inlier_frac: float = math.nan
    gp_min_front_frac: float = math.nan
    cross_pairs: int = 0
    cross_bad: int = 0
    cross_with: str = ""
    depth_pairs: int = 0
    depth_bad: int = 0
    depth_median_px: float = math.nan
    char_px: float = math.nan
    sfm_status: str = ""
    sfm_reasons: str = ""
    gt_rot_deg: float = math.nan
    gt_extent_m: float = math.nan
    max_rot_err_deg: float = math.nan
    mean_rot_err_deg: float = math.nan
    max_trans_err_rel: float = math.nan
    mean_trans_err_rel: float = math.nan
    scale: float = math.nan
    depth_m: float = math.nan
    distance_m: float = math.nan
    rot_err_rad: float = math.nan
    trans_err: float = math.nan
    cammc: float = math.nan
    seconds: float = 0.0
    message: str = ""
    gt_centres: Optional[np.ndarray] = field(default=None, repr=False)
    est_centres: Optional[np.ndarray] = field(default=None, repr=False)
    rot_err_curve: Optional[np.ndarray] = field(default=None, repr=False)
    estimate: Optional[object] = field(default=None, repr=False)  # synth.core.pose_estimation.PoseEstimate

    def row(self) -> Dict[str, str]:
        d = asdict(self)
        out = {}
        for k in CSV_FIELDS:
            v = d[k]
            out[k] = f"{v:.6g}" if isinstance(v, float) else str(v)
        return out


@dataclass(frozen=True)
class VerifyItem:
    """One camera video to verify."""

    scene_dir: Path
    scene: str  # relative to the dataset's train/ folder, e.g. f18_aperture10/scene0
    camera: str


def list_items(root: Path) -> List[VerifyItem]:
    """Every camera video of every scene under ``root`` (a dataset root or one scene folder), sorted.

    Raises:
        DatasetFormatError: no scene found, or a scene without its camera JSON.
    """
    root = Path(root)
    scenes = [root] if (root / CAMERA_JSON).is_file() else list(iter_scene_dirs(root))
    if not scenes:
        raise DatasetFormatError(f"{root}: no scene folders (expected {root}/train/<lens>/scene<N>/ or one scene "
                                 f"folder with {CAMERA_JSON})")
    items = []
    for s in scenes:
        if not (s / CAMERA_JSON).is_file():
            raise DatasetFormatError(f"{s / CAMERA_JSON}: missing")
        rel = f"{s.parent.name}/{s.name}"
        for v in sorted((s / VIDEOS_DIR).glob("cam*.mp4")):
            items.append(VerifyItem(s, rel, v.stem))
    return items


def _lens_mm(scene_dir: Path, spec: Optional[SceneSpec]) -> Tuple[float, float]:
    """``(focal length, sensor width)`` in mm: from ``scene.json``, else the lens folder's name and the MultiCamVideo
    sensor (official scenes)."""
    if spec is not None:
        return spec.lens.focal_length_mm, spec.lens.sensor_mm
    lens = parse_lens_dir_name(scene_dir.parent.name)
    if lens is None:
        raise DatasetFormatError(f"{scene_dir}: focal length unknown (no scene.json lens and the folder "
                                 f"{scene_dir.parent.name!r} is not f<mm>_aperture<f>)")
    return lens[0], SENSOR_MM


def camera_K(scene_dir: Path, spec: Optional[SceneSpec], camera: str, frame: int, width: int,
             height: int) -> np.ndarray:
    """The ONE place verify gets a camera's intrinsics: ``(3, 3)`` K in pixels of a ``width`` x ``height`` video at
    ``frame``: the per-frame K of ``cameras/camera_intrinsics.json`` where the scene has one (zoom / dolly-zoom
    cameras; rescaled from the file's ``width x height`` to the video's), else the scene's lens (the same for every
    camera and frame).

    Raises:
        DatasetFormatError: a malformed intrinsics file, a camera or frame missing from it (names file and field).
    """
    path = Path(scene_dir) / CAMERA_INTRINSICS_JSON
    try:
        stamp = path.stat().st_mtime_ns
    except FileNotFoundError:
        stamp = None
    intr = None if stamp is None else _read_intrinsics(str(path), stamp)
    if intr is None:
        return intrinsics_from_lens(*_lens_mm(scene_dir, spec), width, height)
    if camera not in intr.cameras:
        raise DatasetFormatError(f"{Path(scene_dir) / CAMERA_INTRINSICS_JSON}: camera {camera!r} missing "
                                 f"(cameras: {intr.cameras})")
    Ks = intr.camera(camera)
    if not 0 <= frame < len(Ks):
        raise DatasetFormatError(f"{Path(scene_dir) / CAMERA_INTRINSICS_JSON}: {camera} has {len(Ks)} frames, "
                                 f"frame {frame} asked for")
    return np.diag([width / intr.width, height / intr.height, 1.0]) @ Ks[frame]


@functools.lru_cache(maxsize=16)
def _read_intrinsics(path: str, mtime_ns: int):
    """A parsed ``camera_intrinsics.json``, cached by path and modification time (K is asked per camera and frame;
    a rewritten file is read again)."""
    return read_camera_intrinsics(path)


def _angles_deg(r_a: np.ndarray, r_b: np.ndarray) -> np.ndarray:
    tr = np.einsum("nji,nji->n", r_a, r_b)
    return np.degrees(np.arccos(np.clip((tr - 1) / 2, -1, 1)))


def _load_camera(item: VerifyItem):
    """``(Poses of the camera JSON, K at the video's size, scene.json camera entry, video path)``."""
    from synth.core.video_io import probe_video

    spec = read_scene_spec(item.scene_dir) if (item.scene_dir / SCENE_JSON).is_file() else None
    cam_spec = {c.name: c for c in spec.cameras}.get(item.camera) if spec is not None else None
    cmeta = {"trajectory": cam_spec.family, "params": cam_spec.params} if cam_spec is not None else {}
    cams = load_camera_extrinsics(item.scene_dir / CAMERA_JSON)
    if item.camera not in cams:
        raise DatasetFormatError(f"{item.scene_dir / CAMERA_JSON}: no camera {item.camera}")
    video = item.scene_dir / VIDEOS_DIR / f"{item.camera}.mp4"
    info = probe_video(video)
    K = camera_K(item.scene_dir, spec, item.camera, 0, info.width, info.height)
    poses = Poses.from_upstream_c2w(cams[item.camera], f"{item.scene_dir / CAMERA_JSON}: {item.camera}")
    return poses, K, cmeta, video


def verify_camera(item: VerifyItem, options=None, thresholds: VerifyThresholds = VerifyThresholds(),
                  estimate=None, second_opinion: bool = True) -> CameraCheck:
    """Estimate one camera's poses from its video and compare them with its camera JSON (never raises for a bad
    clip: the status and message say what happened).

    Args:
        options: :class:`synth.core.pose_estimation.PoseOptions` (default: its defaults).
        estimate: a :class:`synth.core.pose_estimation.PoseEstimate` of this video already made (skips the estimation).
        second_opinion: when flagged, estimate again (half the stride, the other mapper, guided matching with twice
            the features, full resolution; stopping at the first that agrees) and flag only if no second estimate
            checks the file and agrees with it.
    """
    from ..core.pose_estimation import PoseOptions, estimate_video_poses
    from synth.core.video_io import VideoReadError

    options = options or PoseOptions()
    t0 = time.perf_counter()
    try:
        poses, K, cmeta, video = _load_camera(item)
    except (DatasetFormatError, VideoReadError, ValueError, OSError) as e:
        return CameraCheck(item.scene, item.camera, status="failed", message=str(e), flagged=True,
                           reasons="unreadable")
    est = estimate if estimate is not None else estimate_video_poses(video, K, options)
    chk = compare_camera(item, poses, cmeta, est, thresholds)
    chk.estimate = est
    if chk.flagged and second_opinion:
        # SfM sometimes converges to a wrong solution on repetitive texture (bricks, grass) or a close moving
        # character (measured: ~10 % of embedded cameras at 480 px): a file is flagged only if second estimates --
        # denser frames (smaller motion between them), the other mapper, guided matching with twice the features,
        # full resolution -- cannot check it or disagree with it too (the last two: 3 of the 5 cameras that the first
        # two left flagged in the 832x480 study, docs/evaluation.md)
        from synth.core.video_io import probe_video

        others = [options.replace(stride=options.stride // 2)] if options.stride > 1 else []
        others.append(options.replace(mapper="incremental" if options.mapper == "global" else "global"))
        others.append(options.replace(guided_matching=True, max_features=2 * options.max_features))
        info = probe_video(video)
        if 0 < options.max_size < max(info.width, info.height):
            others.append(options.replace(max_size=0))
        notes = []
        for other in others:
            est2 = estimate_video_poses(video, K, other)
            chk2 = compare_camera(item, poses, cmeta, est2, thresholds)
            checked = np.isfinite(chk2.max_rot_err_deg) and (est2.has_translation
                                                             or chk2.gt_extent_m < thresholds.min_extent_m)
            what = (f"{other.mapper} mapper, stride {other.stride}"
                    + (", guided matching" if other.guided_matching and not options.guided_matching else "")
                    + (", full resolution" if other.max_size != options.max_size else ""))
            if checked and not chk2.flagged:  # an estimate that could not check the file is no second opinion
                chk2.message = (f"first estimate ({options.mapper} mapper, stride {options.stride}: {chk.status}) "
                                f"flagged {chk.reasons}; {what} agrees with the file. " + chk2.message).strip()
                chk2.estimate = est2
                chk = chk2
                break
            notes.append(f"{what} {'also flags it (' + chk2.reasons + ')' if chk2.flagged else 'cannot check it'}")
        else:
            chk.message = "; ".join([m for m in (chk.message, *notes) if m])
    chk.seconds = time.perf_counter() - t0
    return chk


def compare_camera(item: VerifyItem, poses: Poses, cmeta: dict, est,
                   thresholds: VerifyThresholds = VerifyThresholds()) -> CameraCheck:
    """Compare a pose estimate with the written trajectory ``poses`` (metres) of the camera; ``cmeta`` is the
    camera's scene.json entry (``trajectory``, ``params.distance_to_character_m``)."""
    from ..core.camera_metrics import align_sim3, camera_metrics, relative_to_first

    chk = CameraCheck(item.scene, item.camera, family=str(cmeta.get("trajectory", "")), status=est.status,
                      message=est.message)
    dist = (cmeta.get("params") or {}).get("distance_to_character_m")
    chk.distance_m = float(dist) if dist else math.nan
    idx = est.frame_indices
    if len(idx) == 0 or idx.max() >= len(poses):
        chk.flagged, chk.reasons = (True, "frames") if len(idx) else (False, "")
        if len(idx):
            chk.message = (chk.message + f"; camera JSON has {len(poses)} frames, the video more").lstrip("; ")
        return chk
    gt = relative_to_first(poses.c2w[idx])  # relative poses: the world's handedness does not matter
    chk.frames = len(idx)
    chk.gt_rot_deg = float(_angles_deg(np.tile(np.eye(3), (len(gt), 1, 1)), gt[:, :3, :3]).max())
    chk.gt_extent_m = float(np.linalg.norm(gt[:, :3, 3], axis=1).max())
    chk.gt_centres = gt[:, :3, 3]
    if not est.has_rotation:
        return chk
    m = camera_metrics(gt, est.c2w)
    chk.rot_err_rad, chk.trans_err, chk.cammc = m.rot_err_rad, m.trans_err, m.cammc
    s, _, _, aligned = align_sim3(gt, est.c2w)
    ok = est.registered
    rot = np.full(len(gt), np.nan)
    rot[ok] = _angles_deg(gt[ok, :3, :3], aligned[ok, :3, :3])
    chk.rot_err_curve = rot
    chk.max_rot_err_deg, chk.mean_rot_err_deg = float(np.nanmax(rot)), float(np.nanmean(rot))
    reasons = []
    if not est.has_translation and chk.gt_extent_m >= thresholds.min_extent_m:
        # SfM failed on a camera written as translating: the homography rotations assume a pure rotation and are
        # biased here, so they cannot check the file (reported, not flagged)
        chk.message = (chk.message + "; written trajectory translates: rotation-only estimate, not verified")
        return chk
    if chk.max_rot_err_deg > thresholds.rot_deg:
        reasons.append("rotation")
    if est.has_translation and np.isfinite(s):
        chk.scale = s
        chk.est_centres = aligned[:, :3, 3]
        chk.depth_m = float(s * est.frame0_depth)
        if chk.gt_extent_m >= thresholds.min_extent_m:
            terr = np.linalg.norm(gt[:, :3, 3] - aligned[:, :3, 3], axis=1) / chk.gt_extent_m
            chk.max_trans_err_rel, chk.mean_trans_err_rel = float(np.nanmax(terr)), float(np.nanmean(terr))
            if chk.max_trans_err_rel > thresholds.trans_rel:
                reasons.append("translation")
        # the estimate moved (it passed the parallax gate): the scale it implies must give a plausible scene depth,
        # whatever the written extent (wrong units shrink or blow it up 100x) unless the file says it stands still
        if np.isfinite(chk.depth_m) and chk.gt_extent_m > thresholds.static_extent_m:
            if np.isfinite(chk.distance_m) and chk.distance_m > 0:
                lo, hi = thresholds.depth_ratio
                bad = not lo <= chk.depth_m / chk.distance_m <= hi
            else:
                lo, hi = thresholds.depth_m
                bad = not lo <= chk.depth_m <= hi
            if bad:
                reasons.append("scale")
    chk.flagged, chk.reasons = bool(reasons), "+".join(reasons)
    return chk


def verify_scene(scene_dir: Path, scene: str, cameras: Sequence[str], method: str = "given", options=None,
                 thresholds: VerifyThresholds = VerifyThresholds(), given=None) -> List[CameraCheck]:
    """Verify ``cameras`` of one scene folder (the unit of work: the cross-camera test needs the whole scene).

    Args:
        scene: the scene's name in the CSV (``<lens>/scene<N>``).
        method: ``given`` (given-pose residuals, :mod:`synth.dataset.verify_given`; the verdict), ``sfm`` (COLMAP
            estimate + Sim(3) comparison, :func:`verify_camera`; the verdict) or ``both`` (given-pose verdict, SfM
            reported beside it as a second opinion in ``sfm_status`` / ``sfm_reasons``).
        given: :class:`synth.dataset.verify_given.GivenPoseThresholds` (default: its defaults).

    Returns:
        one :class:`CameraCheck` per camera, in the order of ``cameras`` (never raises for a bad file: an unreadable
        scene gives ``failed`` rows, flagged ``unreadable``).
    """
    from synth.core.video_io import VideoReadError, probe_video, read_video

    from .verify_given import GivenPoseThresholds, judge_scene, measure_scene

    scene_dir = Path(scene_dir)
    items = [VerifyItem(scene_dir, scene, c) for c in cameras]
    if method == "sfm":
        return [verify_camera(it, options, thresholds) for it in items]
    t0 = time.perf_counter()
    try:
        info = probe_video(scene_dir / VIDEOS_DIR / f"{cameras[0]}.mp4")
        spec, c2w, K, target = scene_geometry(scene_dir, info.width, info.height)
        missing = [c for c in cameras if c not in c2w]
        if missing:
            raise DatasetFormatError(f"{scene_dir / CAMERA_JSON}: no camera {', '.join(missing)}")
        all_cams = sorted(c for c in c2w if (scene_dir / VIDEOS_DIR / f"{c}.mp4").is_file())
        depth_dir = scene_dir / "depth" if (scene_dir / "depth").is_dir() else None
        th = given or GivenPoseThresholds()
        meas = measure_scene(lambda c: read_video(scene_dir / VIDEOS_DIR / f"{c}.mp4")[0], all_cams, depth_dir, th)
        res = judge_scene(meas, c2w, K, target, th, stated_distances(spec), character_box(spec))
    except (DatasetFormatError, VideoReadError, ValueError, OSError) as e:
        return [CameraCheck(scene, c, status="failed", message=str(e), flagged=True, reasons="unreadable",
                            seconds=time.perf_counter() - t0) for c in cameras]
    return _given_checks(scene, cameras, spec, c2w, res, items, method, options, thresholds)


def scene_geometry(scene_dir: Path, width: int, height: int):
    """What a scene's files state: ``(SceneSpec or None, {camera: c2w (F, 4, 4) OpenCV, right-handed world,
    metres}, K(camera, frame) -> (3, 3) pixels of a width x height video, the character's aim point (3,) metres in
    that world or None)``.

    Raises:
        DatasetFormatError: unreadable camera JSON or scene.json (the message names the file and field).
    """
    from ..core.unreal import unreal_points_to_world

    spec = read_scene_spec(scene_dir) if (scene_dir / SCENE_JSON).is_file() else None
    cams = load_camera_extrinsics(scene_dir / CAMERA_JSON)
    c2w = {c: Poses.from_upstream_c2w(m, f"{scene_dir / CAMERA_JSON}: {c}").c2w for c, m in cams.items()}
    Ks: Dict[Tuple[str, int], np.ndarray] = {}

    def K(cam: str, frame: int) -> np.ndarray:
        if (cam, frame) not in Ks:
            Ks[(cam, frame)] = camera_K(scene_dir, spec, cam, frame, width, height)
        return Ks[(cam, frame)]

    target = unreal_points_to_world(np.asarray(spec.aim_point_cm)) if spec is not None else None
    return spec, c2w, K, target


def character_box(spec: Optional[SceneSpec]):
    """``(feet (3,) metres in the Poses world, height m)`` of the scene's character, or None without scene.json."""
    if spec is None:
        return None
    from ..core.unreal import unreal_points_to_world

    return unreal_points_to_world(np.asarray(spec.character_location_cm)), float(spec.character_height_m)


def stated_distances(spec: Optional[SceneSpec]) -> Dict[str, float]:
    """camera -> ``params.distance_to_character_m`` of ``scene.json`` (metres; empty without it)."""
    out = {}
    for c in (spec.cameras if spec is not None else []):
        d = (c.params or {}).get("distance_to_character_m")
        if isinstance(d, (int, float)) and d > 0:
            out[c.name] = float(d)
    return out


def _given_checks(scene, cameras, spec, c2w, res, items, method, options, thresholds) -> List[CameraCheck]:
    """CSV rows of the given-pose results ``res`` (with the SfM second opinion when ``method`` is ``both``)."""
    fams = {c.name: c.family for c in spec.cameras} if spec is not None else {}
    out = []
    for c in cameras:
        r = res[c]
        chk = CameraCheck(scene, c, family=fams.get(c, ""), status="checked" if r.pairs or r.cross_pairs
                          else "not_checkable", flagged=r.flagged, reasons="+".join(r.reasons), frames=len(c2w[c]),
                          gp_pairs=r.pairs, gp_bad_pairs=r.bad_pairs, gp_worst_median_px=r.worst_median_px,
                          gp_min_inlier_frac=r.min_inlier_frac, gp_min_front_frac=r.min_front_frac,
                          cross_pairs=r.cross_pairs, cross_bad=r.cross_bad, cross_with=r.cross_with,
                          depth_pairs=r.depth_pairs, depth_bad=r.depth_bad, depth_median_px=r.depth_median_px,
                          char_px=r.char_px, seconds=r.seconds, message=r.message)
        if method == "both":
            sfm = verify_camera(items[cameras.index(c)], options, thresholds)
            chk.sfm_status, chk.sfm_reasons = sfm.status, sfm.reasons
            chk.estimate = sfm.estimate
            for k in ("gt_rot_deg", "gt_extent_m", "max_rot_err_deg", "mean_rot_err_deg", "max_trans_err_rel",
                      "mean_trans_err_rel", "scale", "depth_m", "distance_m", "rot_err_rad", "trans_err", "cammc",
                      "gt_centres", "est_centres", "rot_err_curve"):
                setattr(chk, k, getattr(sfm, k))
            chk.seconds += sfm.seconds
        out.append(chk)
    return out


def _verify_worker(args):
    """One scene: ``(scene_dir, scene, cameras, method, options, thresholds, given)`` -> its checks."""
    return verify_scene(*args)


def _read_done(csv_path: Path) -> Dict[Tuple[str, str], Dict[str, str]]:
    if not csv_path.is_file():
        return {}
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {(r["scene"], r["camera"]): r for r in rows if r.get("scene") and r.get("camera")}


def _write_csv(path: Path, rows: Sequence[Dict[str, str]]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for r in sorted(rows, key=lambda r: (r["scene"], r["camera"])):
        w.writerow({k: r.get(k, "") for k in CSV_FIELDS})
    atomic_write_text(path, buf.getvalue())


def plot_scene_checks(checks: Sequence[CameraCheck], out_png: Path) -> Path:
    """One panel per camera: written (solid) vs estimated-and-aligned (dots) camera centres seen from above
    (x, z of the camera-0 frame, metres), or the per-frame rotation error when translation is not estimable."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(checks)
    cols = min(5, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    for ax, c in zip(axes.flat, checks):
        if c.gt_centres is not None and c.est_centres is not None:
            ax.plot(c.gt_centres[:, 0], c.gt_centres[:, 2], "-", color="C0", label="written")
            ax.plot(c.est_centres[:, 0], c.est_centres[:, 2], "o", ms=3, color="C3", label="estimated")
            ax.set_aspect("equal", adjustable="datalim")
            ax.set_xlabel("x (m)")
            ax.set_ylabel("z (m)")
        elif c.rot_err_curve is not None:
            ax.plot(c.rot_err_curve, "o-", ms=3, color="C3")
            ax.set_xlabel("sample")
            ax.set_ylabel("rot. error (deg)")
        else:
            ax.text(0.5, 0.5, c.status, ha="center", va="center", transform=ax.transAxes)
        colour = "red" if c.flagged else "black"
        ax.set_title(f"{c.camera} {c.family} [{c.status}] {c.reasons}\nworst median {c.gp_worst_median_px:.2f} px, "
                     f"bad pairs {c.gp_bad_pairs}/{c.gp_pairs}, cross {c.cross_bad}/{c.cross_pairs}", fontsize=8,
                     color=colour)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if axes.flat[0].get_legend_handles_labels()[0]:
        axes.flat[0].legend(fontsize=7)
    fig.suptitle(checks[0].scene if checks else "", fontsize=9)
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_png.with_name(f".{out_png.name}.tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    tmp.replace(out_png)
    return out_png


def save_estimate(path: Path, est) -> None:
    """A pose estimate as ``.npz`` (status, frame_indices, c2w relative to frame 0 in SfM units, registered,
    frame0_depth); read it back with :func:`load_estimate`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.npz")
    np.savez(tmp, status=np.array(est.status), frame_indices=est.frame_indices, c2w=est.c2w,
             registered=est.registered, frame0_depth=np.array(est.frame0_depth), message=np.array(est.message))
    tmp.replace(path)


def load_estimate(path: Path):
    """Inverse of :func:`save_estimate` (no pickles)."""
    from ..core.pose_estimation import PoseEstimate

    with np.load(path, allow_pickle=False) as z:
        return PoseEstimate(str(z["status"]), z["frame_indices"], z["c2w"], z["registered"],
                            float(z["frame0_depth"]), str(z["message"]))


def select_items(items: List[VerifyItem], shard: Tuple[int, int], sample: Optional[int], seed: int,
                 cameras: Optional[Sequence[str]] = None) -> List[VerifyItem]:
    """This shard's items (scenes ``k % n == i`` by position), only ``cameras`` if given, then a seeded sample of
    ``sample`` cameras."""
    i, n = shard
    scenes = sorted({it.scene for it in items})
    mine = {s for k, s in enumerate(scenes) if k % n == i}
    out = [it for it in items if it.scene in mine and (not cameras or it.camera in cameras)]
    if sample is not None and sample < len(out):
        out = sorted(random.Random(seed).sample(out, sample), key=lambda it: (it.scene, it.camera))
    return out


def _verify_worker_factory(ctx):
    """The execution layer's verify worker (module level, so processes and Ray actors can import it)."""
    return _verify_worker


def run_verify(items: Sequence[VerifyItem], out_dir: Path, options=None,
               thresholds: VerifyThresholds = VerifyThresholds(), workers: int = 1, csv_name: str = "verify.csv",
               on_done: Optional[Callable[[CameraCheck, bool], None]] = None, method: str = "given",
               given=None, engine=None) -> List[Dict[str, str]]:
    """Verify ``items`` scene by scene (:func:`verify_scene`; resuming from ``out_dir/csv_name``), write the CSV
    after each scene, one plot per scene and ``verify_summary.json``; ``on_done(check, skipped)`` after each camera.
    Returns the CSV rows of ``items``. The scenes run on the execution layer: ``engine``
    (:class:`synth.core.engine.EngineSettings`; None: this process for ``workers == 1``, else a process pool), each
    worker checking it sees ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / csv_name
    done = _read_done(csv_path)
    todo = [it for it in items if (it.scene, it.camera) not in done]
    for it in items:
        if (it.scene, it.camera) in done and on_done:
            on_done(None, True)
    scenes: Dict[str, List[VerifyItem]] = {}
    for it in todo:
        scenes.setdefault(it.scene, []).append(it)

    def finish(checks: List[CameraCheck]):
        for chk in checks:
            if chk.estimate is not None:
                save_estimate(out_dir / "poses" / f"{chk.scene.replace('/', '_')}_{chk.camera}.npz", chk.estimate)
            done[(chk.scene, chk.camera)] = chk.row()
        _write_csv(csv_path, list(done.values()))
        if checks:
            plot_scene_checks(sorted(checks, key=lambda c: c.camera),
                              out_dir / "plots" / (checks[0].scene.replace("/", "_") + ".png"))
        for chk in checks:
            if on_done:
                on_done(chk, False)

    from ..core.engine import EngineSettings, Job, run_job

    jobs = [(its[0].scene_dir, sc, [it.camera for it in its], method, options, thresholds, given)
            for sc, its in scenes.items()]
    job = Job("verify", jobs, _verify_worker_factory, workers, root=out_dir)
    for o in run_job(job, engine or EngineSettings()):
        if not o.ok:
            raise RuntimeError(f"{o.unit[1]}: {o.error}")
        finish(o.value)
    rows = [done[(it.scene, it.camera)] for it in items]
    write_summary(out_dir / "verify_summary.json", rows, thresholds, options)
    return rows


def write_summary(path: Path, rows: Sequence[Dict[str, str]], thresholds: VerifyThresholds, options) -> dict:
    """Counts by status, flagged cameras, and error medians / maxima per trajectory family."""
    fams: Dict[str, List[Dict[str, str]]] = {}
    for r in rows:
        fams.setdefault(r.get("family", ""), []).append(r)

    def stat(rs, key):
        v = [float(r[key]) for r in rs if r.get(key) not in (None, "", "nan")]
        v = [x for x in v if math.isfinite(x)]
        return {"n": len(v), "median": float(np.median(v)) if v else None, "max": max(v) if v else None}

    summary = {
        "cameras": len(rows),
        "flagged": [f"{r['scene']}/{r['camera']}: {r['reasons']}" for r in rows if r.get("flagged") == "True"],
        "status": {s: sum(r.get("status") == s for r in rows) for s in sorted({r.get("status") for r in rows})},
        "per_family": {f: {"cameras": len(rs), "max_rot_err_deg": stat(rs, "max_rot_err_deg"),
                           "max_trans_err_rel": stat(rs, "max_trans_err_rel"),
                           "status": {s: sum(r.get("status") == s for r in rs)
                                      for s in sorted({r.get("status") for r in rs})}}
                       for f, rs in sorted(fams.items())},
        "thresholds": asdict(thresholds),
        "pose_options": asdict(options) if options is not None else None,
    }
    atomic_write_text(path, json.dumps(summary, indent=1) + "\n")
    return summary
