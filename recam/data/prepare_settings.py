"""``recam prepare``'s settings: every flag in one typed model that owns the checks across flags (the kind exists and
takes the reader options given, the window from ``--config`` and the flags is valid). Light (pydantic, the kind
registry, the train config; no torch), so a bad flag is answered before a model loads; :func:`recam.data.prepare.run`
does the work."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from synth.core.engine.base import EngineSettings

__all__ = ["PrepareRunSettings", "CACHE_DTYPE_NAMES", "VAE_DTYPE_NAMES"]

#: ``--cache-dtype`` values (:data:`recam.data.prepare.CACHE_DTYPES` maps them to torch dtypes)
CACHE_DTYPE_NAMES = ("bf16", "fp16", "fp32")
#: ``--vae-dtype`` values (:data:`recam.data.prepare.VAE_DTYPES`)
VAE_DTYPE_NAMES = ("fp32", "bf16")
#: ``--resize`` values (:data:`recam.video.RESIZE_MODES`)
RESIZE_NAMES = ("exact", "fast")
#: the window when neither ``--config`` nor a flag sets it
DEFAULT_WINDOW = {"num_frames": 81, "height": 480, "width": 832, "stride": 1}


class PrepareRunSettings(BaseModel):
    """What ``recam prepare`` was asked to do (see ``recam prepare --help``).

    Attributes:
        kind_flags: the dataset kinds' reader options given on the command line (name -> value); an option of
            another kind is an error.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: Path = Field(description="Dataset root.")
    kind: str = Field(description="Dataset kind (a registered one).")
    model_dir: Path = Field(description="Local Wan2.1 diffusers folder (VAE, text encoder).")
    out: Path = Field(description="Cache folder.")
    config: Optional[Path] = Field(None, description="Train config YAML: frames and size from its data section.")
    num_frames: Optional[int] = Field(None, description="Frames per window (4k + 1).")
    height: Optional[int] = Field(None, description="Height (multiple of 16).")
    width: Optional[int] = Field(None, description="Width (multiple of 16).")
    stride: Optional[int] = Field(None, description="Source frame stride within a window.")
    require_metric: bool = Field(False, description="Skip clips without a metric scale.")
    cache_dtype: str = Field("bf16", description="bf16 | fp16 | fp32")
    shard: Optional[str] = Field(None, description="i/n: this machine's share of the clips (cluster arrays); ranks "
                                 "of a torchrun / --devices launch split it further.")
    devices: int = Field(1, ge=1, description="Processes on this node (one per GPU), as `torchrun "
                         "--nproc_per_node N -m recam.cli prepare ...` would start.")
    workers: int = Field(2, ge=0, description="DataLoader workers decoding ahead of the encoders (0: decode in the "
                         "main process).")
    prefetch: int = Field(2, ge=1, description="Clips each worker decodes ahead.")
    batch_text: int = Field(8, ge=1, description="Captions per text-encoder call.")
    resize: str = Field("exact", description="exact (upstream's PIL bilinear) | fast (swscale inside the decoder; "
                        "pixels differ by a few levels)")
    vae_dtype: str = Field("fp32", description="fp32 | bf16 (GPU: half the memory and time)")
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N.")
    vae_tiling: bool = Field(False, description="Upstream's tiled VAE encoding (less memory).")
    overwrite: bool = Field(False, description="Replace items cached with other settings.")
    kind_flags: Dict[str, Any] = Field(default_factory=dict, json_schema_extra={"cli": False})
    #: ``--engine`` and its flags (:mod:`synth.core.engine`): with ``--engine``, ``--devices N`` units of the
    #: shard run on N workers of that engine (ray: anywhere in the cluster) instead of torch ranks
    engine: EngineSettings = Field(default_factory=EngineSettings, json_schema_extra={"cli": False})

    @model_validator(mode="after")
    def _flags_agree(self) -> "PrepareRunSettings":
        from .formats import get_kind, kinds

        if self.kind not in kinds():
            raise ValueError(f"--kind must be one of {', '.join(kinds())}; got {self.kind!r}")
        for name in self.kind_flags:
            if name not in get_kind(self.kind).options:
                owners = [k for k in kinds() if name in get_kind(k).options]
                raise ValueError(f"--{name.replace('_', '-')} is for --kind {' / '.join(owners)}, not {self.kind}")
        w = self.window
        if (w["num_frames"] - 1) % 4 or w["height"] % 16 or w["width"] % 16 or min(w.values()) < 1:
            raise ValueError(f"frames must be 4k + 1 and height/width positive multiples of 16; got {w}")
        for flag, value, valid in (("--cache-dtype", self.cache_dtype, CACHE_DTYPE_NAMES),
                                   ("--resize", self.resize, RESIZE_NAMES),
                                   ("--vae-dtype", self.vae_dtype, VAE_DTYPE_NAMES)):
            if value not in valid:
                raise ValueError(f"{flag} must be one of {', '.join(valid)}; got {value!r}")
        if self.out.exists() and not self.out.is_dir():
            raise ValueError(f"--out {self.out} is a file; expected a cache folder")
        return self

    @property
    def window(self) -> Dict[str, int]:
        """``num_frames``, ``height``, ``width``, ``stride``: the flags over ``--config``'s data section over
        :data:`DEFAULT_WINDOW`.

        Raises:
            ValueError: an invalid ``--config`` (the message names the file and key).
        """
        base = dict(DEFAULT_WINDOW)
        if self.config is not None:
            from .config import ConfigError, load_data_config

            try:
                d = load_data_config(self.config)
            except ConfigError as e:
                raise ValueError(str(e)) from None
            base.update(num_frames=d.num_frames, height=d.height, width=d.width, stride=d.stride)
        base.update({k: getattr(self, k) for k in DEFAULT_WINDOW if getattr(self, k) is not None})
        return base

    @property
    def reader_options(self) -> Dict[str, Any]:
        """The reader options of ``kind`` (typed options at their defaults, the given flags over them) with
        ``require_metric``."""
        from .formats import get_kind

        k = get_kind(self.kind)
        defaults = k.Options(**self.kind_flags).model_dump() if k.Options is not None else dict(self.kind_flags)
        return {"require_metric": self.require_metric, **defaults}
