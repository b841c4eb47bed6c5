"""``synth validate`` on planned scenes against its floor: ``json.loads`` of every camera JSON and scene.json plus
``float`` of every matrix number (what any checker must at least do), measured in the same run.

    python benchmarks/bench_validate.py                  # plans 1000 scenes into a temp folder first (~11-70 s)
    python benchmarks/bench_validate.py --dataset DIR    # an existing planned dataset
    python benchmarks/bench_validate.py --jobs 1,2 --repeats 3

Prints seconds per pass (best of ``--repeats``, passes interleaved) and ratios to the floor. Issue 15 asks for
<= 4x the floor with every recipe rule of issue 11 checked.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def floor_pass(scene_dirs) -> int:
    """The bare floor: json.loads + float parse of every matrix string, json.loads of scene.json."""
    n = 0
    for d in scene_dirs:
        data = json.loads((d / "cameras" / "camera_extrinsics.json").read_text())
        for frame in data.values():
            for s in frame.values():
                n += len([float(v) for v in s.replace("[", " ").replace("]", " ").split()])
        json.loads((d / "scene.json").read_text())
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, default=None)
    ap.add_argument("--scenes", type=int, default=1000)
    ap.add_argument("--jobs", default="1,2")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from synth.core.multicam_format import iter_scene_dirs
    from synth.dataset.validate import validate_dataset

    tmp = None
    root = args.dataset
    if root is None:
        tmp = tempfile.TemporaryDirectory()
        root = Path(tmp.name) / "ds"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "synth.cli", "plan", "--scenes", str(args.scenes), "--out", str(root)],
                       check=True, capture_output=True, cwd=REPO)
        print(f"planned {args.scenes} scenes in {time.perf_counter() - t0:.1f} s")
    dirs = list(iter_scene_dirs(root))
    jobs = [int(j) for j in args.jobs.split(",")]
    best = {"floor": float("inf"), **{f"validate --jobs {j}": float("inf") for j in jobs}}
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        floor_pass(dirs)
        best["floor"] = min(best["floor"], time.perf_counter() - t0)
        for j in jobs:
            t0 = time.perf_counter()
            problems, counts = validate_dataset(root, jobs=j)
            best[f"validate --jobs {j}"] = min(best[f"validate --jobs {j}"], time.perf_counter() - t0)
            assert not problems, problems[:3]
    fl = best["floor"]
    print(f"{len(dirs)} scenes ({len(dirs) * 10 * 81} matrices), best of {args.repeats}:")
    for k, v in best.items():
        print(f"  {k:20s} {v:7.2f} s  {v / fl:5.2f}x floor  {len(dirs) / v:7.1f} scenes/s")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
