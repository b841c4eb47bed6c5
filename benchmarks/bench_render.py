"""Embedded renderer throughput: images/s for render only, encode only and the full (overlapped) pipeline.

    python benchmarks/bench_render.py [--sizes 1280x1280,832x480] [--frames 30] [--scene 0]

10 cameras per frame. "render only" runs the backend's capture loop (RAM read-back included); "encode only"
encodes frames rendered beforehand through the scene writer (10 H.264 streams); "full" is
``synth.render.driver.render_scene`` (render and encode overlapping). Also times a bare Panda3D loop (stock
environment + panda, 10 cameras, RAM read-back) as the reference the issue quotes (~25 images/s at 1280x1280).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


def bare_panda_loop(size, frames: int) -> float:
    from panda3d.core import GraphicsOutput, Texture

    from synth.catalog import load_catalog
    from synth.render.embedded.backend import EmbeddedBackend
    from synth.core.scene_spec import Lens
    from synth.core.geometry import look_at_rotator, unreal_pose_to_fmatrix

    cat = load_catalog()
    be = EmbeddedBackend(cat, 10)
    be.load_environment(cat.environment("panda_env"), "noon")
    be.spawn_character(cat.character("panda"), [0, 0, 0], 0)
    be.set_animation(cat.animation("panda_walk"))
    be.set_lens(Lens(24, 5, 23.76), *size)
    ang = np.linspace(0, 2 * np.pi, 10, endpoint=False)
    eyes = np.stack([600 * np.cos(ang), 600 * np.sin(ang), np.full(10, 200.0)], -1)
    be.set_camera_poses(unreal_pose_to_fmatrix(eyes, look_at_rotator(eyes, np.array([[0, 0, 60.0]]))))
    engine = be.base.graphicsEngine
    engine.renderFrame()
    del GraphicsOutput, Texture
    t0 = time.perf_counter()
    for f in range(frames):
        be.character.actor.pose("panda_walk", f)
        engine.renderFrame()
        for e in be.buffers:
            np.frombuffer(e["rgb_tex"].getRamImage(), np.uint8)  # RAM read-back, no conversion
    dt = time.perf_counter() - t0
    be.close()
    return frames * 10 / dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1280x1280,832x480")
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--scene", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--preset", default="veryfast", help="x264 preset (veryfast = synth render's default)")
    ap.add_argument("--no-bare", action="store_true", help="skip the bare Panda3D reference loop")
    args = ap.parse_args()

    from synth.catalog import load_catalog
    from synth.config import load_config
    from synth.render.backend import CaptureRequest
    from synth.render.driver import render_scene
    from synth.render.embedded.backend import EmbeddedBackend
    from synth.render.outputs import OutputSpec, SceneWriter
    from synth.sampling import sample_scene

    cat = load_catalog()
    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, "
          f"{__import__('os').cpu_count()} CPUs")
    for spec in args.sizes.split(","):
        w, h = (int(v) for v in spec.lower().split("x"))
        cfg = load_config().with_video(width=w, height=h, frames=args.frames)
        plan = sample_scene(cfg, cat, args.seed, args.scene)
        be = EmbeddedBackend(cat, cfg.cameras_per_scene)
        be.load_environment(cat.environment(plan.environment_id), plan.lighting)
        be.spawn_character(cat.character(plan.character_id), plan.character_location_cm, plan.character_yaw_deg)
        be.set_animation(cat.animation(plan.animation_id))
        be.set_lens(plan.lens, w, h)
        fm = np.stack([c.fmatrices() for c in plan.cameras])
        be.set_camera_poses(fm[:, 0])
        be.capture()  # warm-up
        frames = []
        t0 = time.perf_counter()
        for f in range(args.frames):
            be.set_animation_time(plan.animation_time_s(f))
            be.set_camera_poses(fm[:, f])
            frames.append(be.capture(CaptureRequest()))
        render = args.frames * 10 / (time.perf_counter() - t0)
        info = be.renderer_info()
        with tempfile.TemporaryDirectory() as tmp:
            writer = SceneWriter(Path(tmp), plan.camera_names(), fm, plan.intrinsics(), 15, w, h, args.frames,
                                 OutputSpec(preset=args.preset))
            t0 = time.perf_counter()
            for f, caps in enumerate(frames):
                writer.write_frame(f, caps)
            writer.close()
            encode = args.frames * 10 / (time.perf_counter() - t0)
        del frames
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            st = render_scene(be, plan, cat, Path(tmp), OutputSpec(preset=args.preset), warmup=1)
            mb = sum(p.stat().st_size for p in Path(tmp).rglob("*.mp4")) / 1e6
            full_setup = st.images / (time.perf_counter() - t0)
            full = st.images / st.loop_s
        be.close()
        bare = None if args.no_bare else bare_panda_loop((w, h), args.frames)
        print(f"\n{w}x{h}, 10 cameras, {args.frames} frames, scene {args.scene} ({plan.environment_id}, "
              f"{plan.character_id}) on {info}")
        print(f"  render only      {render:7.1f} images/s")
        print(f"  encode only      {encode:7.1f} images/s  (H.264 crf 18 {args.preset}, 10 streams, 1 thread each; "
              f"{mb / st.images * 81:.2f} MB per 81-frame video)")
        print(f"  full pipeline    {full:7.1f} images/s  (frame loop; {full_setup:.1f}/s with scene setup + warm-up)")
        print(f"  full / min(render, encode) = {full / min(render, encode):.2f}")
        if bare is not None:
            print(f"  bare Panda3D loop (stock env + panda, RAM read-back): {bare:.1f} images/s")


if __name__ == "__main__":
    main()
