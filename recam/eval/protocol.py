"""``recam eval --protocol recammaster``: ReCamMaster's evaluation set-up on any folder of videos.

Every source video of ``--dataset`` (``*.mp4`` / ``.mov`` / ``.mkv`` / ``.avi`` / ``.webm`` in the folder, or
upstream's ``metadata.csv`` + ``videos/`` layout with prompts) is re-captured along each preset trajectory of
``--cam-types`` (``recam infer --cam_type`` 1..10, :data:`recam.cameras.PRESET_NAMES`; default all 10) by
``recam infer``'s own service (:func:`recam.infer.load_jobs`, :func:`recam.infer.run_inference`: the same
preprocessing, camera embedding and atomic result + side-by-side writing), then scored by the metric registry:

* camera accuracy (RotErr / TransErr / CamMC, given-pose residuals) against the preset's poses, with intrinsics of
  an assumed :data:`ASSUMED_FOCAL_MM` mm lens on the project's sensor (a folder of videos has no calibration);
* view synchronisation against the source video (Mat.Pix., CLIP-V; FVD-V over the run), text / temporal
  (CLIP-T with a prompt, CLIP-F) of the result alone; FID of the result frames against the source frames (the only
  real frames of the set-up);
* metrics that need a true target view (PSNR, SSIM, LPIPS, the reference camera floor) are not applicable: there is
  none, and the summary says so instead of filling them. FVD stays empty: against the source set it is FVD-V.

Outputs in ``--out``: ``videos/cam_type<N>/<name>.mp4`` and ``<name>_side_by_side.mp4`` (``recam infer``'s layout),
``results.csv`` (one row per (video, preset): ``pair_id`` ``<name>_cam_type<N>``, ``source`` the video's name,
``target`` ``cam_type<N>``), ``plots/``, ``eval_run.json``, ``summary.json`` / ``summary.md`` (ReCamMaster's Table 1
layout, the protocol named). A re-run skips every finished (video, preset) pair and never regenerates a video on
disk.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from synth.core.multicam_format import DatasetFormatError
from synth.core.paths import check_name, safe_join

__all__ = ["PROTOCOL", "ASSUMED_FOCAL_MM", "VIDEO_SUFFIXES", "source_jobs", "not_applicable", "run_protocol"]

#: how summary.md / summary.json name the set-up
PROTOCOL = ("ReCamMaster (--protocol recammaster): every source video re-captured along the preset trajectories "
            "{presets}; no true target views")
#: focal length (mm, on :data:`synth.core.units.SENSOR_MM`) assumed for pose estimation of the generated videos
ASSUMED_FOCAL_MM = 24.0
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm")


def source_jobs(folder: Path) -> list:
    """The source videos of ``folder`` as :class:`recam.infer.InferJob` (names unique, checked by the path policy).

    ``folder/metadata.csv`` present: upstream's layout (``file_name,text`` -> ``videos/<file_name>``, prompts);
    otherwise every file of ``folder`` with a suffix of :data:`VIDEO_SUFFIXES`, sorted, with an empty prompt.

    Raises:
        DatasetFormatError: not a folder, no video in it, or a video name the path policy refuses (names the folder
            / file and what was expected).
    """
    from synth.core.paths import UnsafePathError

    from ..infer import InferJob, jobs_from_dataset, unique_job_names

    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetFormatError(f"--dataset {folder}: not a folder; --protocol recammaster expects a folder of "
                                 f"source videos ({', '.join(VIDEO_SUFFIXES)}) or metadata.csv + videos/")
    try:
        if (folder / "metadata.csv").is_file():
            jobs = jobs_from_dataset(folder)
        else:
            jobs = [InferJob(p.stem, p, "") for p in sorted(folder.iterdir())
                    if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES]
        if not jobs:
            raise DatasetFormatError(f"--dataset {folder}: no source videos ({', '.join(VIDEO_SUFFIXES)}) in it; "
                                     f"--protocol recammaster expects a folder of videos or metadata.csv + videos/")
        jobs = unique_job_names(jobs)
        for j in jobs:  # names become output file names
            check_name(j.name, "video_name", f"--dataset {folder}: video {j.video.name}")
    except (UnsafePathError, FileNotFoundError) as e:
        raise DatasetFormatError(str(e)) from None
    except ValueError as e:  # the same video listed twice in metadata.csv
        raise DatasetFormatError(f"{folder}: {e}") from None
    return jobs


def not_applicable() -> List[str]:
    """The registered metrics that need a true target view (``"target"`` in ``needs``): their display names."""
    from .metrics import metrics

    return [m.display() for m in metrics().values() if "target" in m.needs]


def _pair_row(job, k: int, old: Optional[Dict[str, str]], out: Path, settings, get_pipe, source, todo, notes,
              opts) -> Dict[str, str]:
    """The ``results.csv`` row of ``job`` re-captured along preset ``k``: generated (unless on disk) and scored by
    ``todo`` (a finished row ``old`` gets only the columns it lacks)."""
    from synth.core.intrinsics import intrinsics_from_lens
    from synth.core.units import SENSOR_MM
    from synth.core.video_io import VideoReadError, read_video

    from ..cameras import load_trajectory
    from ..infer import output_paths, run_inference
    from .metrics import PairContext
    from .pairs import Pair
    from .run import _LOAD_ERRORS, _fmt, _score

    from synth.core.progress import console

    t0 = time.perf_counter()
    pid = f"{job.name}_cam_type{k}"
    row: Dict[str, Any] = dict(old) if old else {"pair_id": pid, "scene": job.name, "source": job.name,
                                                 "target": f"cam_type{k}"}
    msgs = [str(row["message"])] if row.get("message") else []
    try:
        out_dir = safe_join(out, "videos", f"cam_type{k}", what="preset folder")
        video = output_paths(job, out_dir)[0]
        loaded = source()
        traj = load_trajectory(k, settings.num_frames)
        if not video.is_file() and old is not None:
            raise VideoReadError(f"{video}: the generated video is gone; not regenerated for a scored pair")
        if not video.is_file():  # written with its side-by-side or not at all: never regenerated
            run_inference(get_pipe(), [loaded], traj, out_dir, steps=settings.steps, guidance=settings.guidance,
                          seed=settings.seed, log=console.print)
        gen = read_video(video, settings.num_frames)[0]
        n = min(len(gen), len(loaded.frames))
        h, w = gen.shape[1:3]
        ctx = PairContext(pair=Pair(pid, job.name, job.name, f"cam_type{k}", job.prompt), scene_dir=job.video.parent,
                          out=out, generated=gen[:n], target=None, target_c2w=traj[:n],
                          K=intrinsics_from_lens(ASSUMED_FOCAL_MM, SENSOR_MM, w, h), fps=loaded.fps,
                          pose_options=opts, source_loader=lambda: loaded.frames[:n])
        row["frames"] = n
        _score(ctx, todo, row, notes)
        msgs += ctx.messages
    except _LOAD_ERRORS as e:
        msgs.append(f"{type(e).__name__}: {e}")
        row["pose_status"] = row.get("pose_status") or "failed"
    row["seconds"] = float(row.get("seconds") or 0) + time.perf_counter() - t0
    row["message"] = "; ".join(msgs)
    return {key: _fmt(v) for key, v in row.items()}


def _run_records(rows: Sequence[Dict[str, str]], out: Path, jobs, settings, fid, fvd) -> Dict[str, Any]:
    """The per-run records (``summary.json`` ``fid`` / ``fvd``) in this protocol, from every scored result and its
    source video (features of a source computed once per video):

    * ``fid``: FID of all result frames vs all source frames (the only real frames of the set-up), with ``fid``'s
      Inception (``fid``: its state, or None when off);
    * ``fvd``: FVD-V, I3D features of each result vs its source video (``fvd``: the FVD metric's state, or None).
      FVD itself is None: against the source set it is the same number as FVD-V (reported once, as FVD-V).
    """
    from synth.core.video_io import read_video

    from ..infer import load_jobs, output_paths
    from .fvd import feature_stats, frechet_distance, fvd_from_features

    by_name = {j.name: j for j in jobs}
    feats: Dict[str, list] = {"fid_gen": [], "fid_src": [], "fvd_gen": [], "fvd_src": []}
    skipped: List[str] = []
    src_cache: Dict[str, Dict[str, np.ndarray]] = {}
    for r in rows if (fid or fvd) else ():
        if not r.get("frames"):
            skipped.append(r["pair_id"])
            continue
        job, n = by_name[r["source"]], int(r["frames"])
        try:
            g = read_video(output_paths(job, safe_join(out, "videos", r["target"], what="preset folder"))[0], n)[0]
            if job.name not in src_cache:
                s = load_jobs([job], num_frames=settings.num_frames, height=settings.height,
                              width=settings.width)[0].frames
                src_cache[job.name] = {"frames": s}
        except (ValueError, OSError) as e:
            skipped.append(f"{r['pair_id']} ({type(e).__name__}: {e})")
            continue
        n = min(n, len(g), len(src_cache[job.name]["frames"]))
        c = src_cache[job.name]
        if fid:
            c.setdefault("fid", fid.features(c["frames"][:n]))
            feats["fid_gen"].append(fid.features(g[:n]))
            feats["fid_src"].append(c["fid"])
        if fvd:
            c.setdefault("fvd", fvd.features(c["frames"][None, :n])[0])
            feats["fvd_gen"].append(fvd.features(g[None, :n])[0])
            feats["fvd_src"].append(c["fvd"])
    records: Dict[str, Any] = {}
    gen_f = np.concatenate(feats["fid_gen"]) if feats["fid_gen"] else np.zeros((0, 1))
    fid_v = (frechet_distance(*feature_stats(gen_f), *feature_stats(np.concatenate(feats["fid_src"])))
             if len(gen_f) >= 2 else None)
    records["fid"] = {"fid": fid_v, "frames": len(gen_f), "videos": len(feats["fid_gen"]),
                      "inception": str(fid.path), "inception_sha256": fid.sha256, "skipped": skipped,
                      "note": (f"FID over {len(gen_f)} result frames vs the source frames of the same pairs "
                               f"(no true target frames in this protocol; Inception {fid.path.name})"
                               if fid_v is not None else "FID not computed: fewer than 2 scored frames")} if fid \
        else {"note": "FID not computed: give --fid-inception FILE --fid-trust-model-code (vs the source frames)"}
    m = len(feats["fvd_gen"])
    fvd_v = fvd_from_features(np.stack(feats["fvd_gen"]), np.stack(feats["fvd_src"])) if m >= 2 else None
    fvd_note = ("FVD not applicable: with no true target videos its only reference is the source set, where it is "
                "FVD-V")
    records["fvd"] = {"fvd": None, "fvd_v": fvd_v, "fvd_v_videos": m, "videos": m, "i3d": str(fvd.path),
                      "i3d_sha256": fvd.sha256, "skipped": skipped,
                      "note": (f"FVD-V over {m} results vs their source videos (I3D {fvd.path.name}); biased on few "
                               f"videos" if fvd_v is not None else f"FVD-V not computed: {m} scored video(s), at "
                               f"least 2 are needed") + "; " + fvd_note} if fvd \
        else {"note": "FVD-V not computed: give --fvd-i3d PATH (local I3D weights); " + fvd_note}
    return records


def run_protocol(settings) -> List[Dict[str, str]]:
    """``recam eval --protocol recammaster`` (see the module docstring): re-capture every source video of
    ``settings.dataset`` along every preset of ``settings.cam_types``, score, write ``summary.md``.

    Args:
        settings: :class:`recam.eval.settings.EvalRunSettings` with ``protocol == "recammaster"``.

    Returns:
        the ``results.csv`` rows, ordered by video then preset.

    Raises:
        ValueError: (incl. ``DatasetFormatError``, ``MetricSetupError``) what the user must change, naming the
            flag, folder or file.
    """
    from synth.core.pose_estimation import PoseOptions
    from synth.core.progress import console, format_eta, job_progress

    from ..cameras import PRESET_NAMES
    from ..infer import load_jobs
    from .run import _check_run_files, _missing, _read_results, _write_results, load_pipeline, prepare_metrics, \
        write_summary

    if settings.engine.resolved(settings.workers) != "local":
        raise ValueError(f"--protocol recammaster runs in this process (one pipeline for the run): --workers / "
                         f"--engine are not supported with it; got --engine "
                         f"{settings.engine.resolved(settings.workers)} --workers {settings.workers}")
    jobs = source_jobs(settings.dataset)
    presets = settings.preset_list()
    active = prepare_metrics(settings.metrics, settings.device)
    todo = [a for a in active if not a.metric.per_run and "target" not in a.metric.needs]
    fvd = next((a for a in active if a.metric.name == "fvd" and a.ready), None)  # FVD-V (vs the sources)
    fid = next((a for a in active if a.metric.name == "fid" and a.ready), None)  # vs the source frames
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    _check_run_files(out, settings.recorded(), None, todo + [a for a in (fid, fvd) if a])
    opts = PoseOptions(stride=settings.pose_stride, max_size=settings.pose_max_size, mapper=settings.mapper)
    results_path = out / "results.csv"
    results = _read_results(results_path)
    pipe: List[Any] = []
    notes: List[str] = []
    total, t0, done = len(jobs) * len(presets), time.perf_counter(), 0
    console.print(f"--protocol recammaster: {len(jobs)} video(s) of {settings.dataset} x presets "
                  f"{', '.join(f'{k} ({PRESET_NAMES[k]})' for k in presets)} into {out}")

    def get_pipe():  # built on the first video that must be generated (a finished run loads no model)
        if not pipe:
            pipe.append(load_pipeline(settings))
        return pipe[0]

    with job_progress("pairs") as prog:
        task = prog.add_task("recammaster", total=total)
        for job in jobs:
            loaded: List[Any] = []

            def source(job=job, loaded=loaded):  # read once per video, only when a pair needs it
                if not loaded:
                    loaded.append(load_jobs([job], num_frames=settings.num_frames, height=settings.height,
                                            width=settings.width)[0])
                return loaded[0]

            for k in presets:
                pid = f"{job.name}_cam_type{k}"
                old = results.get(pid)
                missing = todo if old is None else _missing(old, todo)
                if old is not None and (not old.get("frames") or not missing):
                    prog.skip(task)  # finished (or failed to load) in an earlier run: not redone
                    continue
                results[pid] = _pair_row(job, k, old, out, settings, get_pipe, source, missing, notes, opts)
                _write_results(results_path, results)
                prog.advance(task)
                done += 1
                if prog.disable:
                    el = time.perf_counter() - t0
                    left = sum(1 for j in jobs for q in presets if f"{j.name}_cam_type{q}" not in results)
                    console.print(f"{pid}: {done} done, {done / el * 60:.3g} pairs/min, ETA "
                                  f"{format_eta(el / done * left)}")
    rows = [results[f"{j.name}_cam_type{k}"] for j in jobs for k in presets]
    skip = ", ".join(not_applicable())
    notes.append(f"not applicable to this protocol (no true target view): {skip} against target views; Table 1's "
                 f"FVD column stays empty (against the sources it is FVD-V), FID is against the source frames. "
                 f"Camera accuracy is against the preset's poses (intrinsics of an assumed {ASSUMED_FOCAL_MM:g} mm "
                 f"lens); FVD-V, CLIP-V and Mat.Pix. against the source video.")
    records = _run_records(rows, out, jobs, settings, fid.state if fid else None, fvd.state if fvd else None)
    write_summary(out, rows, notes, protocol=PROTOCOL.format(presets=",".join(map(str, presets))), **records)
    console.print((out / "summary.md").read_text())
    console.print(f"{len(rows)} (video, preset) pairs in {time.perf_counter() - t0:.1f} s; results in "
                  f"[bold]{out.resolve()}[/bold]")
    return rows
