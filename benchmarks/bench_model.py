"""ReCamMaster DiT: time and peak memory of one forward and one forward+backward.

    python benchmarks/bench_model.py --preset tiny --latent 6x60x104         # CPU-sized
    python benchmarks/bench_model.py --preset 1.3b --latent 42x60x104 --dtype bf16 --backends native,flash,...

``--latent FxHxW`` is the model input (target + source frames: 81 frames at 480x832 -> 42x60x104). On CUDA the
peak memory is ``torch.cuda.max_memory_allocated``; on CPU it is the peak resident set size of a fresh process per
measurement, minus the resident size before the measurement. Forward+backward trains upstream's parameter set
(self-attention, cam_encoder, projector) with gradient checkpointing (``--no-checkpointing`` to disable).
MFU = model FLOPs per second / ``--peak-tflops`` (defaults: H100 SXM / H200 bf16 dense 989).

Reference, measured in the same run (alternating fresh processes, ``--rounds``): diffusers' plain
``WanTransformer3DModel`` with the same config, input and trainable set (the self-attention) — the DiT ReCamMaster is
built on, without the camera encoder and projector. ``ours / wan`` is what the camera conditioning costs in time and
memory (1.0 = nothing). Memory is reported over the model and its inputs (CUDA: peak allocated minus allocated
before the first call; CPU: peak RSS minus RSS before the first call — the ~900 MB of imported libraries and the
weights are not counted).
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

    from diffusers import WanTransformer3DModel

    from recam.model import ReCamMasterTransformer3DModel
    from recam.tiny import TINY_TRANSFORMER

    a = argparse.Namespace(**args_dict)
    cfg = dict(PRESETS[a.preset] or TINY_TRANSFORMER)
    dev = torch.device(a.device)
    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32, "fp16": torch.float16}[a.dtype]
    torch.manual_seed(0)
    from recam.convert import cast_keep_fp32

    ref = a.model == "wan"  # the reference: diffusers' Wan DiT, no camera conditioning
    with torch.device(dev):
        model = cast_keep_fp32((WanTransformer3DModel if ref else ReCamMasterTransformer3DModel)(**cfg), dtype)
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
           "tokens": tokens, "mode": a.mode, "model": a.model}

    def call():
        return (model(x, t, ctx) if ref else model(x, t, ctx, cam)).sample

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def rss_mb():
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    if a.mode == "forward":
        model.eval()
        run = call
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
            out = call()
            out[:, :, : f // 2].float().square().mean().backward()
            return out

        ctxmgr = torch.enable_grad
    if dev.type == "cuda":
        sync()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    rss0 = rss_mb()  # after imports, weights and inputs: the peak is reported over this
    with ctxmgr():
        run()  # warm-up (kernels, allocator)
        sync()
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
        res["peak_over_weights_mb"] = res["peak_rss_mb"] - rss0
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
    ap.add_argument("--rounds", type=int, default=1, help="alternating rounds of reference and ours; best kept")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    args.latent = [int(v) for v in args.latent.lower().split("x")]
    if len(args.latent) != 3:
        ap.error(f"--latent must be FxHxW (e.g. 42x60x104), got {'x'.join(map(str, args.latent))}")
    if args.peak_tflops is None and args.device.startswith("cuda"):
        args.peak_tflops = 989.0
    ctx = mp.get_context("spawn")
    results = []

    def one(d: dict) -> dict:
        with ctx.Pool(1) as pool:  # a fresh process: clean peak memory
            try:
                return pool.apply(measure, (d,))
            except Exception as e:  # noqa: BLE001 - report and continue (e.g. a backend not installed)
                return {"backend": d["backend"], "mode": d["mode"], "model": d["model"],
                        "error": f"{type(e).__name__}: {e}"[:200]}

    def best(a: dict, b: dict) -> dict:
        return b if "error" in a or ("error" not in b and b["seconds"] < a["seconds"]) else a

    for backend in args.backends.split(","):
        for mode in args.modes.split(","):
            d = {**vars(args), "backend": backend, "mode": mode}
            for k in ("backends", "modes", "json", "rounds"):
                d.pop(k)
            r = w = None
            for _ in range(max(1, args.rounds)):  # interleaved: a load change hits both alike
                w1, r1 = one({**d, "model": "wan"}), one({**d, "model": "recam"})
                w, r = (w1, r1) if r is None else (best(w, w1), best(r, r1))
            if "error" not in r and "error" not in w:
                r["vs_wan"] = {"time": r["seconds"] / w["seconds"],
                               "memory": r["peak_over_weights_mb"] / max(w["peak_over_weights_mb"], 1e-9)}
            results += [w, r]
            for x in (w, r):
                if "error" in x:
                    print(f"{backend:>14} {mode:>8} {x['model']:>6}: {x['error']}")
                    continue
                mfu = f", MFU {x['mfu'] * 100:.1f}%" if "mfu" in x else ""
                mem = (f"peak {x['peak_over_weights_mb']:.0f} MB over weights and inputs"
                       + (f" ({x['peak_mb']:.0f} MB allocated)" if "peak_mb" in x else ""))
                vs = (f"  ours/wan: time {x['vs_wan']['time']:.2f}x, memory {x['vs_wan']['memory']:.2f}x"
                      if "vs_wan" in x else "")
                print(f"{backend:>14} {mode:>8} {x['model']:>6}: {x['seconds'] * 1000:9.1f} ms, "
                      f"{x['tflops_per_s']:.2f} TFLOP/s{mfu}, {mem}  [{x['preset']} {x['params_m']:.1f} M params, "
                      f"{x['tokens']} tokens, {x['dtype']}, {x['device']}]{vs}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
