"""The training configuration (``configs/recam/*.yaml``): strict pydantic schema, ``key=value`` overrides.

Relative paths in the config are relative to the current working directory (the folder ``recam train`` runs in).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated, Any, Dict, List, Literal, Optional, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from synth.core.errors import ConfigError, format_validation_error
from synth.core.strict_numbers import Float, Int

from ..data.config import DataConfig, DatasetEntry, _Strict, read_config_yaml  # noqa: F401 - data section: data layer

__all__ = ["LoraTrainConfig", "LORA_DEFAULT_TARGETS",
           "TrainConfig", "load_train_config", "apply_overrides", "ConfigError", "UPSTREAM_TRAINABLE"]

#: upstream trains the parameters whose names contain these (self-attention = diffusers' attn1)
UPSTREAM_TRAINABLE = ["attn1", "cam_encoder", "projector"]




#: ``model.lora.targets`` default: the self-attention projections (what upstream fine-tunes fully)
LORA_DEFAULT_TARGETS = [r"blocks\.\d+\.attn1\.(to_q|to_k|to_v|to_out\.0)"]


class LoraTrainConfig(_Strict):
    """``model.lora``: train a LoRA instead of the full weights of the target linears (peft, diffusers'
    ``add_adapter``). ``rank`` r; ``alpha`` (the update is scaled by alpha / r); ``targets``: regular expressions
    matched in full against module names (``blocks.3.attn1.to_q``); a module matching any is wrapped. The wrapped
    base weights are frozen whatever ``model.trainable`` says; ``trainable`` still selects the other parameters
    (the camera modules). Exports: ``stepN-lora/pytorch_lora_weights.safetensors`` (the LoRA alone, peft format,
    ``recam infer --lora``) next to ``stepN.ckpt`` (the model without the LoRA)."""

    rank: Int = Field(16, ge=1, le=1024)
    alpha: Float = Field(16.0, gt=0)
    targets: List[str] = Field(default_factory=lambda: list(LORA_DEFAULT_TARGETS), min_length=1)

    @field_validator("targets")
    @classmethod
    def _regexes(cls, v):
        import re

        for t in v:
            try:
                re.compile(t)
            except re.error as e:
                raise ValueError(f"target {t!r} is not a regular expression ({e})") from None
        return v

    @property
    def pattern(self) -> str:
        """One regex: the alternation of ``targets`` (peft fullmatches it against every module name)."""
        return "|".join(f"(?:{t})" for t in self.targets)


class ModelConfig(_Strict):
    """``model_dir``: local Wan2.1 diffusers folder (transformer config/weights; VAE and text encoder for raw-video
    training and validation). ``init``: ReCamMaster weights to start from (upstream ``.ckpt`` or diffusers
    folder); None = camera modules zero/identity on the base model. ``trainable``: substrings of parameter names
    to train (upstream: self-attention, cam_encoder, projector)."""

    model_dir: str
    init: Optional[str] = None
    trainable: List[str] = Field(default_factory=lambda: list(UPSTREAM_TRAINABLE), min_length=1)
    gradient_checkpointing: bool = True
    attention_backend: Optional[str] = None
    #: torch.compile each transformer block (diffusers' compile_repeated_blocks: one graph, reused per block)
    compile: bool = False
    #: train a LoRA on ``lora.targets`` instead of their full weights (None: full fine-tuning, upstream)
    lora: Optional[LoraTrainConfig] = None
    #: the optional intrinsics condition (issue 24): zero-initialised ``cam_intrinsics_encoder`` per block fed the
    #: target-to-source focal ratios and principal-point offsets (``cam_intr`` of pairs whose cache holds
    #: intrinsics); trained with the camera modules. An upstream checkpoint is exact with it on (ratios 1).
    intrinsics: bool = False

    @field_validator("attention_backend")
    @classmethod
    def _backend(cls, v):
        if v is not None:
            from diffusers.models.attention_dispatch import AttentionBackendName

            names = [b.value for b in AttentionBackendName]
            if v not in names:
                raise ValueError(f"unknown attention backend {v!r}; diffusers has {', '.join(names)}")
        return v


class EmaConfig(_Strict):
    enabled: bool = False
    decay: Float = Field(0.9999, gt=0, lt=1)


class OptimConfig(_Strict):
    lr: Float = Field(1e-4, gt=0, le=1)
    betas: Sequence[Annotated[Float, Field(ge=0, lt=1)]] = (0.9, 0.999)
    weight_decay: Float = Field(0.0, ge=0)
    eps: Float = Field(1e-8, gt=0)
    warmup_steps: Int = Field(0, ge=0)
    ema: EmaConfig = EmaConfig()

    @field_validator("betas")
    @classmethod
    def _betas(cls, v):
        if len(v) != 2 or not all(0 <= b < 1 for b in v):
            raise ValueError(f"betas must be two numbers in [0, 1), got {list(v)}")
        return list(v)


class ConditionNoise(_Strict):
    """Noise on the condition (source) latents: with probability ``prob`` the source is noised to a timestep drawn
    uniformly from ``[t_min, t_max]`` of 1000 (paper: 200-500), closing the synthetic-to-real gap."""

    prob: Float = Field(0.0, ge=0, le=1)
    t_min: Float = Field(200, ge=0, le=1000)
    t_max: Float = Field(500, ge=0, le=1000)


class LossConfig(_Strict):
    """The paper's strategies on top of upstream's loss (all off = upstream exactly): condition noise; condition
    dropout of pair samples to I2V (all source latents but frame 0 replaced by noise) or T2V (all replaced); text
    dropout (the caption embedding replaced by the empty prompt's)."""

    condition_noise: ConditionNoise = ConditionNoise()
    i2v_prob: Float = Field(0.0, ge=0, le=1)
    t2v_prob: Float = Field(0.0, ge=0, le=1)
    text_dropout: Float = Field(0.0, ge=0, le=1)
    #: debugging: reuse step 0's noise and timesteps at every step (with trainer.overfit_batches, a model must fit)
    fixed_noise: bool = False

    @model_validator(mode="after")
    def _probs(self) -> "LossConfig":
        if self.i2v_prob + self.t2v_prob > 1:
            raise ValueError("i2v_prob + t2v_prob must be <= 1")
        return self


class TrainerConfig(_Strict):
    accelerator: str = "auto"
    devices: Int = Field(1, ge=1)
    num_nodes: Int = Field(1, ge=1)
    strategy: Literal["auto", "ddp", "fsdp", "deepspeed_stage_1", "deepspeed_stage_2", "deepspeed_stage_3"] = "auto"
    #: bf16-true / DeepSpeed / FSDP run the model in bf16 parameters without autocast (the model casts its inputs)
    precision: Literal["bf16-mixed", "bf16-true", "32", "32-true", "16-mixed"] = "bf16-mixed"

    @field_validator("precision", mode="before")
    @classmethod
    def _precision_text(cls, v):
        return str(v) if isinstance(v, int) else v  # `trainer.precision=32` on the command line parses as int
    accumulate_grad_batches: Int = Field(1, ge=1)
    max_steps: Int = Field(20000, ge=1)
    checkpoint_every: Int = Field(1000, ge=1)
    val_every: Int = Field(1000, ge=1)
    log_every: Int = Field(10, ge=1)
    gradient_clip_val: Optional[Float] = Field(None, gt=0)
    #: debugging: train on this many batches only (Lightning's overfit_batches)
    overfit_batches: Int = Field(0, ge=0)


class ValidationConfig(_Strict):
    """Periodic validation: the flow-matching loss at fixed timesteps on held-out samples, and ``num_videos``
    sampled videos (``steps`` Euler steps) written as mp4 and logged as frame grids."""

    num_videos: Int = Field(1, ge=0)
    steps: Int = Field(20, ge=1)
    guidance: Float = Field(1.0, ge=1, le=100)


class ParallelConfig(_Strict):
    """Context parallelism (diffusers' ``ContextParallelConfig``): each sample's token sequence is split over
    ``ulysses_degree x ring_degree`` ranks (Ulysses: all-to-all over heads, needs heads divisible by the degree;
    ring: K/V passed around, needs an attention backend returning the log-sum-exp such as ``flash`` or
    ``_native_cudnn``). The ranks of one CP group train on the same samples; data parallelism runs across groups."""

    ulysses_degree: Int = Field(1, ge=1)
    ring_degree: Int = Field(1, ge=1)

    @property
    def degree(self) -> int:
        return self.ulysses_degree * self.ring_degree


class OutputConfig(_Strict):
    dir: str = "runs/recam"
    export_official: bool = True
    export_diffusers: bool = True


class TrainConfig(_Strict):
    seed: Int = 0
    model: ModelConfig
    data: DataConfig
    optim: OptimConfig = OptimConfig()
    loss: LossConfig = LossConfig()
    trainer: TrainerConfig = TrainerConfig()
    validation: ValidationConfig = ValidationConfig()
    parallel: ParallelConfig = ParallelConfig()
    output: OutputConfig = OutputConfig()

    @model_validator(mode="after")
    def _combinations(self) -> "TrainConfig":
        """Combinations that cannot work, refused before any model loads."""
        b = self.model.attention_backend
        if b is not None and (b.startswith("sage") or b.startswith("_sage")):
            raise ValueError(f"model.attention_backend={b} is inference-only (SageAttention has no backward); "
                             f"use native, flash, _native_cudnn or _native_flash for training")
        if self.optim.ema.enabled and self.trainer.strategy == "deepspeed_stage_3":
            raise ValueError("optim.ema with trainer.strategy=deepspeed_stage_3 is not supported (partitioned "
                             "parameters); use fsdp (EMA sharded like the parameters) or deepspeed_stage_1/2")
        if self.model.lora is not None and self.trainer.strategy in ("fsdp", "deepspeed_stage_3"):
            raise ValueError(f"model.lora with trainer.strategy={self.trainer.strategy} is not supported yet (the "
                             f"sharded export of peft-wrapped layers is untested); use ddp or deepspeed_stage_1/2 "
                             f"(a LoRA's optimizer state is small)")
        cp = self.parallel
        if cp.degree > 1:
            world = self.trainer.devices * self.trainer.num_nodes
            if world % cp.degree:
                raise ValueError(f"parallel: ulysses_degree x ring_degree = {cp.degree} must divide trainer.devices "
                                 f"x trainer.num_nodes = {world}")
            if cp.ring_degree > 1 and b in (None, "native", "_native_math", "_native_efficient", "flex"):
                raise ValueError(f"parallel.ring_degree > 1 needs an attention backend that returns the "
                                 f"log-sum-exp (flash, _native_cudnn, _native_flash); model.attention_backend is "
                                 f"{b or 'native (default)'}")
            if self.trainer.strategy.startswith("deepspeed"):
                raise ValueError("parallel (context parallelism) works with trainer.strategy ddp or fsdp, not "
                                 "DeepSpeed (its engine owns the process groups)")
        return self


def apply_overrides(raw: Dict[str, Any], overrides: Sequence[str]) -> Dict[str, Any]:
    """``["trainer.devices=2", "data.datasets.0.weight=0.5"]`` -> a new dict, through omegaconf's dotlist merge
    (values parse as YAML; a number in the path indexes a list). ``${...}`` interpolations are not resolved.

    Raises:
        ConfigError: an override without ``=`` or one that cannot be applied (e.g. a list index out of range).
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    for o in overrides:
        if "=" not in o:
            raise ConfigError(f"override {o!r} must look like key.path=value")
    cfg = OmegaConf.create(copy.deepcopy(raw))
    for o in overrides:
        try:
            cfg.merge_with_dotlist([o])
        except (OmegaConfBaseException, ValueError, IndexError, TypeError) as e:
            raise ConfigError(f"override {o!r}: cannot set {o.split('=', 1)[0]} "
                              f"({str(e).splitlines()[0]})") from None
    return OmegaConf.to_container(cfg, resolve=False)


def load_train_config(path: Path | str, overrides: Sequence[str] = ()) -> TrainConfig:
    """Load, override and validate a training config.

    Raises:
        ConfigError: unreadable YAML, unknown keys, wrong types or values; names file and key.
    """
    path = Path(path)
    raw = apply_overrides(read_config_yaml(path), overrides)
    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, str(path) + (" (with overrides)" if overrides else ""))) \
            from None
