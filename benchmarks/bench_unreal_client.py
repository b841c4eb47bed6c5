"""Client-side cost of the Unreal backend per frame: 10 cameras, 1280x1280, ``lit bmp``, against the test server.

    python benchmarks/bench_unreal_client.py [--size 1280x1280] [--frames 20] [--cameras 10]

The test server answers captures with constant images (``render=False``), so what is measured is the protocol,
the transfer over loopback and the BMP decoding, i.e. what our client adds on top of Unreal's own rendering time:

* wall s / frame: one ``capture()`` (the whole 31-command batch, replies included) as seen by the driver;
* client CPU s / frame: CPU time of this process (unrealcv's receive thread + our decoding), from getrusage;
* bytes / frame: reply bytes received (BMP headers + serialised arrays + BGRA pixels);
* decode s / frame: ``decode_bmp`` alone.

Real UE5: upstream UnrealCV reports ~10-18 images/s for sequential 640x480 captures (REFERENCE §4); 1280x1280 has
5.3x the pixels and the GPU render + read-back dominates, so expect a few images/s per game instance (an
extrapolation): the client's cost measured here is a small fraction of that.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np


def cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="1280x1280")
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--cameras", type=int, default=10)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))

    from synth.scenes.catalog import Catalog, load_catalog
    from synth.core.poses import Poses
    from synth.core.unreal import look_at_rotator
    from synth.render.unreal.backend import UnrealBackend
    from synth.render.unreal.protocol import decode_bmp, encode_bmp
    from synth.testing.fake_unrealcv import start_server_process, unreal_catalog_for
    from synth.core.scene_spec import Lens

    data, _ = unreal_catalog_for(load_catalog())
    cat = Catalog.model_validate(data)
    server = start_server_process(render=False)
    be = UnrealBackend(cat, args.cameras, endpoint=("127.0.0.1", server.port), timeout=120)
    try:
        be.load_environment(cat.environment("panda_env"), "noon")
        be.spawn_character(cat.character("panda"), [0, 0, 0], 0)
        be.set_animation(cat.animation("panda_walk"))
        be.set_lens(Lens(24, 5, 23.76), w, h)
        ang = np.linspace(0, 2 * np.pi, args.cameras, endpoint=False)
        eyes = np.stack([600 * np.cos(ang), 600 * np.sin(ang), np.full(args.cameras, 200.0)], -1)
        be.set_camera_poses(Poses.from_unreal(eyes, look_at_rotator(eyes, np.array([[0, 0, 60.0]]))))
        be.capture()  # warm-up
        b0, c0, t0 = be.bytes_received, cpu_s(), time.perf_counter()
        for f in range(args.frames):
            be.set_animation_time(f / 15)
            be.capture()
        wall = (time.perf_counter() - t0) / args.frames
        cpu = (cpu_s() - c0) / args.frames
        nbytes = (be.bytes_received - b0) / args.frames
    finally:
        be.close()
        server.stop()

    bmp = encode_bmp(np.full((h, w, 3), 128, np.uint8))
    t0 = time.perf_counter()
    for _ in range(5):
        for _ in range(args.cameras):
            decode_bmp(bmp)
    dec = (time.perf_counter() - t0) / 5
    print(f"{args.cameras} cameras {w}x{h} bmp, {args.frames} frames against the test server (render=False)")
    print(f"  wall         {wall * 1e3:8.1f} ms / frame   ({args.cameras / wall:6.1f} images/s)")
    print(f"  client CPU   {cpu * 1e3:8.1f} ms / frame")
    print(f"  decode_bmp   {dec * 1e3:8.1f} ms / frame")
    print(f"  received     {nbytes / 1e6:8.2f} MB / frame  ({nbytes / wall / 1e9:5.2f} GB/s)")


if __name__ == "__main__":
    main()
