"""``recam eval``: score camera-controlled re-capture on a multi-camera dataset, where every target view is known.

A run samples (source camera, target camera) pairs of the same scene with a seed and lists them in
``pairs.csv`` (so another method can be run on exactly the same pairs). For each pair, either ReCamMaster re-captures
the source video along the target camera's trajectory (``--model_dir/--ckpt``) or an already generated video
``<videos>/<pair_id>.mp4`` is read (``--videos``, any model). The result is scored against

* the true target video: PSNR / SSIM per frame (:mod:`recam.eval.metrics`), LPIPS with local weights;
* the requested trajectory: poses estimated from the result (:mod:`synth.core.pose_estimation`) -> RotErr / TransErr / CamMC,
  and the same estimator on the true target video as the estimator's own error floor (``ref_*`` columns).

Camera conditioning follows ReCamMaster's training contract (REFERENCE §1): the target's poses at the latent frames
relative to the source camera's frame 0. Outputs in ``--out``: ``pairs.csv``, ``results.csv`` (one row per pair,
rewritten atomically after each pair: an interrupted run resumes), ``summary.json``, ``summary.md``,
``videos/<pair_id>.mp4`` (generated), ``side_by_side/<pair_id>.mp4`` (source | result | target),
``plots/<pair_id>.png`` (requested vs estimated trajectory), ``eval_run.json`` (settings; a resume must match),
with an I3D file FVD over all pairs in the summary and ``fvd_features/<pair_id>.npz`` (:mod:`recam.eval.fvd`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from synth.core.atomic import atomic_write_text
from synth.core.intrinsics import intrinsics_from_lens
from synth.core.rigid import relative_cam_emb
from synth.core.units import SENSOR_MM
from synth.core.layout import CAMERA_JSON, SCENE_JSON, VIDEOS_DIR, parse_lens_dir_name
from synth.core.multicam_format import (DatasetFormatError, iter_scene_dirs, load_camera_extrinsics, read_metadata_csv,
                                        read_scene_spec)

from synth.core.camera_metrics import camera_metrics, relative_to_first

from .metrics import video_psnr_ssim
from synth.core.pose_estimation import PoseOptions, estimate_poses

__all__ = ["Pair", "sample_pairs", "write_pairs", "read_pairs", "EvalSettings", "evaluate_pairs", "compute_fvd",
           "write_summary", "RESULT_FIELDS"]

PAIR_FIELDS = ["pair_id", "scene", "source", "target", "prompt"]
RESULT_FIELDS = ["pair_id", "scene", "source", "target", "frames", "psnr", "ssim", "lpips", "clip_v", "clip_t",
                 "pose_status",
                 "rot_err_rad", "rot_err_deg", "trans_err", "cammc", "ref_pose_status", "ref_rot_err_deg",
                 "ref_trans_err", "ref_cammc", "seconds", "message"]
_METRICS = ["psnr", "ssim", "lpips", "clip_v", "clip_t", "rot_err_deg", "trans_err", "cammc", "ref_rot_err_deg", "ref_trans_err",
            "ref_cammc"]


@dataclass(frozen=True)
class Pair:
    """One evaluation pair: re-capture ``source`` along ``target``'s trajectory (same scene, both ``camNN``)."""

    pair_id: str
    scene: str  # relative to the dataset's train/ folder, e.g. f18_aperture10/scene3
    source: str
    target: str
    prompt: str


def _scene_prompts(root: Path) -> Dict[str, str]:
    meta = root / "metadata.csv"
    return {r.file_name: r.text for r in read_metadata_csv(meta)} if meta.is_file() else {}


def sample_pairs(root: Path, num_pairs: int, seed: int) -> List[Pair]:
    """``num_pairs`` distinct (source, target) camera pairs of the same scene, drawn with ``random.Random(seed)``
    from all ordered pairs of all scenes under ``root/train`` (fewer if the dataset has fewer). The prompt is the
    source video's ``metadata.csv`` text, else the scene caption of ``scene.json``.

    Raises:
        DatasetFormatError: no scenes, or no scene with two camera videos.
    """
    root = Path(root)
    prompts = _scene_prompts(root)
    cands = []
    for s in iter_scene_dirs(root):
        cams = sorted(v.stem for v in (s / VIDEOS_DIR).glob("cam*.mp4"))
        rel = f"{s.parent.name}/{s.name}"
        caption = ""
        if (s / SCENE_JSON).is_file():
            caption = read_scene_spec(s).caption
        for a in cams:
            for b in cams:
                if a != b:
                    text = prompts.get(f"{rel}/{VIDEOS_DIR}/{a}.mp4", caption)
                    cands.append(Pair(f"{rel.replace('/', '_')}_{a}_to_{b}", rel, a, b, text))
    if not cands:
        raise DatasetFormatError(f"{root}: no scene with two or more camera videos under {root}/train/<lens>/")
    rng = random.Random(seed)
    return sorted(rng.sample(cands, min(num_pairs, len(cands))), key=lambda p: p.pair_id)


def write_pairs(path: Path, pairs: Sequence[Pair]) -> None:
    """``pairs.csv``: ``pair_id,scene,source,target,prompt`` (atomic)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=PAIR_FIELDS, lineterminator="\n")
    w.writeheader()
    for p in pairs:
        w.writerow(asdict(p))
    atomic_write_text(path, buf.getvalue())


def read_pairs(path: Path) -> List[Pair]:
    """Read ``pairs.csv``. Raises DatasetFormatError naming the file and the missing column / bad row."""
    path = Path(path)
    if not path.is_file():
        raise DatasetFormatError(f"{path}: pairs file not found")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise DatasetFormatError(f"{path}: no pairs")
    missing = [c for c in PAIR_FIELDS if c not in rows[0]]
    if missing:
        raise DatasetFormatError(f"{path}: missing column(s) {missing}; expected {','.join(PAIR_FIELDS)}")
    out = []
    for i, r in enumerate(rows, start=2):
        if not r["pair_id"] or not r["scene"] or not r["source"].startswith("cam") or not r["target"].startswith("cam"):
            raise DatasetFormatError(f"{path}:{i}: bad row {r}")
        out.append(Pair(r["pair_id"], r["scene"], r["source"], r["target"], r["prompt"] or ""))
    return out


@dataclass(frozen=True)
class EvalSettings:
    """Frames / size / sampler settings of a run (recorded in ``eval_run.json``; a resume must match)."""

    num_frames: int = 81
    height: int = 480
    width: int = 832
    steps: int = 50
    guidance: float = 5.0
    seed: int = 0
    pose_stride: int = 4
    pose_max_size: int = 512
    pose_mapper: str = "global"
    reference_poses: bool = True
    source: str = ""  # "model:<dir>|<ckpt>" or "videos:<dir>"


def _crop_intrinsics(K: np.ndarray, h: int, w: int, height: int, width: int) -> np.ndarray:
    """K after :func:`recam.video.resize_center_crop` from ``(h, w)`` to ``(height, width)``."""
    scale = max(width / w, height / h)
    rh, rw = round(h * scale), round(w * scale)
    top, left = int(round((rh - height) / 2.0)), int(round((rw - width) / 2.0))
    K2 = np.array(K, np.float64, copy=True)
    K2[0] *= rw / w
    K2[1] *= rh / h
    K2[0, 2] -= left
    K2[1, 2] -= top
    return K2


def _focal_mm(scene_dir: Path) -> float:
    if (scene_dir / SCENE_JSON).is_file():
        return read_scene_spec(scene_dir).lens.focal_length_mm
    lens = parse_lens_dir_name(scene_dir.parent.name)
    if lens is None:
        raise DatasetFormatError(f"{scene_dir}: focal length unknown (no scene.json lens, folder name "
                                 f"{scene_dir.parent.name!r} is not f<mm>_aperture<f>)")
    return lens[0]


def _note(notes: List[str], msg: str) -> None:
    if msg not in notes:
        notes.append(msg)


def _fmt(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _write_results(path: Path, rows: Dict[str, Dict[str, str]]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=RESULT_FIELDS, lineterminator="\n")
    w.writeheader()
    for k in sorted(rows):
        w.writerow({f: rows[k].get(f, "") for f in RESULT_FIELDS})
    atomic_write_text(path, buf.getvalue())


def _read_results(path: Path) -> Dict[str, Dict[str, str]]:
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        return {r["pair_id"]: r for r in csv.DictReader(f) if r.get("pair_id")}


def _plot_pair(path: Path, pair: Pair, gt_rel: np.ndarray, est, cm) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from synth.core.camera_metrics import normalize_translations

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
    fig.suptitle(f"{pair.pair_id} [{est.status if est is not None else 'no poses'}]", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    tmp.replace(path)


def _pose_scores(frames: np.ndarray, K: np.ndarray, gt_c2w: np.ndarray, opts: PoseOptions):
    idx = np.arange(0, len(frames), opts.stride)
    est = estimate_poses(frames[idx], K, opts, idx)
    cm = camera_metrics(gt_c2w[idx], est.c2w) if est.has_rotation else None
    return est, cm


def evaluate_pairs(root: Path, pairs: Sequence[Pair], out: Path, settings: EvalSettings,
                   generate: Optional[Callable[[np.ndarray, str, np.ndarray], np.ndarray]] = None,
                   videos_dir: Optional[Path] = None, lpips_weights: Optional[Path] = None,
                   clip_model: Optional[Path] = None,
                   on_done: Optional[Callable[[str, Dict[str, str], bool], None]] = None,
                   fvd_model=None, on_fvd: Optional[Callable[[int, int], None]] = None) -> List[Dict[str, str]]:
    """Score every pair (resuming from ``out/results.csv``); write all outputs (module docstring).

    Args:
        root: dataset root (``train/<lens>/scene<N>/{videos,cameras}``).
        generate: ``(source frames (F, H, W, 3) uint8, prompt, cam_emb (F_latent, 12)) -> (F, H, W, 3) uint8``;
            exactly one of ``generate`` and ``videos_dir`` (``<pair_id>.mp4`` made by any model).
        lpips_weights: local LPIPS weights (optional; without them the ``lpips`` column stays empty).
        clip_model: local transformers CLIP folder for ``clip_v`` / ``clip_t`` (optional).
        fvd_model: a loaded :class:`recam.eval.fvd.I3DFeatureExtractor` (optional): FVD of the generated vs the
            true target videos over all scored pairs, in ``summary.json`` / ``summary.md`` (:func:`compute_fvd`).
        on_fvd: progress of the FVD feature pass, ``(pairs done, pairs)``.

    Raises:
        ValueError: ``out`` holds a run with other settings, or both / neither of generate / videos_dir.
    """
    from synth.core.video_io import VideoReadError, read_video, write_video

    from ..cameras import latent_frame_indices
    from ..video import resize_center_crop
    from .metrics import MissingWeightsError, clip_scores, lpips_score

    if (generate is None) == (videos_dir is None):
        raise ValueError("evaluate_pairs: give exactly one of generate or videos_dir")
    root, out = Path(root), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / "eval_run.json"
    mine = asdict(settings)
    if manifest.is_file():
        old = json.loads(manifest.read_text())
        if old != mine:
            diff = {k: (old.get(k), v) for k, v in mine.items() if old.get(k) != v}
            raise ValueError(f"{out} holds an evaluation run with other settings {diff}; use another --out")
    else:
        atomic_write_text(manifest, json.dumps(mine, indent=1) + "\n")
    pairs_path = out / "pairs.csv"
    if pairs_path.is_file():
        old_pairs = read_pairs(pairs_path)
        if [p.pair_id for p in old_pairs] != [p.pair_id for p in pairs]:
            raise ValueError(f"{pairs_path}: holds other pairs than this run's; use another --out (or --pairs "
                             f"{pairs_path})")
    else:
        write_pairs(pairs_path, pairs)
    opts = PoseOptions(stride=settings.pose_stride, max_size=settings.pose_max_size, mapper=settings.pose_mapper)
    results_path = out / "results.csv"
    results = _read_results(results_path)
    notes: List[str] = []
    F, H, W = settings.num_frames, settings.height, settings.width
    for pair in pairs:
        if pair.pair_id in results:
            if on_done:
                on_done(pair.pair_id, results[pair.pair_id], True)
            continue
        t0 = time.perf_counter()
        row: Dict[str, object] = {"pair_id": pair.pair_id, "scene": pair.scene, "source": pair.source,
                                  "target": pair.target}
        msgs = []
        try:
            scene_dir = root / "train" / pair.scene
            cams = load_camera_extrinsics(scene_dir / CAMERA_JSON)
            for c in (pair.source, pair.target):
                if c not in cams:
                    raise DatasetFormatError(f"{scene_dir / CAMERA_JSON}: no camera {c}")
            tgt_raw, fps = read_video(scene_dir / VIDEOS_DIR / f"{pair.target}.mp4", None)
            if videos_dir is not None:
                gen, _ = read_video(Path(videos_dir) / f"{pair.pair_id}.mp4", None)
                n = min(len(gen), len(tgt_raw), len(cams[pair.target]))
                gen, tgt_raw = gen[:n], tgt_raw[:n]
                h, w = gen.shape[1:3]
                src = None
            else:
                n, h, w = F, H, W
                src_raw, fps = read_video(scene_dir / VIDEOS_DIR / f"{pair.source}.mp4", F)
                src = resize_center_crop(src_raw, H, W)
                cam_emb = relative_cam_emb(cams[pair.source][0], cams[pair.target][latent_frame_indices(F)])
                done_video = out / "videos" / f"{pair.pair_id}.mp4"
                if done_video.is_file():  # generated before an interruption (written atomically): not redone
                    gen = read_video(done_video, F)[0]
                else:
                    gen = generate(src, pair.prompt, cam_emb)
                    write_video(done_video, gen, fps)
                tgt_raw = tgt_raw[:F]
            if len(tgt_raw) < n:
                raise VideoReadError(f"{pair.target}.mp4: {len(tgt_raw)} frames, {n} needed")
            tgt = resize_center_crop(tgt_raw, h, w)
            row["frames"] = n
            q = video_psnr_ssim(gen, tgt)
            row["psnr"], row["ssim"] = q["psnr"], q["ssim"]
            if lpips_weights is not None:
                try:
                    row["lpips"] = lpips_score(gen, tgt, lpips_weights)
                except MissingWeightsError as e:
                    _note(notes, f"LPIPS not computed: {e}")
            if clip_model is not None:
                src_frames = src
                if src_frames is None:  # scoring existing videos: the source at the generated video's size
                    src_raw_b, _ = read_video(scene_dir / VIDEOS_DIR / f"{pair.source}.mp4", None)
                    src_frames = resize_center_crop(src_raw_b[:n], h, w)
                try:
                    row.update(clip_scores(gen, src_frames, clip_model, pair.prompt))
                except MissingWeightsError as e:
                    _note(notes, f"CLIP not computed: {e}")
            panels = [x for x in (src, gen, tgt) if x is not None]
            write_video(out / "side_by_side" / f"{pair.pair_id}.mp4", np.concatenate(panels, axis=2), fps)
            K = _crop_intrinsics(intrinsics_from_lens(_focal_mm(scene_dir), SENSOR_MM, tgt_raw.shape[2],
                                                      tgt_raw.shape[1]), tgt_raw.shape[1], tgt_raw.shape[2], h, w)
            gt = cams[pair.target][:n]
            est, cm = _pose_scores(gen, K, gt, opts)
            row["pose_status"] = est.status
            if est.status not in ("ok",):
                msgs.append(f"poses: {est.status} ({est.message})")
            if cm is not None:
                row.update(rot_err_rad=cm.rot_err_rad, rot_err_deg=cm.rot_err_deg, trans_err=cm.trans_err,
                           cammc=cm.cammc)
            _plot_pair(out / "plots" / f"{pair.pair_id}.png", pair, relative_to_first(gt[est.frame_indices]),
                       est, cm)
            if settings.reference_poses:
                rest, rcm = _pose_scores(tgt, K, gt, opts)
                row["ref_pose_status"] = rest.status
                if rcm is not None:
                    row.update(ref_rot_err_deg=rcm.rot_err_deg, ref_trans_err=rcm.trans_err, ref_cammc=rcm.cammc)
        except (DatasetFormatError, VideoReadError, ValueError, OSError) as e:
            msgs.append(f"{type(e).__name__}: {e}")
            row["pose_status"] = row.get("pose_status", "failed")
        row["seconds"] = time.perf_counter() - t0
        row["message"] = "; ".join(msgs)
        results[pair.pair_id] = {k: _fmt(v) for k, v in row.items()}
        _write_results(results_path, results)
        if on_done:
            on_done(pair.pair_id, results[pair.pair_id], False)
    rows = [results[p.pair_id] for p in pairs]
    fvd = None
    if fvd_model is not None:
        fvd = compute_fvd(root, pairs, results, out, fvd_model, videos_dir, on_fvd)
    write_summary(out, rows, notes, fvd=fvd)
    return rows


FVD_DIR = "fvd_features"


def _pair_features(root: Path, pair: Pair, frames: int, gen_path: Path, model) -> Dict[str, np.ndarray]:
    from synth.core.video_io import read_video

    from ..video import resize_center_crop

    gen, _ = read_video(gen_path, frames)
    tgt, _ = read_video(root / "train" / pair.scene / VIDEOS_DIR / f"{pair.target}.mp4", frames)
    n = min(len(gen), len(tgt), frames)
    gen, tgt = gen[:n], resize_center_crop(tgt[:n], gen.shape[1], gen.shape[2])  # as scored in evaluate_pairs
    f = model.features(np.stack([gen, tgt]))
    return {"gen": f[0], "real": f[1], "frames": np.int64(n)}


def compute_fvd(root: Path, pairs: Sequence[Pair], results: Dict[str, Dict[str, str]], out: Path, model,
                videos_dir: Optional[Path] = None,
                on_fvd: Optional[Callable[[int, int], None]] = None) -> Dict[str, object]:
    """FVD of the generated videos vs the true target videos of every scored pair (one number per run).

    Per pair the I3D features of the generated video (``videos_dir/<pair_id>.mp4``, else ``out/videos/``) and of
    the true target video (its first ``frames`` frames, resized and centre-cropped to the generated video's size as
    for PSNR) are cached in ``out/fvd_features/<pair_id>.npz`` with the I3D file's SHA-256 (features of another
    file are recomputed, never mixed). Pairs without a score (``frames`` empty) or with unreadable videos are left
    out and counted.

    Returns:
        ``{"fvd": float | None, "videos": N (per set), "frames": sorted distinct frame counts, "i3d": path,
        "i3d_sha256", "skipped": pair ids, "note"}``; ``fvd`` is None with fewer than 2 videos.
    """
    from synth.core.atomic import atomic_write_bytes
    from synth.core.video_io import VideoReadError

    from .fvd import fvd_from_features

    cache = Path(out) / FVD_DIR
    cache.mkdir(parents=True, exist_ok=True)
    gen, real, frames, skipped = [], [], set(), []
    for i, pair in enumerate(pairs):
        row = results.get(pair.pair_id, {})
        if not row.get("frames"):
            skipped.append(pair.pair_id)
            continue
        path = cache / f"{pair.pair_id}.npz"
        feats = None
        if path.is_file():
            with np.load(path, allow_pickle=False) as z:
                if str(z["i3d_sha256"]) == model.sha256 and int(z["frames"]) == int(row["frames"]):
                    feats = {k: z[k] for k in ("gen", "real", "frames")}
        if feats is None:
            gen_path = (Path(videos_dir) if videos_dir is not None else Path(out) / "videos") / f"{pair.pair_id}.mp4"
            try:
                feats = _pair_features(Path(root), pair, int(row["frames"]), gen_path, model)
            except (VideoReadError, OSError) as e:
                skipped.append(f"{pair.pair_id} ({type(e).__name__}: {e})")
                continue
            buf = io.BytesIO()
            np.savez(buf, i3d_sha256=np.array(model.sha256), **feats)
            atomic_write_bytes(path, buf.getvalue())
        gen.append(feats["gen"])
        real.append(feats["real"])
        frames.add(int(feats["frames"]))
        if on_fvd:
            on_fvd(i + 1, len(pairs))
    n = len(gen)
    value = fvd_from_features(np.stack(gen), np.stack(real)) if n >= 2 else None
    note = (f"FVD over {n} generated vs {n} true target videos ({'/'.join(map(str, sorted(frames)))} frames, I3D "
            f"{model.path.name}): biased on few videos (the 400-d feature covariance of N videos has rank < N); "
            f"compare only runs with the same number of videos and frames" if n >= 2 else
            f"FVD not computed: {n} scored video(s), at least 2 are needed")
    return {"fvd": value, "videos": n, "frames": sorted(frames), "i3d": str(model.path), "i3d_sha256": model.sha256,
            "skipped": skipped, "note": note}


def write_summary(out: Path, rows: Sequence[Dict[str, str]], notes: Sequence[str] = (),
                  fvd: Optional[Dict[str, object]] = None) -> dict:
    """``summary.json`` (mean / median of each metric over the pairs that have it, pose status counts, ``fvd``:
    :func:`compute_fvd`'s record or None) and ``summary.md`` (the same as a Markdown table)."""

    def vals(key):
        v = []
        for r in rows:
            try:
                x = float(r.get(key, "") or "nan")
            except ValueError:
                continue
            if math.isfinite(x):
                v.append(x)
        return v

    metrics = {}
    for k in _METRICS:
        v = vals(k)
        metrics[k] = {"n": len(v), "mean": float(np.mean(v)) if v else None,
                      "median": float(np.median(v)) if v else None}
    status = {}
    for r in rows:
        status[r.get("pose_status", "")] = status.get(r.get("pose_status", ""), 0) + 1
    fvd_note = fvd["note"] if fvd is not None else ("FVD not computed: give --fvd-i3d PATH (a local "
                                                    "i3d_torchscript.pt); nothing is downloaded")
    summary = {"pairs": len(rows), "pose_status": status, "metrics": metrics, "fvd": fvd,
               "notes": list(notes) + [fvd_note],
               "units": {"rot_err_deg": "sum over sampled frames, degrees (rot_err_rad in results.csv: radians)",
                         "trans_err": "sum over sampled frames, each trajectory normalised by its largest "
                                      "translation", "cammc": "sum over sampled frames, normalised translations",
                         "psnr": "dB, mean over frames", "ssim": "mean over frames"}}
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    lines = ["| metric | pairs | mean | median |", "|---|---:|---:|---:|"]
    for k, m in metrics.items():
        f = (lambda x: "" if x is None else f"{x:.4g}")
        lines.append(f"| {k} | {m['n']} | {f(m['mean'])} | {f(m['median'])} |")
    if fvd is not None and fvd.get("fvd") is not None:
        lines.append(f"| fvd | {fvd['videos']} | {fvd['fvd']:.4g} | |")
    lines.append("")
    lines.append("pose status: " + ", ".join(f"{k or 'none'} {v}" for k, v in sorted(status.items())))
    for note in summary["notes"]:
        lines.append("")
        lines.append(note)
    atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")
    return summary
