"""``synth render`` as a service: :func:`run` renders the scenes a :class:`RenderRunSettings` asks for into a
dataset folder, resumably, and reports progress on the console.

The backend says what goes into ``synth_run.json`` (:meth:`BackendEntry.run_record`) and what a run needs
(:meth:`BackendEntry.session`); nothing here names a backend.
"""

from __future__ import annotations

import contextlib
import functools
import time
from typing import List

from rich.markup import escape

from ..core.layout import METADATA_CSV
from ..core.progress import console, format_eta, job_progress
from ..core.run_errors import RunInterrupted, UserError
from .run_settings import RenderRunSettings

__all__ = ["run", "RenderRunSettings"]


def run(s: RenderRunSettings) -> dict:
    """Render scenes ``0..s.scenes-1`` (or this shard's) into ``s.out``; complete scenes are skipped.

    Returns:
        :func:`synth.render.driver.summarize` of the run (scenes, skipped, images, rates).

    Raises:
        UserError: bad config/catalog, ``--out`` a file, locked or made with other settings, a backend that cannot
            start, an I/O or renderer error during the run (the scene in progress is discarded; exit 2).
        RunInterrupted: Ctrl-C (what was finished is kept; re-running resumes).
    """
    from ..core.sharding import parse_shard, shard_indices
    from ..dataset.run_setup import check_out_folder, load_inputs, lock_output
    from ..dataset.writer import DatasetMismatchError, ensure_run_manifest
    from ..scenes.splits import effective_seed, record_split
    from .outputs import OutputSpec
    from .preflight import preflight_render

    check_out_folder(s.out)
    cfg, cat = load_inputs(s.config, s.catalog)
    if cat.backend != s.backend:
        raise UserError(f"{s.catalog or 'the built-in catalog'}: backend: {cat.backend!r}, but --backend is "
                        f"{s.backend!r}; its assets cannot be loaded by the {s.backend} renderer")
    try:
        cfg = cfg.with_video(width=s.width, height=s.height, frames=s.frames)
        indices = shard_indices(s.scenes, parse_shard(s.shard))
        seed = effective_seed(s.seed, s.split)
        preflight_render(s.out, cfg, cat, s.backend, OutputSpec(depth=s.depth, masks=s.masks, preset=s.preset), seed,
                         indices, log=console.print, catalog_source=str(s.catalog or "the built-in catalog"))
    except ValueError as e:  # PreflightError too: nothing is written yet
        raise UserError(str(e)) from None
    with lock_output(s.out, s.shard, "render"):  # before the run manifest: a losing concurrent run writes nothing
        try:
            ensure_run_manifest(s.out, seed, cfg, cat, render=s.entry.run_record(s.options))
            if s.split != "train":
                record_split(s.out, s.split, s.seed)
        except DatasetMismatchError as e:
            raise UserError(str(e)) from None
        return _render(s, cfg, cat, seed, indices)


def _render(s: RenderRunSettings, cfg, cat, seed: int, indices: List[int]) -> dict:
    """Start the backend's session and render ``indices`` (the lock and the run manifest are in place)."""
    from ..dataset.writer import finish_run
    from .backend import BackendSetupError
    from ..core.engine import EngineSetupError
    from .driver import RenderSettings, render_scenes, summarize
    from .outputs import OutputSpec

    session = contextlib.ExitStack()
    try:
        kwargs = session.enter_context(s.entry.session(s.options, cfg.video.width, cfg.video.height))
    except BackendSetupError as e:
        raise UserError(str(e)) from None
    from ..core.video_io import resolve_encoder

    encoder = resolve_encoder(s.encoder)  # auto: NVENC when PyAV can use it on this machine
    settings = RenderSettings(out=s.out, seed=seed, cfg=cfg, catalog=cat, backend=s.backend,
                              spec=OutputSpec(depth=s.depth, masks=s.masks, joints=s.joints, crf=s.crf,
                                              preset=s.preset, encode_threads=s.encode_threads, encoder=encoder),
                              backend_options=kwargs)
    v = cfg.video
    engine = s.engine.resolved(s.workers)
    console.print(f"rendering {len(indices)} scenes x {cfg.cameras_per_scene} cameras x {v.frames} frames at "
                  f"{v.width}x{v.height} ({s.backend}, {s.workers} worker(s), engine {engine}, {encoder}) into {s.out}")
    done: list = []
    t0 = time.perf_counter()
    with session:  # stops what the backend's session started (a launched game), however the run ends
        try:
            _loop(settings, indices, s.workers, cfg.cameras_per_scene * v.frames, done, t0,
                  functools.partial(render_scenes, engine=s.engine))
        except KeyboardInterrupt:
            finish_run(s.out)
            console.print(f"[yellow]interrupted[/yellow] after {len(done)} scenes; nothing half-written is left in "
                          f"the dataset. Run the same command again to resume.")
            raise RunInterrupted() from None
        except EngineSetupError as e:
            finish_run(s.out)
            raise UserError(str(e)) from None
        except OSError as e:
            finish_run(s.out)
            raise UserError(f"I/O error while writing into {s.out}: {e} (re-run to resume)") from None
        except _Fatal as e:
            finish_run(s.out)
            raise UserError(f"I/O error while writing into {s.out}: {e} (the scene in progress was discarded; free "
                            f"space and re-run to resume)") from None
    rows = finish_run(s.out)
    summary = summarize(done)
    dt = time.perf_counter() - t0
    console.print(f"rendered {summary['scenes']} scenes ({summary['skipped']} already complete) in {dt:.1f} s: "
                  f"{summary['images'] / max(dt, 1e-9):.1f} images/s overall (render "
                  f"{summary['render_images_per_s']:.1f}/s, encode {summary['write_images_per_s']:.1f}/s); "
                  f"{METADATA_CSV}: {rows} rows")
    if engine != "local":
        _print_nodes(done)
    failed = [st for st in done if st.error is not None]
    if failed:
        raise UserError(f"{len(failed)} of {len(done)} scenes failed (nothing of them was written; the others "
                        f"are complete; fix the cause and re-run to render only these):\n" +
                        "\n".join(f"scene {st.index} (node {st.node or '?'}, {st.attempts} attempt(s)): {st.error}"
                                   for st in failed))
    console.print(f"dataset: [bold]{s.out.resolve()}[/bold]  (check it with: synth validate {s.out})")
    return summary


class _Fatal(Exception):
    """A scene's I/O error (disk full): every further scene would fail alike, so the run stops."""


def _print_nodes(done: list) -> None:
    """The per-node summary of the execution layer (scenes, failures, retries, images per worker-second)."""
    from ..core.engine import UnitOutcome
    from ..core.engine.summary import format_node_summary, node_summary

    outcomes = [UnitOutcome(st.index, st.error is None, st, st.error, st.node, st.attempts, st.wall_s)
                for st in done if not st.skipped]
    for line in format_node_summary(node_summary(outcomes, lambda o: o.value.images), "images"):
        console.print(line, markup=False, highlight=False)


def _loop(settings, indices: List[int], workers: int, per_scene: int, done: list, t0: float, render_scenes) -> None:
    """Render with frame-level progress from the first frame (a bar on a terminal, lines in logs), appending each
    scene's stats to ``done``. Scenes found complete (a resumed run) move the bar but not the rate or the ETA."""
    with job_progress("images") as prog:
        task = prog.add_task("render", total=len(indices) * per_scene)
        for st in render_scenes(settings, indices, workers, on_images=lambda n: prog.advance(task, n)):
            done.append(st)
            if st.fatal:
                raise _Fatal(st.error)
            if st.error is not None:  # reported once (here and in the closing summary); the others go on
                console.print(f"[red]scene {st.index} failed[/red] (node {escape(st.node or '?')}): "
                              f"{escape(st.error)}", highlight=False)
                prog.skip(task, per_scene - st.reported)  # its images captured before it failed are counted
            elif st.skipped:
                prog.skip(task, per_scene)
            elif prog.disable:  # no live bar (not a terminal): one line per scene
                console.print(scene_line(st, done, len(indices), time.perf_counter() - t0))


def scene_line(st, done: list, total: int, elapsed_s: float) -> str:
    """``scene 7 done (3/10, 2 already complete, 12.0 images/s, ETA 1m02s)``: the ETA is the scenes left at the
    pace of the scenes rendered in this run (skipped ones took no rendering time)."""
    rendered = sum(1 for d in done if not d.skipped and d.error is None)
    skipped = len(done) - rendered
    left = total - len(done)
    eta = elapsed_s / rendered * left if rendered else None
    resumed = f", {skipped} already complete" if skipped else ""
    return (f"scene {st.index} done ({len(done)}/{total}{resumed}, {st.images / max(st.wall_s, 1e-9):.1f} images/s, "
            f"ETA {format_eta(eta)})")
