"""``recam studio``'s settings: every flag in one typed model (light: pydantic only, checked before viser, torch
or COLMAP load)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["StudioSettings"]


class StudioSettings(BaseModel):
    """What ``recam studio VIDEO`` was asked to do (see ``recam studio --help``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    video: Path = Field(description="Source video.", json_schema_extra={"cli": False})
    port: int = Field(8080, ge=1, le=65535, description="Port to serve on.")
    host: str = Field("127.0.0.1", description="Address to serve on (0.0.0.0 shares it on your network).")
    out: Path = Field(Path("studio"), description="Folder of exported trajectories and run results.")
    num_frames: int = Field(81, ge=5, le=1025, description="Frames of the trajectory (4k + 1; cut to the video).")
    stride: int = Field(4, ge=1, le=64, description="Every N-th frame is shown and used for pose estimation.")
    max_size: int = Field(256, ge=64, le=2048, description="Long side (pixels) of the frames shown and estimated.")
    hfov: float = Field(60.0, gt=1.0, lt=179.0, description="Horizontal field of view of the source (degrees).")
    scale: Optional[float] = Field(None, gt=0, description="Metres per SfM unit (default: recam align's "
                                   "--metric-scale, else frame 0's median depth taken as 4 m).")
    metric_scale: Optional[Path] = Field(None, description="recam align's metric_scale.json for this video.")
    model_dir: Optional[Path] = Field(None, description="Model folder for the run button (e.g. recam init-tiny).")
    ckpt: Optional[Path] = Field(None, description="ReCamMaster weights for the run button.")
    infer_height: int = Field(480, ge=16, le=2048, description="Run button: output height (multiple of 16).")
    infer_width: int = Field(832, ge=16, le=2048, description="Run button: output width (multiple of 16).")
    steps: int = Field(50, ge=1, le=1000, description="Run button: denoising steps.")
    device: str = Field("auto", description="Run button: auto | cpu | cuda | cuda:N.")

    @model_validator(mode="after")
    def _check(self) -> "StudioSettings":
        if self.scale is not None and self.metric_scale is not None:
            raise ValueError("give --scale or --metric-scale, not both")
        if self.infer_height % 16 or self.infer_width % 16:
            raise ValueError(f"--infer-height / --infer-width must be multiples of 16, got "
                             f"{self.infer_height} x {self.infer_width}")
        if self.ckpt is not None and self.model_dir is None:
            raise ValueError("--ckpt needs --model-dir")
        return self
