"""The GPU check (run by ``benchmarks/gpu_check.sh``): budgeted, one JSON rewritten after every entry.

    bash benchmarks/gpu_check.sh --profile recam --budget 300     # one H100/H200: ~5 min; results/gpu_check_recam.json
    bash benchmarks/gpu_check.sh --profile render,encode           # the renderer's EGL path and NVENC
    bash benchmarks/gpu_check.sh --dry-run --budget 60             # every entry at tiny shapes on the CPU (CI)

A GPU node is often lent for ~15 minutes in all, start-up included, so a run has a **budget** (``--budget``
seconds, default 300 per invocation) and every entry its own **cap**. Entries run in order of value; an entry
starts only when the budget left is at least its ``min_s`` and runs at most ``min(cap_s, budget left)`` seconds
(a ``SIGALRM`` interrupts it: ``status: timed_out``, a failure when its own cap was hit, ``skipped`` when the
budget cut it); what the budget no longer allows is recorded as ``skipped`` with the reason. The JSON (``--out``)
is written before the first entry (every planned entry ``pending``) and rewritten atomically after each, so a run
killed from outside still leaves every finished result. Exit 0 when no entry failed (skipped ones do not fail),
1 otherwise, 2 for bad usage (no CUDA without ``--dry-run``).

Profiles and entries (shapes: 81 frames x 480 x 832 = latents 21 x 60 x 104 per video; ReCamMaster concatenates
target and source: 42 latent frames, 65,520 tokens; random weights at Wan2.1-T2V-1.3B's widths):

``recam``
  (a) ``precision``: one denoising step (one DiT forward) in bf16 and in fp32 on the same weights and inputs:
      relative L2 ``|v_bf16 - v_fp32| / |v_fp32|`` (TF32 off for the fp32 reference) and both times.
  (b) ``train``: one Lightning training step (after one warm-up step), ``bf16-mixed``, gradient checkpointing,
      upstream's trainable set, AdamW: s/step, peak GiB (``torch.cuda.max_memory_allocated``) and
      MFU = 3 x F_fwd / step_s / peak_flops, where F_fwd (``bench_model.model_flops``) counts per block and token
      q, k, v, o, the camera projector, cross-attention q, o and the FFN (2 x d_in x d_out each), the two
      self-attention matmuls (2 x 2 x N^2 x d) and cross-attention on the text (2 x 2 x N x L x d, k/v on the
      text once); 3 x F_fwd is the usual forward + backward convention (recomputation under checkpointing is
      not counted: MFU is model FLOPs utilisation), ``--peak-tflops`` 989 = H100/H200 bf16 dense.
  (c) the same step with each SDPA attention backend (``_native_flash``, ``_native_cudnn``,
      ``_native_efficient``) and with ``torch.compile`` of the repeated blocks.
  (d) ``infer``: the ReCamMaster pipeline (the real Wan VAE config, precomputed text embeddings, CFG 5), 4 steps,
      81 x 480 x 832: seconds and peak GiB, with ``--offload none`` and ``model``.
  (e) one FSDP2 step in one process (``ModelParallelStrategy``, blocks sharded), one DeepSpeed stage-1 step when
      ``deepspeed`` is installed (``skipped`` otherwise).
``render``
  (f) EGL on the NVIDIA driver (``--gpu``/``CUDA_VISIBLE_DEVICES`` pick the device): ``GL_RENDERER`` printed;
      the entry fails when it is a software renderer (llvmpipe, softpipe, swrast). Then images/s at 1280 x 1280,
      ``draft`` and ``standard``, 1 scene x 17 frames x 10 cameras, render only; camera 1's frames are kept raw
      (``--frames-dir``, ``.npy``) for the ``encode`` profile (PyAV is not needed here).
``encode``
  (g) libx264 and ``h264_nvenc`` through PyAV on the same frames (the render profile's, else a synthetic moving
      pattern): frames/s, bytes, PSNR of each decoded stream against the source and of NVENC against libx264
      (failure under 30 dB against the source).

``--dry-run``: the same entries at tiny shapes on the CPU (the precision check in fp32 vs bf16 on the CPU, the
render through whatever EGL is there: a software renderer does not fail then).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

WAN_1_3B = dict(patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16,
                out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30)
TRAINABLE = ("attn1", "cam_encoder", "projector")
SDPA_BACKENDS = ("_native_flash", "_native_cudnn", "_native_efficient")
PROFILES = ("recam", "render", "encode")
SOFTWARE_GL = ("llvmpipe", "softpipe", "swrast", "software")


# ------------------------------------------------------------------------------------------------ the runner
class Skip(Exception):
    """Raised by an entry that cannot run here (a missing package, no NVENC): recorded as ``skipped``."""


class _Timeout(BaseException):  # BaseException: an entry's ``except Exception`` does not swallow it
    pass


@dataclass
class Entry:
    """One measurement. ``fn()`` returns its numbers (a dict); ``cap_s``: the most it may run; ``min_s``: it starts
    only with at least this much budget left."""

    name: str
    profile: str
    fn: Callable[[], Optional[dict]]
    cap_s: float
    min_s: float


@dataclass
class Report:
    path: Path
    meta: dict
    budget_s: float
    results: List[dict] = field(default_factory=list)

    def write(self, planned: List[Entry]) -> None:
        """Atomically (re)write the JSON: finished entries, then the ones still pending."""
        done = {r["name"] for r in self.results}
        pending = [{"name": e.name, "profile": e.profile, "status": "pending"} for e in planned
                   if e.name not in done]
        failed = [r["name"] for r in self.results if not r["ok"]]
        body = {"meta": self.meta, "budget_s": self.budget_s, "results": self.results + pending,
                "failed": failed, "skipped": [r["name"] for r in self.results if r["status"] == "skipped"],
                "ok": not failed, "complete": not pending}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(body, indent=2))
        tmp.replace(self.path)


def _alarm(signum, frame):
    raise _Timeout()


def run_entries(entries: List[Entry], budget_s: float, report: Report, clock=time.monotonic,
                log=print) -> Report:
    """Run ``entries`` in order within ``budget_s`` seconds (see the module docstring); the report is rewritten
    after every entry. Returns it."""
    t_start = clock()
    report.write(entries)
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for e in entries:
            left = budget_s - (clock() - t_start)
            rec: Dict = {"name": e.name, "profile": e.profile, "cap_s": e.cap_s}
            if left < e.min_s:
                rec.update(status="skipped", ok=True, reason=f"budget: {max(left, 0):.0f} s left, the entry needs "
                                                             f"at least {e.min_s:.0f} s", seconds=0.0)
            else:
                limit = min(e.cap_s, left)
                t0 = clock()
                signal.setitimer(signal.ITIMER_REAL, limit)
                try:
                    rec.update(status="ok", ok=True, **(e.fn() or {}))
                except Skip as s:
                    rec.update(status="skipped", ok=True, reason=str(s))
                except _Timeout:
                    by_budget = limit < e.cap_s
                    why = "the budget ran out" if by_budget else "its cap"
                    rec.update(status="skipped" if by_budget else "timed_out", ok=by_budget,
                               reason=f"stopped after {limit:.0f} s ({why})")
                except Exception as x:  # noqa: BLE001 - recorded; the check goes on and exits 1
                    rec.update(status="failed", ok=False, error=f"{type(x).__name__}: {x}",
                               traceback=traceback.format_exc()[-4000:])
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                rec["seconds"] = round(clock() - t0, 2)
                _free_cuda()
            report.results.append(rec)
            report.write(entries)
            log(json.dumps({k: v for k, v in rec.items() if k != "traceback"}))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return report


def _free_cuda() -> None:
    import gc

    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


# ------------------------------------------------------------------------------------------------ recam entries
def _peak_reset(dev):
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gib(dev):
    import torch

    return round(torch.cuda.max_memory_allocated() / 2 ** 30, 2) if dev.type == "cuda" else None


def _sync(dev):
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize()


def precision_entry(cfg: dict, latent, dev, text_len: int = 512) -> dict:
    """One DiT forward (a denoising step) in bf16 and fp32 on the same weights and inputs: relative L2."""
    import torch

    from recam.model import ReCamMasterTransformer3DModel

    f, h, w = latent
    torch.manual_seed(0)
    with torch.device(dev):
        model = ReCamMasterTransformer3DModel(**cfg).eval()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 16, f, h, w, generator=g).to(dev)
    ctx = torch.randn(1, text_len, cfg["text_dim"], generator=g).to(dev)
    cam = (torch.randn(1, f // 2, 12, generator=g) * 0.3).to(dev)
    t = torch.tensor([500.0], device=dev)
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    out, secs = {}, {}
    try:
        with torch.no_grad():
            for name, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
                model.to(dt)
                _sync(dev)
                t0 = time.perf_counter()
                out[name] = model(x.to(dt), t, ctx.to(dt), cam.to(dt)).sample.float()
                _sync(dev)
                secs[name] = round(time.perf_counter() - t0, 3)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    rel = (out["bf16"] - out["fp32"]).norm() / out["fp32"].norm()
    return {"latent": list(latent), "rel_l2_bf16_vs_fp32": round(float(rel), 5), "seconds_fp32": secs["fp32"],
            "seconds_bf16": secs["bf16"], "finite": bool(torch.isfinite(out["bf16"]).all())}


def _probe_sdpa(backend: str, dev, dtype) -> None:
    """Raise :class:`Skip` when torch's SDPA ``backend`` (diffusers' ``_native_*`` name) cannot run here."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    kernel = {"_native_flash": SDPBackend.FLASH_ATTENTION, "_native_cudnn": SDPBackend.CUDNN_ATTENTION,
              "_native_efficient": SDPBackend.EFFICIENT_ATTENTION}.get(backend)
    if kernel is None:
        return
    q = torch.randn(1, 2, 64, 64, device=dev, dtype=dtype, requires_grad=True)
    try:
        with sdpa_kernel(kernel):
            torch.nn.functional.scaled_dot_product_attention(q, q, q).sum().backward()
    except RuntimeError as e:
        raise Skip(f"SDPA backend {backend} cannot run on {dev.type} in {dtype}: {str(e).splitlines()[0]}") from None


def train_entry(cfg: dict, latent, dev, precision: str, peak_tflops: float, strategy: str = "auto",
                backend: str = "native", compile: bool = False, steps: int = 2, text_len: int = 512,
                compile_backend: str = "inductor") -> dict:
    """``steps`` Lightning training steps (the first is warm-up) of the DiT on 1 device; the last timed."""
    import lightning as L
    import torch
    from torch.utils.data import DataLoader, Dataset

    from bench_model import model_flops
    from recam.model import ReCamMasterTransformer3DModel
    from recam.scheduler import TrainingSchedule, flow_matching_loss

    if strategy.startswith("deepspeed"):
        try:
            import deepspeed  # noqa: F401
        except ImportError:
            raise Skip("deepspeed not installed (pip install -e \".[gpu]\")") from None
    f, h, w = latent
    if backend != "native":
        _probe_sdpa(backend, dev, torch.bfloat16 if precision.startswith("bf16") else torch.float32)

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
            with torch.device(dev):
                self.transformer = ReCamMasterTransformer3DModel(**cfg)
            self.transformer.requires_grad_(False)
            for n, p in self.transformer.named_parameters():
                if any(k in n for k in TRAINABLE):
                    p.requires_grad_(True)
            self.transformer.enable_gradient_checkpointing()
            if backend != "native":
                try:
                    self.transformer.set_attention_backend(backend)
                except (RuntimeError, ImportError, ValueError) as e:  # its kernel is not usable here
                    raise Skip(f"attention backend {backend} not usable here: {e}") from None
            if compile:
                self.transformer.compile_repeated_blocks(backend=compile_backend)
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
            _sync(dev)
            self._t0 = time.perf_counter()

        def on_train_batch_end(self, out, b, i):
            _sync(dev)
            times.append(time.perf_counter() - self._t0)

        def configure_optimizers(self):
            return torch.optim.AdamW([p for p in self.transformer.parameters() if p.requires_grad], lr=1e-5)

    if strategy == "fsdp":
        from lightning.pytorch.strategies import ModelParallelStrategy

        strat = ModelParallelStrategy(data_parallel_size=1, tensor_parallel_size=1)
    else:
        strat = strategy
    from diffusers.models.attention_dispatch import _AttentionBackendRegistry

    active = _AttentionBackendRegistry._active_backend  # set_attention_backend changes it for the process
    _peak_reset(dev)
    trainer = L.Trainer(accelerator="gpu" if dev.type == "cuda" else "cpu", devices=1, strategy=strat,
                        precision=precision, max_steps=steps, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    try:
        trainer.fit(Module(), DataLoader(Random(), batch_size=1, num_workers=0))
    finally:
        _AttentionBackendRegistry.set_active_backend(active)
    step = statistics.median(times[1:] if len(times) > 1 else times)
    tokens = (f // cfg["patch_size"][0]) * (h // cfg["patch_size"][1]) * (w // cfg["patch_size"][2])
    flops = 3 * model_flops(cfg, tokens, text_len)
    return {"strategy": strategy, "backend": backend, "compile": compile, "precision": precision,
            "latent": list(latent), "tokens": tokens, "steps": len(times), "first_step_s": round(times[0], 3),
            "step_s": round(step, 4), "peak_gib": _peak_gib(dev),
            "mfu": round(flops / step / (peak_tflops * 1e12), 4) if dev.type == "cuda" else None}


def infer_entry(cfg: dict, latent, offload: str, steps: int, dev, vae_cfg: dict, text_len: int = 512) -> dict:
    """The pipeline with a random DiT (``cfg``) and VAE (``vae_cfg``), precomputed text embeddings, CFG 5."""
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
    _sync(dev)
    secs = time.perf_counter() - t0
    assert frames.shape[0] == (f - 1) * 4 + 1 and frames.dtype.name == "uint8"
    return {"offload": offload, "steps": steps, "latent": list(latent), "seconds_total": round(secs, 2),
            "peak_gib": _peak_gib(dev), "frames": int(frames.shape[0])}


def recam_entries(a, dev) -> List[Entry]:
    if a.dry_run:
        from recam.tiny import TINY_TRANSFORMER, TINY_VAE

        cfg, vae_cfg, lt, li, precision, text = dict(TINY_TRANSFORMER), dict(TINY_VAE), (4, 8, 8), (3, 8, 8), \
            "32-true", 16
    else:
        cfg, vae_cfg, lt, li, precision, text = WAN_1_3B, {}, (42, 60, 104), (21, 60, 104), "bf16-mixed", 512
    pt = a.peak_tflops
    e = [Entry("precision 1.3b bf16 vs fp32 denoising step", "recam", lambda: precision_entry(cfg, lt, dev, text),
               60, 20),
         Entry("train 1.3b bf16-mixed checkpointing", "recam",
               lambda: train_entry(cfg, lt, dev, precision, pt, text_len=text), 90, 40)]
    for b in SDPA_BACKENDS:
        e.append(Entry(f"train 1.3b attention {b}", "recam",
                       lambda b=b: train_entry(cfg, lt, dev, precision, pt, backend=b, text_len=text), 60, 30))
    e.append(Entry("train 1.3b torch.compile", "recam",
                   lambda: train_entry(cfg, lt, dev, precision, pt, compile=True, text_len=text,
                                       compile_backend="aot_eager" if a.dry_run else "inductor"), 150, 60))
    for o, cap in (("none", 90), ("model", 120)):
        e.append(Entry(f"infer 1.3b 4 steps offload={o}", "recam",
                       lambda o=o: infer_entry(cfg, li, o, 4 if not a.dry_run else 2, dev, vae_cfg, text), cap, 40))
    e.append(Entry("train 1.3b fsdp2 one process", "recam",
                   lambda: train_entry(cfg, lt, dev, precision, pt, strategy="fsdp", text_len=text), 90, 40))
    e.append(Entry("train 1.3b deepspeed stage 1", "recam",
                   lambda: train_entry(cfg, lt, dev, precision, pt, strategy="deepspeed_stage_1", text_len=text),
                   90, 40))
    return _tiny_minimums(e) if a.dry_run else e


def _tiny_minimums(entries: List[Entry]) -> List[Entry]:
    """--dry-run: tiny shapes need a quarter of the GPU entries' minimum budget (their caps are kept)."""
    for e in entries:
        e.min_s = e.min_s / 4
    return entries


# ------------------------------------------------------------------------------------------------ render entries
def egl_entry(gpu: Optional[int], dry_run: bool) -> dict:
    """Open the embedded renderer's offscreen context on the chosen EGL device; GL_RENDERER / vendor."""
    from synth.render.embedded.panda_app import panda_base, select_egl_device

    dev = select_egl_device(gpu)
    base = panda_base()
    from panda3d.core import FrameBufferProperties, GraphicsPipe, WindowProperties

    buf = base.graphicsEngine.makeOutput(base.pipe, "gl-probe", -10, FrameBufferProperties(),
                                         WindowProperties.size(16, 16), GraphicsPipe.BF_refuse_window,
                                         None, None)
    if buf is None:
        raise RuntimeError("Panda3D could not open an offscreen buffer")
    base.graphicsEngine.renderFrame()
    gsg = buf.getGsg()
    renderer, vendor = gsg.getDriverRenderer(), gsg.getDriverVendor()
    base.graphicsEngine.removeWindow(buf)
    print(f"GL_RENDERER: {renderer} (GL_VENDOR: {vendor})", flush=True)
    software = any(s in renderer.lower() for s in SOFTWARE_GL)
    if software and not dry_run:
        raise RuntimeError(f"GL_RENDERER is a software renderer ({renderer}): the NVIDIA EGL driver was not used "
                           f"(EGL device choice: {dev})")
    return {"gl_renderer": renderer, "gl_vendor": vendor, "software": software, "egl_device": dev}


def render_entry(quality: str, size: int, frames: int, frames_dir: Path, gpu: Optional[int] = None) -> dict:
    """Render only (no encoding): 1 scene x ``frames`` x 10 cameras at ``size`` x ``size``; camera 1's frames kept
    raw in ``frames_dir`` for the encode profile."""
    import numpy as np

    from synth.core.poses import Poses
    from synth.render.backend import CaptureRequest
    from synth.render.embedded.backend import EmbeddedBackend
    from synth.scenes.catalog import load_catalog
    from synth.scenes.config import load_config
    from synth.scenes.sampling import sample_scene

    cat = load_catalog()
    cfg = load_config().with_video(width=size, height=size, frames=frames)
    plan = sample_scene(cfg, cat, 0, 0)
    fm = np.stack([c.fmatrices() for c in plan.cameras])
    poses = [Poses.from_fmatrix(fm[:, f]) for f in range(fm.shape[1])]
    be = EmbeddedBackend(cat, cfg.cameras_per_scene, quality=quality, gpu=gpu)
    try:
        be.load_environment(cat.environment(plan.environment_id), plan.lighting)
        be.spawn_character(cat.character(plan.character_id), plan.character_location_cm, plan.character_yaw_deg)
        be.set_animation(cat.animation(plan.animation_id))
        be.set_lens(plan.lens, size, size)
        be.set_camera_poses(poses[0])
        be.capture(CaptureRequest())  # warm-up: shaders, shadow buffer
        kept = np.empty((frames, size, size, 3), np.uint8)
        t0 = time.perf_counter()
        for f in range(frames):
            be.set_animation_time(plan.animation_time_s(f))
            be.set_camera_poses(poses[f])
            caps = be.capture(CaptureRequest())
            kept[f] = caps[0].rgb
        secs = time.perf_counter() - t0
        info = be.renderer_info()
    finally:
        be.close()
    frames_dir.mkdir(parents=True, exist_ok=True)
    raw = frames_dir / f"frames_{size}.npy"
    tmp = raw.with_name(raw.name + ".tmp.npy")
    np.save(tmp, kept)
    tmp.replace(raw)
    return {"quality": quality, "size": f"{size}x{size}", "frames": frames, "cameras": cfg.cameras_per_scene,
            "images_per_s": round(frames * cfg.cameras_per_scene / secs, 2), "seconds": round(secs, 2),
            "renderer": info, "raw_frames": str(raw)}


def render_entries(a) -> List[Entry]:
    size, frames = (64, 3) if a.dry_run else (1280, 17)
    fd = Path(a.frames_dir)
    e = [Entry("render egl device", "render", lambda: egl_entry(a.gpu, a.dry_run), 30, 10),
         Entry(f"render {size}x{size} draft", "render", lambda: render_entry("draft", size, frames, fd, a.gpu), 90,
               20),
         Entry(f"render {size}x{size} standard", "render", lambda: render_entry("standard", size, frames, fd, a.gpu),
               120, 30)]
    return _tiny_minimums(e) if a.dry_run else e


# ------------------------------------------------------------------------------------------------ encode entries
def _frames_for_encoding(size: int, frames: int, frames_dir: Path):
    import numpy as np

    raw = frames_dir / f"frames_{size}.npy"
    if raw.is_file():
        arr = np.load(raw, allow_pickle=False)
        if arr.ndim == 4 and arr.shape[1:] == (size, size, 3) and arr.dtype == np.uint8:
            return arr, f"rendered ({raw})"
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    out = np.empty((frames, size, size, 3), np.uint8)
    for f in range(frames):
        p = f / max(frames, 1)
        out[f, ..., 0] = 127 + 100 * np.sin(6.28 * (x * 3 + p))
        out[f, ..., 1] = 127 + 100 * np.cos(6.28 * (y * 2 - p))
        out[f, ..., 2] = 255 * ((x + y + p) % 1.0)
    return out, "synthetic moving pattern"


def encode_entry(encoder: str, size: int, frames: int, frames_dir: Path, out_dir: Path) -> dict:
    """Encode the same frames with ``encoder`` (and libx264 as the reference); PSNR of the decoded streams."""
    import numpy as np

    from synth.core.video_io import encoder_usable, read_video, write_video

    ok, why = encoder_usable(encoder)
    if not ok:
        raise Skip(why)
    src, origin = _frames_for_encoding(size, frames, frames_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ref_path = out_dir / f"encode_libx264_{size}.mp4"
    path = out_dir / f"encode_{encoder}_{size}.mp4"

    def psnr(a, b):
        mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
        return round(99.0 if mse == 0 else 10 * np.log10(255 ** 2 / mse), 2)

    if encoder != "libx264" and not ref_path.is_file():
        write_video(ref_path, src, fps=15, encoder="libx264")
    t0 = time.perf_counter()
    write_video(path, src, fps=15, encoder=encoder)
    secs = time.perf_counter() - t0
    dec, _ = read_video(path)
    res = {"encoder": encoder, "frames_from": origin, "size": f"{size}x{size}", "frames": len(src),
           "frames_per_s": round(len(src) / secs, 2), "bytes": path.stat().st_size, "psnr_vs_source_db": psnr(dec, src)}
    if encoder != "libx264":
        ref, _ = read_video(ref_path)
        res["psnr_vs_libx264_db"] = psnr(dec, ref)
    if res["psnr_vs_source_db"] < 30:
        raise RuntimeError(f"{encoder}: decoded frames are {res['psnr_vs_source_db']} dB from the source (< 30 dB)")
    return res


def encode_entries(a) -> List[Entry]:
    size, frames = (64, 3) if a.dry_run else (1280, 17)
    fd, od = Path(a.frames_dir), Path(a.frames_dir) / "videos"
    e = [Entry(f"encode libx264 {size}x{size}", "encode", lambda: encode_entry("libx264", size, frames, fd, od),
               60, 15),
         Entry(f"encode h264_nvenc {size}x{size}", "encode", lambda: encode_entry("h264_nvenc", size, frames, fd, od),
               60, 15)]
    return _tiny_minimums(e) if a.dry_run else e


# ------------------------------------------------------------------------------------------------ main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="recam,render,encode", help="comma-separated: recam, render, encode")
    ap.add_argument("--budget", type=float, default=300.0, help="seconds for this whole run (default 300)")
    ap.add_argument("--out", default=None, help="JSON (default benchmarks/results/gpu_check_<profiles>.json)")
    ap.add_argument("--dry-run", action="store_true", help="tiny shapes on the CPU: tests this script's paths")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="bf16 dense peak for MFU (989: H100/H200)")
    ap.add_argument("--gpu", type=int, default=None, help="render: the CUDA device (index among the visible ones)")
    ap.add_argument("--frames-dir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "gpu_check_frames"),
                    help="raw frames of the render profile, read by the encode profile")
    a = ap.parse_args(argv)
    profiles = [p.strip() for p in a.profile.split(",") if p.strip()]
    bad = [p for p in profiles if p not in PROFILES]
    if bad or not profiles:
        print(f"gpu_check: --profile: expected a comma-separated subset of {', '.join(PROFILES)}, got "
              f"{a.profile!r}", file=sys.stderr)
        return 2
    if a.budget <= 0:
        print(f"gpu_check: --budget: expected seconds > 0, got {a.budget}", file=sys.stderr)
        return 2
    import torch

    if not a.dry_run and not torch.cuda.is_available():
        print("gpu_check: no CUDA device (use --dry-run to exercise the script on the CPU)", file=sys.stderr)
        return 2
    dev = torch.device("cpu" if a.dry_run else "cuda")
    out = Path(a.out or Path(__file__).resolve().parent / "results" / f"gpu_check_{'+'.join(profiles)}.json")
    entries: List[Entry] = []
    for p in profiles:
        entries += {"recam": lambda: recam_entries(a, dev), "render": lambda: render_entries(a),
                    "encode": lambda: encode_entries(a)}[p]()
    meta = {"profiles": profiles, "torch": torch.__version__, "cuda": torch.version.cuda,
            "device": torch.cuda.get_device_name() if dev.type == "cuda" else "cpu", "dry_run": a.dry_run,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "host": os.uname().nodename,
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}
    rep = run_entries(entries, a.budget, Report(out, meta, a.budget), log=lambda s: print(s, flush=True))
    failed = [r["name"] for r in rep.results if not r["ok"]]
    skipped = [r["name"] for r in rep.results if r["status"] == "skipped"]
    print(f"gpu_check: {len(rep.results) - len(failed) - len(skipped)} ok, {len(skipped)} skipped, {len(failed)} "
          f"failed; wrote {out}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
