"""Samples per second of each dataset loader, from raw video and from the latent cache.

    python benchmarks/bench_loaders.py [--frames 81 --height 480 --width 832] [--workdir /tmp/bench_loaders]

Builds small datasets in every format (the test fixtures' generators, at the benchmark's size; MultiCamVideo from
``synth render``), caches them with the tiny model (latents have the real shape: 16 x 21 x 60 x 104 per video),
then times ``dataset[i]`` in one process and a 2-worker DataLoader.

Reference for the cache rows, measured interleaved with them (best of ``--rounds``): safetensors ``load_file`` of the
same item files (two per multicam pair, one per single-view clip) plus the same latent concatenation, nothing else.
``cache / floor`` is what the loader costs beyond reading its tensors (1.0 = nothing). The raw rows have their
decoding floor in ``benchmarks/bench_data.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def timed(ds, n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        ds[i % len(ds)]
    return n / (time.perf_counter() - t0)


def cache_floor(files, n: int, paired: bool):
    """The cache rows' floor: ``n`` samples of safetensors ``load_file`` + the loader's latent concatenation."""
    import torch
    from safetensors.torch import load_file

    def sample(i: int):
        a = load_file(str(files[i % len(files)]))
        b = load_file(str(files[(i + 1) % len(files)])) if paired else a
        return torch.cat([a["latents"], b["latents"]], dim=1), a["context"]

    return sample


def best_rate(fns, n: int, rounds: int):
    """Samples/s of each ``fn(i)`` over ``n`` samples, interleaved rounds, best round of each."""
    best = [0.0] * len(fns)
    for _ in range(rounds):
        for j, fn in enumerate(fns):
            t0 = time.perf_counter()
            for i in range(n):
                fn(i)
            best[j] = max(best[j], n / (time.perf_counter() - t0))
    return best


def timed_loader(ds, n: int, workers: int) -> float:
    import torch

    from recam.train.datamodule import collate

    dl = torch.utils.data.DataLoader(ds, batch_size=1, shuffle=False, num_workers=workers, collate_fn=collate,
                                     sampler=[i % len(ds) for i in range(n)])
    it = iter(dl)
    next(it)  # worker start-up
    t0 = time.perf_counter()
    k = 0
    for _ in it:
        k += 1
    return k / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=81)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=832)
    ap.add_argument("--workdir", default="/tmp/bench_loaders")
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds of cache loader vs its floor")
    args = ap.parse_args()
    import data_fixtures as fx
    from typer.testing import CliRunner

    from recam.cli import app
    from recam.data.cache import iter_items
    from recam.data.datasets import build_dataset
    from recam.data.formats import get_kind
    from synth.cli import app as synth_app

    wd = Path(args.workdir)
    fx.W, fx.H = args.width, args.height
    run = CliRunner().invoke
    roots = {"multicam": wd / "multicam", "realcam-vid": wd / "realcam", "spatialvid": wd / "spatialvid",
             "re10k": wd / "re10k", "dl3dv": wd / "dl3dv"}
    if not wd.exists():
        print("building datasets ...", flush=True)
        r = run(synth_app, ["render", "--scenes", "1", "--width", "640", "--height", "640", "--frames",
                            str(args.frames), "--out", str(roots["multicam"])])
        assert r.exit_code == 0, r.output
        fx.make_realcam(roots["realcam-vid"], args.frames)
        fx.make_spatialvid(roots["spatialvid"], args.frames)
        fx.make_re10k(roots["re10k"], args.frames)
        fx.make_dl3dv(roots["dl3dv"], args.frames)
        assert run(app, ["init-tiny", str(wd / "tiny")]).exit_code == 0
        for kind, root in roots.items():
            t0 = time.perf_counter()
            r = run(app, ["prepare", "--dataset", str(root), "--kind", kind, "--model_dir", str(wd / "tiny"), "--out",
                          str(wd / "cache"), "--num_frames", str(args.frames), "--height", str(args.height),
                          "--width", str(args.width)])
            assert r.exit_code == 0, r.output
            print(f"  prepared {kind} in {time.perf_counter() - t0:.1f} s", flush=True)
    sys.stdout.flush()
    print(f"\n{args.frames} frames at {args.width}x{args.height}; raw = decode + resize/crop (+ poses), cache = "
          f"safetensors latents (bf16, cast on the device) + context + poses")
    print(f"{'loader':>12} {'raw (1 proc)':>14} {'raw (2 workers)':>16} {'cache (1 proc)':>15} "
          f"{'floor (1 proc)':>15} {'cache/floor':>12} {'cache (2 workers)':>18}   items")
    for kind, root in roots.items():
        raw = build_dataset(kind, root=root, num_frames=args.frames, height=args.height, width=args.width)
        cached = build_dataset(kind, cache=wd / "cache", num_frames=args.frames)
        n = args.samples
        files = list(iter_items(wd / "cache", kind))
        floor_fn = cache_floor(files, 4 * n, get_kind(kind).paired)
        c_rate, f_rate = best_rate([lambda i: cached[i % len(cached)], floor_fn], 4 * n, args.rounds)
        print(f"{kind:>12} {timed(raw, n):>12.2f}/s {timed_loader(raw, n, 2):>14.2f}/s {c_rate:>13.1f}/s "
              f"{f_rate:>13.1f}/s {c_rate / f_rate:>12.2f} "
              f"{timed_loader(cached, 4 * n, 2):>16.1f}/s   {len(raw)} raw / {len(cached)} cached"
              f"{'  (pairs: 2 videos per sample)' if kind == 'multicam' else ''}", flush=True)


if __name__ == "__main__":
    main()
