"""Rendering datasets: the per-scene frame loop and the multi-scene job (resumable, sharded, multi-process).

Per scene the main thread drives the backend (GL contexts belong to one thread) while a writer thread encodes the
previous frames, so rendering and encoding overlap; a bounded queue caps memory. Every scene is assembled in a
staging folder and renamed into place complete (:func:`synth.dataset.writer.staged_scene`).
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np

from ..scenes.catalog import Catalog
from ..scenes.config import SynthConfig
from ..core.poses import Poses
from ..core.scene_spec import SceneSpec
from ..core.layout import PARTIAL_DIR
from ..core.signals import sigterm_as_interrupt
from ..core.multicam_format import write_scene_files
from ..dataset.writer import scene_outputs_present, staged_scene
from .backend import CaptureRequest, RenderError, RendererBackend, RetryableRenderError
from .outputs import OutputSpec, SceneWriter, expected_files
from .backends import get_backend

__all__ = ["SceneStats", "RenderSettings", "render_scene", "render_scenes", "make_backend", "scene_is_complete"]

log = logging.getLogger(__name__)


@dataclass
class SceneStats:
    index: int
    frames: int = 0
    cameras: int = 0
    render_s: float = 0.0
    write_s: float = 0.0
    wall_s: float = 0.0
    loop_s: float = 0.0  # the frame loop alone (no scene setup, no warm-up)
    loop_cpu_s: float = 0.0  # CPU seconds of this process (every thread) over that same loop (benchmarks)
    skipped: bool = False
    #: set by :func:`render_scenes`: the scene's failure reason (None: rendered or skipped), the node that ran it,
    #: its attempts (> 1: a worker died under it) and whether the failure stops the run (an I/O error)
    error: Optional[str] = None
    node: str = ""
    attempts: int = 1
    fatal: bool = False
    #: camera images of this scene already passed to ``on_images`` (progress) when it was yielded
    reported: int = 0

    @property
    def images(self) -> int:
        return self.frames * self.cameras


@dataclass(frozen=True)
class RenderSettings:
    """Everything a worker needs to render scenes of a run (picklable for worker processes)."""

    out: Path
    seed: int
    cfg: SynthConfig
    catalog: Catalog
    backend: str = "embedded"
    spec: OutputSpec = OutputSpec()
    backend_options: Dict = field(default_factory=dict)
    warmup: int = 1
    queue_frames: int = 3
    #: attempts per scene on transient faults (each attempt starts the scene from scratch)
    max_attempts: int = 3


def make_backend(name: str, catalog: Catalog, num_cameras: int, options: Dict) -> RendererBackend:
    """Instantiate the backend registered as ``name`` (:mod:`synth.render.backends`) with the keyword ``options``
    its session yielded.

    Raises:
        UnknownBackendError: (a ``KeyError``) no backend of that name; the message lists the registered ones.
    """
    return get_backend(name).create(catalog, num_cameras, **options)


def scene_is_complete(settings: RenderSettings, plan: SceneSpec) -> bool:
    from ..core.video_check import scene_videos_intact

    files = expected_files(plan.camera_names(), plan.video.frames, settings.spec)
    scene_dir = settings.out / plan.relpath
    return scene_outputs_present(scene_dir, plan, files) and \
        scene_videos_intact(scene_dir, plan.camera_names(), plan.video.frames)  # a truncated video: render again


def render_scene(backend: RendererBackend, plan: SceneSpec, catalog: Catalog, scene_dir: Path, spec: OutputSpec,
                 warmup: int = 1, queue_frames: int = 3,
                 on_images: Optional[Callable[[int], None]] = None) -> SceneStats:
    """Render every frame of ``plan`` with ``backend`` into ``scene_dir`` (plan files, videos, extras).

    ``on_images(n)`` is called after each frame's ``n`` camera images are captured (progress from the first frame).

    All cameras of frame ``f`` are captured after one ``set_animation_time(plan.animation_time_s(f))``: one world
    state per frame. ``warmup`` extra captures of frame 0 are discarded first (shader compilation; Unreal's
    temporal AA and exposure history).
    """
    t_wall = time.perf_counter()
    stats = SceneStats(plan.index, plan.video.frames, len(plan.cameras))
    backend.load_environment(catalog.environment(plan.environment_id), plan.lighting)
    backend.spawn_character(catalog.character(plan.character_id), plan.character_location_cm, plan.character_yaw_deg)
    backend.set_animation(catalog.animation(plan.animation_id))
    backend.set_lens(plan.lens, plan.video.width, plan.video.height)
    fm = np.stack([c.fmatrices() for c in plan.cameras])  # (C, F, 4, 4) exactly as written
    poses = [Poses.from_fmatrix(fm[:, f], where=f"scene {plan.index} frame {f}") for f in range(fm.shape[1])]
    write_scene_files(scene_dir, plan)
    focal = plan.focal_lengths_mm() if plan.zooms else None  # (C, F) mm of a scene with a zooming camera
    writer = SceneWriter(scene_dir, plan.camera_names(), fm, plan.intrinsics() if focal is None else
                         plan.camera_intrinsics(), plan.video.fps, plan.video.width,
                         plan.video.height, plan.video.frames, spec)
    request = CaptureRequest(depth=spec.depth or spec.joints, mask=spec.masks)
    q: "queue.Queue" = queue.Queue(maxsize=max(1, queue_frames))
    errors: List[BaseException] = []

    def consume() -> None:
        while True:
            item = q.get()
            if item is None:
                return
            if errors:
                continue  # keep draining so the producer never blocks
            t0 = time.perf_counter()
            try:
                writer.write_frame(*item)
            except BaseException as e:  # noqa: BLE001 - re-raised in the main thread
                errors.append(e)
            stats.write_s += time.perf_counter() - t0

    thread = threading.Thread(target=consume, name=f"writer-scene{plan.index}", daemon=True)
    thread.start()
    try:
        for _ in range(warmup):
            backend.set_animation_time(plan.animation_time_s(0))
            backend.set_camera_poses(poses[0])
            if focal is not None:
                backend.set_focal_lengths(focal[:, 0])
            backend.capture(request)
        t_loop, c_loop = time.perf_counter(), time.process_time()
        for f in range(plan.video.frames):
            if errors:
                raise errors[0]
            t0 = time.perf_counter()
            backend.set_animation_time(plan.animation_time_s(f))
            backend.set_camera_poses(poses[f])
            if focal is not None:  # the focal lengths camera_intrinsics.json states for this frame
                backend.set_focal_lengths(focal[:, f])
            caps = backend.capture(request)
            joints = backend.joint_positions_cm() if spec.joints else None
            stats.render_s += time.perf_counter() - t0
            q.put((f, caps, joints))
            if on_images is not None:
                on_images(len(caps))
        q.put(None)
        thread.join()
        if errors:
            raise errors[0]
        writer.close()
        stats.loop_s = time.perf_counter() - t_loop
        stats.loop_cpu_s = time.process_time() - c_loop
    except BaseException:
        q.put(None)
        thread.join(timeout=60)
        writer.abort()
        raise
    stats.wall_s = time.perf_counter() - t_wall
    return stats


# ------------------------------------------------------------------------------------------------------------------
# Jobs
# ------------------------------------------------------------------------------------------------------------------

def _render_index(settings: RenderSettings, backend: RendererBackend, index: int,
                  on_images: Optional[Callable[[int], None]] = None) -> SceneStats:
    from ..scenes.sampling import sample_scene

    plan = sample_scene(settings.cfg, settings.catalog, settings.seed, index)
    if scene_is_complete(settings, plan):
        return SceneStats(index, skipped=True)
    warmup = max(settings.warmup, getattr(backend, "warmup", 0))
    for attempt in range(1, settings.max_attempts + 1):
        try:
            with staged_scene(settings.out, plan) as tmp:  # a failed attempt leaves nothing behind
                return render_scene(backend, plan, settings.catalog, tmp, settings.spec, warmup,
                                    settings.queue_frames, on_images)
        except RetryableRenderError as e:
            if attempt == settings.max_attempts:
                raise RenderError(f"scene {index} failed {attempt} times; last fault: {e}") from None
            log.warning("scene %d attempt %d failed (%s); rendering it again from the start", index, attempt, e)
    raise AssertionError("unreachable")


class _RenderWorker:
    """One long-lived render worker of the execution layer (:mod:`synth.core.engine`): its backend (and GL context)
    is built once and renders many scenes."""

    def __init__(self, settings: RenderSettings, backend: RendererBackend, report, own: bool = True):
        self.settings, self.backend, self.report, self.own = settings, backend, report, own

    def __call__(self, index: int) -> SceneStats:
        st = _render_index(self.settings, self.backend, index, lambda n: self.report((index, n)))
        st.node = socket.gethostname()
        return st

    def close(self) -> None:
        if self.own:
            self.backend.close()


def make_render_worker(settings: RenderSettings, ctx) -> _RenderWorker:
    """The worker factory of a render job (module level: pickled to worker processes and Ray actors).

    Args:
        settings: the run's settings.
        ctx: :class:`synth.core.engine.WorkerContext` (``ctx.report((index, n))``: n camera images of scene
            ``index`` captured).
    """
    return _RenderWorker(settings, make_backend(settings.backend, settings.catalog, settings.cfg.cameras_per_scene,
                                                settings.backend_options), ctx.report)


def _owner_is_dead(name: str) -> bool:
    """True if a staging folder ``scene<N>.<host>.<pid>`` belongs to a process of this host that has ended (a
    killed run); folders of other hosts (shards of an array job) or of live processes are not ours to judge."""
    _, _, rest = name.partition(".")
    host, _, pid = rest.rpartition(".")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, owned by another user
        return False
    return False


def clean_stale_staging(out: Path, indices: Sequence[int]) -> int:
    """Remove staging folders left by a killed run: those of these scene indices (this run owns them while it
    holds the output lock), and those of any scene whose owner process on this host has ended (so that a later
    run with fewer scenes, or another shard, still clears them). Other live shards' folders are left alone."""
    root = Path(out) / PARTIAL_DIR
    n = 0
    if root.is_dir():
        wanted = {f"scene{k}" for k in indices}
        for p in root.iterdir():
            if p.name.split(".")[0] in wanted or _owner_is_dead(p.name):
                shutil.rmtree(p, ignore_errors=True)
                n += 1
    return n


def render_scenes(settings: RenderSettings, indices: Sequence[int], workers: int = 1,
                  backend: Optional[RendererBackend] = None,
                  on_images: Optional[Callable[[int], None]] = None, engine=None) -> Iterator[SceneStats]:
    """Render the scenes ``indices`` (skipping complete ones), yielding their stats as they finish.

    The scenes run on the execution layer (:mod:`synth.core.engine`): ``engine`` (an
    :class:`~synth.core.engine.EngineSettings`; None: in this process for ``workers == 1``, else ``workers``
    spawned processes); each worker owns a backend and renders many scenes. ``backend`` (only without an engine
    other than local) renders in this process with a backend the caller owns. ``on_images(n)`` is called in this
    process as camera images are captured (from every worker), for frame-level progress; the images of a scene
    rendered again after its worker died count once.

    A scene that raises is yielded once with ``error`` set (nothing of it is left behind) and the others go on;
    a scene whose worker died is rendered again by another worker (``engine.max_retries``); an I/O error
    (``fatal``) is yielded and the caller stops. Every worker checks first that it sees ``settings.out``.

    While it runs, SIGTERM is handled like Ctrl-C (:func:`synth.core.signals.sigterm_as_interrupt`): the scene in
    progress is discarded and the workers' staging folders removed before the interrupt propagates.

    Raises:
        synth.core.engine.EngineSetupError: a worker cannot see the output root or cannot start its backend.
    """
    with sigterm_as_interrupt():
        yield from _render_scenes(settings, indices, workers, backend, on_images, engine)


def _render_scenes(settings: RenderSettings, indices: Sequence[int], workers: int,
                   backend: Optional[RendererBackend], on_images: Optional[Callable[[int], None]], engine
                   ) -> Iterator[SceneStats]:
    import functools

    from ..core.engine import EngineSettings, Job, run_job

    engine = engine or EngineSettings()
    if backend is not None:
        if engine.resolved(workers) != "local":
            raise ValueError("render_scenes: a caller's backend renders in this process only (engine local)")
        make = lambda ctx: _RenderWorker(settings, backend, ctx.report, own=False)  # noqa: E731 - not pickled
    else:
        make = functools.partial(make_render_worker, settings)
    clean_stale_staging(settings.out, indices)
    job = Job("render", list(indices), make, workers, root=settings.out, unit_label=lambda k: f"scene {k}")
    per_scene = settings.cfg.cameras_per_scene * settings.cfg.video.frames
    counted: Dict[int, int] = {}

    def report(msg) -> None:  # (scene, n): a retried scene's images count once, up to the scene's total
        k, n = msg
        add = min(n, per_scene - counted.get(k, 0))
        if add > 0:
            counted[k] = counted.get(k, 0) + add
            on_images(add)

    try:
        for o in run_job(job, engine, report if on_images is not None else None):
            st = o.value if o.ok else SceneStats(o.unit, error=o.error, fatal=o.fatal)
            st.node, st.attempts, st.reported = o.node, o.attempts, counted.get(o.unit, 0)
            yield st
    except BaseException:
        # terminated workers (SIGTERM, Ctrl-C) cannot clean up: their staging folders are this run's (it holds the
        # lock)
        clean_stale_staging(settings.out, indices)
        raise
    clean_stale_staging(settings.out, indices)  # folders of workers that died under a scene since retried


def summarize(stats: Sequence[SceneStats]) -> Dict[str, float]:
    rendered = [s for s in stats if not s.skipped and s.error is None]
    images = sum(s.images for s in rendered)
    render_s = sum(s.render_s for s in rendered)
    write_s = sum(s.write_s for s in rendered)
    wall = sum(s.wall_s for s in rendered)
    return {"scenes": len(rendered), "skipped": sum(1 for s in stats if s.skipped),
            "failed": sum(1 for s in stats if s.error is not None), "images": images,
            "render_images_per_s": images / render_s if render_s else 0.0,
            "write_images_per_s": images / write_s if write_s else 0.0,
            "scene_wall_images_per_s": images / wall if wall else 0.0}
