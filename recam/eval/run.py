"""``recam eval``: score camera-controlled re-capture on a multi-camera dataset, where every target view is known.

A run samples (source camera, target camera) pairs of the same scene with a seed and lists them in
``pairs.csv`` (:mod:`recam.eval.pairs`). For each pair, either ReCamMaster re-captures the source video along the
target camera's trajectory (``--model-dir/--ckpt``) or an already generated video ``<videos>/<pair_id>.mp4`` is
read (``--videos``, any model). The result is scored by every enabled metric of the registry
(:mod:`recam.eval.metrics`: PSNR / SSIM, LPIPS and CLIP with local weights, RotErr / TransErr / CamMC of poses
estimated from the result and, as the estimator's own floor, from the true target video; FVD over the run).

Camera conditioning follows ReCamMaster's training contract (REFERENCE §1): the target's poses at the latent frames
relative to the source camera's frame 0. Outputs in ``--out``: ``pairs.csv``, ``results.csv`` (one row per pair, one
column group per metric, rewritten atomically after each pair: an interrupted run resumes), ``summary.json``,
``summary.md``, ``videos/<pair_id>.mp4`` (generated), ``side_by_side/<pair_id>.mp4`` (source | result | target),
``plots/<pair_id>.png`` (requested vs estimated trajectory), ``eval_run.json`` (settings, a resume must match them;
``metrics``: which metrics ran, with their options / weights), ``fvd_features/<pair_id>.npz`` (FVD).

A resumed run skips the pairs already scored, except for the metrics enabled now whose columns a pair lacks (e.g.
``--lpips-weights`` given on the second run): those are computed from the videos on disk (nothing is regenerated).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from synth.core.atomic import atomic_write_text
from synth.core.intrinsics import intrinsics_from_lens
from synth.core.rigid import relative_cam_emb
from synth.core.units import SENSOR_MM
from synth.core.layout import CAMERA_JSON, SCENE_JSON, VIDEOS_DIR, parse_lens_dir_name
from synth.core.multicam_format import DatasetFormatError, load_camera_extrinsics, read_scene_spec
from synth.core.paths import read_text_nofollow, safe_join
from synth.core.pose_estimation import PoseOptions

from .metrics import Metric, MetricOptions, MissingWeightsError, PairContext, RunContext, metrics, option_flags
from .metrics.fvd import FVD_DIR, compute_fvd
from .pairs import PAIR_FIELDS, Pair, check_pair, read_pairs, sample_pairs, write_pairs

__all__ = ["Pair", "sample_pairs", "write_pairs", "read_pairs", "EvalSettings", "ActiveMetric", "MetricSetupError",
           "prepare_metrics", "evaluate_pairs", "compute_fvd", "write_summary", "result_fields", "run", "FVD_DIR",
           "PAIR_FIELDS", "MANIFEST", "check_pair"]

MANIFEST = "eval_run.json"
_HEAD = ["pair_id", "scene", "source", "target", "frames"]
_TAIL = ["seconds", "message"]
_LOAD_ERRORS = (DatasetFormatError, ValueError, OSError)  # VideoReadError is a ValueError


@dataclass(frozen=True)
class EvalSettings:
    """Frames / size / sampler / pose-estimation settings of a run (recorded in ``eval_run.json``; a resume must
    match). ``pose_*`` are shared by the camera metrics (generated and reference)."""

    num_frames: int = 81
    height: int = 480
    width: int = 832
    steps: int = 50
    guidance: float = 5.0
    seed: int = 0
    pose_stride: int = 4
    pose_max_size: int = 512
    pose_mapper: str = "global"
    source: str = ""  # "model:<dir>|<ckpt>" or "videos:<dir>"


class MetricSetupError(ValueError):
    """A metric's weights are missing or invalid (raised before any work; the message names the flag)."""


@dataclass
class ActiveMetric:
    """A metric enabled for a run: the registry entry, its options and what its ``setup`` loaded."""

    metric: Metric
    options: MetricOptions
    state: Any = None

    @property
    def ready(self) -> bool:
        """False when ``setup`` found its weights missing (the metric only notes that per pair)."""
        return not isinstance(self.state, Exception)


def prepare_metrics(options: Optional[Mapping[str, MetricOptions]] = None, device: str = "auto") -> List[ActiveMetric]:
    """The enabled metrics of the registry, set up (weights loaded once), in column order.

    Args:
        options: a metric's options by metric name (absent: the metric's defaults).
        device: ``recam eval --device`` (auto | cpu | cuda | cuda:N) for metrics that run a network.

    Raises:
        MetricSetupError: a metric's ``setup`` failed; the message names the metric's flag and what is needed.
    """
    options = dict(options or {})
    active = []
    for name, m in metrics().items():
        opts = options.get(name) or m.Options()
        if not m.enabled(opts):
            continue
        try:
            active.append(ActiveMetric(m, opts, m.setup(opts, device)))
        except (MissingWeightsError, ValueError) as e:
            flags = ", ".join(f for k, fld in m.Options.model_fields.items() for f in option_flags(k, fld)[:1])
            raise MetricSetupError(f"{flags or m.name}: {e}") from None
    return active


def result_fields(rows: Sequence[Mapping[str, str]] = ()) -> List[str]:
    """``results.csv`` columns: pair, ``frames``, every registered metric's columns in order, columns of ``rows``
    that no registered metric has (kept), ``seconds``, ``message``."""
    fields = _HEAD + [c.name for m in metrics().values() for c in m.columns]
    extra = sorted({k for r in rows for k in r} - set(fields) - set(_TAIL))
    return fields + extra + _TAIL


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


def _fmt(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _write_results(path: Path, rows: Dict[str, Dict[str, str]]) -> None:
    fields = result_fields(list(rows.values()))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for k in sorted(rows):
        w.writerow({f: rows[k].get(f, "") for f in fields})
    atomic_write_text(path, buf.getvalue())


def _read_results(path: Path) -> Dict[str, Dict[str, str]]:
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        return {r["pair_id"]: r for r in csv.DictReader(f) if r.get("pair_id")}


def _check_run_files(out: Path, settings: EvalSettings, pairs: Optional[Sequence[Pair]],
                     active: Sequence[ActiveMetric]) -> None:
    """Write or check ``eval_run.json`` and ``pairs.csv`` (not with ``pairs`` None): the settings must match, and a
    per-pair metric that ran before must run with the same options (its column would mix two versions); newly
    enabled metrics are added.

    Raises:
        ValueError: other settings, other metric options or other pairs than the run in ``out``.
    """
    manifest = out / MANIFEST
    mine = asdict(settings)
    # read with O_NOFOLLOW: a planted symlink is refused, not read
    old = json.loads(read_text_nofollow(manifest, "run manifest")) if manifest.is_file() else {}
    diff = {k: (old.get(k), v) for k, v in mine.items() if old and old.get(k) != v}
    if diff:
        raise ValueError(f"{out} holds an evaluation run with other settings {diff}; use another --out")
    ran = dict(old.get("metrics", {}))
    for a in active:
        if not a.ready:
            continue
        rec = a.metric.record(a.options, a.state)
        if a.metric.columns and a.metric.name in ran and ran[a.metric.name] != rec:
            raise ValueError(f"{out} holds an evaluation run whose metric {a.metric.name!r} ran with "
                             f"{ran[a.metric.name]}, not {rec}; use another --out")
        ran[a.metric.name] = rec
    pairs_path = out / "pairs.csv"  # not with pairs None (--protocol: results.csv lists the (video, preset) pairs)
    if (pairs is not None and pairs_path.is_file()
            and [p.pair_id for p in read_pairs(pairs_path)] != [p.pair_id for p in pairs]):
        raise ValueError(f"{pairs_path}: holds other pairs than this run's; use another --out (or --pairs "
                         f"{pairs_path})")
    atomic_write_text(manifest, json.dumps({**mine, "metrics": ran}, indent=1) + "\n")
    if pairs is not None and not pairs_path.is_file():
        write_pairs(pairs_path, pairs)


def _load_pair(root: Path, pair: Pair, out: Path, settings: EvalSettings, generate, videos_dir: Optional[Path],
               opts: PoseOptions) -> Tuple[PairContext, Optional[np.ndarray]]:
    """The pair's :class:`PairContext` (generating its video first when ``generate`` is given and the video is not
    on disk yet) and the source frames the run already holds (model runs) for the side-by-side video."""
    from synth.core.video_io import VideoReadError, read_video, write_video

    from ..cameras import latent_frame_indices
    from ..video import resize_center_crop

    scene_dir = root / "train" / pair.scene
    cams = load_camera_extrinsics(scene_dir / CAMERA_JSON)
    for c in (pair.source, pair.target):
        if c not in cams:
            raise DatasetFormatError(f"{scene_dir / CAMERA_JSON}: no camera {c}")
    src_path = scene_dir / VIDEOS_DIR / f"{pair.source}.mp4"
    tgt_raw, fps = read_video(scene_dir / VIDEOS_DIR / f"{pair.target}.mp4", None)
    src = None
    if videos_dir is not None:
        gen, _ = read_video(Path(videos_dir) / f"{pair.pair_id}.mp4", None)
        n = min(len(gen), len(tgt_raw), len(cams[pair.target]))
        gen, tgt_raw = gen[:n], tgt_raw[:n]
    else:
        n = F = settings.num_frames
        src_raw, fps = read_video(src_path, F)
        src = resize_center_crop(src_raw, settings.height, settings.width)
        done_video = safe_join(out, "videos", f"{pair.pair_id}.mp4", what="pair_id")
        if done_video.is_file():  # generated before (written atomically): never redone
            gen = read_video(done_video, F)[0]
        elif generate is None:
            raise VideoReadError(f"{done_video}: the generated video is gone; not regenerated for a resumed pair")
        else:
            cam_emb = relative_cam_emb(cams[pair.source][0], cams[pair.target][latent_frame_indices(F)])
            gen = generate(src, pair.prompt, cam_emb)
            write_video(done_video, gen, fps)
        tgt_raw = tgt_raw[:F]
    if len(tgt_raw) < n:
        raise VideoReadError(f"{pair.target}.mp4: {len(tgt_raw)} frames, {n} needed")
    h, w = gen.shape[1:3]
    K = _crop_intrinsics(intrinsics_from_lens(_focal_mm(scene_dir), SENSOR_MM, tgt_raw.shape[2], tgt_raw.shape[1]),
                         tgt_raw.shape[1], tgt_raw.shape[2], h, w)

    def source():  # the source at the generated video's size, read only when a metric needs it
        return src if src is not None else resize_center_crop(read_video(src_path, None)[0][:n], h, w)

    ctx = PairContext(pair=pair, scene_dir=scene_dir, out=out, generated=gen, target=resize_center_crop(tgt_raw, h, w),
                      target_c2w=cams[pair.target][:n], K=K, fps=fps, pose_options=opts, source_loader=source)
    return ctx, src


def _score(ctx: PairContext, todo: Sequence[ActiveMetric], row: Dict[str, object], notes: List[str]) -> None:
    """Fill ``row`` with the columns of every metric of ``todo``; a metric without its weights adds a note, one that
    fails on this pair adds a message (the others still run)."""
    for a in todo:
        try:
            row.update(a.metric.score(ctx, a.state))
        except MissingWeightsError as e:
            note = f"{a.metric.display()} not computed: {e}"
            if note not in notes:
                notes.append(note)
        except _LOAD_ERRORS as e:
            ctx.say(f"{a.metric.display()}: {type(e).__name__}: {e}")


def _missing(row: Mapping[str, str], active: Sequence[ActiveMetric]) -> List[ActiveMetric]:
    """The per-pair metrics of ``active`` none of whose columns ``row`` holds."""
    return [a for a in active if not any(row.get(c.name) for c in a.metric.columns)]


def _score_pair(root: Path, pair: Pair, out: Path, settings: EvalSettings, generate, videos_dir, opts: PoseOptions,
                old: Optional[Mapping[str, str]], todo: Sequence[ActiveMetric], notes: List[str]) -> Dict[str, str]:
    """The ``results.csv`` row of one pair: a new pair is loaded (generated), written side by side and scored by
    ``todo``; an already scored one (``old``) gets the columns of ``todo`` added from the videos on disk."""
    from synth.core.video_io import write_video

    t0 = time.perf_counter()
    row: Dict[str, object] = dict(old) if old else {"pair_id": pair.pair_id, "scene": pair.scene,
                                                    "source": pair.source, "target": pair.target}
    msgs = [str(row["message"])] if row.get("message") else []
    try:
        ctx, src = _load_pair(root, pair, out, settings, generate if old is None else None, videos_dir, opts)
        if old is None:
            row["frames"] = len(ctx.target)
            panels = [x for x in (src, ctx.generated, ctx.target) if x is not None]
            write_video(safe_join(out, "side_by_side", f"{pair.pair_id}.mp4", what="pair_id"),
                        np.concatenate(panels, axis=2), ctx.fps)
        _score(ctx, todo, row, notes)
        msgs += ctx.messages
    except _LOAD_ERRORS as e:
        msgs.append(f"{type(e).__name__}: {e}")
        row["pose_status"] = row.get("pose_status") or "failed"
    row["seconds"] = float(row.get("seconds") or 0) + time.perf_counter() - t0
    row["message"] = "; ".join(msgs)
    return {k: _fmt(v) for k, v in row.items()}


def evaluate_pairs(root: Path, pairs: Sequence[Pair], out: Path, settings: EvalSettings,
                   generate: Optional[Callable[[np.ndarray, str, np.ndarray], np.ndarray]] = None,
                   videos_dir: Optional[Path] = None, active: Optional[Sequence[ActiveMetric]] = None,
                   on_done: Optional[Callable[[str, Dict[str, str], bool], None]] = None,
                   on_progress: Optional[Callable[[Metric, int, int], None]] = None, engine=None, workers: int = 1,
                   pair_worker: Optional[Callable] = None) -> List[Dict[str, str]]:
    """Score every pair with every active metric (resuming from ``out/results.csv``); write all outputs (module
    docstring). The pairs are units of the execution layer (:mod:`synth.core.engine`); this process alone writes
    ``results.csv`` as they finish.

    Args:
        root: dataset root (``train/<lens>/scene<N>/{videos,cameras}``).
        generate: ``(source frames (F, H, W, 3) uint8, prompt, cam_emb (F_latent, 12)) -> (F, H, W, 3) uint8``;
            exactly one of ``generate`` and ``videos_dir`` (``<pair_id>.mp4`` made by any model).
        active: the metrics to compute (:func:`prepare_metrics`; default: the registry's defaults).
        on_done: ``(pair_id, row, skipped)`` after each pair.
        on_progress: ``(metric, done, total)`` of a per-run metric's pass (FVD's feature extraction).
        engine, workers: where the pairs are scored (:class:`synth.core.engine.EngineSettings`, ``workers`` of
            them); None: in this process with ``generate`` and ``active``.
        pair_worker: with an engine other than local: the picklable factory of a worker that builds its own
            generator and metrics (:func:`make_pair_worker`); ``generate`` is then unused.

    Raises:
        ValueError: ``out`` holds a run with other settings, metric options or pairs, or both / neither of
            generate / videos_dir. UnsafePathError (a ValueError): a pair id, scene or camera breaks the path
            policy (:func:`recam.eval.pairs.check_pair`), raised before anything is written.
    """
    if (generate is None) == (videos_dir is None) and not (pair_worker is not None and generate is None):
        raise ValueError("evaluate_pairs: give exactly one of generate or videos_dir")
    for p in pairs:  # the path policy, before anything is written: pair ids become output file names
        check_pair(p)
    root, out = Path(root), Path(out)
    active = prepare_metrics() if active is None else list(active)
    out.mkdir(parents=True, exist_ok=True)
    _check_run_files(out, settings, pairs, active)
    opts = PoseOptions(stride=settings.pose_stride, max_size=settings.pose_max_size, mapper=settings.pose_mapper)
    per_pair = [a for a in active if not a.metric.per_run]
    results_path = out / "results.csv"
    results = _read_results(results_path)
    notes: List[str] = []
    units = []
    for pair in pairs:
        old = results.get(pair.pair_id)
        todo = per_pair if old is None else _missing(old, per_pair)
        if old is not None and (not old.get("frames") or not todo):  # failed to load: not retried
            if on_done:
                on_done(pair.pair_id, results[pair.pair_id], True)
        else:
            units.append((pair, old, [a.metric.name for a in todo]))
    from synth.core.engine import EngineSettings, EngineSetupError, Job

    engine = engine or EngineSettings()
    if pair_worker is None or engine.resolved(workers) == "local":  # the caller's closures: not pickled
        engine = EngineSettings(engine="local")
        make = lambda ctx: PairScorer(root, out, settings, generate, videos_dir, opts, per_pair)  # noqa: E731
    else:
        make = pair_worker
    try:
        _score_units(Job("eval", units, make, workers, root=out, unit_label=lambda u: u[0].pair_id), engine,
                     results, results_path, notes, on_done)
    except EngineSetupError as e:  # a worker cannot see --out or cannot start: what the user must change
        raise ValueError(str(e)) from None
    records = _aggregate(root, pairs, results, out, videos_dir, active, on_progress)
    rows = [results[p.pair_id] for p in pairs]
    write_summary(out, rows, notes, **records)
    return rows


def _score_units(job, engine, results, results_path: Path, notes: List[str], on_done) -> None:
    """Run the pairs of ``job`` on ``engine``; this process alone writes ``results.csv``, after each pair."""
    from synth.core.engine import run_job

    for o in run_job(job, engine):
        pair = o.unit[0]
        if not o.ok:  # _score_pair reports a pair that cannot be loaded in its row; this is a bug or a lost worker
            raise RuntimeError(f"pair {pair.pair_id} (node {o.node}): {o.error}")
        results[pair.pair_id], pair_notes = o.value
        notes.extend(n for n in pair_notes if n not in notes)
        _write_results(results_path, results)
        if on_done:
            on_done(pair.pair_id, results[pair.pair_id], False)


class PairScorer:
    """A worker of the execution layer for ``recam eval``: scores one pair per unit ``(pair, old row, names of the
    metrics to add)`` with the generator and metrics it holds; returns ``(row, notes)``."""

    def __init__(self, root, out, settings, generate, videos_dir, opts, active):
        self.args = (Path(root), Path(out), settings, generate, videos_dir, opts)
        self.active = list(active)

    def __call__(self, unit):
        pair, old, names = unit
        root, out, settings, generate, videos_dir, opts = self.args
        notes: List[str] = []
        todo = [a for a in self.active if a.metric.name in names]
        row = _score_pair(root, pair, out, settings, generate, videos_dir, opts, old, todo, notes)
        return row, notes


def make_pair_worker(run_settings, ctx) -> PairScorer:
    """The worker factory of ``recam eval`` on an engine (module level: pickled to processes / Ray actors): the
    enabled metrics and, with ``--model-dir``, the pipeline are built once in the worker, on its device."""
    settings = run_settings.recorded()
    active = [a for a in prepare_metrics(run_settings.metrics, run_settings.device) if not a.metric.per_run]
    generate = _generator(run_settings) if run_settings.model_dir is not None else None
    opts = PoseOptions(stride=settings.pose_stride, max_size=settings.pose_max_size, mapper=settings.pose_mapper)
    return PairScorer(run_settings.dataset, run_settings.out, settings, generate, run_settings.videos, opts, active)


def _aggregate(root, pairs, results, out, videos_dir, active, on_progress) -> Dict[str, Dict[str, Any]]:
    """The records of the per-run metrics of ``active`` (``summary.json``, by metric name)."""
    records = {}
    for a in active:
        if a.metric.per_run and a.ready:
            progress = (lambda i, n, m=a.metric: on_progress(m, i, n)) if on_progress else None
            run_ctx = RunContext(root, pairs, results, out, Path(videos_dir) if videos_dir else out / "videos",
                                 progress)
            records[a.metric.name] = a.metric.aggregate(run_ctx, a.state)
    return records


def _column_stats(rows: Sequence[Mapping[str, str]], name: str) -> Dict[str, Any]:
    """n / mean / median of a column's finite numbers over ``rows`` (empty and non-numeric cells left out)."""
    v = []
    for r in rows:
        try:
            x = float(r.get(name, "") or "nan")
        except ValueError:
            continue
        if math.isfinite(x):
            v.append(x)
    return {"n": len(v), "mean": float(np.mean(v)) if v else None, "median": float(np.median(v)) if v else None}


#: ReCamMaster's Table 1: (group, header with the better direction, where the value is in summary.json)
TABLE1 = (("Visual quality", "FID ↓", ("fid", "fid")), ("Visual quality", "FVD ↓", ("fvd", "fvd")),
          ("Text / temporal", "CLIP-T ↑", ("metrics", "clip_t")),
          ("Text / temporal", "CLIP-F ↑", ("metrics", "clip_f")),
          ("Camera accuracy", "RotErr ↓", ("metrics", "rot_err_deg")),
          ("Camera accuracy", "TransErr ↓", ("metrics", "trans_err")),
          ("View synchronisation", "Mat.Pix. ↑", ("metrics", "mat_pix")),
          ("View synchronisation", "FVD-V ↓", ("fvd", "fvd_v")),
          ("View synchronisation", "CLIP-V ↑", ("metrics", "clip_v")))


def table1_values(summary: Mapping[str, Any]) -> Dict[str, Optional[float]]:
    """ReCamMaster's Table 1 columns (header -> value, None when not computed) from a ``summary.json`` dict: the
    per-run FID / FVD / FVD-V and the means over pairs of the per-pair columns."""
    out: Dict[str, Optional[float]] = {}
    for _, header, (key, field) in TABLE1:
        rec = summary.get(key) or {}
        v = rec.get(field) if key != "metrics" else (rec.get(field) or {}).get("mean")
        out[header] = None if v is None else float(v)
    return out


def _table1_md(summary: Mapping[str, Any]) -> List[str]:
    """ReCamMaster's Table 1 layout (groups, arrows for the better direction); "–" where a column was not
    computed (the notes below say which flag computes it)."""
    values = table1_values(summary)
    groups = [g for g, _, _ in TABLE1]
    return ["ReCamMaster Table 1 layout (means over the pairs; FID / FVD / FVD-V over the run; RotErr in degrees, "
            "TransErr and Mat.Pix. as in results.csv's units):", "",
            "| " + " | ".join(f"{g}: {h}" if g != (groups[i - 1] if i else None) else h
                              for i, (g, h, _) in enumerate(TABLE1)) + " |",
            "|" + "---:|" * len(TABLE1),
            "| " + " | ".join("–" if v is None else f"{v:.4g}" for v in values.values()) + " |", ""]


def _summary_md(summary: Mapping[str, Any], per_run: Sequence[Metric]) -> str:
    def f(x):
        return "" if x is None else f"{x:.4g}"

    head = [f"Protocol: {summary['protocol']}", ""] if summary.get("protocol") else []
    lines = head + _table1_md(summary) + ["| metric | pairs | mean | median |", "|---|---:|---:|---:|"]
    lines += [f"| {k} | {m['n']} | {f(m['mean'])} | {f(m['median'])} |" for k, m in summary["metrics"].items()]
    for m in per_run:
        row = m.summary_row(summary[m.name]) if summary[m.name] else None
        if row is not None:
            lines.append(f"| {m.name} | {row[0]} | {row[1]:.4g} | |")
    lines += ["", "pose status: " + ", ".join(f"{k or 'none'} {v}" for k, v in sorted(summary["pose_status"].items()))]
    for note in summary["notes"]:
        lines += ["", note]
    return "\n".join(lines) + "\n"


def write_summary(out: Path, rows: Sequence[Dict[str, str]], notes: Sequence[str] = (),
                  protocol: Optional[str] = None, **run_records: Optional[Dict[str, Any]]) -> dict:
    """``summary.json`` and ``summary.md`` (the same as a Markdown table); ``protocol``: the evaluation set-up's
    description (``--protocol``), the ``protocol`` key of ``summary.json`` and the first line of ``summary.md``.

    ``summary.json``: ``pairs``, ``pose_status`` counts, ``metrics`` (n / mean / median over the pairs that have it,
    for each summarised column of the registered metrics), one key per per-run metric (its record, e.g.
    ``fvd=`` :func:`compute_fvd`'s, or None when it did not run), ``notes`` and ``units``.
    """
    registered = list(metrics().values())
    columns = [c for m in registered for c in m.columns if c.summarize]
    per_run = [m for m in registered if m.per_run]
    status: Dict[str, int] = {}
    for r in rows:
        status[r.get("pose_status", "")] = status.get(r.get("pose_status", ""), 0) + 1
    records = {m.name: run_records.get(m.name) for m in per_run}
    summary = {"pairs": len(rows), "pose_status": status,
               "metrics": {c.name: _column_stats(rows, c.name) for c in columns}, **records,
               "notes": list(notes) + [records[m.name]["note"] if records[m.name] else m.missing_note
                                       for m in per_run],
               "units": {c.name: c.unit for c in columns}}
    if protocol is not None:
        summary["protocol"] = protocol
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    atomic_write_text(out / "summary.md", _summary_md(summary, per_run))
    return summary


def load_pipeline(settings):
    """The ReCamMaster pipeline of ``--model-dir`` / ``--ckpt`` on ``--device`` in ``--dtype`` (built once per run).

    Raises:
        ValueError: the model folder, checkpoint, device or dtype cannot be used (the message says which).
    """
    from synth.core.progress import console

    from ..infer import resolve_device_dtype
    from ..pipeline import ReCamMasterPipeline

    try:
        dev, dt = resolve_device_dtype(settings.device, settings.dtype)
        pipe = ReCamMasterPipeline.from_wan(settings.model_dir, settings.ckpt, torch_dtype=dt)
    except (FileNotFoundError, ValueError, OSError) as e:
        raise ValueError(str(e)) from None
    if settings.ckpt is None:
        console.print("[yellow]warning:[/yellow] no --ckpt: camera modules untrained")
    pipe.to(dev)
    return pipe


def _generator(settings) -> Callable[[np.ndarray, str, np.ndarray], np.ndarray]:
    """ReCamMaster's re-capture as :func:`evaluate_pairs`' ``generate`` (pipeline built once, on the device).

    Raises:
        ValueError: the model folder, checkpoint, device or dtype cannot be used (the message says which).
    """
    import torch

    from ..video import frames_to_tensor

    pipe = load_pipeline(settings)

    def generate(frames, prompt, cam_emb):
        return pipe(frames_to_tensor(frames)[None], prompt, torch.from_numpy(cam_emb).float(),
                    num_inference_steps=settings.steps, guidance_scale=settings.guidance, seed=settings.seed).frames[0]

    return generate


def run(settings) -> List[Dict[str, str]]:
    """``recam eval``: set up the enabled metrics (their weights first: a missing file stops the run before any
    work), read or sample the pairs, build the generator (``--model-dir``), score every pair with progress, print
    ``summary.md``.

    Args:
        settings: :class:`recam.eval.settings.EvalRunSettings` (checked flags).

    Returns:
        the ``results.csv`` rows of the run's pairs.

    Raises:
        ValueError: (incl. :class:`MetricSetupError`, ``DatasetFormatError``) what the user must change; the
            message names the flag or file.
    """
    from synth.core.progress import console, job_progress

    active = prepare_metrics(settings.metrics, settings.device)
    plist = read_pairs(settings.pairs) if settings.pairs is not None else sample_pairs(
        settings.dataset, settings.num_pairs, settings.seed)
    remote = settings.engine.resolved(settings.workers) != "local"  # workers build their own pipeline
    generate = _generator(settings) if settings.model_dir is not None and not remote else None
    out = settings.out
    console.print(f"evaluating {len(plist)} pairs of {settings.dataset} into {out} with "
                  f"{', '.join(a.metric.name for a in active)}")
    t0 = time.perf_counter()
    count = [0, 0]
    # one line per pair without a terminal: the first summarised column of each per-pair metric
    shown = [next(c.name for c in a.metric.columns if c.summarize) for a in active
             if any(c.summarize for c in a.metric.columns)]
    with job_progress("pairs") as prog:
        task = prog.add_task("eval", total=len(plist))

        def on_done(pid, row, skipped):
            count[0] += 1
            count[1] += 0 if skipped else 1
            if skipped:
                prog.skip(task)  # scored by an earlier run: not counted in the rate or the ETA
            else:
                prog.advance(task)
            if prog.disable and not skipped:
                el = time.perf_counter() - t0
                scores = ", ".join(f"{c} {row.get(c, '')}" for c in shown)
                console.print(f"{pid}: {scores}, poses {row.get('pose_status', '')} ({count[0]}/{len(plist)}, "
                              f"ETA {el / count[1] * (len(plist) - count[0]):.0f} s)")

        ticks: List[float] = []

        def on_progress(metric, i, n):
            ticks.append(time.perf_counter())
            rate = (len(ticks) - 1) / (ticks[-1] - ticks[0]) if len(ticks) > 1 else 0.0
            eta = f", ETA {(n - i) / rate:.0f} s" if rate > 0 else ""
            console.print(f"{metric.display()}: {metric.progress_text} {i}/{n}{eta}")

        rows = evaluate_pairs(settings.dataset, plist, out, settings.recorded(), generate=generate,
                              videos_dir=settings.videos, active=active, on_done=on_done, on_progress=on_progress,
                              engine=settings.engine, workers=settings.workers,
                              pair_worker=functools.partial(make_pair_worker, settings) if remote else None)
    failed = sum(r.get("pose_status") == "failed" for r in rows)
    console.print((out / "summary.md").read_text())
    console.print(f"{len(rows)} pairs ({failed} failed) in {time.perf_counter() - t0:.1f} s; results in "
                  f"[bold]{out.resolve()}[/bold]")
    return rows
