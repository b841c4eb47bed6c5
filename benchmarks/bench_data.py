"""Data throughput against bare floors measured in the same run (issue [data-throughput]): ``recam prepare``
(decode-only, encode-only, pipelined), the raw-video loaders, and ``--resize fast`` vs exact (speed and pixel
differences). ``synth validate`` is benchmarked separately.

    nice python benchmarks/bench_data.py [--clips 4 --frames 33 --src 1280x720 --height 480 --width 832]
    python benchmarks/bench_data.py --cuda       # on a GPU: prepare clips/s at 81 x 480 x 832, real-size VAE

Floors (each measured in the same interleaved rounds as what it is the reference of):
* decode floor (``--resize exact``): PyAV decode of the window + PIL bilinear resize + centre crop per frame;
* swscale floor (``--resize fast``): PyAV decode + swscale's bilinear resize while converting to RGB + centre crop,
  the same work as ``--resize fast`` with nothing else (comparing fast with the PIL floor would credit the loader
  with swscale's speed);
* encode floor: VAE + text encoding of clips already in memory;
* a perfect pipeline takes max(decode, encode), a sequential one their sum.
Timings are noisy on a shared machine: read the ratios, and rerun.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def bare_decode_resize(path: Path, n: int, height: int, width: int) -> np.ndarray:
    """The floor: PyAV decode + the same PIL resize and crop, frames kept in a list."""
    import av
    from PIL import Image

    from recam.video import crop_plan

    out = []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for i, f in enumerate(c.decode(s)):
            if i >= n:
                break
            img = f.to_image()
            p = crop_plan(img.height, img.width, height, width)
            img = img.resize((p.rw, p.rh), Image.BILINEAR)
            out.append(np.asarray(img)[p.top:p.top + height, p.left:p.left + width])
    return np.stack(out)


def bare_decode_swscale(path: Path, n: int, height: int, width: int) -> np.ndarray:
    """The ``--resize fast`` floor: PyAV decode + swscale bilinear resize into RGB + crop, frames kept in a list."""
    import av

    from recam.video import crop_plan

    out = []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for i, f in enumerate(c.decode(s)):
            if i >= n:
                break
            p = crop_plan(f.height, f.width, height, width)
            rgb = f.to_ndarray(width=p.rw, height=p.rh, format="rgb24", interpolation="BILINEAR")
            out.append(rgb[p.top:p.top + height, p.left:p.left + width])
    return np.stack(out)


def best_of(fn, repeat: int = 2) -> float:
    """Smallest wall time of ``repeat`` calls (s)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def make_clips(root: Path, clips: int, frames: int, src_w: int, src_h: int) -> None:
    """A RealCam-Vid-layout dataset of ``clips`` videos (a moving pattern at the source size) and its index."""
    import data_fixtures as fx

    fx.W, fx.H = src_w, src_h
    root.mkdir(parents=True, exist_ok=True)
    fx.make_realcam(root, frames)
    # keep the valid clips only, duplicated to the wanted count
    from recam.data.safe_npz import load_npz_safe

    recs = list(load_npz_safe(root / "RealCam-Vid_train.npz")["arr_0"])
    good = [r for r in recs if r["video_path"] in ("videos/a.mp4", "videos/b.mp4")]
    out = []
    for k in range(clips):
        src = good[k % 2]
        name = f"videos/clip{k}.mp4"
        shutil.copy(root / src["video_path"], root / name)
        out.append({**src, "video_path": name})
    np.savez(root / "RealCam-Vid_train.npz", np.array(out, dtype=object))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--frames", type=int, default=33)
    ap.add_argument("--src", default="1280x720", help="source video size WxH")
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=832)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--prep_size", default="128x224", help="HxW of the prepare rows on CPU (the tiny VAE at "
                    "480x832 takes ~30 s per clip on 2 cores); --cuda uses 480x832")
    ap.add_argument("--cuda", action="store_true", help="prepare at 81x480x832 with the real-size VAE (random "
                    "weights) on CUDA")
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    import torch

    from recam.data.clips import load_frames
    from recam.data.datasets import build_dataset
    from recam.data.formats import enumerate_items
    from recam.data.prepare import ClipFrames, PrepareSettings, prepare_dataset
    from recam.video import frame_converter
    from synth.core.video_io import stream_video

    torch.set_num_threads(max(1, torch.get_num_threads()))
    if args.cuda:
        args.frames, args.height, args.width = 81, 480, 832
    src_w, src_h = (int(v) for v in args.src.split("x"))
    wd = Path(args.workdir or tempfile.mkdtemp(prefix="bench_data_"))
    root = wd / "realcam"
    if not root.exists():
        print(f"building {args.clips} clips of {args.frames} frames at {src_w}x{src_h} ...", flush=True)
        make_clips(root, args.clips, args.frames, src_w, src_h)
    items, _ = enumerate_items("realcam-vid", root, args.frames)
    F, Hh, Ww = args.frames, args.height, args.width
    print(f"\n{len(items)} clips, {F} frames {src_w}x{src_h} (multicam {src_h}x{src_h}) -> {Ww}x{Hh}\n")

    # ---------------------------------------------------------------- loaders (interleaved repeats, best of each)
    ds = build_dataset("realcam-vid", root=root, num_frames=F, height=Hh, width=Ww)
    mc_root = wd / "multicam"
    if not mc_root.exists():
        from typer.testing import CliRunner

        from synth.cli import app as synth_app

        r = CliRunner().invoke(synth_app, ["render", "--scenes", "1", "--width", str(src_h), "--height", str(src_h),
                                           "--frames", str(F), "--out", str(mc_root)])
        assert r.exit_code == 0, r.output
    pairs = build_dataset("multicam", root=mc_root, num_frames=F, height=Hh, width=Ww)
    pair_idx = list(range(0, len(pairs), max(1, len(pairs) // len(items))))[:len(items)]
    pair_files = [(pairs.source.items[t].video, pairs.source.items[c].video)
                  for c, t in (pairs.pairs[i] for i in pair_idx)]
    runs = {
        "floor: PyAV decode + PIL resize + crop": lambda: [bare_decode_resize(it.video, F, Hh, Ww) for it in items],
        "streamed decoder (load_frames)": lambda: [load_frames(it, Hh, Ww) for it in items],
        "raw single-view sample (realcam-vid)": lambda: [ds[i] for i in range(len(ds))],
        "floor: PyAV decode + swscale resize + crop": lambda: [bare_decode_swscale(it.video, F, Hh, Ww)
                                                               for it in items],
        "streamed decoder, --resize fast": lambda: [load_frames(it, Hh, Ww, "fast") for it in items],
        "floor x 2 videos (multicam pair files)": lambda: [(bare_decode_resize(a, F, Hh, Ww),
                                                            bare_decode_resize(b, F, Hh, Ww)) for a, b in pair_files],
        "raw multicam pair sample": lambda: [pairs[i] for i in pair_idx],
    }
    best = {k: float("inf") for k in runs}
    for _ in range(args.repeat):
        for k, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t0)
    floor, pair_floor = best["floor: PyAV decode + PIL resize + crop"], best["floor x 2 videos (multicam pair files)"]
    sws_floor = best["floor: PyAV decode + swscale resize + crop"]
    print(f"{'item (best of ' + str(args.repeat) + ', interleaved)':<44}{'samples/s':>10}{'vs floor':>10}  floor")
    for k, t in best.items():
        ref, name = ((pair_floor, "PIL x 2") if "pair" in k else (sws_floor, "swscale") if "swscale" in k or
                     "fast" in k else (floor, "PIL"))
        print(f"{k:<44}{len(items) / t:>10.2f}{ref / t:>10.2f}  {name}")
    gain = best["streamed decoder (load_frames)"] / best["streamed decoder, --resize fast"]
    print(f"  --resize fast vs --resize exact (what switching buys, not a loader efficiency): {gain:.2f}x")
    a = stream_video(items[0].video, F, convert=frame_converter(Hh, Ww, "exact")).frames.astype(np.int16)
    b = stream_video(items[0].video, F, convert=frame_converter(Hh, Ww, "fast")).frames.astype(np.int16)
    d = np.abs(a - b)
    print(f"  --resize fast vs exact pixels: mean |diff| {d.mean():.2f} levels, p99 {np.percentile(d, 99):.0f}, "
          f"max {d.max()}, {100 * (d > 2).mean():.1f}% of values differ by > 2 (of 255)")

    # ---------------------------------------------------------------- prepare
    from typer.testing import CliRunner

    from recam.cli import app

    model = wd / "tiny"
    if not model.exists():
        assert CliRunner().invoke(app, ["init-tiny", str(model)]).exit_code == 0
    device = "cuda" if args.cuda else "cpu"
    if args.cuda:  # the real-size Wan VAE, random weights (nothing downloaded)
        from diffusers import AutoencoderKLWan

        shutil.rmtree(model / "vae")
        AutoencoderKLWan().save_pretrained(str(model / "vae"))
    if not args.cuda:
        Hh, Ww = (int(v) for v in args.prep_size.split("x"))
        clips_note = f"prepare rows at {Ww}x{Hh}"
        print(f"\n{clips_note}")
    settings = PrepareSettings(num_frames=F, height=Hh, width=Ww, cache_dtype="bf16",
                               vae_dtype="bf16" if args.cuda else "fp32")
    clips = ClipFrames(items, Hh, Ww, "exact")

    def decode_only():
        dl = torch.utils.data.DataLoader(clips, batch_size=None, num_workers=args.workers,
                                         collate_fn=lambda x: x)
        return [f for _, f, _ in dl]

    t0 = time.perf_counter()
    decoded = decode_only()
    dec = time.perf_counter() - t0

    from diffusers import AutoencoderKLWan
    from transformers import AutoTokenizer, UMT5EncoderModel

    from recam.encoders import encode_prompts, encode_video_latents
    from recam.video import frames_to_tensor

    tok = AutoTokenizer.from_pretrained(str(model / "tokenizer"))
    te = UMT5EncoderModel.from_pretrained(str(model / "text_encoder")).to(device).eval()
    vae = AutoencoderKLWan.from_pretrained(str(model / "vae"), torch_dtype=torch.bfloat16 if args.cuda else
                                           torch.float32).to(device).eval()

    def encode_only():
        encode_prompts(tok, te, [it.caption for it in items], device=device)
        for f in decoded:
            encode_video_latents(vae, frames_to_tensor(f.numpy())[None], device=device)
        if args.cuda:
            torch.cuda.synchronize()

    encode_only()  # warm-up
    enc = best_of(encode_only, 1)

    def pipelined(workers):
        cache = wd / f"cache{workers}"
        shutil.rmtree(cache, ignore_errors=True)
        prepare_dataset("realcam-vid", root, model, cache, settings, device=device, workers=workers)

    pipe = best_of(lambda: pipelined(args.workers), 1)
    seq = best_of(lambda: pipelined(0), 1)
    n = len(items)
    print(f"\n{'prepare (' + device + ')':<44}{'clips/s':>9}{'time s':>9}")
    print(f"{'decode-only (' + str(args.workers) + ' workers)':<44}{n / dec:>9.2f}{dec:>9.2f}")
    print(f"{'encode-only (VAE + text, clips in memory)':<44}{n / enc:>9.2f}{enc:>9.2f}")
    print(f"{'sequential (workers 0)':<44}{n / seq:>9.2f}{seq:>9.2f}")
    print(f"{'pipelined (' + str(args.workers) + ' workers)':<44}{n / pipe:>9.2f}{pipe:>9.2f}")
    print(f"  pipelined / max(decode, encode) = {pipe / max(dec, enc):.2f} (1.0 = perfect overlap); "
          f"sequential / pipelined = {seq / pipe:.2f}x; model loading included in both prepare rows")
    if not args.workdir:
        shutil.rmtree(wd, ignore_errors=True)


if __name__ == "__main__":
    main()
