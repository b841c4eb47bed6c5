"""Assembling a training run: Trainer (devices, precision, strategy), loggers, checkpoints, exports, validation.

Outputs under ``output.dir``::

    config.yaml                      the resolved config
    checkpoints/last.ckpt, stepN.ckpt   Lightning checkpoints (trainable weights, optimizer, loops, EMA) to resume;
                                        folders under fsdp (sharded, torch.distributed.checkpoint) and DeepSpeed
    export/stepN.ckpt                upstream format (full DiT state dict, original key names; EMA if enabled)
    export/stepN-diffusers/          diffusers format (save_pretrained)
    export/stepN-lora/               with model.lora: the LoRA alone (peft format, recam infer --lora)
    tb/, csv/                        TensorBoard and CSV logs
    val/stepN/*.mp4                  sampled validation videos (source | generated)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Tuple

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from .config import TrainConfig
from .datamodule import ReCamMasterDataModule
from .module import ReCamMasterModule

__all__ = ["build_trainer", "train", "ExportCallback", "ValidationVideos", "resolve_resume"]

log = logging.getLogger(__name__)


class ExportCallback(Callback):
    """Every ``every`` optimizer steps and at the end: the DiT in upstream's format and in diffusers' format."""

    def __init__(self, out: Path, every: int, official: bool, diffusers: bool):
        self.out, self.every, self.official, self.diffusers = Path(out), every, official, diffusers

    def _export(self, trainer, module: ReCamMasterModule) -> None:
        if not (self.official or self.diffusers):
            return
        from ..convert import save_diffusers, save_official

        step = trainer.global_step
        sd = module.export_state_dict()  # collective: every rank gathers (FSDP / ZeRO-3), rank 0 writes
        if not trainer.is_global_zero:
            return
        if module.cfg.model.lora is not None:
            from ..lora import save_lora, strip_lora_names

            save_lora(self.out / f"step{step}-lora", sd, module.transformer.peft_config["default"].to_dict())
            sd = strip_lora_names(sd)  # the exports below: the model without the LoRA (recam infer --lora adds it)
        if self.official:
            save_official(sd, self.out / f"step{step}.ckpt")
        if self.diffusers:
            from ..model import ReCamMasterTransformer3DModel  # not type(): FSDP2 re-classes the module

            save_diffusers(ReCamMasterTransformer3DModel, module.transformer.config, sd,
                           self.out / f"step{step}-diffusers")
        log.info("exported step %d to %s", step, self.out)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if (batch_idx + 1) % trainer.accumulate_grad_batches == 0 and trainer.global_step % self.every == 0:
            self._export(trainer, module)

    def on_train_end(self, trainer, module) -> None:
        if trainer.global_step % self.every:
            self._export(trainer, module)


class ValidationVideos(Callback):
    """After each validation: sample ``num_videos`` videos from held-out samples (cached latents) with
    :class:`~recam.pipeline.ReCamMasterPipeline` (precomputed prompt embeddings and source latents), write
    ``val/step{N}/<i>.mp4`` (decoded source | generated) and log their first/middle/last frames to TensorBoard.

    Every rank samples (the same inputs): under FSDP / ZeRO-3 / context parallelism a forward needs all ranks, so
    a rank-0-only forward would deadlock; rank 0 alone writes."""

    def __init__(self, out: Path, num_videos: int, steps: int, guidance: float, fps: float = 15.0):
        self.out, self.num_videos, self.steps, self.guidance, self.fps = Path(out), num_videos, steps, guidance, fps
        self.vae = None

    def on_validation_epoch_end(self, trainer, module: ReCamMasterModule) -> None:
        if self.num_videos == 0 or trainer.sanity_checking:
            return
        import numpy as np
        from diffusers import AutoencoderKLWan

        from synth.core.video_io import write_video

        from ..pipeline import ReCamMasterPipeline
        from ..scheduler import make_inference_scheduler
        from ..video import tensor_to_frames

        vae_dir = Path(module.cfg.model.model_dir) / "vae"
        if not vae_dir.is_dir():
            log.warning("validation videos skipped: no VAE in %s", vae_dir)
            return
        if self.vae is None:
            self.vae = AutoencoderKLWan.from_pretrained(str(vae_dir), local_files_only=True).eval()
        vae = self.vae.to(module.device)
        pipe = ReCamMasterPipeline(tokenizer=None, text_encoder=None, vae=vae,
                                   scheduler=make_inference_scheduler(self.steps), transformer=module.transformer)
        pipe.set_progress_bar_config(disable=True)
        loader = trainer.datamodule.val_dataloader()
        was_training = module.training
        module.eval()
        try:
            for i, batch in enumerate(loader):
                if i >= self.num_videos:
                    break
                lat, ctx = module.batch_inputs({k: (v.to(module.device) if isinstance(v, torch.Tensor) else v)
                                                for k, v in batch.items()})
                f = lat.shape[2] // 2
                neg = None
                if self.guidance > 1:
                    neg = (module.empty_context.to(ctx)[None].expand_as(ctx) if module.empty_context.numel()
                           else torch.zeros_like(ctx))
                source = lat[:, :, f:]
                frames = pipe(source_latents=source, prompt_embeds=ctx, negative_prompt_embeds=neg,
                              cam_emb=batch["cam_emb"], num_inference_steps=self.steps, guidance_scale=self.guidance,
                              generator=torch.Generator("cpu").manual_seed(module.cfg.seed + i)).frames[0]
                if not trainer.is_global_zero:
                    continue
                with torch.no_grad():
                    src = tensor_to_frames(pipe.decode_latents(source[:1].float())[0])
                path = self.out / f"step{trainer.global_step}" / f"{i}.mp4"
                write_video(path, np.concatenate([src, frames], axis=2), self.fps)
                for lg in trainer.loggers:
                    if isinstance(lg, TensorBoardLogger):
                        idx = [0, len(frames) // 2, len(frames) - 1]
                        grid = np.concatenate([np.concatenate([src[k], frames[k]], 0) for k in idx], 1)
                        lg.experiment.add_image(f"val/video{i}", grid, trainer.global_step, dataformats="HWC")
        finally:
            module.train(was_training)


def _complete(path: Path) -> bool:
    """A checkpoint that a kill did not cut short: a torch file is a zip archive with its central directory;
    a DeepSpeed checkpoint is a folder ``checkpoint/`` of complete ``*.pt`` files (model and optimizer states); a
    sharded FSDP checkpoint (``torch.distributed.checkpoint``) is a folder with its ``.metadata`` written last."""
    import zipfile

    if path.is_file():
        return zipfile.is_zipfile(path)
    if path.is_dir():
        if (path / ".metadata").is_file():
            return True
        ds = path / "checkpoint"
        files = sorted(ds.glob("*.pt")) if ds.is_dir() else []
        return any("model_states" in f.name for f in files) and all(zipfile.is_zipfile(f) for f in files)
    return False


def check_resume_checkpoint(path: Path | str) -> None:
    """Refuse a checkpoint file that Lightning could not resume from, before any model is built: it must load with
    ``torch.load(weights_only=True)`` (what Lightning does for local files; memory-mapped, so nothing is read
    twice), hold a Lightning checkpoint (``state_dict``, ``optimizer_states``, ``loops``) and finite floating-point
    weights. Folders (DeepSpeed, sharded FSDP) are checked by :func:`_complete` only.

    Raises:
        ValueError: the file, what is wrong and what to do.
    """
    path = Path(path)
    if not path.is_file():
        return
    from ..weight_files import WeightFileError, check_named_tensors

    todo = "move it away (auto then resumes from the newest complete stepN.ckpt) or pass --resume never / a path"
    if not _complete(path):
        raise ValueError(f"{path}: cannot resume: not a complete torch checkpoint (a zip archive); {todo}")
    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # unpickling / zip errors vary
        raise ValueError(f"{path}: cannot resume: not loadable ({type(e).__name__}: {str(e)[:300]}); {todo}") \
            from None
    missing = [k for k in ("state_dict", "optimizer_states", "loops") if not (isinstance(ckpt, dict) and k in ckpt)]
    if missing:
        raise ValueError(f"{path}: cannot resume: not a Lightning training checkpoint (no {', '.join(missing)}); "
                         f"{todo}")
    sd = ckpt["state_dict"]
    if not isinstance(sd, dict):
        raise ValueError(f"{path}: cannot resume: state_dict is a {type(sd).__name__}; {todo}")
    try:
        check_named_tensors(((k, v) for k, v in sd.items() if isinstance(v, torch.Tensor) and v.is_floating_point()),
                            path)
    except WeightFileError as e:
        raise ValueError(f"cannot resume: {e}; {todo}") from None


def resolve_resume(cfg: TrainConfig, resume: str) -> Optional[str]:
    """``auto``: the newest complete checkpoint of ``output.dir/checkpoints`` (``last.ckpt``, else the highest
    ``stepN.ckpt``; files for ddp / single device, folders for DeepSpeed and sharded FSDP; one truncated by a kill
    is skipped); ``never``; or a path. The chosen file is checked (:func:`check_resume_checkpoint`).

    Raises:
        FileNotFoundError: an explicit path that does not exist. ValueError: a checkpoint that cannot be resumed
        from (named, with the reason).
    """
    if resume == "never":
        return None
    if resume == "auto":
        d = Path(cfg.output.dir) / "checkpoints"
        steps = sorted(d.glob("step*.ckpt"), key=lambda p: int("".join(c for c in p.stem if c.isdigit()) or 0))
        for cand in [d / "last.ckpt"] + steps[::-1]:
            if _complete(cand):
                check_resume_checkpoint(cand)
                return str(cand)
            if cand.exists():
                log.warning("ignoring incomplete checkpoint %s", cand)
        return None
    if not Path(resume).exists():
        raise FileNotFoundError(f"--resume {resume}: checkpoint not found")
    check_resume_checkpoint(resume)
    return resume


def _strategy(cfg: TrainConfig):
    """Lightning strategy for ``trainer.strategy``: FSDP wraps each transformer block (full shard, activation
    checkpointing per block when ``model.gradient_checkpointing``, sharded checkpoints); DeepSpeed ZeRO stages
    need the ``gpu`` extra.

    Raises:
        ImportError: a DeepSpeed strategy without ``deepspeed`` installed (names the extra).
    """
    s = cfg.trainer.strategy
    if s == "fsdp":
        # FSDP2 (fully_shard per transformer block, applied in ReCamMasterModule.configure_model) through Lightning's
        # ModelParallelStrategy: sharded distributed checkpoints (folders), works on CPU with gloo as well
        from lightning.pytorch.strategies import ModelParallelStrategy

        return ModelParallelStrategy(data_parallel_size=cfg.trainer.devices * cfg.trainer.num_nodes,
                                     tensor_parallel_size=1, save_distributed_checkpoint=True)
    if s.startswith("deepspeed"):
        try:
            import deepspeed  # noqa: F401
        except ImportError:
            raise ImportError(f"trainer.strategy={s} needs DeepSpeed, which is in the optional extra `gpu`: "
                              f"pip install -e \".[gpu]\" (or pip install deepspeed)") from None
    return s


def build_trainer(cfg: TrainConfig) -> L.Trainer:
    out = Path(cfg.output.dir)
    t = cfg.trainer
    callbacks = [
        ModelCheckpoint(dirpath=out / "checkpoints", filename="step{step}", every_n_train_steps=t.checkpoint_every,
                        save_top_k=-1, save_last=True, auto_insert_metric_name=False),
        ExportCallback(out / "export", t.checkpoint_every, cfg.output.export_official, cfg.output.export_diffusers),
        ValidationVideos(out / "val", cfg.validation.num_videos, cfg.validation.steps, cfg.validation.guidance),
        LearningRateMonitor(logging_interval="step"),
    ]
    precision = "32-true" if t.precision == "32" else t.precision
    val = cfg.data.val_samples > 0
    return L.Trainer(accelerator=t.accelerator, devices=t.devices, num_nodes=t.num_nodes, strategy=_strategy(cfg),
                     precision=precision, max_steps=t.max_steps, accumulate_grad_batches=t.accumulate_grad_batches,
                     gradient_clip_val=t.gradient_clip_val, log_every_n_steps=t.log_every,
                     val_check_interval=(t.val_every * t.accumulate_grad_batches) if val else None,
                     check_val_every_n_epoch=None, limit_val_batches=1.0 if val else 0, num_sanity_val_steps=0,
                     callbacks=callbacks, use_distributed_sampler=False, default_root_dir=str(out),
                     overfit_batches=t.overfit_batches,
                     logger=[TensorBoardLogger(str(out), name="tb", version=""),
                             CSVLogger(str(out), name="csv", version="")],
                     enable_model_summary=False)


def load_empty_context(cfg: TrainConfig) -> Optional[torch.Tensor]:
    """The empty prompt's embedding for text dropout (``<cache>/empty_context.safetensors`` of the first cached
    dataset, written by ``recam prepare``), padded to 512 rows; None if unavailable."""
    from safetensors.torch import load_file

    from ..encoders import pad_context

    for e in cfg.data.datasets:
        if e.cache and (Path(e.cache) / "empty_context.safetensors").exists():
            return pad_context(load_file(str(Path(e.cache) / "empty_context.safetensors"))["context"].float())
    return None


def train(cfg: TrainConfig, resume: str = "auto") -> Tuple[L.Trainer, ReCamMasterModule]:
    """Run (or resume) a training job. Returns the trainer and module."""
    L.seed_everything(cfg.seed, workers=True)
    out = Path(cfg.output.dir)
    ckpt = resolve_resume(cfg, resume)
    trainer = build_trainer(cfg)
    if trainer.is_global_zero:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    module = ReCamMasterModule(cfg, empty_context=load_empty_context(cfg))
    data = ReCamMasterDataModule(cfg)
    trainer.fit(module, datamodule=data, ckpt_path=ckpt)
    return trainer, module
