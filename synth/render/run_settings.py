"""``synth render``'s settings: every flag in one typed model that owns the checks across flags (the backend
exists, its options are its own and valid, it gets the catalog and worker count it needs). Light: the backend
registry entries only, no renderer, so a bad flag is answered before anything heavy is imported."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..core.engine.base import EngineSettings

__all__ = ["RenderRunSettings"]


class RenderRunSettings(BaseModel):
    """What ``synth render`` was asked to do (see ``synth render --help`` for each field).

    Attributes:
        backend_flags: backend options given on the command line (flag name -> value); the others keep the
            backend's defaults. An option of another backend is an error.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    scenes: int = Field(ge=1)
    seed: int = Field(0, ge=0)
    out: Path = Path("out/multicam")
    width: Optional[int] = None
    height: Optional[int] = None
    frames: Optional[int] = None
    backend: str = "embedded"
    workers: int = Field(1, ge=1)
    shard: Optional[str] = None
    depth: bool = False
    masks: bool = False
    joints: bool = False
    config: Optional[Path] = None
    catalog: Optional[Path] = None
    crf: int = Field(18, ge=0, le=51)
    preset: str = "veryfast"
    encode_threads: int = Field(0, ge=0)
    #: H.264 encoder; ``auto`` resolves when the render starts (:func:`synth.core.video_io.resolve_encoder`)
    encoder: Literal["auto", "libx264", "h264_nvenc"] = "auto"
    split: str = "train"
    backend_flags: Dict[str, Any] = Field(default_factory=dict, json_schema_extra={"cli": False})
    #: where the scenes run (``--engine`` and its flags; :mod:`synth.core.engine`)
    engine: EngineSettings = Field(default_factory=EngineSettings, json_schema_extra={"cli": False})

    @model_validator(mode="after")
    def _backend_fits(self) -> "RenderRunSettings":
        from ..core.errors import format_validation_error
        from .backends import UnknownBackendError, backends, get_backend, option_flag

        try:
            entry = get_backend(self.backend)
        except UnknownBackendError as e:
            raise ValueError(f"--backend: {e}") from None
        for other in backends().values():
            for name, field in other.Options.model_fields.items():
                if other.name != entry.name and name in self.backend_flags \
                        and name not in entry.Options.model_fields:
                    raise ValueError(f"{option_flag(name, field)} is an option of --backend {other.name}, not of "
                                     f"--backend {entry.name}")
        try:
            self.options
        except ValidationError as e:
            raise ValueError(format_validation_error(e, f"--backend {entry.name} options")) from None
        if self.encoder == "h264_nvenc":
            from ..core.video_io import encoder_usable

            ok, why = encoder_usable("h264_nvenc")
            if not ok:
                raise ValueError(f"--encoder h264_nvenc: {why}; use --encoder libx264 or auto")
        if entry.needs_catalog and self.catalog is None:
            raise ValueError(f"--backend {self.backend} needs --catalog ({entry.needs_catalog})")
        if entry.max_workers is not None and self.workers > entry.max_workers:
            raise ValueError(f"--backend {self.backend} renders with at most {entry.max_workers} worker(s): "
                             f"{entry.workers_hint}")
        return self

    @property
    def entry(self):
        """The backend's registry entry (:class:`synth.render.backends.BackendEntry`)."""
        from .backends import get_backend

        return get_backend(self.backend)

    @property
    def options(self):
        """The backend's typed options (its ``Options`` model: the given flags over its defaults)."""
        return self.entry.Options(**self.backend_flags)
