"""The ``data:`` section of a training config (``configs/recam/*.yaml``): the clip window (frames, size, stride) and
the dataset mixture. It lives with the data layer because ``recam prepare --config`` reads the window of a training
config (:func:`load_data_config`) and the dataset kinds are validated against the data layer's registry;
:mod:`recam.train.config` holds the rest of the training config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Dict, List, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from synth.core.errors import ConfigError, format_validation_error
from synth.core.strict_numbers import Float, Int
from synth.core.yaml_safe import load_yaml

__all__ = ["DataConfig", "DatasetEntry", "load_data_config", "read_config_yaml"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class DatasetEntry(_Strict):
    """One dataset of the mixture: from a ``cache`` (``recam prepare``) or a raw ``root``."""

    kind: str  # a registered dataset kind (recam/data/formats/): the list exists only there
    cache: Optional[str] = None
    root: Optional[str] = None
    weight: Float = Field(1.0, gt=0, le=1e6)
    task_probs: Dict[Literal["i2v", "t2v"], Annotated[Float, Field(ge=0, le=1)]] = Field(
        default_factory=lambda: {"i2v": 0.5, "t2v": 0.5})
    require_metric: bool = False
    max_angle_deg: Optional[Float] = Field(None, gt=0, le=180)
    min_baseline_m: Optional[Float] = Field(None, ge=0)
    max_baseline_m: Optional[Float] = Field(None, gt=0)
    options: Dict[str, Any] = Field(default_factory=dict)

    @field_validator("kind")
    @classmethod
    def _registered(cls, v: str) -> str:
        from .formats import kinds

        if v not in kinds():
            raise ValueError(f"unknown dataset kind {v!r}; expected one of {', '.join(kinds())}")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> "DatasetEntry":
        if (self.cache is None) == (self.root is None):
            raise ValueError("give exactly one of cache (a recam prepare folder) or root (raw dataset)")
        return self


class DataConfig(_Strict):
    num_frames: Int = Field(81, ge=5, le=1025)
    height: Int = Field(480, ge=16, le=4096)
    width: Int = Field(832, ge=16, le=4096)
    stride: Int = Field(1, ge=1)
    datasets: List[DatasetEntry] = Field(min_length=1)
    batch_size: Int = Field(1, ge=1)
    num_workers: Int = Field(4, ge=0)
    on_error: Literal["skip", "fail"] = "skip"
    val_samples: Int = Field(2, ge=0)

    @model_validator(mode="after")
    def _shapes(self) -> "DataConfig":
        if (self.num_frames - 1) % 4:
            raise ValueError(f"num_frames must be 4k + 1 (Wan VAE), got {self.num_frames}")
        if self.height % 16 or self.width % 16:
            raise ValueError(f"height and width must be multiples of 16, got {self.height}x{self.width}")
        return self


def read_config_yaml(path: Path) -> Any:
    """A training config file's YAML document (``{}`` when empty), read with the size- and alias-limited loader.

    Raises:
        ConfigError: a missing file or invalid YAML, naming the file.
    """
    try:
        return load_yaml(path) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from None


def load_data_config(path: Path | str) -> DataConfig:
    """The validated ``data:`` section of a training config file (the other sections are validated by
    :func:`recam.train.config.load_train_config` when training starts).

    Raises:
        ConfigError: unreadable YAML, no ``data:`` mapping, unknown keys, wrong types or values; names the file and
            the key (``data.<key>``).
    """
    path = Path(path)
    raw = read_config_yaml(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("data"), dict):
        raise ConfigError(f"{path}: no data: section; expected a training config (configs/recam/*.yaml)")
    try:
        return DataConfig.model_validate(raw["data"])
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, f"{path} (data section)")) from None
