"""``recam infer --cache``: wall-time speed-up of each diffusers cache vs the relative L2 error of its final latents
to the uncached run, on the same inputs and seed.

    python benchmarks/bench_infer_cache.py --preset tiny --steps 50                 # seconds
    python benchmarks/bench_infer_cache.py --preset 1.3b-2layers --steps 50         # 1.3B width, 2 blocks: minutes
    python benchmarks/bench_infer_cache.py --preset 1.3b --device cuda --dtype bf16 --latent 21x60x104  # GPU

What runs: :func:`recam.pipeline.denoise` (upstream's sampler: Euler on the shift-5 schedule, CFG 5 batched as
``recam infer`` runs it) on random latents, source latents, text embeddings (``--text-len`` tokens) and cameras,
``--latent FxHxW`` being one half (target or source) of the model input. For each ``--cache`` spelling: the time of
the whole sampling loop (the best of ``--rounds``) and ``||x_cache - x_none|| / ||x_none||`` of the final latents.
The feed-forward / self-attention columns are the share of
those modules' calls that really ran (forward hooks on every block: what the cache skipped, free of timing noise).
MagCache's ratios are calibrated first on the same model (``magcache:calibrate``, an uncached run); after an
untimed warm-up run, the uncached run is timed at the start and at the end (the spread says how noisy the machine was). Caches skip whole blocks or
modules, so their speed-up grows with the share of time in the blocks: on the tiny model the per-step overhead
dominates. The weights are random (diffusers' init; camera modules small random, as if trained): how the error
of a cache threshold translates to visible quality needs real weights, and
the default stays ``none`` until a GPU measurement with them says otherwise.

Output: a Markdown table on stdout, and ``--out FILE.json`` with every number.
"""

from __future__ import annotations

import argparse
import json
import time

PRESETS = {
    "tiny": None,  # recam.tiny.TINY_TRANSFORMER
    "1.3b": dict(patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16,
                 out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30),
    "1.3b-2layers": dict(patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16,
                         out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=2),
}
DEFAULT_CACHES = ["fbc:0.05", "fbc:0.1", "fbc:0.2", "magcache:0.06", "magcache:0.12", "taylorseer:3",
                  "taylorseer:5", "fastercache"]


def build(preset: str, dtype, device):
    import torch

    from recam.model import ReCamMasterTransformer3DModel
    from recam.tiny import TINY_TRANSFORMER

    torch.manual_seed(0)
    model = ReCamMasterTransformer3DModel(**dict(PRESETS[preset] or TINY_TRANSFORMER)).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.camera_parameters():  # trained-like camera modules (not zero / identity)
            p.add_(0.02 * torch.randn(p.shape, generator=g))
    return model.to(device, dtype)


def inputs(model, latent, text_len: int, dtype, device):
    import torch

    f, h, w = latent
    g = torch.Generator().manual_seed(2)
    shape = (1, 16, f, h, w)
    text_dim = model.config.text_dim
    t = dict(latents=torch.randn(shape, generator=g), source=torch.randn(shape, generator=g),
             context=torch.randn(1, text_len, text_dim, generator=g),
             negative_context=torch.randn(1, text_len, text_dim, generator=g),
             cam_emb=0.3 * torch.randn(1, f, 12, generator=g))
    return {k: v.to(device, dtype) for k, v in t.items()}


def sample(model, x, steps: int, guidance: float, device) -> tuple:
    import torch

    from recam.pipeline import denoise
    from recam.scheduler import make_inference_scheduler

    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch.no_grad():
        out = denoise(model, make_inference_scheduler(), num_inference_steps=steps, guidance_scale=guidance, **x)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return out.float().cpu(), time.perf_counter() - t0


def _count_work(model) -> dict:
    """Forward hooks counting the calls that really ran of every block's last feed-forward linear and
    self-attention query projection (a block or module a cache skips never reaches them): the work done, free of
    the machine's timing noise."""
    counts = {"ffn": 0, "attn": 0}

    def bump(key):
        def hook(*_):
            counts[key] += 1
        return hook

    for block in model.blocks:
        block.ffn.net[-1].register_forward_hook(bump("ffn"))
        block.attn1.to_q.register_forward_hook(bump("attn"))
    return counts


def run_cache(args, spec_text: str, x, ratios, dtype, device):
    from recam.caches import enable_cache, parse_cache_spec

    best, out, recorder, counts = float("inf"), None, None, None
    for _ in range(args.rounds):
        model = build(args.preset, dtype, device)
        recorder = enable_cache(model, parse_cache_spec(spec_text), steps=args.steps, mag_ratios=ratios,
                                cfg=args.guidance != 1)
        counts = _count_work(model)
        out, dt = sample(model, x, args.steps, args.guidance, device)
        best = min(best, dt)
    return out, best, (recorder.ratios if recorder is not None else None), counts


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    ap.add_argument("--latent", default="2x8x8", help="one half of the model input, FxHxW latent (default 2x8x8)")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--guidance", type=float, default=5.0)
    ap.add_argument("--text-len", type=int, default=16)
    ap.add_argument("--caches", default=",".join(DEFAULT_CACHES))
    ap.add_argument("--rounds", type=int, default=1, help="timed runs per cache (the best is kept)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--out", default=None, help="JSON with every number")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[a.dtype]
    latent = tuple(int(v) for v in a.latent.lower().split("x"))
    model = build(a.preset, dtype, device)
    x = inputs(model, latent, a.text_len, dtype, device)
    del model
    run_cache(a, "none", x, None, dtype, device)  # untimed warm-up (first-call allocations: ~2x slower)
    ref, t_ref0, _, ref_counts = run_cache(a, "none", x, None, dtype, device)
    _, _, ratios, _ = run_cache(a, "magcache:calibrate", x, None, dtype, device)
    rows = []
    for spec in [c for c in a.caches.split(",") if c]:
        out, dt, _, counts = run_cache(a, spec, x, ratios, dtype, device)
        rows.append({"cache": spec, "seconds": dt, "rel_l2": float((out - ref).norm() / ref.norm()),
                     "ffn_share": counts["ffn"] / ref_counts["ffn"], "attn_share": counts["attn"] / ref_counts["attn"]})
    _, t_ref1, _, _ = run_cache(a, "none", x, None, dtype, device)
    t_ref = min(t_ref0, t_ref1)
    print(f"preset {a.preset}, latent {a.latent} (x2: target + source), {a.steps} steps, CFG {a.guidance:g} "
          f"batched, {a.dtype} on {device} ({torch.get_num_threads()} threads); uncached {t_ref0:.2f} s / "
          f"{t_ref1:.2f} s (start / end)\n")
    print("| cache | seconds | speed-up | feed-forward run | self-attention run | rel. L2 of final latents |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| none | {t_ref:.2f} | 1.00x | 100% | 100% | 0 |")
    for r in rows:
        r["speedup"] = t_ref / r["seconds"]
        print(f"| {r['cache']} | {r['seconds']:.2f} | {r['speedup']:.2f}x | {100 * r['ffn_share']:.0f}% | "
              f"{100 * r['attn_share']:.0f}% | {r['rel_l2']:.4f} |")
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"args": vars(a), "none_seconds": [t_ref0, t_ref1], "mag_ratios": ratios, "rows": rows}, f,
                      indent=1)


if __name__ == "__main__":
    main()
