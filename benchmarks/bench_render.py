"""Embedded renderer throughput per size and quality: render only, encode only, full pipeline, bare loop.

    nice python benchmarks/bench_render.py [--sizes 1280x1280,832x480] [--qualities draft,standard] [--frames 20]
                                           [--encode-threads 0] [--flush-threads 0] [--queue-frames 3]
                                           [--repeat 1] [--json results.json]

(llvmpipe's threads: set ``LP_NUM_THREADS`` in the environment; it is recorded.)

10 cameras per frame, one scene (the same for every stage), all measured in this one run:

- **render only**: the driver's capture loop (``set_animation_time`` + ``set_camera_poses`` + ``capture``) with
  nothing consuming the frames;
- **encode only**: the frames rendered by that loop, encoded by the scene writer (10 H.264 streams) with the same
  :class:`~synth.render.outputs.OutputSpec` as the full pipeline;
- **full**: :func:`synth.render.driver.render_scene` (render and encode overlapped), its frame loop alone;
- **bare loop**: pose + ``renderFrame()`` + RAM read-back only, no conversion (for ``standard`` a bare simplepbr-style
  loop: one PBR program, one shadow map per frame): the floor of the render stage.

One line per (size, quality) gives the three images/s and ``full / slower`` = full / min(render only, encode only),
the figure of merit (1.0 = the overlap hides the faster stage completely). Each stage's CPU seconds per image (this
process and its children, every thread; for full over its frame loop alone, the span its images/s cover) are
measured too; ``render / bare`` says what the capture path costs beyond the floor. They bound the ratio:
on ``N`` free cores the full pipeline cannot beat ``N / (cpu_render + cpu_encode)`` images/s (printed as the
``N-core ceiling`` of the ratio), and where the process gets a fixed share of a loaded machine whatever its thread
count (Linux's autogroup scheduling gives each session one share) the ratio is at most
``cpu_slower / (cpu_render + cpu_encode)``. ``cores used`` (CPU seconds per wall second) shows the CPU each stage got.
Timings are noisy on a loaded machine (the load average is printed): ``--repeat N`` runs the stages in N interleaved
rounds and keeps each stage's best. The full pipeline's frame loop includes the end-of-scene flush: x264 holds back
~11 frames per stream, a large share of a short clip (``--frames 20``), 14% of an 81-frame video.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, Tuple

import numpy as np


def _cpu_s() -> float:
    """CPU seconds (user + system) of this process and its waited-for children, every thread."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _timed(fn: Callable[[], object], images: int) -> Tuple[float, float]:
    """Images/s of one run of ``fn`` and its CPU seconds per image, over the same span: ``fn`` returns its loop's
    wall seconds (CPU measured around the call), or ``(wall_s, cpu_s)`` of the loop it timed itself (the full
    pipeline, whose scene set-up must count in neither)."""
    c0 = _cpu_s()
    r = fn()
    wall, cpu = r if isinstance(r, tuple) else (r, _cpu_s() - c0)
    return images / wall, cpu / images


def _rounds(stages: Dict[str, Callable[[], float]], images: int, repeat: int) -> Dict[str, Tuple[float, float]]:
    """Run the stages in turn, ``repeat`` rounds (interleaved, so that a change of the machine's load hits every
    stage alike), and keep each stage's best run."""
    best: Dict[str, Tuple[float, float]] = {k: (0.0, 0.0) for k in stages}
    for _ in range(repeat):
        for k, fn in stages.items():
            r = _timed(fn, images)
            if r[0] > best[k][0]:
                best[k] = r
    return best


def bare_loop(be, poses, frames: int) -> float:
    """The floor of a backend's render loop: pose + ``renderFrame()`` + RAM read-back of the 10 colour buffers, no
    conversion, no capture objects. Returns the wall seconds."""
    engine = be.base.graphicsEngine
    name = be.character.anim_names[be.animation.id]
    t0 = time.perf_counter()
    for f in range(frames):
        be.character.actor.pose(name, f)
        be._apply_poses(poses[f])  # Poses per frame, built before the loop (as the driver does)
        engine.renderFrame()
        for e in be.buffers:
            np.frombuffer(e["rgb_tex"].getRamImage(), np.uint8)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1280x1280,832x480")
    ap.add_argument("--qualities", default="draft,standard")
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--scene", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--preset", default="veryfast", help="x264 preset (veryfast = synth render's default)")
    ap.add_argument("--encode-threads", type=int, default=0, help="encode threads of the scene writer (0 = auto)")
    ap.add_argument("--flush-threads", type=int, default=0, help="threads flushing the streams at the end (0 = auto)")
    ap.add_argument("--queue-frames", type=int, default=3, help="frames between the render loop and the writer")
    ap.add_argument("--repeat", type=int, default=1, help="runs per stage; the best is kept")
    ap.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = ap.parse_args()

    from synth.scenes.catalog import load_catalog
    from synth.scenes.config import load_config
    from synth.render.backend import CaptureRequest
    from synth.render.driver import render_scene
    from synth.core.poses import Poses
    from synth.render.embedded.backend import EmbeddedBackend
    from synth.render.outputs import OutputSpec, SceneWriter, resolve_encode_threads, resolve_flush_threads
    from synth.scenes.sampling import sample_scene

    cat = load_catalog()
    cores = len(os.sched_getaffinity(0))
    nthreads = resolve_encode_threads(args.encode_threads, 10)
    spec = OutputSpec(preset=args.preset, encode_threads=nthreads, flush_threads=args.flush_threads)
    request = CaptureRequest(depth=spec.depth or spec.joints, mask=spec.masks)  # what render_scene asks for
    env = {k: os.environ[k] for k in ("LP_NUM_THREADS", "OMP_NUM_THREADS") if k in os.environ}
    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, {cores} usable CPUs, "
          f"load average {os.getloadavg()[0]:.1f}; scene writer: {nthreads} encode thread(s), flush threads "
          f"{resolve_flush_threads(args.flush_threads, 10)}, queue {args.queue_frames} frames, x264 {args.preset}; "
          f"{env or 'no thread env vars'}")
    rows = []
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.lower().split("x"))
        cfg = load_config().with_video(width=w, height=h, frames=args.frames)
        plan = sample_scene(cfg, cat, args.seed, args.scene)
        fm = np.stack([c.fmatrices() for c in plan.cameras])
        poses = [Poses.from_fmatrix(fm[:, f]) for f in range(fm.shape[1])]  # built before the loop, as the driver does
        for quality in args.qualities.split(","):
            load0 = os.getloadavg()[0]
            be = EmbeddedBackend(cat, cfg.cameras_per_scene, quality=quality)
            be.load_environment(cat.environment(plan.environment_id), plan.lighting)
            be.spawn_character(cat.character(plan.character_id), plan.character_location_cm,
                               plan.character_yaw_deg)
            be.set_animation(cat.animation(plan.animation_id))
            be.set_lens(plan.lens, w, h)
            be.set_camera_poses(poses[0])
            be.capture(request)  # warm-up (shader compilation, shadow buffer)
            frames = []

            def render() -> float:
                frames.clear()
                t0 = time.perf_counter()
                for f in range(args.frames):
                    be.set_animation_time(plan.animation_time_s(f))
                    be.set_camera_poses(poses[f])
                    frames.append(be.capture(request))
                return time.perf_counter() - t0

            def encode() -> float:
                with tempfile.TemporaryDirectory() as tmp:
                    writer = SceneWriter(Path(tmp), plan.camera_names(), fm, plan.intrinsics(), plan.video.fps, w,
                                         h, args.frames, spec)
                    t0 = time.perf_counter()
                    for f, caps in enumerate(frames):
                        writer.write_frame(f, caps)
                    writer.close()
                    wall = time.perf_counter() - t0
                    encode.mb = sum(p.stat().st_size for p in Path(tmp).rglob("*.mp4")) / 1e6
                    return wall

            def full() -> Tuple[float, float]:
                with tempfile.TemporaryDirectory() as tmp:
                    st = render_scene(be, plan, cat, Path(tmp), spec, warmup=1, queue_frames=args.queue_frames)
                    return st.loop_s, st.loop_cpu_s  # the frame loop alone: wall and CPU over the same span

            images = args.frames * cfg.cameras_per_scene
            # the bare loop runs in the same interleaved rounds as the stages it is the floor of
            res = _rounds({"bare": lambda: bare_loop(be, poses, args.frames), "render": render, "encode": encode,
                           "full": full}, images, args.repeat)
            frames.clear()
            (r_ips, r_cpu), (e_ips, e_cpu), (f_ips, f_cpu), (b_ips, b_cpu) = (res[k] for k in
                                                                              ("render", "encode", "full", "bare"))
            info = be.renderer_info()
            be.close()
            slower = min(r_ips, e_ips)
            ceiling = min(slower, cores / (r_cpu + e_cpu))
            row: Dict = dict(size=f"{w}x{h}", quality=quality, frames=args.frames, cameras=cfg.cameras_per_scene,
                             render_ips=r_ips, encode_ips=e_ips, full_ips=f_ips, bare_ips=b_ips,
                             slower_stage="render" if r_ips <= e_ips else "encode", ratio=f_ips / slower,
                             render_vs_bare=r_ips / b_ips,
                             cpu_ms_per_image=dict(render=1e3 * r_cpu, encode=1e3 * e_cpu, full=1e3 * f_cpu,
                                                   bare=1e3 * b_cpu),
                             cpu_ceiling_ratio=ceiling / slower,
                             share_ceiling_ratio=(r_cpu if r_ips <= e_ips else e_cpu) / (r_cpu + e_cpu),
                             mb_per_81_frames=encode.mb / images * 81,
                             load_average=[load0, os.getloadavg()[0]], renderer=info)
            rows.append(row)
            row["cores_used"] = {k: row["cpu_ms_per_image"][k] * v / 1e3
                                 for k, v in (("render", r_ips), ("encode", e_ips), ("full", f_ips), ("bare", b_ips))}
            cu = row["cores_used"]
            print(f"{w}x{h} {quality:8s} render {r_ips:5.1f}  encode {e_ips:5.1f}  full {f_ips:5.1f} images/s  "
                  f"full/slower {row['ratio']:.2f} ({row['slower_stage']} slower)  | bare {b_ips:5.1f} images/s, "
                  f"render/bare {r_ips / b_ips:.2f}; "
                  f"CPU ms/image render {1e3 * r_cpu:.0f} + encode {1e3 * e_cpu:.0f} (full {1e3 * f_cpu:.0f}); "
                  f"cores used render {cu['render']:.2f} encode {cu['encode']:.2f} full {cu['full']:.2f}; "
                  f"ratio ceiling: {cores} free cores {row['cpu_ceiling_ratio']:.2f}, fixed CPU share "
                  f"{row['share_ceiling_ratio']:.2f}; load {load0:.1f}", flush=True)
    if args.json:
        out = dict(machine=platform.node(), cpus=cores, env=env, preset=args.preset, encode_threads=nthreads,
                   flush_threads=resolve_flush_threads(args.flush_threads, 10), queue_frames=args.queue_frames,
                   frames=args.frames, scene=args.scene, seed=args.seed, repeat=args.repeat, results=rows,
                   renderer=rows[0]["renderer"] if rows else None)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_suffix(args.json.suffix + ".tmp")
        tmp.write_text(json.dumps(out, indent=1))
        tmp.replace(args.json)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
