"""Training step time, samples/s and peak memory (the loss, backward and AdamW step of recam train).

    python benchmarks/bench_train.py --preset tiny --latent 6x8x8 --batch 2            # the tiny CPU config
    python benchmarks/bench_train.py --preset 1.3b --latent 42x60x104 --precision bf16-mixed \\
        --backends native,flash,_native_cudnn                                          # upstream's size, GPU

Uses upstream's trainable set (self-attention, cam_encoder, projector), gradient checkpointing (on unless
``--no-checkpointing``), ``flow_matching_loss`` on random latents and AdamW. ``bf16-mixed`` = fp32 weights under
bf16 autocast (Lightning's), ``bf16-true`` = bf16 weights (upstream's DeepSpeed bf16). MFU counts model FLOPs
(3 x forward, see bench_model.model_flops) against ``--peak-tflops`` (989 = H100/H200 bf16 dense).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time

from bench_model import PRESETS, model_flops


def measure(a: dict) -> dict:
    import torch

    from recam.convert import cast_keep_fp32
    from recam.model import ReCamMasterTransformer3DModel
    from recam.scheduler import TrainingSchedule, flow_matching_loss
    from recam.tiny import TINY_TRANSFORMER

    a = argparse.Namespace(**a)
    cfg = dict(PRESETS[a.preset] or TINY_TRANSFORMER)
    dev = torch.device(a.device)
    torch.manual_seed(0)
    with torch.device(dev):
        model = ReCamMasterTransformer3DModel(**cfg)
    if a.precision == "bf16-true":
        model = cast_keep_fp32(model, torch.bfloat16)
    if a.backend != "default":
        model.set_attention_backend(a.backend)
    model.train().requires_grad_(False)
    params = [p for n, p in model.named_parameters() if any(k in n for k in ("attn1", "cam_encoder", "projector"))]
    for p in params:
        p.requires_grad_(True)
    if a.checkpointing:
        model.enable_gradient_checkpointing()
    opt = torch.optim.AdamW(params, lr=1e-5)
    sched = TrainingSchedule.create()
    f, h, w = a.latent
    b = a.batch
    lat = torch.randn(b, 16, f, h, w, device=dev)
    ctx = torch.randn(b, a.text_len, cfg["text_dim"], device=dev)
    cam = torch.randn(b, f // 2, 12, device=dev)
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.precision == "bf16-mixed")

    def step():
        noise = torch.randn_like(lat)
        t = torch.randint(0, 1000, (b,), device=dev)
        with autocast:
            loss = flow_matching_loss(model, lat, noise, t, sched, ctx, cam, f // 2)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    step()
    sync()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    s = sorted(times)[len(times) // 2]
    tokens = f * (h // 2) * (w // 2)
    res = {"preset": a.preset, "backend": a.backend, "precision": a.precision, "step_s": s, "samples_per_s": b / s,
           "tokens": tokens, "trainable_m": sum(p.numel() for p in params) / 1e6}
    fl = 3 * model_flops(cfg, tokens, a.text_len) * b
    res["tflops_per_s"] = fl / s / 1e12
    if a.peak_tflops:
        res["mfu"] = res["tflops_per_s"] / a.peak_tflops
    res["peak_mb"] = (torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda"
                      else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return res


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    ap.add_argument("--latent", default="6x8x8", help="FxHxW of the model input (target+source)")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--text-len", type=int, default=512)
    ap.add_argument("--precision", default="32", choices=["32", "bf16-mixed", "bf16-true"])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--backends", default="default")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--no-checkpointing", dest="checkpointing", action="store_false")
    ap.add_argument("--peak-tflops", type=float, default=None)
    args = ap.parse_args()
    args.latent = [int(v) for v in args.latent.lower().split("x")]
    if args.peak_tflops is None and args.device.startswith("cuda"):
        args.peak_tflops = 989.0
    ctx = mp.get_context("spawn")
    for backend in args.backends.split(","):
        d = {**vars(args), "backend": backend}
        d.pop("backends")
        with ctx.Pool(1) as pool:
            try:
                r = pool.apply(measure, (d,))
            except Exception as e:  # noqa: BLE001
                print(f"{backend:>14}: {type(e).__name__}: {str(e)[:200]}")
                continue
        mfu = f", MFU {r['mfu'] * 100:.1f}%" if "mfu" in r else ""
        print(f"{backend:>14}: step {r['step_s'] * 1000:.1f} ms, {r['samples_per_s']:.2f} samples/s, "
              f"{r['tflops_per_s']:.2f} TFLOP/s{mfu}, peak {r['peak_mb']:.0f} MB  [{r['preset']}, {r['tokens']} "
              f"tokens x batch {args.batch}, {r['precision']}, {r['trainable_m']:.2f} M trainable, {args.device}]")


if __name__ == "__main__":
    main()
