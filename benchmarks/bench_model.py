"""ReCamMaster DiT: time and peak memory of one forward and one forward+backward.

    python benchmarks/bench_model.py --preset tiny --latent 6x60x104         # CPU-sized
    python benchmarks/bench_model.py --preset 1.3b --latent 42x60x104 --dtype bf16 --backends native,flash,...

``--latent FxHxW`` is the model input (target + source frames: 81 frames at 480x832 -> 42x60x104). On CUDA the
peak memory is ``torch.cuda.max_memory_allocated``; on CPU it is the peak resident set size of a fresh process per
measurement, minus the resident size before the measurement. Forward+backward trains upstream's parameter set
(self-attention, cam_encoder, projector) with gradient checkpointing (``--no-checkpointing`` to disable).
MFU = model FLOPs per second / ``--peak-tflops`` (defaults: H100 SXM / H200 bf16 dense 989).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import time

PRESETS = {
    "tiny": None,  # recam.tiny.TINY_TRANSFORMER
    "1.3b": dict(patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16,
                 out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30),
    "1.3b-2layers": dict(patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16,
                         out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=2),
}


def model_flops(cfg: dict, tokens: int, text_len: int) -> float:
    """Forward FLOPs (multiply-add = 2): per block q,k,v,o + projector, cross-attn q,o (k,v on text), FFN, and the
    two attention matmuls."""
    d = cfg["num_attention_heads"] * cfg["attention_head_dim"]
    f = cfg["ffn_dim"]
    per_token = 2 * (5 * d * d + 2 * d * d + 2 * d * f)
    attn = 2 * 2 * tokens * tokens * d + 2 * 2 * tokens * text_len * d
    kv_text = 2 * 2 * text_len * d * d
    return cfg["num_layers"] * (tokens * per_token + attn + kv_text)


def measure(args_dict: dict) -> dict:
    import torch

    from recam.model import ReCamMasterTransformer3DModel
    from recam.tiny import TINY_TRANSFORMER

    a = argparse.Namespace(**args_dict)
    cfg = dict(PRESETS[a.preset] or TINY_TRANSFORMER)
    dev = torch.device(a.device)
    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32, "fp16": torch.float16}[a.dtype]
    torch.manual_seed(0)
    from recam.convert import cast_keep_fp32

    with torch.device(dev):
        model = cast_keep_fp32(ReCamMasterTransformer3DModel(**cfg), dtype)
    if a.backend != "default":
        model.set_attention_backend(a.backend)
    f, h, w = a.latent
    b = a.batch
    x = torch.randn(b, 16, f, h, w, device=dev, dtype=dtype)
    t = torch.full((b,), 500.0, device=dev)
    ctx = torch.randn(b, a.text_len, cfg["text_dim"], device=dev, dtype=dtype)
    cam = torch.randn(b, f // 2, 12, device=dev, dtype=dtype)
    tokens = f * (h // 2) * (w // 2)
    res = {"preset": a.preset, "device": str(dev), "dtype": a.dtype, "backend": a.backend, "latent": a.latent,
           "tokens": tokens, "mode": a.mode}

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def rss_mb():
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    if a.mode == "forward":
        model.eval()
        run = lambda: model(x, t, ctx, cam).sample  # noqa: E731
        ctxmgr = torch.no_grad
    else:
        model.train()
        model.requires_grad_(False)
        for n, p in model.named_parameters():
            if any(k in n for k in ("attn1", "cam_encoder", "projector")):
                p.requires_grad_(True)
        if a.checkpointing:
            model.enable_gradient_checkpointing()

        def run():
            out = model(x, t, ctx, cam).sample
            out[:, :, : f // 2].float().square().mean().backward()
            return out

        ctxmgr = torch.enable_grad
    with ctxmgr():
        run()  # warm-up (kernels, allocator)
        sync()
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        rss0 = rss_mb()
        times = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            run()
            sync()
            times.append(time.perf_counter() - t0)
    res["seconds"] = min(times)
    if dev.type == "cuda":
        res["peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
        res["peak_over_weights_mb"] = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        res["rss_before_mb"] = rss0
    fl = model_flops(cfg, tokens, a.text_len) * b * (1 if a.mode == "forward" else 3)
    res["tflops_per_s"] = fl / res["seconds"] / 1e12
    if a.peak_tflops:
        res["mfu"] = res["tflops_per_s"] / a.peak_tflops
    res["params_m"] = sum(p.numel() for p in model.parameters()) / 1e6
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    ap.add_argument("--latent", default="6x30x52", help="FxHxW of the model input (target+source)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--text-len", type=int, default=512)
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"])
    ap.add_argument("--device", default="cuda" if __import__("torch").cuda.is_available() else "cpu")
    ap.add_argument("--backends", default="default", help="comma list of diffusers attention backends")
    ap.add_argument("--modes", default="forward,train")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-checkpointing", dest="checkpointing", action="store_false")
    ap.add_argument("--peak-tflops", type=float, default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    args.latent = [int(v) for v in args.latent.lower().split("x")]
    if len(args.latent) != 3:
        ap.error(f"--latent must be FxHxW (e.g. 42x60x104), got {'x'.join(map(str, args.latent))}")
    if args.peak_tflops is None and args.device.startswith("cuda"):
        args.peak_tflops = 989.0
    ctx = mp.get_context("spawn")
    results = []
    for backend in args.backends.split(","):
        for mode in args.modes.split(","):
            d = {**vars(args), "backend": backend, "mode": mode}
            d.pop("backends")
            d.pop("modes")
            d.pop("json")
            with ctx.Pool(1) as pool:  # a fresh process: clean peak memory
                try:
                    r = pool.apply(measure, (d,))
                except Exception as e:  # noqa: BLE001 - report and continue (e.g. a backend not installed)
                    r = {"backend": backend, "mode": mode, "error": f"{type(e).__name__}: {e}"[:200]}
            results.append(r)
            mem = (f"peak {r['peak_mb']:.0f} MB ({r['peak_over_weights_mb']:.0f} MB over weights)"
                   if "peak_mb" in r else f"peak RSS {r.get('peak_rss_mb', 0):.0f} MB") if "error" not in r else ""
            if "error" in r:
                print(f"{backend:>14} {mode:>8}: {r['error']}")
            else:
                mfu = f", MFU {r['mfu'] * 100:.1f}%" if "mfu" in r else ""
                print(f"{backend:>14} {mode:>8}: {r['seconds'] * 1000:9.1f} ms, {r['tflops_per_s']:.2f} TFLOP/s{mfu}, "
                      f"{mem}  [{r['preset']} {r['params_m']:.1f} M params, {r['tokens']} tokens, {r['dtype']}, "
                      f"{r['device']}]")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
