"""The LightningModule: the ReCamMaster DiT, upstream's loss plus the paper's strategies, AdamW, optional EMA.

Randomness of a training step (noise, timestep, condition noise, condition and text dropout) comes from a generator
seeded by ``(seed, global_step, rank, micro-batch)``, so a resumed run repeats an uninterrupted one exactly.
Checkpoints hold only the trainable parameters (plus EMA and optimizer state); frozen weights come from
``model.model_dir`` / ``model.init`` again on resume.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Dict, List, Optional

import lightning as L
import torch

from ..scheduler import TrainingSchedule, flow_matching_loss
from .config import TrainConfig

__all__ = ["ReCamMasterModule", "NonFiniteLossError", "load_transformer", "VAL_TIMESTEP_INDICES"]

log = logging.getLogger(__name__)

#: fixed timestep indices of the validation loss (deterministic, comparable across runs)
VAL_TIMESTEP_INDICES = (100, 300, 500, 700, 900)


class NonFiniteLossError(FloatingPointError):
    """The loss was NaN or infinite; the message names the step and the samples."""


def load_transformer(model_cfg, dtype: torch.dtype = torch.float32):
    """The ReCamMaster DiT from ``model_dir/transformer`` (base Wan2.1 or ours), then ``init`` weights if any."""
    from ..convert import official_from_config
    from ..model import ReCamMasterTransformer3DModel as M

    model_dir = Path(model_cfg.model_dir)
    tdir = model_dir / "transformer"
    if not (tdir / "config.json").exists():
        from ..components import load_components_error

        raise load_components_error(model_dir, "transformer")
    if model_cfg.init is None:
        model = M.from_pretrained(str(tdir), torch_dtype=dtype)
    elif Path(model_cfg.init).is_dir():
        model = M.from_pretrained(model_cfg.init, torch_dtype=dtype)
    else:
        cfg = M.load_config(str(tdir), local_files_only=True)
        model = M.from_official(model_cfg.init, config=official_from_config(cfg), torch_dtype=dtype)
    if model_cfg.attention_backend:
        model.set_attention_backend(model_cfg.attention_backend)
    return model


def _seed(*parts: int) -> int:
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "little") & ((1 << 63) - 1)


class ReCamMasterModule(L.LightningModule):
    """See module docstring. ``cfg``: the validated :class:`~recam.train.config.TrainConfig`."""

    def __init__(self, cfg: TrainConfig, empty_context: Optional[torch.Tensor] = None):
        super().__init__()
        self.cfg = cfg
        self.save_hyperparameters({"config": cfg.model_dump(mode="json")})
        self.transformer = load_transformer(cfg.model)
        lora = cfg.model.lora
        if lora is not None:
            from ..lora import add_lora

            add_lora(self.transformer, lora.rank, lora.alpha, [lora.pattern])
        if cfg.model.intrinsics:  # zero-initialised: the loaded model's outputs are unchanged until it trains
            self.transformer.enable_intrinsics_condition()
        self.transformer.requires_grad_(False)
        names = []
        keys = list(cfg.model.trainable) + (["cam_intrinsics_encoder"] if cfg.model.intrinsics else [])
        for n, p in self.transformer.named_parameters():
            if ".lora_" in n or (".base_layer." not in n and any(k in n for k in keys)):
                p.requires_grad_(True)
                names.append(n)
        if not names:
            raise ValueError(f"model.trainable {cfg.model.trainable} matches no parameter")
        self.trainable_names = names
        if cfg.model.gradient_checkpointing:
            self.transformer.enable_gradient_checkpointing()
        self.schedule = TrainingSchedule.create()
        cn = cfg.loss.condition_noise
        self._cond_idx = self.schedule.index_for_timestep_range(cn.t_min, cn.t_max)
        if cn.prob > 0 and len(self._cond_idx) == 0:
            raise ValueError(f"no training timestep lies in [{cn.t_min}, {cn.t_max}]")
        self.register_buffer("empty_context", empty_context if empty_context is not None else torch.zeros(0),
                             persistent=False)
        self.ema: Optional[List[torch.Tensor]] = None  # local (per-rank shard) float32 copies of the trainables
        self._ema_full: Optional[Dict[str, torch.Tensor]] = None  # a resumed EMA, not yet sharded
        self.strict_loading = False
        self.encoders = None  # frozen VAE / text encoder, only for raw-video batches

    # ------------------------------------------------------------------------------------------------ setup
    def num_trainable(self) -> int:
        return sum(p.numel() for p in self.transformer.parameters() if p.requires_grad)

    def _trainable(self) -> List[torch.nn.Parameter]:
        return [p for p in self.transformer.parameters() if p.requires_grad]

    def configure_model(self) -> None:
        """Context parallelism and ``torch.compile`` of the repeated blocks, once the process group exists (before
        a sharding strategy wraps the blocks)."""
        if getattr(self, "_configured", False):
            return
        self._configured = True
        cp = self.cfg.parallel
        if cp.degree > 1:
            self.transformer.enable_context_parallel(cp.ulysses_degree, cp.ring_degree)
        if self.cfg.trainer.strategy == "fsdp":
            # FSDP2: each block is one unit (its parameters all-gathered just before it runs, activation
            # checkpointing per block through diffusers' gradient checkpointing), the rest in the root unit
            from torch.distributed.fsdp import fully_shard

            mesh = self.device_mesh["data_parallel"]
            for block in self.transformer.blocks:
                fully_shard(block, mesh=mesh)
            fully_shard(self.transformer, mesh=mesh)
        if self.cfg.model.compile:
            self.transformer.compile_repeated_blocks()

    @property
    def dp_rank(self) -> int:
        """Data-parallel rank: the ranks of one context-parallel group share samples and randomness."""
        return self.global_rank // self.cfg.parallel.degree

    def on_fit_start(self) -> None:
        self.transformer.train()  # loaded in eval mode; Lightning keeps submodule modes as they are
        if self.cfg.optim.ema.enabled and self.ema is None and self._ema_full is None:
            # local tensors: under FSDP these are this rank's shards, so the EMA is sharded like the parameters
            self.ema = [p.detach().clone().float() for p in self._trainable()]

    # ------------------------------------------------------------------------------------------------ sharding
    def _wrapped(self):
        """The module as the strategy wraps it (DDP / FSDP / DeepSpeed engine), or ``self``."""
        trainer = self._trainer
        return trainer.strategy.model if trainer is not None and trainer.strategy.model is not None else self

    def _zero3(self) -> bool:
        return any(hasattr(p, "ds_id") for p in self.transformer.parameters())

    def full_state_dict(self) -> Dict[str, torch.Tensor]:
        """The transformer's full state dict on the CPU (diffusers names). **Collective**: every rank must call it
        under a sharding strategy (FSDP gathers through ``torch.distributed.checkpoint``'s full state dict,
        DeepSpeed ZeRO-3 through ``GatheredParameters``); plain / DDP / ZeRO-1/2 copy the local parameters."""
        t = self.transformer
        if self._zero3():
            import deepspeed

            with deepspeed.zero.GatheredParameters(list(t.parameters()), modifier_rank=None):
                return {k: v.detach().cpu().clone() for k, v in t.state_dict().items()}
        if _is_sharded(self):
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

            # full tensors on rank 0 (the others get {}): every rank takes part in the gathers
            sd = get_model_state_dict(self._wrapped(), options=StateDictOptions(full_state_dict=True,
                                                                                  cpu_offload=True))
            return {k[len("transformer."):]: v for k, v in sd.items() if k.startswith("transformer.")}
        return {k: v.detach().cpu() for k, v in t.state_dict().items()}

    def _set_full_trainable(self, full: Dict[str, torch.Tensor]) -> None:
        """Load full tensors of trainable parameters into the (possibly sharded) model. Collective like
        :meth:`full_state_dict`."""
        if _is_sharded(self):
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

            set_model_state_dict(self._wrapped(), {f"transformer.{k}": v for k, v in full.items()},
                                 options=StateDictOptions(full_state_dict=True, strict=False))
            return
        params = dict(self.transformer.named_parameters())
        with torch.no_grad():
            for k, v in full.items():
                params[k].copy_(v.to(params[k]))

    def _swap_ema(self) -> List[torch.Tensor]:
        """Put the EMA into the trainable parameters (local shards, no communication); returns the old values."""
        old = [p.detach().clone() for p in self._trainable()]
        with torch.no_grad():
            for p, e in zip(self._trainable(), self.ema):
                p.copy_(e.to(p.dtype))
        return old

    def _restore(self, old: List[torch.Tensor]) -> None:
        with torch.no_grad():
            for p, o in zip(self._trainable(), old):
                p.copy_(o)

    def ema_full(self) -> Optional[Dict[str, torch.Tensor]]:
        """The EMA of the trainable set as full float32 CPU tensors by name (collective under sharding)."""
        if self.ema is None:
            return self._ema_full
        old = self._swap_ema()
        try:
            sd = self.full_state_dict()
        finally:
            self._restore(old)
        # with cpu_offload, a full state dict lands on rank 0 only; the other ranks get {}
        return {n: sd[n].float() for n in self.trainable_names if n in sd}

    def _materialize_ema(self) -> None:
        """A resumed EMA (full tensors) -> this rank's shards: load it into the parameters, read them back, restore
        (collective under sharding; called at the same step on every rank)."""
        if self._ema_full is None:
            return
        if self._zero3():
            raise RuntimeError("EMA is not supported with deepspeed_stage_3 (the config validator rejects it)")
        old = [p.detach().clone() for p in self._trainable()]
        self._set_full_trainable(self._ema_full)
        self.ema = [p.detach().clone().float() for p in self._trainable()]
        self._restore(old)
        self._ema_full = None

    def _encoders(self):
        if self.encoders is None:
            from diffusers import AutoencoderKLWan
            from transformers import AutoTokenizer, UMT5EncoderModel

            d = Path(self.cfg.model.model_dir)
            self.encoders = (AutoTokenizer.from_pretrained(str(d / "tokenizer"), local_files_only=True),
                             UMT5EncoderModel.from_pretrained(str(d / "text_encoder"), local_files_only=True)
                             .to(self.device).eval().requires_grad_(False),
                             AutoencoderKLWan.from_pretrained(str(d / "vae"), local_files_only=True)
                             .to(self.device).eval().requires_grad_(False))
        return self.encoders

    @torch.no_grad()
    def batch_inputs(self, batch) -> tuple:
        """``(latents [B,16,2F,h,w], context [B,512,D])`` from the cache, or encoded from raw video and text (the
        frozen VAE / text encoder of ``model.model_dir``); dtypes as stored (the model casts at its boundary)."""
        if "latents" in batch:
            return batch["latents"], batch["context"]
        from ..encoders import encode_prompts, encode_video_latents

        tok, te, vae = self._encoders()
        v = batch["video"].to(self.device)  # [B, 2, 3, F, H, W] uint8
        v = v.float().div(127.5).sub(1.0) if v.dtype == torch.uint8 else v
        b = v.shape[0]
        lat = encode_video_latents(vae, v.flatten(0, 1), device=self.device)
        lat = lat.unflatten(0, (b, 2))
        ctx, _ = encode_prompts(tok, te, list(batch["prompt"]), device=self.device)
        return torch.cat([lat[:, 0], lat[:, 1]], dim=2), ctx

    # ------------------------------------------------------------------------------------------------ loss
    def _generator(self, step: int, micro: int, salt: int = 0) -> torch.Generator:
        g = torch.Generator(device=self.device)
        g.manual_seed(_seed(self.cfg.seed, step, self.dp_rank, micro, salt))
        return g

    def compute_loss(self, batch, step: int, micro: int = 0, reduce: bool = True) -> torch.Tensor:
        """The training loss of a batch at ``step`` (deterministic given step and micro-batch), float32 ``[]`` (or
        ``[B]``). Noise, interpolation and loss are float32 whatever the precision; the transformer casts its
        inputs to its parameter dtype (bf16 under DeepSpeed / FSDP / ``bf16-true``, no autocast needed)."""
        lat, ctx = self.batch_inputs(batch)
        lat = lat.float()
        ctx = ctx.to(lat.dtype)
        b, f2 = lat.shape[0], lat.shape[2]
        f = f2 // 2
        g = self._generator(step, micro)
        dev = lat.device
        noise = torch.randn(lat.shape, generator=g, device=dev, dtype=lat.dtype)
        t_idx = torch.randint(0, len(self.schedule), (b,), generator=g, device=dev)
        keep = batch["source_keep"].to(dev).clone()
        lc = self.cfg.loss
        u = torch.rand(b, generator=g, device=dev)
        pair = torch.tensor([t == "v2v" for t in batch["task"]], device=dev)
        to_i2v = pair & (u < lc.i2v_prob)
        to_t2v = pair & (u >= lc.i2v_prob) & (u < lc.i2v_prob + lc.t2v_prob)
        keep[to_i2v] = False
        keep[to_i2v, 0] = True
        keep[to_t2v] = False
        cond = lat[:, :, f:]
        cn = lc.condition_noise
        noisy_cond = torch.rand(b, generator=g, device=dev) < cn.prob
        if noisy_cond.any():
            pick = torch.randint(0, len(self._cond_idx), (b,), generator=g, device=dev)
            s = self.schedule.sigmas.to(dev)[self._cond_idx.to(dev)[pick]].view(b, 1, 1, 1, 1)
            s = torch.where(noisy_cond.view(b, 1, 1, 1, 1), s, torch.zeros_like(s))
            cond = (1 - s) * cond + s * noise[:, :, f:]
        cond = torch.where(keep.view(b, 1, f, 1, 1), cond, noise[:, :, f:])
        drop = torch.rand(b, generator=g, device=dev) < lc.text_dropout
        if drop.any():
            empty = self.empty_context.to(dev, ctx.dtype) if self.empty_context.numel() else torch.zeros_like(ctx[0])
            ctx = torch.where(drop.view(b, 1, 1), empty.expand_as(ctx), ctx)
        intr = batch.get("cam_intr") if self.cfg.model.intrinsics else None
        loss = flow_matching_loss(self.transformer, lat, noise, t_idx, self.schedule, ctx,
                                  batch["cam_emb"].to(dev, lat.dtype), f, condition=cond, reduce=False,
                                  cam_intrinsics=None if intr is None else intr.to(dev, lat.dtype))
        if not torch.isfinite(loss).all():
            bad = [sid for sid, ok in zip(batch["sample_id"], torch.isfinite(loss).tolist()) if not ok]
            raise NonFiniteLossError(f"non-finite loss at step {step} for samples {bad} (timestep indices "
                                     f"{t_idx.tolist()}); check these samples' latents/poses")
        return loss.mean() if reduce else loss

    def training_step(self, batch, batch_idx):
        micro = batch_idx % self.trainer.accumulate_grad_batches
        step = 0 if self.cfg.loss.fixed_noise else self.global_step
        loss = self.compute_loss(batch, step, micro)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["sample_id"]))
        self.log("train/lr", self.trainer.optimizers[0].param_groups[0]["lr"], batch_size=1)
        # under context parallelism each rank's parameter gradients cover its share of the tokens: their sum over
        # the CP group is the gradient, and DDP / FSDP average over all ranks, so scale by the CP degree
        return loss * self.cfg.parallel.degree

    def on_train_batch_start(self, batch, batch_idx) -> None:
        self._materialize_ema()

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        if self.ema is not None and (batch_idx + 1) % self.trainer.accumulate_grad_batches == 0:
            d = self.cfg.optim.ema.decay
            with torch.no_grad():
                torch._foreach_lerp_(self.ema, [p.detach().float() for p in self._trainable()], 1 - d)

    # ------------------------------------------------------------------------------------------------ validation
    def validation_step(self, batch, batch_idx):
        losses = []
        with torch.no_grad():
            for k, idx in enumerate(VAL_TIMESTEP_INDICES):
                lat, ctx = self.batch_inputs(batch)
                g = torch.Generator(device=lat.device).manual_seed(_seed(self.cfg.seed, 10_000_000, batch_idx, k))
                noise = torch.randn(lat.shape, generator=g, device=lat.device)
                t = torch.full((lat.shape[0],), idx, device=lat.device, dtype=torch.long)
                losses.append(flow_matching_loss(self.transformer, lat.float(), noise, t, self.schedule,
                                                 ctx.float(), batch["cam_emb"].float(), lat.shape[2] // 2))
        loss = torch.stack(losses).mean()
        self.log("val/loss", loss, prog_bar=True, sync_dist=True, batch_size=len(batch["sample_id"]))
        return loss

    # ------------------------------------------------------------------------------------------------ optim
    def configure_optimizers(self):
        o = self.cfg.optim
        opt = torch.optim.AdamW(self._trainable(), lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay,
                                eps=o.eps)
        from diffusers.optimization import get_constant_schedule_with_warmup

        # linear warm-up from 0 over warmup_steps optimizer steps, then constant (diffusers' schedule)
        sched = get_constant_schedule_with_warmup(opt, num_warmup_steps=o.warmup_steps)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    # ------------------------------------------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: Dict) -> None:
        # only the trainable set (frozen weights come from model_dir / init again); under DeepSpeed the weights are
        # in the engine's own files and "state_dict" is not in this dict; FSDP's sharded (DCP) checkpoints keep
        # everything, because a DCP load asks for every key of the model
        if "state_dict" in checkpoint and not _is_sharded(self):
            keep = {f"transformer.{n}" for n in self.trainable_names}
            checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in keep}
        if self.ema is not None or self._ema_full is not None:
            checkpoint["ema"] = self.ema_full()  # full tensors by name (collective): any strategy can resume it

    def on_load_checkpoint(self, checkpoint: Dict) -> None:
        ema = checkpoint.get("ema")
        if isinstance(ema, list):  # older checkpoints: a list in trainable order
            ema = dict(zip(self.trainable_names, ema))
        if ema is not None:
            self._ema_full, self.ema = {k: v.float() for k, v in ema.items()}, None

    def export_state_dict(self, use_ema: bool = True) -> Dict[str, torch.Tensor]:
        """The full DiT state dict (diffusers names, CPU), with EMA weights for the trainable parameters if enabled.
        **Collective** under FSDP / ZeRO-3: call it on every rank."""
        sd = self.full_state_dict()
        ema = self.ema_full() if use_ema else None
        if ema is not None:
            for n, t in ema.items():
                sd[n] = t.to(sd[n].dtype)  # rank 0 (the others hold nothing under sharding)
        return sd


def _is_sharded(module: L.LightningModule) -> bool:
    """FSDP (1 or 2) shards the parameters: their full values exist only by gathering across ranks."""
    trainer = module._trainer
    if trainer is None:
        return False
    name = type(trainer.strategy).__name__
    return name in ("FSDPStrategy", "ModelParallelStrategy")
