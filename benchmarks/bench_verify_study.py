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

``--given`` runs the given-pose study instead (issue 27; ``synth verify``'s default method): for every scene of
``--root`` (resumable, one JSON per scene in ``--out/given/``), the pixels are measured once (tracks and matches,
:func:`synth.dataset.verify_given.measure_scene`, timed against decoding every frame of the scene's cameras), then
the correct files are judged (every flag is a false flag) and each of the 8 tampers of
:mod:`synth.dataset.verify_tampers` is applied to a copy of the files and judged, pixels only and with the rendered
depth maps: false-flag rate, detection per tamper kind, seconds per scene against decoding.

    nice python benchmarks/bench_verify_study.py --given --root /tmp/v20 --out /tmp/v20_verify

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


def _moving(c2w, cams):
    """Cameras whose written poses change over the clip (> 1 cm or > 1 degree): a tamper of their order changes
    what they state."""
    from synth.core.rigid import rotation_angle_deg

    out = []
    for c in cams:
        P = c2w[c]
        rot = float(np.max(rotation_angle_deg(P[:1, :3, :3].repeat(len(P), 0), P[:, :3, :3])))
        if np.linalg.norm(P[:, :3, 3] - P[0, :3, 3], axis=1).max() > 0.01 or rot > 1.0:
            out.append(c)
    return out


def given_scene(sd: Path, scenes, out_json: Path, rejudge: bool = False) -> dict:
    """Measure one scene, judge its correct and tampered files; the record is written to ``out_json``."""
    import json
    import shutil
    import tempfile

    from synth.core.video_io import read_video
    from synth.dataset.verify import character_box, scene_geometry, stated_distances
    from synth.dataset.verify_given import SceneMeasurements, judge_scene, measure_scene
    from synth.dataset.verify_tampers import TAMPERS, apply_tamper

    cams = sorted(p.stem for p in (sd / "videos").glob("cam*.mp4"))
    npz = out_json.with_suffix(".npz")
    if rejudge and npz.is_file() and out_json.is_file():  # new thresholds, same pixels: keep the timings
        old = json.loads(out_json.read_text())
        decode, t_measure = old["decode_s"], old["measure_s"]
        meas = SceneMeasurements.load(npz, sd / "depth")
    else:
        t = time.perf_counter()
        for c in cams:
            read_video(sd / "videos" / f"{c}.mp4")
        decode = time.perf_counter() - t
        t = time.perf_counter()
        meas = measure_scene(lambda c: read_video(sd / "videos" / f"{c}.mp4")[0], cams, sd / "depth")
        t_measure = time.perf_counter() - t
        meas.save(npz)
    nodepth = meas.without_depth()
    h, w = read_video(sd / "videos" / f"{cams[0]}.mp4", 1)[0].shape[1:3]

    def judge(files: Path, m):
        spec, c2w, K, target = scene_geometry(files, w, h)
        t0 = time.perf_counter()
        res = judge_scene(m, c2w, K, target, stated_distance_m=stated_distances(spec),
                          character=character_box(spec))
        return ({c: "+".join(r.reasons) for c, r in res.items()}, time.perf_counter() - t0, c2w, spec,
                {c: [r.dense_max_violation, r.dense_bad, r.dense_pairs, r.dense_time_delta] for c, r in res.items()})

    correct, t_judge, c2w, spec, _ = judge(sd, nodepth)
    correct_depth, t_judge_depth, _, _, dense = judge(sd, meas)
    k = scenes.index(sd)
    moving = _moving(c2w, cams) or cams
    fams = {c.name: c.family for c in spec.cameras} if spec is not None else {}
    rec = {"scene": f"{sd.parent.name}/{sd.name}", "decode_s": decode, "measure_s": t_measure, "judge_s": t_judge,
           "judge_depth_s": t_judge_depth,
           "cross_pairs": len(meas.cross), "families": fams, "correct": correct, "correct_depth": correct_depth,
           "dense": dense, "tampers": {}}
    other = scenes[(k + 1) % len(scenes)]
    for j, kind in enumerate(TAMPERS):
        cam = moving[(k + j) % len(moving)]
        second = next((c for c in moving if fams.get(c) != fams.get(cam) and c != cam),
                      moving[(k + j + 1) % len(moving)])
        with tempfile.TemporaryDirectory() as tmp:
            files = Path(tmp) / "files"
            files.mkdir()
            shutil.copytree(sd / "cameras", files / "cameras")
            shutil.copy(sd / "scene.json", files / "scene.json")
            targets = apply_tamper(kind, files, cam, other=second, other_scene=other)
            px, _, _, _, _ = judge(files, nodepth)
            dp, _, _, _, dn = judge(files, meas)
        rec["tampers"][kind] = {"targets": targets, "pixels": px, "depth": dp, "dense": dn}
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(rec, indent=1))
    return rec


def given_study(root: Path, out: Path, rejudge: bool = False) -> None:
    """The given-pose study over every scene of ``root`` (see the module docstring); prints the tables."""
    import json

    from synth.core.multicam_format import iter_scene_dirs
    from synth.dataset.verify_tampers import TAMPERS

    scenes = sorted(iter_scene_dirs(root), key=lambda p: int(p.name[5:]))
    recs = []
    for sd in scenes:
        js = out / "given" / f"{sd.parent.name}_{sd.name}.json"
        recs.append(json.loads(js.read_text()) if js.is_file() and not rejudge
                    else given_scene(sd, scenes, js, rejudge))
        r = recs[-1]
        print(f"{r['scene']}: decode {r['decode_s']:.1f} s, measure {r['measure_s']:.1f} s, judge "
              f"{r['judge_s']:.2f} s, false flags {sum(bool(v) for v in r['correct'].values())}", flush=True)
    n_cams = sum(len(r["correct"]) for r in recs)
    ff = [(r["scene"], c, v) for r in recs for c, v in r["correct"].items() if v]
    ffd = [(r["scene"], c, v) for r in recs for c, v in r["correct_depth"].items() if v]
    print(f"\n{len(recs)} scenes, {n_cams} correct cameras: false flags {len(ff)} "
          f"({100 * len(ff) / max(n_cams, 1):.1f} %) "
          f"pixels only, {len(ffd)} ({100 * len(ffd) / max(n_cams, 1):.1f} %) with depth")
    for f in ff + ffd:
        print("  false flag", *f)
    print("\n| tamper | cameras tampered | caught, pixels only | caught, with depth | scenes failing (pixels / "
          "depth) |")
    print("|---|---:|---:|---:|---|")
    for kind in TAMPERS:
        tg = [(r, c) for r in recs for c in r["tampers"][kind]["targets"]]
        px = sum(bool(r["tampers"][kind]["pixels"][c]) for r, c in tg)
        dp = sum(bool(r["tampers"][kind]["depth"][c]) for r, c in tg)
        sp = sum(any(r["tampers"][kind]["pixels"].values()) for r in recs)
        sdp = sum(any(r["tampers"][kind]["depth"].values()) for r in recs)
        print(f"| {kind} | {len(tg)} | {px} ({100 * px / max(len(tg), 1):.0f} %) | "
              f"{dp} ({100 * dp / max(len(tg), 1):.0f} %) "
              f"| {sp}/{len(recs)} / {sdp}/{len(recs)} |")
    for kind in TAMPERS:  # what is still missed, for the notes
        for r in recs:
            t = r["tampers"][kind]
            for c in t["targets"]:
                miss = [m for m in ("pixels", "depth") if not t[m][c]]
                if miss:
                    print(f"  missed {kind} {r['scene']}/{c} ({r['families'].get(c, '?')}) by {'+'.join(miss)}; "
                          f"with depth: {t['depth'][c] or '-'}; dense [max violation, bad pairs, pairs, timing] "
                          f"{[round(x, 3) if isinstance(x, float) else x for x in t.get('dense', {}).get(c, [])]}")
    dec = float(np.mean([r["decode_s"] for r in recs]))
    ver = float(np.mean([r["measure_s"] + r["judge_s"] for r in recs]))
    verd = float(np.mean([r["measure_s"] + r.get("judge_depth_s", r["judge_s"]) for r in recs]))
    print(f"\nseconds per scene (one process): decode {dec:.1f}, given-pose verify (decode + track + match + judge) "
          f"{ver:.1f}: {ver / dec:.1f}x the decode; with depth maps (dense test included) {verd:.1f}: "
          f"{verd / dec:.1f}x")


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
    ap.add_argument("--given", action="store_true", help="The given-pose study (tampers, false flags, timing).")
    ap.add_argument("--rejudge", action="store_true", help="--given: judge the saved measurements again (new "
                    "thresholds) without measuring.")
    ap.add_argument("--max-rot-deg", type=float, default=3.0)
    ap.add_argument("--max-trans-rel", type=float, default=0.2)
    args = ap.parse_args()

    from synth.core.multicam_format import iter_scene_dirs
    from synth.core.video_io import read_video

    if args.given:
        given_study(args.root, args.out, args.rejudge)
        return
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
