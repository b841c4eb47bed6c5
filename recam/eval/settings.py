"""The settings of one ``recam eval`` run: every flag of the command, typed, with its cross-flag checks.

The command's flags are this model's fields (:func:`recam.eval.metrics.option`: ``--num-pairs`` with the alias
``--num_pairs`` ...) plus the options of every registered metric (:mod:`recam.eval.metrics`), gathered by metric in
``metrics``. Everything here is checked before any heavy import (torch, the model, a metric's weights).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from synth.core.engine.base import EngineSettings

from .metrics import MetricOptions, metrics, option

__all__ = ["EvalRunSettings", "EvalSettingsError"]

_DTYPES = ("auto", "bf16", "fp16", "fp32")
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")
_PROTOCOLS = ("none", "recammaster")
_ALL_PRESETS = ",".join(str(k) for k in range(1, 11))


class EvalSettingsError(ValueError):
    """The flags of ``recam eval`` are not a valid run (one line per problem, naming the flag)."""


class EvalRunSettings(BaseModel):
    """``recam eval``'s flags (see ``recam eval --help``); ``metrics``: each registered metric's options by name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: Path = option(..., flag="--dataset", help="Multi-camera dataset (synth output or MultiCamVideo); "
                           "with --protocol recammaster: a folder of source videos.")
    protocol: str = option("none", flag="--protocol", help="none (pairs of a multi-camera dataset) | recammaster "
                           "(ReCamMaster's set-up: every source video of --dataset x the preset trajectories).")
    cam_types: str = option(_ALL_PRESETS, help="--protocol recammaster: the preset trajectories (recam infer "
                            "--cam_type), comma-separated.")
    out: Path = option(Path("eval"), flag="--out", help="Output folder (resumable).")
    model_dir: Optional[Path] = option(None, help="Wan2.1 diffusers folder: re-capture with ReCamMaster.")
    ckpt: Optional[Path] = option(None, flag="--ckpt", help="ReCamMaster weights (with --model-dir).")
    videos: Optional[Path] = option(None, flag="--videos", help="Score already generated videos <pair_id>.mp4 of "
                                    "any model (with --pairs).")
    pairs: Optional[Path] = option(None, flag="--pairs", help="pairs.csv of an earlier run (same pairs).")
    num_pairs: int = option(50, ge=1, help="Pairs to sample (without --pairs).")
    seed: int = option(0, flag="--seed", help="Seed of the pair sampling and of the sampler.")
    num_frames: int = option(81, help="Frames (4k + 1).")
    height: int = option(480, flag="--height", help="Frame height (multiple of 16).")
    width: int = option(832, flag="--width", help="Frame width (multiple of 16).")
    steps: int = option(50, flag="--steps", ge=1, help="Sampler steps.")
    guidance: float = option(5.0, flag="--guidance", help="CFG scale on the text (1 = off).")
    dtype: str = option("auto", flag="--dtype", help="auto | bf16 | fp16 | fp32.")
    device: str = option("auto", flag="--device", help="auto | cpu | cuda | cuda:N.")
    pose_stride: int = option(4, ge=1, help="Estimate poses on every N-th frame.")
    pose_max_size: int = option(512, ge=0, help="Downscale frames for COLMAP.")
    mapper: str = option("global", flag="--mapper", help="global (GLOMAP, as CamI2V) or incremental.")
    workers: int = option(1, flag="--workers", ge=1, help="Pairs scored in parallel workers (--engine).")
    metrics: Dict[str, MetricOptions] = {}
    #: ``--engine`` and its flags (:mod:`synth.core.engine`)
    engine: EngineSettings = EngineSettings()

    @model_validator(mode="after")
    def _cross_checks(self) -> "EvalRunSettings":
        problems = []
        if (self.model_dir is None) == (self.videos is None):
            problems.append("give exactly one of --model-dir (generate with ReCamMaster) or --videos DIR (score "
                            "existing videos)")
        if self.videos is not None and self.pairs is None:
            problems.append("--videos needs --pairs FILE (pairs.csv naming the <pair_id>.mp4 files)")
        if self.videos is not None and not self.videos.is_dir():
            problems.append(f"--videos {self.videos}: not a folder")
        if self.protocol not in _PROTOCOLS:
            problems.append(f"--protocol must be one of {', '.join(_PROTOCOLS)}; got {self.protocol!r}")
        try:
            self.preset_list()
        except ValueError as e:
            problems.append(str(e))
        if self.protocol == "recammaster" and (self.model_dir is None or self.pairs is not None):
            problems.append("--protocol recammaster re-captures the videos of --dataset: it needs --model-dir and "
                            "takes no --videos / --pairs")
        if (self.num_frames - 1) % 4 or self.num_frames < 1 or self.height % 16 or self.width % 16:
            problems.append(f"--num-frames must be 4k + 1 and --height/--width multiples of 16; got "
                            f"{self.num_frames}, {self.height}x{self.width}")
        if self.mapper not in ("global", "incremental"):
            problems.append(f"--mapper must be global or incremental, got {self.mapper!r}")
        if self.dtype not in _DTYPES:
            problems.append(f"--dtype must be one of {', '.join(_DTYPES)}; got {self.dtype!r}")
        if not _DEVICE.fullmatch(self.device):
            problems.append(f"--device must be auto, cpu, cuda or cuda:N; got {self.device!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def preset_list(self) -> Tuple[int, ...]:
        """``--cam-types`` as sorted distinct preset numbers (``recam infer --cam_type``, 1..10).

        Raises:
            ValueError: not comma-separated integers in 1..10 (names the flag).
        """
        try:
            ks = sorted({int(t) for t in self.cam_types.split(",") if t.strip()})
        except ValueError:
            ks = []
        if not ks or not all(1 <= k <= 10 for k in ks):
            raise ValueError(f"--cam-types must be comma-separated preset numbers 1..10 (recam infer --cam_type); "
                             f"got {self.cam_types!r}")
        return tuple(ks)

    @classmethod
    def from_flags(cls, flags: Mapping[str, Any]) -> "EvalRunSettings":
        """The settings from the command's keyword arguments (its own fields and every metric's option fields).

        Raises:
            EvalSettingsError: a check failed; the message names the flag(s) and what was expected.
        """
        try:
            opts = {name: m.Options(**{k: flags[k] for k in m.Options.model_fields if k in flags})
                    for name, m in metrics().items()}
            engine = EngineSettings(**{k: flags[k] for k in EngineSettings.model_fields if k in flags})
            return cls(**{k: v for k, v in flags.items() if k in cls.model_fields and k not in ("metrics", "engine")},
                       metrics=opts, engine=engine)
        except ValidationError as e:
            raise EvalSettingsError(_message(e)) from None

    def recorded(self):
        """What ``eval_run.json`` records and a resume must match (:class:`recam.eval.run.EvalSettings`)."""
        from .run import EvalSettings

        src = (f"videos:{self.videos.resolve()}" if self.videos is not None else
               f"model:{self.model_dir.resolve()}|{self.ckpt}")
        if self.protocol != "none":  # a protocol run never resumes into a pairs run (nor the other way)
            src += f"|protocol:{self.protocol}"
        return EvalSettings(num_frames=self.num_frames, height=self.height, width=self.width, steps=self.steps,
                            guidance=self.guidance, seed=self.seed, pose_stride=self.pose_stride,
                            pose_max_size=self.pose_max_size, pose_mapper=self.mapper, source=src)


def _message(err: ValidationError) -> str:
    """One line per problem: a cross-flag check's own text, else ``--flag: pydantic's message (got value)``."""
    lines = []
    for e in err.errors():
        if e["type"] == "value_error" and not e["loc"]:
            lines.append(str(e["ctx"]["error"]))
        else:
            flag = "--" + "-".join(str(p) for p in e["loc"]).replace("_", "-")
            lines.append(f"{flag}: {e['msg']} (got {e.get('input')!r})")
    return "\n".join(lines)
