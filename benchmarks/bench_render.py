"""Embedded renderer throughput per quality: bare loop, render only, encode only (1 vs N threads), full pipeline.

    nice python benchmarks/bench_render.py [--sizes 1280x1280,832x480] [--qualities draft,standard] [--frames 30]
                                           [--encode-threads 0]

10 cameras per frame, one scene. "bare loop" is pose + ``renderFrame()`` + RAM read-back only (for ``standard``,
a bare simplepbr-style loop: one PBR program, one shadow map per frame); "render only" the backend's capture loop;
"encode only" encodes frames rendered beforehand through the scene writer (10 H.264 streams) with 1 thread and with
``--encode-threads`` (0 = cores - 2); "full" is ``synth.render.driver.render_scene`` (render and parallel encode
overlapped). Ratios against the bare loop and against the slower stage are printed (timings are noisy under load).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


def bare_loop(be, plan, fm, frames: int) -> float:
    """The floor of a backend's render loop: pose + ``renderFrame()`` + RAM read-back of the 10 colour buffers, no
    conversion, no capture objects (with the standard quality this is a bare simplepbr-style loop: one PBR program,
    one shadow map per frame)."""
    engine = be.base.graphicsEngine
    name = be.character.anim_names[be.animation.id]
    t0 = time.perf_counter()
    for f in range(frames):
        be.character.actor.pose(name, f)
        be._apply_poses(fm[:, f])
        engine.renderFrame()
        for e in be.buffers:
            np.frombuffer(e["rgb_tex"].getRamImage(), np.uint8)
    return frames * 10 / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1280x1280,832x480")
    ap.add_argument("--qualities", default="draft,standard")
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--scene", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--preset", default="veryfast", help="x264 preset (veryfast = synth render's default)")
    ap.add_argument("--encode-threads", type=int, default=0, help="threads of the parallel encode (0 = auto)")
    args = ap.parse_args()

    from synth.catalog import load_catalog
    from synth.config import load_config
    from synth.render.backend import CaptureRequest
    from synth.render.driver import render_scene
    from synth.render.embedded.backend import EmbeddedBackend
    from synth.render.outputs import OutputSpec, SceneWriter, resolve_encode_threads
    from synth.sampling import sample_scene

    cat = load_catalog()
    nthreads = resolve_encode_threads(args.encode_threads, 10)
    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, "
          f"{__import__('os').cpu_count()} CPUs; parallel encode: {nthreads} threads")
    for spec in args.sizes.split(","):
        w, h = (int(v) for v in spec.lower().split("x"))
        cfg = load_config().with_video(width=w, height=h, frames=args.frames)
        plan = sample_scene(cfg, cat, args.seed, args.scene)
        fm = np.stack([c.fmatrices() for c in plan.cameras])
        frames = None
        for quality in args.qualities.split(","):
            be = EmbeddedBackend(cat, cfg.cameras_per_scene, quality=quality)
            be.load_environment(cat.environment(plan.environment_id), plan.lighting)
            be.spawn_character(cat.character(plan.character_id), plan.character_location_cm,
                               plan.character_yaw_deg)
            be.set_animation(cat.animation(plan.animation_id))
            be.set_lens(plan.lens, w, h)
            be.set_camera_poses(fm[:, 0])
            be.capture()  # warm-up (shader compilation, shadow buffer)
            caps = []
            t0 = time.perf_counter()
            for f in range(args.frames):
                be.set_animation_time(plan.animation_time_s(f))
                be.set_camera_poses(fm[:, f])
                caps.append(be.capture(CaptureRequest()))
            render = args.frames * 10 / (time.perf_counter() - t0)
            bare = bare_loop(be, plan, fm, args.frames)
            info = be.renderer_info()
            frames = frames or caps
            del caps
            with tempfile.TemporaryDirectory() as tmp:
                st = render_scene(be, plan, cat, Path(tmp), OutputSpec(preset=args.preset,
                                                                         encode_threads=nthreads), warmup=1)
                full = st.images / st.loop_s
            be.close()
            print(f"\n{w}x{h} {quality}, 10 cameras, {args.frames} frames, scene {args.scene} "
                  f"({plan.environment_id}/{plan.lighting}, {plan.character_id}) on {info}")
            print(f"  bare loop        {bare:7.1f} images/s  (pose + renderFrame + RAM read-back)")
            print(f"  render only      {render:7.1f} images/s  ({render / bare:.2f} x bare)")
            print(f"  full pipeline    {full:7.1f} images/s  (render + {nthreads}-thread encode overlapped)")
            results[(w, h, quality)] = (bare, render, full)
        encode = {}
        for n in sorted({1, nthreads}):
            with tempfile.TemporaryDirectory() as tmp:
                writer = SceneWriter(Path(tmp), plan.camera_names(), fm, plan.intrinsics(), 15, w, h, args.frames,
                                     OutputSpec(preset=args.preset, encode_threads=n))
                t0 = time.perf_counter()
                for f, caps in enumerate(frames):
                    writer.write_frame(f, caps)
                writer.close()
                encode[n] = args.frames * 10 / (time.perf_counter() - t0)
                mb = sum(p.stat().st_size for p in Path(tmp).rglob("*.mp4")) / 1e6
        del frames
        print(f"\n{w}x{h} encode only (H.264 crf 18 {args.preset}, 10 streams, {mb / (args.frames * 10) * 81:.2f} MB "
              f"per 81-frame video)")
        for n, v in encode.items():
            print(f"  {n:2d} thread(s)     {v:7.1f} images/s  ({v / encode[1]:.2f} x 1 thread)")
        for quality in args.qualities.split(","):
            bare, render, full = results[(w, h, quality)]
            slow = min(render, encode[nthreads])
            print(f"  {quality:9s} full / min(render, encode) = {full:.1f} / {slow:.1f} = {full / slow:.2f}")


results = {}


if __name__ == "__main__":
    main()
