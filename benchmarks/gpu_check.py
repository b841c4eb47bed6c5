"""The GPU check of recam (run by ``benchmarks/gpu_check.sh``): random weights at the real shapes, one JSON.

    bash benchmarks/gpu_check.sh --out gpu_check.json                 # on a CUDA machine (H100 / H200 / A100)
    bash benchmarks/gpu_check.sh --dry-run --out /tmp/gpu_check.json  # the same code paths, tiny, on the CPU

Sections (each entry records ``ok``, the error if any, and its numbers):

* ``train``: 1.3B (Wan2.1-T2V-1.3B widths, random weights) at 81 x 480 x 832 (42 x 60 x 104 latents: target +
  source), batch 1, bf16, gradient checkpointing, upstream's trainable set, ``--train-steps`` steps (10) of the
  real loss (``flow_matching_loss``) and AdamW through Lightning on 1 GPU, under every strategy (``auto``,
  ``fsdp``, ``deepspeed_stage_1/2/3``; DeepSpeed ones are ``skipped`` when the ``gpu`` extra is not installed) and
  with every installed attention backend (``native``, ``_native_cudnn``, ``flash``, ``_flash_3``) under ``auto``.
  Reported: median step time of the steps after the first 2, peak memory (``torch.cuda.max_memory_allocated``),
  MFU = 3 x forward FLOPs (``bench_model.model_flops``: per block q, k, v, o, projector, cross-attention, FFN and
  the two attention matmuls, multiply-add = 2) / step time / ``--peak-tflops`` (989 = H100/H200 bf16 dense).
* ``infer``: the pipeline (random DiT at 1.3B and 14B widths, Wan VAE at its real config, precomputed text
  embeddings), ``--infer-steps`` (50) steps with CFG, 81 x 480 x 832, with ``--offload`` none / model / group:
  time and peak memory.

Exit status: 0 if every entry is ok or skipped, 1 if any failed, 2 for bad usage (no CUDA without --dry-run).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

WAN_1_3B = dict(patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16,
                out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30)
WAN_14B = dict(patch_size=(1, 2, 2), num_attention_heads=40, attention_head_dim=128, in_channels=16,
               out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=13824, num_layers=40)
TRAINABLE = ("attn1", "cam_encoder", "projector")
STRATEGIES = ("auto", "fsdp", "deepspeed_stage_1", "deepspeed_stage_2", "deepspeed_stage_3")
BACKENDS = ("native", "_native_cudnn", "flash", "_flash_3")


def _tiny():
    from recam.tiny import TINY_TRANSFORMER

    return dict(TINY_TRANSFORMER)


def _entry(name: str, fn, results: list) -> None:
    t0 = time.perf_counter()
    try:
        out = fn()
        entry = {"name": name, "ok": True, **(out or {})}
    except _Skip as e:
        entry = {"name": name, "ok": True, "skipped": str(e)}
    except Exception as e:  # recorded, the check goes on and exits 1
        entry = {"name": name, "ok": False, "error": f"{type(e).__name__}: {e}",
                 "traceback": traceback.format_exc()[-4000:]}
    entry["seconds"] = round(time.perf_counter() - t0, 2)
    print(json.dumps({k: v for k, v in entry.items() if k != "traceback"}), flush=True)
    results.append(entry)


class _Skip(Exception):
    pass


def _peak_reset(dev):
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gib(dev):
    import torch

    return round(torch.cuda.max_memory_allocated() / 2 ** 30, 2) if dev.type == "cuda" else None


def train_entry(cfg: dict, latent, strategy: str, backend: str, steps: int, dev, precision: str, peak_tflops: float,
                text_len: int = 512) -> dict:
    """``steps`` Lightning training steps of the DiT under ``strategy`` on 1 device."""
    import lightning as L
    import torch
    from torch.utils.data import DataLoader, Dataset

    from bench_model import model_flops
    from recam.model import ReCamMasterTransformer3DModel, ReCamMasterTransformerBlock
    from recam.scheduler import TrainingSchedule, flow_matching_loss

    if strategy.startswith("deepspeed"):
        try:
            import deepspeed  # noqa: F401
        except ImportError:
            raise _Skip("deepspeed not installed (pip install -e \".[gpu]\")") from None
    f, h, w = latent

    class Random(Dataset):
        def __len__(self):
            return 10 ** 6

        def __getitem__(self, i):
            g = torch.Generator().manual_seed(i)
            return {"latents": torch.randn(16, f, h, w, generator=g), "noise": torch.randn(16, f, h, w, generator=g),
                    "context": torch.randn(text_len, cfg["text_dim"], generator=g),
                    "cam_emb": torch.randn(f // 2, 12, generator=g) * 0.3,
                    "t": torch.randint(0, 1000, (), generator=g)}

    times = []

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.transformer = ReCamMasterTransformer3DModel(**cfg)
            self.transformer.requires_grad_(False)
            for n, p in self.transformer.named_parameters():
                if any(k in n for k in TRAINABLE):
                    p.requires_grad_(True)
            self.transformer.enable_gradient_checkpointing()
            if backend != "native":
                try:
                    self.transformer.set_attention_backend(backend)
                except (RuntimeError, ImportError, ValueError) as e:  # its kernel package is not installed
                    raise _Skip(f"attention backend {backend} not usable here: {e}") from None
            self.schedule = TrainingSchedule.create()

        def configure_model(self):
            if strategy == "fsdp" and not getattr(self, "_sharded", False):
                from torch.distributed.fsdp import fully_shard

                mesh = self.device_mesh["data_parallel"]
                for blk in self.transformer.blocks:
                    fully_shard(blk, mesh=mesh)
                fully_shard(self.transformer, mesh=mesh)
                self._sharded = True

        def training_step(self, b, i):
            return flow_matching_loss(self.transformer, b["latents"].float(), b["noise"].float(), b["t"],
                                      self.schedule, b["context"].float(), b["cam_emb"].float(), f // 2)

        def on_train_batch_start(self, b, i):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            self._t0 = time.perf_counter()

        def on_train_batch_end(self, out, b, i):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - self._t0)

        def configure_optimizers(self):
            return torch.optim.AdamW([p for p in self.transformer.parameters() if p.requires_grad], lr=1e-5)

    assert ReCamMasterTransformerBlock  # FSDP units are these blocks
    if strategy == "fsdp":
        from lightning.pytorch.strategies import ModelParallelStrategy

        strat = ModelParallelStrategy(data_parallel_size=1, tensor_parallel_size=1)
    else:
        strat = strategy
    _peak_reset(dev)
    trainer = L.Trainer(accelerator="gpu" if dev.type == "cuda" else "cpu", devices=1, strategy=strat,
                        precision=precision, max_steps=steps, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(Module(), DataLoader(Random(), batch_size=1, num_workers=2 if dev.type == "cuda" else 0))
    step = statistics.median(times[2:] if len(times) > 3 else times)
    tokens = (f // cfg["patch_size"][0]) * (h // cfg["patch_size"][1]) * (w // cfg["patch_size"][2])
    flops = 3 * model_flops(cfg, tokens, text_len)
    return {"strategy": strategy, "backend": backend, "precision": precision, "latent": list(latent),
            "steps": len(times), "step_s": round(step, 4), "peak_gib": _peak_gib(dev),
            "mfu": round(flops / step / (peak_tflops * 1e12), 4) if dev.type == "cuda" else None}


def infer_entry(cfg: dict, latent, offload: str, steps: int, dev, vae_cfg: dict, text_len: int = 512) -> dict:
    """The pipeline with a random DiT (``cfg``) and VAE (``vae_cfg``), precomputed text embeddings, CFG."""
    import torch
    from diffusers import AutoencoderKLWan

    from recam.infer import place_pipeline
    from recam.model import ReCamMasterTransformer3DModel
    from recam.pipeline import ReCamMasterPipeline
    from recam.scheduler import make_inference_scheduler

    dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    f, h, w = latent
    torch.manual_seed(0)
    with torch.device("cpu"):
        transformer = ReCamMasterTransformer3DModel(**cfg).to(dtype).eval()
        vae = AutoencoderKLWan(**vae_cfg).eval()
    pipe = ReCamMasterPipeline(tokenizer=None, text_encoder=None, vae=vae, scheduler=make_inference_scheduler(steps),
                               transformer=transformer)
    pipe.set_progress_bar_config(disable=True)
    place_pipeline(pipe, dev, offload)
    _peak_reset(dev)
    g = torch.Generator().manual_seed(0)
    source = torch.randn(1, 16, f, h, w, generator=g)
    ctx = torch.randn(1, text_len, cfg["text_dim"], generator=g)
    t0 = time.perf_counter()
    frames = pipe(source_latents=source, prompt_embeds=ctx, negative_prompt_embeds=torch.zeros_like(ctx),
                  cam_emb=torch.randn(f, 12, generator=g) * 0.3, num_inference_steps=steps, guidance_scale=5.0,
                  cfg_batch=False).frames[0]
    if dev.type == "cuda":
        torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    assert frames.shape[0] == (f - 1) * 4 + 1 and frames.dtype.name == "uint8"
    return {"offload": offload, "steps": steps, "latent": list(latent), "seconds_total": round(secs, 2),
            "peak_gib": _peak_gib(dev), "frames": int(frames.shape[0])}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="gpu_check.json")
    ap.add_argument("--dry-run", action="store_true", help="tiny shapes on the CPU: tests this script's paths")
    ap.add_argument("--train-steps", type=int, default=10)
    ap.add_argument("--infer-steps", type=int, default=50)
    ap.add_argument("--peak-tflops", type=float, default=989.0)
    ap.add_argument("--only", default="train,infer", help="sections to run")
    ap.add_argument("--skip-14b", action="store_true", help="inference at 1.3B only")
    a = ap.parse_args(argv)
    import torch

    if not a.dry_run and not torch.cuda.is_available():
        print("gpu_check: no CUDA device (use --dry-run to exercise the script on the CPU)", file=sys.stderr)
        return 2
    dev = torch.device("cpu" if a.dry_run else "cuda")
    if a.dry_run:
        train_cfgs, infer_cfgs = {"tiny": _tiny()}, {"tiny": _tiny()}
        latent_train, latent_infer = (4, 8, 8), (3, 8, 8)
        from recam.tiny import TINY_VAE

        vae_cfg, backends = dict(TINY_VAE), ("native",)
        strategies = ("auto", "deepspeed_stage_1")  # fsdp needs a process group: the tests run it (test_train)
        a.train_steps, a.infer_steps = min(a.train_steps, 3), min(a.infer_steps, 2)
        precision, offloads = "32-true", ("none", "group")
    else:
        train_cfgs = {"1.3b": WAN_1_3B}
        infer_cfgs = {"1.3b": WAN_1_3B} if a.skip_14b else {"1.3b": WAN_1_3B, "14b": WAN_14B}
        latent_train, latent_infer = (42, 60, 104), (21, 60, 104)
        vae_cfg, backends, strategies = {}, BACKENDS, STRATEGIES
        precision, offloads = "bf16-mixed", ("none", "model", "group")
    from diffusers.models.attention_dispatch import AttentionBackendName

    results: list = []
    meta = {"torch": torch.__version__, "device": torch.cuda.get_device_name() if dev.type == "cuda" else "cpu",
            "dry_run": a.dry_run, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if "train" in a.only:
        for name, cfg in train_cfgs.items():
            for s in strategies:
                _entry(f"train {name} {s} native", lambda: train_entry(cfg, latent_train, s, "native",
                                                                       a.train_steps, dev, precision,
                                                                       a.peak_tflops), results)
            for b in backends:
                if b == "native":
                    continue
                if b not in {x.value for x in AttentionBackendName}:
                    continue
                _entry(f"train {name} auto {b}", lambda: train_entry(cfg, latent_train, "auto", b, a.train_steps,
                                                                     dev, precision, a.peak_tflops), results)
    if "infer" in a.only:
        for name, cfg in infer_cfgs.items():
            for o in offloads:
                _entry(f"infer {name} offload={o}", lambda: infer_entry(cfg, latent_infer, o, a.infer_steps, dev,
                                                                        vae_cfg), results)
    failed = [r["name"] for r in results if not r["ok"]]
    report = {"meta": meta, "results": results, "failed": failed, "ok": not failed}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(a.out).with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=2))
    tmp.replace(a.out)
    print(f"gpu_check: {len(results) - len(failed)}/{len(results)} ok; wrote {a.out}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
