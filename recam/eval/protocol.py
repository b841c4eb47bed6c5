"""``recam eval --protocol recammaster``: ReCamMaster's evaluation set-up on any folder of videos.

Every source video of ``--dataset`` (``*.mp4`` / ``.mov`` / ``.mkv`` / ``.avi`` / ``.webm`` in the folder, or
upstream's ``metadata.csv`` + ``videos/`` layout with prompts) is re-captured along each preset trajectory of
``--cam-types`` (``recam infer --cam_type`` 1..10, :data:`recam.cameras.PRESET_NAMES`; default all 10) by
``recam infer``'s own service (:func:`recam.infer.load_jobs`, :func:`recam.infer.run_inference`: the same
preprocessing, camera embedding and atomic result + side-by-side writing), then scored by the metric registry:

* camera accuracy (RotErr / TransErr / CamMC, given-pose residuals) against the preset's poses, with intrinsics of
  an assumed :data:`ASSUMED_FOCAL_MM` mm lens on the project's sensor (a folder of videos has no calibration);
* view synchronisation against the source video (Mat.Pix., CLIP-V; FVD-V over the run), text / temporal
  (CLIP-T with a prompt, CLIP-F) of the result alone;
* metrics that need a true target view (PSNR, SSIM, LPIPS, the reference camera floor; FID and FVD against target
  views) are not applicable: there is none, and the summary says so instead of filling them.

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


def _fvd_v(rows: Sequence[Dict[str, str]], out: Path, jobs, settings, state) -> Dict[str, Any]:
    """The FVD metric's ``summary.json`` record in this protocol: FVD-V (I3D features of every scored result vs its
    source video, the FVD metric's weights); FVD itself needs true target videos (None, with the note)."""
    from synth.core.video_io import read_video

    from ..infer import load_jobs, output_paths
    from .fvd import fvd_from_features

    by_name = {j.name: j for j in jobs}
    gen, src, skipped = [], [], []
    for r in rows:
        if not r.get("frames"):
            skipped.append(r["pair_id"])
            continue
        job, n = by_name[r["source"]], int(r["frames"])
        try:
            g = read_video(output_paths(job, safe_join(out, "videos", r["target"], what="preset folder"))[0], n)[0]
            s = load_jobs([job], num_frames=settings.num_frames, height=settings.height,
                          width=settings.width)[0].frames[:n]
        except (ValueError, OSError) as e:
            skipped.append(f"{r['pair_id']} ({type(e).__name__}: {e})")
            continue
        f = state.features(np.stack([g[:n], s]))
        gen.append(f[0])
        src.append(f[1])
    value = fvd_from_features(np.stack(gen), np.stack(src)) if len(gen) >= 2 else None
    note = (f"FVD-V over {len(gen)} results vs their source videos (I3D {state.path.name}); biased on few videos"
            if value is not None else f"FVD-V not computed: {len(gen)} scored video(s), at least 2 are needed")
    return {"fvd": None, "fvd_v": value, "fvd_v_videos": len(gen), "videos": len(gen), "i3d": str(state.path),
            "i3d_sha256": state.sha256, "skipped": skipped,
            "note": note + "; FVD (and FID) not applicable: they compare with true target views, which this "
                           "protocol has none of"}


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

    jobs = source_jobs(settings.dataset)
    presets = settings.preset_list()
    active = prepare_metrics(settings.metrics, settings.device)
    todo = [a for a in active if not a.metric.per_run and "target" not in a.metric.needs]
    fvd = next((a for a in active if a.metric.name == "fvd" and a.ready), None)
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    _check_run_files(out, settings.recorded(), None, todo + ([fvd] if fvd else []))
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
    notes.append(f"not applicable to this protocol (no true target view): {skip}; Table 1's FID and FVD columns "
                 f"stay empty. Camera accuracy is against the preset's poses (intrinsics of an assumed "
                 f"{ASSUMED_FOCAL_MM:g} mm lens); FVD-V, CLIP-V and Mat.Pix. against the source video.")
    records: Dict[str, Any] = {"fid": {"note": "FID not applicable to --protocol recammaster: it compares with true "
                                               "target frames"}}
    records["fvd"] = (_fvd_v(rows, out, jobs, settings, fvd.state) if fvd else
                      {"note": "FVD-V not computed: give --fvd-i3d PATH (local I3D weights); FVD not applicable"})
    write_summary(out, rows, notes, protocol=PROTOCOL.format(presets=",".join(map(str, presets))), **records)
    console.print((out / "summary.md").read_text())
    console.print(f"{len(rows)} (video, preset) pairs in {time.perf_counter() - t0:.1f} s; results in "
                  f"[bold]{out.resolve()}[/bold]")
    return rows
