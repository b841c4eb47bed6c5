"""``synth verify`` on a correct embedded dataset: errors per trajectory family, false flags, seconds per scene.

The camera files of a dataset rendered by ``synth render`` are correct, so every flagged camera is a false flag of
the estimator. Renders the dataset unless ``--root`` already holds one, runs ``synth verify`` on it (resumable:
``--out`` keeps ``verify.csv``), prints the per-family table (statuses; median / max of the largest per-frame
rotation error after alignment and of the largest camera-position error / trajectory extent; flags by reason) and
the wall time per scene against a bare baseline measured in the same run: decoding every frame of every camera
of the dataset's scenes (all of them: an H.264 decoder must decode each frame to reach every ``--stride``-th, so
that is the floor of any check of the pixels), once before and once after ``synth verify`` (the best is kept, so a
load change hits both sides alike).

    nice python benchmarks/bench_verify_study.py --root /tmp/v20 --scenes 20 --width 832 --height 480 \\
        --frames 81 --quality draft --workers 2 --out /tmp/v20_verify
    python benchmarks/bench_verify_study.py --root /tmp/v20 --out /tmp/v20_verify --table-only   # re-print

``--rescore`` re-applies the thresholds (``--max-rot-deg`` / ``--max-trans-rel``) to the saved estimates
(``poses/*.npz``, the estimate each camera was finally judged on) without estimating again: what other thresholds
would have flagged.
"""

from __future__ import annotations

import argparse
import csv
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def _f(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _ms(v):
    v = [x for x in v if math.isfinite(x)]
    return (f"{np.median(v):.3g} / {max(v):.3g}" if v else "-"), len(v)


def print_table(rows) -> None:
    fams = {}
    for r in rows:
        fams.setdefault(r["family"] or "?", []).append(r)
    print("| family | cameras | statuses | not verified | median / max rot. error (deg) | median / max trans. error "
          "(x extent) | flagged (reasons) |")
    print("|---|---:|---|---:|---|---|---|")
    tot_flag = 0
    for fam, rs in sorted(fams.items()):
        st = {}
        for r in rs:
            st[r["status"]] = st.get(r["status"], 0) + 1
        flagged = [r for r in rs if r["flagged"] == "True"]
        tot_flag += len(flagged)
        reasons = {}
        for r in flagged:
            reasons[r["reasons"]] = reasons.get(r["reasons"], 0) + 1
        checked = [r for r in rs if "not verified" not in r.get("message", "")]  # errors of what was checked
        rot, _ = _ms([_f(r["max_rot_err_deg"]) for r in checked])
        tr, _ = _ms([_f(r["max_trans_err_rel"]) for r in checked])
        print(f"| {fam} | {len(rs)} | {', '.join(f'{v} {k}' for k, v in sorted(st.items()))} | "
              f"{len(rs) - len(checked)} | {rot} | {tr} | "
              f"{len(flagged)}" + (f" ({', '.join(f'{v} {k}' for k, v in sorted(reasons.items()))})" if flagged else "")
              + " |")
    unverified = sum("not verified" in r.get("message", "") for r in rows)
    print(f"\n{len(rows)} cameras, {tot_flag} flagged ({100 * tot_flag / max(len(rows), 1):.1f} %: all false flags, "
          f"the files are correct); {unverified} translating cameras not verified (SfM failed, rotation-only)")
    for r in rows:
        if r["flagged"] == "True":
            print(f"  flagged {r['scene']}/{r['camera']} {r['family']} [{r['status']}] {r['reasons']}: rot "
                  f"{_f(r['max_rot_err_deg']):.2f} deg, trans {_f(r['max_trans_err_rel']):.3f}, scale-depth "
                  f"{_f(r['depth_m']):.3g} m vs distance {_f(r['distance_m']):.3g} m; {r['message'][:200]}")


def rescore(root: Path, out: Path, rot_deg: float, trans_rel: float):
    from synth.dataset.verify import VerifyThresholds, _load_camera, compare_camera, list_items, load_estimate

    th = VerifyThresholds(rot_deg=rot_deg, trans_rel=trans_rel)
    rows = []
    for it in list_items(root):
        p = out / "poses" / f"{it.scene.replace('/', '_')}_{it.camera}.npz"
        if not p.is_file():
            continue
        poses, K, cmeta, video = _load_camera(it)
        rows.append(compare_camera(it, poses, cmeta, load_estimate(p), th).row())
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=Path("/tmp/v20"))
    ap.add_argument("--out", type=Path, default=Path("/tmp/v20_verify"))
    ap.add_argument("--scenes", type=int, default=20)
    ap.add_argument("--width", type=int, default=832)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--frames", type=int, default=81)
    ap.add_argument("--quality", default="draft")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--stride", type=int, default=4)
    ap.add_argument("--table-only", action="store_true", help="Only print the table of an existing --out.")
    ap.add_argument("--rescore", action="store_true", help="Re-apply thresholds to the saved estimates.")
    ap.add_argument("--redo-flagged", action="store_true", help="Verify the flagged cameras of --out again (after a "
                    "change of the estimator or of the second-opinion rule); their old rows go to verify_before.csv.")
    ap.add_argument("--max-rot-deg", type=float, default=3.0)
    ap.add_argument("--max-trans-rel", type=float, default=0.2)
    args = ap.parse_args()

    from synth.core.multicam_format import iter_scene_dirs
    from synth.core.video_io import read_video

    if args.rescore:
        print_table(rescore(args.root, args.out, args.max_rot_deg, args.max_trans_rel))
        return
    if args.redo_flagged:
        csv_path = args.out / "verify.csv"
        with open(csv_path, newline="") as f:
            old_rows = list(csv.DictReader(f))
        redo = [r for r in old_rows if r["flagged"] == "True"]
        before = args.out / "verify_before.csv"
        if not before.is_file():
            before.write_text(csv_path.read_text())
        with open(csv_path, "w", newline="") as f:  # verify resumes: only the removed rows are done again
            w = csv.DictWriter(f, fieldnames=list(old_rows[0]), lineterminator="\n")
            w.writeheader()
            w.writerows([r for r in old_rows if r["flagged"] != "True"])
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "synth.cli", "verify", str(args.root), "--out", str(args.out),
                        "--workers", str(args.workers), "--stride", str(args.stride)])
        print(f"re-verified {len(redo)} flagged cameras in {time.perf_counter() - t:.0f} s")
    elif not args.table_only:
        if not any(iter_scene_dirs(args.root)):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "synth.cli", "render", "--scenes", str(args.scenes), "--width",
                            str(args.width), "--height", str(args.height), "--frames", str(args.frames),
                            "--quality", args.quality, "--out", str(args.root)], check=True)
            print(f"rendered {args.scenes} scenes in {time.perf_counter() - t:.0f} s")
        scenes = list(iter_scene_dirs(args.root))

        def decode_all() -> float:
            """Baseline: wall seconds to decode every frame of every camera of every scene (one process)."""
            t0 = time.perf_counter()
            for sc in scenes:
                for v in sorted((sc / "videos").glob("cam*.mp4")):
                    read_video(v, None, stride=1)
            return time.perf_counter() - t0

        base = decode_all()
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "synth.cli", "verify", str(args.root), "--out", str(args.out),
                            "--workers", str(args.workers), "--stride", str(args.stride)])
        wall = time.perf_counter() - t
        base = min(base, decode_all()) / len(scenes)
        print(f"synth verify exit {r.returncode}: {wall:.0f} s for {len(scenes)} scenes with {args.workers} "
              f"workers = {wall / len(scenes):.1f} s per scene; baseline (decoding every frame of a scene's cameras, "
              f"1 process) {base:.2f} s per scene: ratio {wall / len(scenes) / base:.0f}x")
    with open(args.out / "verify.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    secs = [_f(r["seconds"]) for r in rows]
    print(f"per camera (one worker's time): median {np.nanmedian(secs):.1f} s, max {np.nanmax(secs):.1f} s")
    print_table(rows)


if __name__ == "__main__":
    main()
