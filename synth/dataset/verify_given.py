"""Given-pose verification of one scene: do the *written* poses and intrinsics explain the pixels?

No pose is estimated (no SfM, nothing to converge): correspondences are measured in the videos and tested against
the geometry the files state (:mod:`synth.core.given_pose`):

* **within a camera** (every frame): Lucas-Kanade tracks between consecutive frames and between frames ``window``
  apart; each pair's matches are tested with the rotation transfer ``K R K^-1`` when the written translation moves a
  point at the character's distance by at most ``max_parallax_px`` (pans, tilts, static cameras, long lenses),
  else with the Sampson distance to the written epipolar geometry and the cheirality of the translation's sign.
  A pair is *bad* when fewer than ``min_inlier_frac`` of its matches lie within ``match_px`` pixels, or when fewer
  than ``min_front_frac`` of those with parallax triangulate in front of both cameras. A camera with
  ``bad_pairs`` or more bad pairs is flagged ``frames`` (catches reversed frames, a mirrored yaw, a rotated frame,
  a wrong focal length on rotating cameras, a trajectory from another camera or scene).
* **parallax-bounded rotation** (within a camera, every pair, all matches: the character is not cut out): the median
  rotation-transfer residual may not exceed ``coarse_factor`` x the parallax ``f |t| / Z`` of the written
  translation at the character's distance ``Z`` + the character's own image motion (``char_step_m`` per frame) +
  ``coarse_px``; such a pair is bad too (:func:`_coarse_bad`), and ``bad_pairs`` of them flag ``frames`` on their
  own (a frame turned about the vertical axis of a sideways camera, where Sampson is blind, or of a camera whose view
  the character fills, where the box leaves no matches).
* **across cameras** (synchronised rendering: one instant is one rigid scene): SIFT matches between every two cameras
  at ``instants`` frames, kept where RANSAC finds *some* two-view geometry, tested with the Sampson distance
  (``cross_px``) and cheirality of the written relative pose at that instant; two cameras are compared where at
  least 2 instants gave ``min_cross_matches`` RANSAC-consistent matches (fewer are easily fitted by a wrong
  epipolar geometry: 7 degrees of freedom), and disagree where most of them are bad. A camera that disagrees with at
  least ``min_cross_disagree`` cameras and half of those it was compared with is flagged ``cross`` (swapped cameras,
  a camera from another scene, frames shifted in one camera,
  a wrong focal length, a mirrored yaw). The test assumes at most ``max_cross_wrong`` wrong camera files (a swap
  touches two): a wrong file contradicts only the pairs it belongs to, so when the disagreeing camera pairs cannot all
  be covered by ``max_cross_wrong`` cameras the disagreement is the matches' own (SIFT matches between cameras on a
  tiled texture that RANSAC fits with a wrong geometry; 4 correct cameras of one study scene, a grass field) and the
  test abstains for the scene (:func:`cross_cover`).
* **depth** (scenes rendered with ``--depth``): matched points lifted at their rendered depth (metres) and moved by the
  written metric poses must land on their match within ``depth_px``; flagged ``depth`` (wrong units, everything else).
* **focal scan** (pixels only, scene-wide): the matches of every camera's pairs ``window`` apart and across cameras
  are scored with all focal lengths scaled by each of ``focal_scales``; when another scale explains them better by
  more than ``focal_margin`` of the matches, every camera is flagged ``focal`` (:func:`_focal_scan`; the lens is
  the scene's, and static cameras cannot see theirs alone).
* **dense depth** (scenes with depth maps, no matching): at every ``dense_every``-th frame, every two cameras'
  depth maps are lifted into each other under the written poses; free-space violations (one camera would see
  through a surface the other says is there) flag ``dense`` (swaps, another scene, wrong focal length, units, a
  rotated frame); a photometric timing test flags a camera whose written pose of a neighbouring frame explains the
  other cameras' textures better than its own (frames shifted or reversed) (:func:`_dense`).
* **character** (``scene.json``): the character's aim point, at the written frame-0 pose, must be in front of the
  camera and inside the image widened by ``char_margin`` on each side (the recipe starts every camera with the
  character in view), and the camera at least ``min_char_distance_m`` from it horizontally (the recipe's closest
  distance), at the distance ``scene.json`` states within a factor ``distance_ratio``: flagged ``character``
  (metres written as centimetres, a camera from another scene).

Thresholds are in pixels of the video: at 832 px wide, 2 px is 0.18 deg of the 18 mm lens (fx = 630 px) and 0.07
deg of the 50 mm lens (fx = 1751 px); matcher noise on correct renders is 0.1-0.5 px (docs/evaluation.md).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..core.given_pose import (depth_consistency, gray, high_pass, lift_grid, match_sift, nearest_depth, pair_stats,
                               parallax_bound_px, relative_pose, rotation_transfer_px, sift_features, track_klt)

__all__ = ["GivenPoseThresholds", "GivenPoseResult", "SceneMeasurements", "measure_scene", "judge_scene", "check_scene",
           "cross_cover"]


@dataclass(frozen=True)
class GivenPoseThresholds:
    """Limits of the given-pose check (pixels of the video; fractions of matches). See the module docstring."""

    match_px: float = 2.0
    cross_px: float = 3.0
    depth_px: float = 3.0
    min_inlier_frac: float = 0.5
    min_front_frac: float = 0.5
    min_matches: int = 20
    min_cross_matches: int = 40
    min_cross_disagree: int = 2
    max_cross_wrong: int = 2
    max_parallax_px: float = 1.0
    bad_pairs: int = 2
    window: int = 4
    instants: int = 3
    char_margin: float = 0.25
    min_char_distance_m: float = 0.5
    char_box_m: float = 0.75
    distance_ratio: float = 1.25
    max_size: int = 512
    coarse_factor: float = 3.0
    coarse_px: float = 8.0
    char_step_m: float = 0.1
    dense_grid_cols: int = 69
    dense_every: int = 8
    dense_rel_tol: float = 0.05
    dense_max_violation: float = 0.05
    dense_min_points: int = 200
    dense_time_margin: float = 0.02
    focal_scales: Tuple[float, ...] = tuple(float(x) for x in np.geomspace(0.5, 2.0, 13))
    focal_margin: float = 0.02


@dataclass
class GivenPoseResult:
    """Given-pose verdict of one camera (its columns go to ``verify.csv``).

    With depth maps, a camera the dense test judged (``dense_pairs > 0``) has no matched-point depth test
    (``depth_pairs`` 0), and when it judged every camera of the scene the cross-camera and focal columns stay empty
    (0 / nan): the dense test replaces them there (:func:`judge_scene`).
    """

    camera: str
    reasons: List[str] = field(default_factory=list)
    pairs: int = 0
    bad_pairs: int = 0
    worst_median_px: float = math.nan
    min_inlier_frac: float = math.nan
    min_front_frac: float = math.nan
    cross_pairs: int = 0
    cross_bad: int = 0
    cross_with: str = ""
    coarse_bad: int = 0
    depth_pairs: int = 0
    depth_bad: int = 0
    depth_median_px: float = math.nan
    char_px: float = math.nan
    dense_pairs: int = 0
    dense_bad: int = 0
    dense_with: str = ""
    dense_max_violation: float = math.nan
    dense_time_delta: float = math.nan
    focal_best_scale: float = math.nan
    focal_margin: float = math.nan
    seconds: float = 0.0
    message: str = ""

    @property
    def flagged(self) -> bool:
        return bool(self.reasons)


def _bad(s, frac_min: float, front_min: float, n_min: int) -> Optional[bool]:
    """None: not enough matches to judge; else whether the pair contradicts the written geometry."""
    if s.n < n_min:
        return None
    return s.inlier_frac < frac_min or (s.front_n >= n_min and s.front_frac < front_min)


def _coarse_bad(K_a: np.ndarray, K_b: np.ndarray, c2w_a: np.ndarray, c2w_b: np.ndarray, x_a: np.ndarray,
                x_b: np.ndarray, dist_m: float, th: "GivenPoseThresholds", frames: int = 1) -> bool:
    """Whether the *median* rotation-transfer residual of all matches of a pair (the moving character included: no
    box is cut out, so a camera filled by the character is still tested) exceeds ``coarse_factor`` times the
    parallax ``f |t| / Z`` that the written translation gives a point at the character's distance ``dist_m``, plus
    the image motion ``f char_step_m frames / dist_m`` of the character itself over the pair's ``frames`` frames,
    plus ``coarse_px``: a depth-free, parallax-bounded rotation test of translating pairs (a wrong rotation of one frame
    moves the matches *along* a sideways camera's epipolar lines, where Sampson cannot see it, by ``f tan(err)``:
    110 px for 10 deg at fx = 630 px). False when fewer than ``min_matches`` matches."""
    if len(x_a) < th.min_matches:
        return False
    R, t = relative_pose(c2w_a, c2w_b)
    med = float(np.median(rotation_transfer_px(K_a, K_b, R, x_a, x_b)))
    char_px = K_a[0, 0] * th.char_step_m * abs(frames) / max(dist_m, 1e-9)
    return med > th.coarse_factor * parallax_bound_px(K_a, t, dist_m) + char_px + th.coarse_px


def _small_gray(rgb: np.ndarray, max_size: int) -> Tuple[List[np.ndarray], np.ndarray]:
    """Gray frames downscaled (area) so the long side is at most ``max_size`` (0: keep), and the ``(2,)`` scale
    (small / full, per axis) that maps continuous pixel coordinates between them exactly."""
    import cv2

    h, w = rgb.shape[1:3]
    f = min(1.0, max_size / max(w, h)) if max_size > 0 else 1.0
    sw, sh = max(1, round(w * f)), max(1, round(h * f))
    g = [gray(x) for x in rgb]
    if (sw, sh) != (w, h):
        g = [cv2.resize(x, (sw, sh), interpolation=cv2.INTER_AREA) for x in g]
    return g, np.array([sw / w, sh / h])


def _scaled_feats(feats, scale: np.ndarray):
    pts, des = feats
    return pts / scale, des


def _in_box(x: np.ndarray, K: np.ndarray, c2w: np.ndarray, character: Tuple[np.ndarray, float],
            half_m: float) -> np.ndarray:
    """``(N,)`` whether pixels ``x`` fall in the bounding rectangle (10 % margin) of the image of the box around the
    character (feet +- ``half_m`` horizontally, up to its height + ``half_m / 2``); all True when the camera is
    inside or beside the box (part of it behind the camera)."""
    from ..core.projection import project_points

    feet, height = character
    dx = np.array([-half_m, half_m])
    corners = np.array([[feet[0] + a, feet[1] + b, feet[2] + c] for a in dx for b in dx
                        for c in (-0.1, height + half_m / 2)])
    uv, z = project_points(K, c2w, corners)
    if not np.all(z > 0):
        return np.ones(len(x), bool)
    lo, hi = uv.min(0), uv.max(0)
    pad = 0.1 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    return np.all((x >= lo) & (x <= hi), axis=1)


def _read_depth(path: Path) -> Optional[np.ndarray]:
    import cv2

    if not path.is_file():
        return None
    mm = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return None if mm is None else mm.astype(np.float64) / 1000.0


@dataclass
class SceneMeasurements:
    """What the pixels of one scene give, independent of the written files (so several versions of the files can be
    judged against one measurement: :func:`judge_scene`).

    Attributes:
        frames: camera -> number of decoded frames.
        tracks: camera -> ``{(i, j): (x_i, x_j)}`` KLT correspondences (pixels of the video).
        cross: ``(cam_a, cam_b, frame) -> (x_a, x_b)`` SIFT correspondences between cameras at one instant.
        depth_dir: the scene's ``depth/`` folder, or None.
        seconds: camera -> seconds spent measuring it (its share of the cross-camera matching included).
        gray: ``(camera, frame) -> (h, w)`` uint8 grey frame downscaled to ``max_size`` at the dense instants
            (every ``window``-th frame and the last): the texture of the dense depth test (:func:`_dense`).
    """

    frames: Dict[str, int]
    tracks: Dict[str, Dict[Tuple[int, int], Tuple[np.ndarray, np.ndarray]]]
    cross: Dict[Tuple[str, str, int], Tuple[np.ndarray, np.ndarray]]
    depth_dir: Optional[Path]
    seconds: Dict[str, float]
    gray: Dict[Tuple[str, int], np.ndarray] = field(default_factory=dict)
    _depth: Dict[Tuple[str, int], Optional[np.ndarray]] = field(default_factory=dict, repr=False)
    _tex: Dict[Tuple[str, int], np.ndarray] = field(default_factory=dict, repr=False)
    _near: Dict[Tuple[str, int], np.ndarray] = field(default_factory=dict, repr=False)
    _grid: Dict[Tuple[str, int, bytes, int, float], Tuple[np.ndarray, np.ndarray, np.ndarray]] = field(
        default_factory=dict, repr=False)

    def grid(self, cam: str, frame: int, K: np.ndarray, stride: int, smooth_tol: float):
        """:func:`synth.core.given_pose.lift_grid` of a rendered depth map under ``K`` (cached per ``K``)."""
        key = (cam, frame, np.asarray(K, np.float64).tobytes(), stride, smooth_tol)
        if key not in self._grid:
            self._grid[key] = lift_grid(K, self.depth(cam, frame), stride, smooth_tol)
        return self._grid[key]

    def near(self, cam: str, frame: int) -> np.ndarray:
        """:func:`synth.core.given_pose.nearest_depth` of a rendered depth map (cached; the depth must exist)."""
        if (cam, frame) not in self._near:
            self._near[(cam, frame)] = nearest_depth(self.depth(cam, frame))
        return self._near[(cam, frame)]

    def texture(self, cam: str, frame: int) -> Optional[np.ndarray]:
        """High-passed grey frame (:func:`synth.core.given_pose.high_pass`) at a dense instant, or None (cached)."""
        if (cam, frame) not in self.gray:
            return None
        if (cam, frame) not in self._tex:
            self._tex[(cam, frame)] = high_pass(self.gray[(cam, frame)])
        return self._tex[(cam, frame)]

    def without_depth(self) -> "SceneMeasurements":
        """The same measurements judged as pixels only (no depth maps)."""
        return SceneMeasurements(self.frames, self.tracks, self.cross, None, self.seconds, self.gray)

    def depth(self, cam: str, frame: int) -> Optional[np.ndarray]:
        """Planar depth (metres, 0 = unknown) of a camera's frame, or None where not rendered (cached)."""
        if self.depth_dir is None:
            return None
        if (cam, frame) not in self._depth:
            self._depth[(cam, frame)] = _read_depth(self.depth_dir / cam / f"{frame:05d}.png")
        return self._depth[(cam, frame)]

    def save(self, path: Path) -> None:
        """As ``.npz`` (arrays only; :meth:`load` reads it back without pickles)."""
        arrs = {}
        for c, tr in self.tracks.items():
            for (i, j), (xa, xb) in tr.items():
                arrs[f"t|{c}|{i}|{j}"] = np.stack([xa, xb])
        for (a, b, k), (xa, xb) in self.cross.items():
            arrs[f"x|{a}|{b}|{k}"] = np.stack([xa, xb])
        for (c, k), g in self.gray.items():
            arrs[f"g|{c}|{k}"] = g
        for c in self.frames:
            arrs[f"f|{c}"] = np.array([self.frames[c], self.seconds[c]])
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.tmp.npz")
        np.savez(tmp, **arrs)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path, depth_dir: Optional[Path]) -> "SceneMeasurements":
        """Inverse of :meth:`save`."""
        frames, secs, tracks, cross, grays = {}, {}, {}, {}, {}
        with np.load(path, allow_pickle=False) as z:
            for key in z.files:
                p = key.split("|")
                if p[0] == "f":
                    frames[p[1]], secs[p[1]] = int(z[key][0]), float(z[key][1])
                elif p[0] == "g":
                    grays[(p[1], int(p[2]))] = z[key]
                elif p[0] == "t":
                    tracks.setdefault(p[1], {})[(int(p[2]), int(p[3]))] = (z[key][0], z[key][1])
                else:
                    cross[(p[1], p[2], int(p[3]))] = (z[key][0], z[key][1])
        return cls(frames, {c: tracks.get(c, {}) for c in frames}, cross, depth_dir, secs, grays)


def measure_scene(frames: Callable[[str], np.ndarray], cameras: Sequence[str], depth_dir: Optional[Path] = None,
                  th: GivenPoseThresholds = GivenPoseThresholds()) -> SceneMeasurements:
    """Track and match the videos of one scene.

    Args:
        frames: camera name -> its decoded frames ``(F, H, W, 3)`` uint8 (every frame; called once per camera).
        cameras: all cameras of the scene (the cross-camera test matches every two of them).
        depth_dir: the scene's ``depth/`` folder (``camNN/FFFFF.png``, 16-bit mm) when rendered.
    """
    nframes, tracks, feats, secs, grays = {}, {}, {}, {}, {}
    for cam in cameras:
        t0 = time.perf_counter()
        rgb = frames(cam)
        n = nframes[cam] = len(rgb)
        g, scale = _small_gray(rgb, th.max_size)
        del rgb
        inst = sorted({0, (n - 1) // 2, n - 1}) if th.instants >= 3 else [0]
        feats[cam] = {k: _scaled_feats(sift_features(g[k]), scale) for k in inst}
        for k in dense_instants(n, th.window):
            grays[(cam, k)] = g[k]
        tracks[cam] = {p: (xa / scale, xb / scale) for p, (xa, xb) in track_klt(g, th.window).items()}
        secs[cam] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cross = {}
    for ai, a in enumerate(cameras):
        for b in cameras[ai + 1:]:
            for k in sorted(set(feats[a]) & set(feats[b])):
                xa, xb = match_sift(feats[a][k], feats[b][k], min_matches=th.min_cross_matches)
                if len(xa) >= th.min_cross_matches:
                    cross[(a, b, k)] = (xa, xb)
    share = (time.perf_counter() - t0) / max(len(cameras), 1)
    return SceneMeasurements(nframes, tracks, cross, depth_dir, {c: v + share for c, v in secs.items()}, grays)


def dense_instants(n: int, window: int) -> List[int]:
    """Frames of the dense depth test of an ``n``-frame clip: every ``window``-th and the last."""
    return sorted(set(range(0, n, max(window, 1))) | {n - 1}) if n > 0 else []


def check_scene(frames: Callable[[str], np.ndarray], cameras: Sequence[str], c2w: Dict[str, np.ndarray],
                K: Callable[[str, int], np.ndarray], target_m: Optional[np.ndarray],
                depth_dir: Optional[Path] = None, th: GivenPoseThresholds = GivenPoseThresholds()
                ) -> Dict[str, GivenPoseResult]:
    """:func:`measure_scene` then :func:`judge_scene` (arguments as there)."""
    return judge_scene(measure_scene(frames, cameras, depth_dir, th), c2w, K, target_m, th)


def judge_scene(m: SceneMeasurements, c2w: Dict[str, np.ndarray], K: Callable[[str, int], np.ndarray],
                target_m: Optional[np.ndarray], th: GivenPoseThresholds = GivenPoseThresholds(),
                stated_distance_m: Optional[Dict[str, float]] = None,
                character: Optional[Tuple[np.ndarray, float]] = None) -> Dict[str, GivenPoseResult]:
    """Given-pose verdict of every measured camera of a scene under the written geometry.

    Args:
        m: the scene's :class:`SceneMeasurements`.
        c2w: camera name -> written poses ``(F, 4, 4)`` OpenCV c2w in a right-handed world, metres.
        K: ``(camera, frame) -> (3, 3)`` intrinsics in pixels of the video.
        target_m: ``(3,)`` the character's aim point in that world (metres), or None (no ``scene.json``): used for
            the parallax bound (else 5 m) and the character test.
        stated_distance_m: camera -> its frame-0 distance to the aim point as ``scene.json`` states it (metres); the
            written pose must agree within a factor ``distance_ratio`` (the only scale test without depth maps).
        character: ``(feet (3,) metres, height m)`` of the animated character: within a camera, matches inside the
            image of a box around it (``char_box_m`` half-width) are left out (it moves; the written poses explain
            only the static scene).

    Returns:
        camera name -> :class:`GivenPoseResult`.
    """
    cameras = list(m.frames)
    stated_distance_m = stated_distance_m or {}
    res = {c: GivenPoseResult(c, seconds=m.seconds[c]) for c in cameras}
    if m.depth_dir is not None:
        # first, so that the tests it replaces on the cameras it judges (below) are not computed at all
        _dense(res, cameras, c2w, K, m, th)
    for cam in cameras:
        t0 = time.perf_counter()
        r = res[cam]
        P = c2w[cam]
        if m.frames[cam] != len(P):
            r.reasons.append("frames")
            r.message = f"video has {m.frames[cam]} frames, camera JSON {len(P)}"
        meds, inls, fronts = [], [], []
        for (i, j), (xa, xb) in sorted(m.tracks[cam].items()):
            if j >= len(P):
                continue
            dist = float(np.linalg.norm(P[i][:3, 3] - target_m)) if target_m is not None else 5.0
            coarse = _coarse_bad(K(cam, i), K(cam, j), P[i], P[j], xa, xb, dist, th, j - i)
            if coarse:
                r.coarse_bad += 1
            if character is not None:
                keep = ~(_in_box(xa, K(cam, i), P[i], character, th.char_box_m)
                         | _in_box(xb, K(cam, j), P[j], character, th.char_box_m))
                xa, xb = xa[keep], xb[keep]
            s = pair_stats(K(cam, i), K(cam, j), P[i], P[j], xa, xb, th.match_px, dist, th.max_parallax_px)
            bad = _bad(s, th.min_inlier_frac, th.min_front_frac, th.min_matches)
            if bad is None:
                continue
            bad = bad or coarse
            r.pairs += 1
            r.bad_pairs += int(bad)
            meds.append(s.median_px)
            inls.append(s.inlier_frac)
            if s.front_n >= th.min_matches:
                fronts.append(s.front_frac)
            # the matched-point depth test only where the dense test did not judge the camera (it replaces it)
            d = m.depth(cam, i) if j - i == th.window and not r.dense_pairs else None
            if d is not None:
                sd = pair_stats(K(cam, i), K(cam, j), P[i], P[j], xa, xb, th.depth_px, dist, depth_a=d)
                bd = _bad(sd, th.min_inlier_frac, 0.0, th.min_matches)
                if bd is not None:
                    r.depth_pairs += 1
                    r.depth_bad += int(bd)
                    r.depth_median_px = sd.median_px if not np.isfinite(r.depth_median_px) else max(
                        r.depth_median_px, sd.median_px)
        r.worst_median_px = max(meds) if meds else math.nan
        r.min_inlier_frac = min(inls) if inls else math.nan
        r.min_front_frac = min(fronts) if fronts else math.nan
        if r.bad_pairs >= th.bad_pairs or r.coarse_bad >= th.bad_pairs:
            r.reasons.append("frames")
        if r.depth_bad >= th.bad_pairs:
            r.reasons.append("depth")
        if target_m is not None:
            from ..core.projection import project_points

            k0 = K(cam, 0)
            uv, z = project_points(k0, P[0], target_m[None])
            w, h = 2 * k0[0, 2], 2 * k0[1, 2]
            mx, my = th.char_margin * w, th.char_margin * h
            r.char_px = float(np.hypot(*(uv[0] - k0[:2, 2]))) if z[0] > 0 else math.inf
            horiz = float(np.linalg.norm(P[0][:2, 3] - target_m[:2]))  # world z is up
            if not (z[0] > 0 and -mx <= uv[0, 0] <= w + mx and -my <= uv[0, 1] <= h + my) \
                    or horiz < th.min_char_distance_m:
                r.reasons.append("character")
            elif stated_distance_m.get(cam):
                ratio = float(np.linalg.norm(P[0][:3, 3] - target_m)) / stated_distance_m[cam]
                if not 1 / th.distance_ratio <= ratio <= th.distance_ratio:
                    r.reasons.append("character")
        r.seconds += time.perf_counter() - t0
    # with depth maps, where the dense test judged every camera, the cross-camera test's verdicts would all be
    # dropped (below), and the focal scan is not run: the dense test is the depth maps' focal test (a wrong lens
    # moves every lifted point; it caught all 200 cameras of the study's 24 <-> 35 mm tamper)
    if not (m.depth_dir is not None and all(res[c].dense_pairs for c in cameras)):
        _cross(res, cameras, c2w, K, m, th)
        _focal_scan(res, cameras, c2w, K, target_m, m, th)
    if m.depth_dir is not None:
        # where the dense test judged a camera it replaces the two matched-point tests it generalises: their wrong
        # but RANSAC-consistent matches (repetitive texture between cameras; 4 correct cameras of one study scene)
        # were the false flags with depth maps, and no tamper of the study was caught by them alone
        for r in res.values():
            if r.dense_pairs:
                r.reasons = [x for x in r.reasons if x not in ("cross", "depth")]
    return res


def _focal_scan(res, cameras, c2w, K, target_m, m: SceneMeasurements, th: GivenPoseThresholds) -> None:
    """Scene focal-length scan (pixels only; adds ``focal`` to every camera).

    The matches of every camera's pairs of frames ``window`` apart (rotation transfer or Sampson, as
    :func:`synth.core.given_pose.pair_stats`, within ``match_px``; all matches, the character included: it is a
    minority) and of the cross-camera matches (Sampson within ``cross_px``) are scored under the written poses with
    every camera's focal lengths scaled by each of ``focal_scales``: the score is the mean inlier fraction over
    those pairs. When some scale explains them better than the written focal length (scale 1) by more than
    ``focal_margin`` (a fraction of all matches), the focal length the files state is not the one the pixels were
    rendered with. A scene-wide test because the lens is (``scene.json``): static cameras and sideways dollies, which
    cannot see their focal length alone, are flagged with the cameras that do (pans and tilts: a rotation by
    ``a`` moves the image by ``f tan a``; wide cross-camera baselines)."""
    t0 = time.perf_counter()
    sets = []
    for cam in cameras:
        P = c2w[cam]
        for (i, j), (xa, xb) in m.tracks[cam].items():
            if j - i == th.window and j < len(P) and len(xa) >= th.min_matches:
                dist = float(np.linalg.norm(P[i][:3, 3] - target_m)) if target_m is not None else 5.0
                sets.append((K(cam, i), K(cam, j), P[i], P[j], xa, xb, th.match_px, dist, th.max_parallax_px))
    for (a, b, k), (xa, xb) in m.cross.items():
        if k < len(c2w[a]) and k < len(c2w[b]):
            sets.append((K(a, k), K(b, k), c2w[a][k], c2w[b][k], xa, xb, th.cross_px, 1e9, -1.0))
    if not sets:
        return
    scores = []
    for sc in (1.0,) + tuple(th.focal_scales):
        S = np.diag([sc, sc, 1.0])
        fr = [pair_stats(Ka @ S, Kb @ S, Pa, Pb, xa, xb, px, dist, mp).inlier_frac  # fx, fy scaled; cx, cy kept
              for Ka, Kb, Pa, Pb, xa, xb, px, dist, mp in sets]
        scores.append(float(np.nanmean(fr)) if np.isfinite(fr).any() else math.nan)
    best = int(np.nanargmax(scores)) if np.isfinite(scores).any() else 0
    margin = scores[best] - scores[0]
    share = (time.perf_counter() - t0) / max(len(cameras), 1)
    for c in cameras:
        r = res[c]
        r.focal_best_scale = ((1.0,) + tuple(th.focal_scales))[best]
        r.focal_margin = margin
        if margin > th.focal_margin:
            r.reasons.append("focal")
            r.message = _join(r.message, f"focal: the written focal length x {r.focal_best_scale:.2f} explains "
                                         f"{100 * margin:.0f} % more of the scene's matches")
        r.seconds += share


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


def _depth_K(K: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """``K`` (pixels of the video: width ``2 cx``) scaled to the depth map's pixels (the same size when rendered by
    ``synth render``)."""
    sx = depth.shape[1] / (2 * K[0, 2])
    sy = depth.shape[0] / (2 * K[1, 2])
    return np.diag([sx, sy, 1.0]) @ K


def _consistency(m: SceneMeasurements, c2w, K, th: GivenPoseThresholds, a: str, ka: int, b: str, kb: int,
                 pose_a: Optional[np.ndarray] = None):
    """:func:`synth.core.given_pose.depth_consistency` of view ``(b, kb)`` lifted into ``(a, ka)`` (``pose_a``
    replaces ``a``'s written pose when given), with the high-passed grey textures; None without depth maps."""
    da, db = m.depth(a, ka), m.depth(b, kb)
    if da is None or db is None or ka >= len(c2w[a]) or kb >= len(c2w[b]):
        return None
    Kb = _depth_K(K(b, kb), db)
    stride = max(1, db.shape[1] // th.dense_grid_cols)  # the same number of points at any size (12 px at 832)
    return depth_consistency(_depth_K(K(a, ka), da), c2w[a][ka] if pose_a is None else pose_a, da,
                             Kb, c2w[b][kb], db, stride, th.dense_rel_tol,
                             m.texture(a, ka), m.texture(b, kb), near_a=m.near(a, ka),
                             grid_b=m.grid(b, kb, Kb, stride, th.dense_rel_tol))


def _dense_bad(m: SceneMeasurements, c2w, K, th: GivenPoseThresholds, a: str, ka: int, b: str, kb: int,
               ncc: Optional[Dict] = None) -> Tuple[Optional[bool], float]:
    """Dense depth test of two views (both directions): ``(None if neither direction has dense_min_points
    co-visible points else whether one has more than dense_max_violation free-space violations, the larger
    violation fraction)``. ``ncc[(x, y, k)]`` receives the photometric NCC of ``y`` lifted into ``x``."""
    viol = []
    for x, kx, y, ky in ((a, ka, b, kb), (b, kb, a, ka)):
        r = _consistency(m, c2w, K, th, x, kx, y, ky)
        if r is None:
            return None, math.nan
        if r.n >= th.dense_min_points:
            viol.append(r.violation_frac)
        if ncc is not None and r.agree_n >= th.dense_min_points // 2 and np.isfinite(r.ncc):
            ncc[(x, y, kx)] = r.ncc
    if not viol:
        return None, math.nan
    return max(viol) > th.dense_max_violation, max(viol)


def _time_delta(m: SceneMeasurements, c2w, K, th: GivenPoseThresholds, a: str, ncc: Dict) -> float:
    """Median, over the other cameras and instants ``k``, of how much better camera ``a``'s written pose of frame
    ``k -+ window`` explains the other camera's texture at instant ``k`` than its pose of frame ``k`` (NCC
    difference; negative when the written frame ``k`` is the best, 0 for a camera whose pose does not change): a
    trajectory written late or early (shifted frames) or in reverse fits better at the wrong frame. nan without
    such comparisons."""
    P = c2w[a]
    deltas = []
    for (x, y, k), n0 in ncc.items():
        if x != a:
            continue
        best = -math.inf
        for d in (-th.window, th.window):
            if not 0 <= k + d < len(P):
                continue
            if np.allclose(P[k + d], P[k], atol=1e-6):
                best = max(best, n0)
                continue
            r = _consistency(m, c2w, K, th, a, k, y, k, pose_a=P[k + d])
            if r is not None and r.agree_n >= th.dense_min_points // 2 and np.isfinite(r.ncc):
                best = max(best, r.ncc)
        if np.isfinite(best):
            deltas.append(best - n0)
    return float(np.median(deltas)) if deltas else math.nan


def _dense(res, cameras, c2w, K, m: SceneMeasurements, th: GivenPoseThresholds) -> None:
    """Dense depth consistency (scenes with depth maps; adds ``dense``).

    Across cameras, at every ``dense_every``-th frame and the last (:func:`dense_instants`; a multiple of ``window``
    so the grey frames were kept), every two cameras' depth maps are lifted into each other under the written poses
    (:func:`synth.core.given_pose.depth_consistency`); a pair of cameras disagrees when at some instant more than
    ``dense_max_violation`` of the co-visible points of either is a free-space violation (on correct renders: a few
    %, from anti-aliased rims), and a camera that disagrees with at least ``min_cross_disagree`` cameras and half of
    those it was compared with (over all instants, or at one instant: a single wrong frame) is flagged. (Not within
    a camera: frames ``k`` and ``k + window`` are two instants,
    and the animated character between them contradicts any pose; every tamper that test caught in the study was
    caught by another test.) Timing (:func:`_time_delta`): a camera whose written pose of a neighbouring dense
    instant explains the other cameras' textures better than its own, by a median NCC margin of
    ``dense_time_margin``, is flagged (frames shifted or reversed in a camera moving too little for the depths to
    contradict)."""
    t0 = time.perf_counter()
    verdicts: Dict[str, List[Tuple[str, bool]]] = {c: [] for c in cameras}
    ncc: Dict[Tuple[str, str, int], float] = {}
    per_instant: Dict[Tuple[str, int], List[bool]] = {}
    for ai, a in enumerate(cameras):
        for b in cameras[ai + 1:]:
            ks = sorted(set(dense_instants(m.frames[a], th.dense_every))
                        & set(dense_instants(m.frames[b], th.dense_every)))
            judged = []
            for k in ks:
                bad_k, v_k = _dense_bad(m, c2w, K, th, a, k, b, k, ncc)
                if bad_k is not None:
                    judged.append((bad_k, v_k))
                    for c in (a, b):
                        per_instant.setdefault((c, k), []).append(bad_k)
            if not judged:
                continue
            bad = any(x for x, _ in judged)
            verdicts[a].append((b, bad))
            verdicts[b].append((a, bad))
            v = max(x for _, x in judged)
            for c in (a, b):
                rc = res[c]
                rc.dense_max_violation = v if not np.isfinite(rc.dense_max_violation) else max(
                    rc.dense_max_violation, v)
    for c in cameras:
        v, r = verdicts[c], res[c]
        r.dense_pairs = len(v)
        r.dense_bad = sum(b for _, b in v)
        r.dense_with = ",".join(sorted({o for o, b in v if b}))
        r.dense_time_delta = _time_delta(m, c2w, K, th, c, ncc) if m.gray else math.nan
        cross_bad = 2 * r.dense_bad >= len(v) and r.dense_bad >= th.min_cross_disagree
        # one wrong frame (a rotated pose) contradicts the cameras co-visible at that instant only
        cross_bad = cross_bad or any(2 * sum(x) >= len(x) and sum(x) >= th.min_cross_disagree
                                     for (cc, _), x in per_instant.items() if cc == c)
        if cross_bad or r.dense_time_delta > th.dense_time_margin:
            r.reasons.append("dense")
            r.message = _join(r.message, (
                f"dense: depth maps contradict {r.dense_bad} of {len(v)} cameras ({r.dense_with}; up to "
                f"{100 * r.dense_max_violation:.0f} % free-space violations)" if cross_bad else
                f"dense timing: the poses of frames +-{th.window} fit the other cameras better (NCC "
                f"+{r.dense_time_delta:.2f})"))
    share = (time.perf_counter() - t0) / max(len(cameras), 1)
    for c in cameras:
        res[c].seconds += share


def cross_cover(bad_pairs: Sequence[Tuple[str, str]], max_wrong: int) -> Optional[Tuple[str, ...]]:
    """The fewest cameras (at most ``max_wrong``) that belong to every disagreeing camera pair, or None.

    Args:
        bad_pairs: camera pairs ``(a, b)`` whose cross-camera matches contradict the written poses.
        max_wrong: the most camera files the cross-camera test assumes wrong at once.

    Returns:
        a sorted tuple of cameras (empty when there is no bad pair) such that every bad pair contains one of them,
        or None when more than ``max_wrong`` cameras would be needed: then the pairs contradict each other, not
        the files of a few cameras (wrong files make bad only the pairs they belong to), and the matches are not
        trusted.
    """
    from itertools import combinations

    pairs = [frozenset(p) for p in bad_pairs]
    cams = sorted(set().union(*pairs)) if pairs else []
    for n in range(max_wrong + 1):
        for cover in combinations(cams, n):
            if all(p & set(cover) for p in pairs):
                return tuple(cover)
    return None


def _cross(res, cameras, c2w, K, m: SceneMeasurements, th: GivenPoseThresholds) -> None:
    """Cross-camera agreement at the shared instants (see the module docstring); adds ``cross``."""
    t0 = time.perf_counter()
    per_pair: Dict[Tuple[str, str], List[bool]] = {}
    for (a, b, k), (xa, xb) in sorted(m.cross.items()):
        if k >= len(c2w[a]) or k >= len(c2w[b]):
            continue
        s = pair_stats(K(a, k), K(b, k), c2w[a][k], c2w[b][k], xa, xb, th.cross_px, 1e9, -1.0)
        bad = _bad(s, th.min_inlier_frac, th.min_front_frac, th.min_cross_matches)
        d = m.depth(a, k)
        if d is not None and bad is False:
            sd = pair_stats(K(a, k), K(b, k), c2w[a][k], c2w[b][k], xa, xb, th.depth_px, 1e9, depth_a=d)
            bad = bool(_bad(sd, th.min_inlier_frac, 0.0, th.min_cross_matches))
        if bad is not None:
            per_pair.setdefault((a, b), []).append(bool(bad))
    # a camera pair is judged on >= 2 instants (one instant's matches may all be one repetitive texture's false
    # matches, which some epipolar geometry explains) and is bad when most of its instants are
    verdicts: Dict[str, List[Tuple[str, bool]]] = {c: [] for c in cameras}
    for (a, b), v in per_pair.items():
        if len(v) >= 2:
            bad = 2 * sum(v) > len(v)
            verdicts[a].append((b, bad))
            verdicts[b].append((a, bad))
    bad_pairs = [(a, b) for (a, b), v in per_pair.items() if len(v) >= 2 and 2 * sum(v) > len(v)]
    trusted = cross_cover(bad_pairs, th.max_cross_wrong) is not None
    for c in cameras:
        v = verdicts[c]
        r = res[c]
        r.cross_pairs = len(v)
        r.cross_bad = sum(b for _, b in v)
        r.cross_with = ",".join(sorted({o for o, b in v if b}))
        if trusted and 2 * r.cross_bad >= len(v) and r.cross_bad >= th.min_cross_disagree:
            r.reasons.append("cross")
    share = (time.perf_counter() - t0) / max(len(cameras), 1)
    for c in cameras:
        res[c].seconds += share
