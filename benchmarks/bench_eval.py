"""Pose estimation (COLMAP via pycolmap) seconds per clip, and synth verify seconds per scene.

Renders one embedded scene (81 frames, 832x480, 10 cameras; kept in --work for re-runs), then times
``estimate_video_poses`` with the default settings (every 4th frame = 21 frames, downscaled to 512 px, global
mapper, 1 thread) on --clips of its cameras at 480x832 and, re-encoded upscaled, at 1280x1280 (the estimator works
at 512 px either way: the difference is decoding and downscaling). Baseline: decoding the same 21 frames.
``synth verify`` time per scene = 10 cameras x the mean per-clip time (verify adds only the comparison).

    nice python benchmarks/bench_eval.py [--clips 3] [--work /tmp/bench_eval]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_eval"))
    args = ap.parse_args()

    from synth.core.pose_estimation import PoseOptions, estimate_video_poses
    from synth.core.intrinsics import intrinsics_from_lens
    from synth.core.units import SENSOR_MM
    from synth.core.multicam_format import iter_scene_dirs, parse_lens_dir_name
    from synth.core.video_io import read_video, write_video
    from synth.dataset.verify import _load_camera, compare_camera, list_items

    ds = args.work / "ds480"
    if not any(iter_scene_dirs(ds)):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "synth.cli", "render", "--scenes", "1", "--frames", "81", "--width",
                        "832", "--height", "480", "--out", str(ds)], check=True, capture_output=True)
        print(f"rendered the 832x480 scene in {time.perf_counter() - t:.1f} s")
    items = list_items(ds)[: args.clips]
    opts = PoseOptions(num_threads=1)
    rows = []
    for it in items:
        poses, K, cmeta, video = _load_camera(it)
        t = time.perf_counter()
        frames, fps = read_video(video, None, stride=opts.stride)
        t_decode = time.perf_counter() - t
        est = estimate_video_poses(video, K, opts)
        chk = compare_camera(it, poses, cmeta, est)
        rows.append(("480x832", it.camera, cmeta.get("trajectory"), est.status, est.seconds, t_decode,
                     chk.max_rot_err_deg, chk.max_trans_err_rel))
        # the same clip at 1280x1280 (upscaled, re-encoded): decode + downscale cost of full-size videos
        big = args.work / f"{it.camera}_1280.mp4"
        if not big.is_file():
            from PIL import Image

            full, _ = read_video(video)
            write_video(big, [np.asarray(Image.fromarray(f).resize((1280, 1280), Image.BILINEAR)) for f in full], fps)
        focal = parse_lens_dir_name(it.scene_dir.parent.name)[0]
        Kb = intrinsics_from_lens(focal, SENSOR_MM, 1280, 1280)
        t = time.perf_counter()
        read_video(big, None, stride=opts.stride)
        t_decode_b = time.perf_counter() - t
        est_b = estimate_video_poses(big, Kb, opts)
        rows.append(("1280x1280", it.camera, cmeta.get("trajectory"), est_b.status, est_b.seconds, t_decode_b,
                     float("nan"), float("nan")))
    print(f"{'size':>10} {'camera':>6} {'family':>10} {'status':>13} {'s/clip':>7} {'decode s':>8} {'ratio':>6} "
          f"{'rot err':>8} {'trans err':>9}")
    for size, cam, fam, st, sec, dec, rot, tr in rows:
        print(f"{size:>10} {cam:>6} {str(fam):>10} {st:>13} {sec:7.2f} {dec:8.2f} {sec / dec:6.1f} {rot:8.2f} "
              f"{tr:9.3f}")
    for size in ("480x832", "1280x1280"):
        s = [r[4] for r in rows if r[0] == size]
        print(f"{size}: mean {np.mean(s):.2f} s per 81-frame clip ({opts.stride}-frame stride, <= {opts.max_size} "
              f"px, {opts.mapper} mapper, {opts.num_threads} thread); synth verify ~{10 * np.mean(s):.0f} s per "
              f"10-camera scene")


if __name__ == "__main__":
    main()
