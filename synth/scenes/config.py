"""The generator's configuration: every number of the MultiCamVideo recipe, validated on load.

The schema is a set of strict pydantic models: unknown keys, wrong types and out-of-range values are errors that
name the file and the dotted key (``trajectories.pan.angle_deg``). The shipped defaults live in
``configs/synth/multicamvideo.yaml`` (also packaged as ``synth/configs/multicamvideo.yaml``); README documents
every choice made where upstream is silent.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Dict, Iterator, List, Literal, Optional, Tuple, get_args

import yaml
from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, RootModel, SerializeAsAny, ValidationError,
                      field_validator, model_validator)
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_core.core_schema import ErrorType

from ..core.errors import ConfigError, format_validation_error
from ..core.strict_numbers import Float, FloatPair, Int
from ..core.yaml_safe import load_yaml
from ..families import families
from ..families.base import FamilyBlock, Range, check_range

__all__ = ["SynthConfig", "TrajectoriesConfig", "load_config", "default_config_path", "config_digest", "upgrade_config",
           "CONFIG_VERSION"]

#: version of the config format; version 1 (``trajectories.weights`` beside the blocks) is upgraded on load
CONFIG_VERSION = 2


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, allow_inf_nan=False)


class VideoConfig(_Strict):
    """Output video: frame count, frame rate (Hz) and size (pixels). MultiCamVideo: 81 frames, 15 fps, 1280x1280."""

    frames: Int = Field(ge=2, le=100000)
    fps: Float = Field(gt=0, le=1000)
    width: Int = Field(ge=16, le=8192)
    height: Int = Field(ge=16, le=8192)

    @field_validator("width", "height")
    @classmethod
    def _even(cls, v: int) -> int:
        if v % 2:
            raise ValueError(f"{v} must be even (H.264 yuv420p)")
        return v


class LensPreset(_Strict):
    """A lens: focal length (mm) and aperture (f-number). The aperture names the folder; it does not blur."""

    focal_length_mm: Float = Field(gt=0, le=2000)
    aperture_f: Float = Field(gt=0, le=128)


class HemisphereConfig(_Strict):
    """Hemisphere around the character in which camera starts are sampled (REFERENCE §1).

    ``radii_m``: candidate radii; ``radius_choice``: ``largest_fitting`` takes the largest radius r with
    ``2 r <= fit * min(free-space width, depth)`` (the smallest radius when none fits), ``random_fitting`` draws
    uniformly among the fitting ones.
    """

    radii_m: List[Annotated[Float, Field(le=10000)]] = Field(min_length=1)
    radius_choice: Literal["largest_fitting", "random_fitting"]
    fit: Float = Field(gt=0, le=10)

    @field_validator("radii_m")
    @classmethod
    def _radii(cls, v: List[float]) -> List[float]:
        if any(r <= 0.5 for r in v):
            raise ValueError(f"every radius must be > 0.5 m (the minimum camera-character distance), got {v}")
        return sorted(v)


class PlacementConfig(_Strict):
    """Where the character stands: uniformly in the central ``central_fraction`` of the free space (per axis),
    or at one of the environment's ``character_spots_cm`` when the catalog lists them. ``torso_height_fraction``
    of the character's height gives the aim point."""

    central_fraction: Float = Field(ge=0, le=1)
    torso_height_fraction: Float = Field(gt=0, le=1)
    yaw_deg: Range


class StartConfig(_Strict):
    """Camera start pose. ``distance_m``: distance from the hemisphere centre, drawn from ``[min, radius]``
    (``distance_sampling``: ``uniform`` in distance or ``volume`` = uniform in the hemisphere's volume);
    ``elevation_deg``: elevation above the ground plane seen from the centre; the camera aims at the torso with a
    uniform yaw/pitch jitter of ``aim_jitter_deg``; ``|pitch| <= max_abs_pitch_deg`` (upstream: 45)."""

    min_distance_m: Float = Field(gt=0.5, le=10000)
    distance_sampling: Literal["uniform", "volume"]
    elevation_deg: Range
    aim_jitter_deg: Float = Field(ge=0, le=45)
    max_abs_pitch_deg: Float = Field(gt=0, le=89)

    @field_validator("elevation_deg")
    @classmethod
    def _elev(cls, v: Range) -> Range:
        return check_range(v, 0.0, 89.0)


class ConstraintsConfig(_Strict):
    """Rules every camera obeys on every frame: inside the free space shrunk by ``wall_margin_m`` (and
    ``ceiling_margin_m`` below its top), at least ``min_camera_height_m`` above the floor, more than
    ``min_clearance_m`` from the character's vertical axis segment (upstream: 0.5 m), ``|pitch| <=
    max_abs_pitch_deg``. ``max_tries``: rejection-sampling attempts per camera before the scene fails."""

    wall_margin_m: Float = Field(ge=0, le=1000)
    ceiling_margin_m: Float = Field(ge=0, le=1000)
    min_camera_height_m: Float = Field(ge=0, le=1000)
    min_clearance_m: Float = Field(ge=0.5, le=1000)
    max_abs_pitch_deg: Float = Field(gt=0, le=89)
    max_tries: Int = Field(ge=1, le=100000)


class TrajectoriesConfig(RootModel[Dict[str, SerializeAsAny[FamilyBlock]]]):
    """``trajectories:``: one block per trajectory family, keyed by the family's registered name
    (:mod:`synth.families`), each validated by that family's ``Config`` and holding its mixture ``weight``.

    Blocks are kept in the families' draw order (``(draw_order, name)``, see
    :class:`~synth.families.base.TrajectoryFamily`), not the YAML's: a config's digest ignores key order, and so do
    its scenes. Unknown family names are errors naming the key and the registered families. Blocks are reachable as
    mapping items (``cfg.trajectories["pan"]``) and as attributes (``cfg.trajectories.pan``).
    """

    model_config = ConfigDict(frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _blocks(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data  # pydantic reports the type error
        registered = families()
        blocks: Dict[str, FamilyBlock] = {}
        errors: List[InitErrorDetails] = []
        for name, raw in data.items():
            fam = registered.get(name) if isinstance(name, str) else None
            if fam is None:
                errors.append(InitErrorDetails(type=PydanticCustomError(
                    "unknown_family", "unknown trajectory family; registered: {names}",
                    {"names": ", ".join(registered)}), loc=(str(name),), input=raw))
            elif isinstance(raw, fam.Config):
                blocks[name] = raw
            else:
                try:
                    blocks[name] = fam.Config.model_validate(raw)
                except ValidationError as e:
                    errors += relocate_errors(e, (name,))
        if errors:
            raise ValidationError.from_exception_data("trajectories", errors)
        blocks = {k: blocks[k] for k in registered if k in blocks}  # draw order, independent of the YAML's
        if not blocks:
            raise ValueError(f"no trajectory family configured; registered: {', '.join(registered)}")
        if sum(b.weight for b in blocks.values()) <= 0:
            raise ValueError("at least one trajectory family needs a positive weight (weights: "
                             + ", ".join(f"{k}={b.weight:g}" for k, b in blocks.items()) + ")")
        return blocks

    def __getitem__(self, name: str) -> FamilyBlock:
        return self.root[name]

    def __getattr__(self, name: str) -> FamilyBlock:
        root = self.__dict__.get("root")
        if root is not None and name in root:
            return root[name]
        raise AttributeError(f"no trajectory family {name!r} configured; configured: {', '.join(root or {})}")

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]  # the family names, in draw order
        return iter(self.root)

    def __contains__(self, name: object) -> bool:
        return name in self.root

    def __len__(self) -> int:
        return len(self.root)

    def items(self):
        return self.root.items()

    def get(self, name: str, default: Optional[FamilyBlock] = None) -> Optional[FamilyBlock]:
        return self.root.get(name, default)

    @property
    def weights(self) -> Dict[str, float]:
        """Family name -> mixture weight, in draw order (not normalised)."""
        return {k: b.weight for k, b in self.root.items()}


def relocate_errors(err: ValidationError, prefix: Tuple[Any, ...]) -> List[InitErrorDetails]:
    """The errors of a nested validation with ``prefix`` prepended to their locations (types and messages kept)."""
    out: List[InitErrorDetails] = []
    for e in err.errors():
        known = e["type"] in _PYDANTIC_ERROR_TYPES
        kind = e["type"] if known else PydanticCustomError(e["type"], e["msg"])
        out.append(InitErrorDetails(type=kind, loc=prefix + tuple(e["loc"]), input=e.get("input"),
                                    **({"ctx": e["ctx"]} if known and "ctx" in e else {})))
    return out


_PYDANTIC_ERROR_TYPES = frozenset(get_args(ErrorType))


class SpeedConfig(_Strict):
    """Speed profile per camera: ``eased_fraction`` of cameras use upstream's variable speed
    ``L_i = L_start + (L_end - L_start) (1 - exp(-a i/f)) / (1 - exp(-a))`` with ``f = frames - 1`` (so the last
    frame reaches L_end), ``|a|`` uniform in ``a_abs`` and the sign of ``a`` random (a > 0 starts fast and slows
    down, a < 0 starts slow and speeds up); the rest move at constant speed."""

    eased_fraction: Float = Field(ge=0, le=1)
    a_abs: Range

    @field_validator("a_abs")
    @classmethod
    def _r(cls, v: Range) -> Range:
        return check_range(v, 0.0, 50.0, positive=True)


# --- camera recipe extras (roll, framing); logic in synth/scenes/framing.py ------------------------------------------------
class FramingConfig(_Strict):
    """Optional constant per-camera roll and the full-body framing rule (``synth/scenes/framing.py``).
    ``roll``: ``none`` (default, as the published recipe), ``handheld`` (|roll| 1-5 deg, either sign) or
    ``custom`` (|roll| in ``roll_abs_deg``). ``full_body``: retry a camera's start (up to ``max_retries`` times)
    until the character's body box, head to feet, lies inside the image shrunk by ``margin_frac``; the best try is
    kept when none does. The minimum camera height and distance are ``constraints.min_camera_height_m`` and
    ``start.min_distance_m``. ``lens_fits_environment``: a scene's environment is drawn among those whose hemisphere
    is large enough for the scene's lens to frame a standing person head to feet (a 50 mm lens cannot in a 3 m
    room); all environments when none is."""

    roll: Literal["none", "handheld", "custom"] = "none"
    roll_abs_deg: FloatPair = (0.0, 0.0)
    full_body: bool = True
    margin_frac: Float = Field(default=0.02, ge=0, lt=0.5)
    body_radius_m: Float = Field(default=0.25, ge=0, le=2)
    max_retries: Int = Field(default=30, ge=0, le=10000)
    lens_fits_environment: bool = True

    @field_validator("roll_abs_deg")
    @classmethod
    def _roll(cls, v):
        if not 0 <= v[0] <= v[1] <= 45:
            raise ValueError("must satisfy 0 <= lo <= hi <= 45 (degrees)")
        return v
# ---------------------------------------------------------------------------------------------------------------------


class SynthConfig(_Strict):
    """The whole generator configuration (``configs/synth/multicamvideo.yaml``)."""

    _digest: Optional[str] = PrivateAttr(default=None)
    version: Literal[2]
    cameras_per_scene: Int = Field(ge=1, le=99)
    video: VideoConfig
    sensor_mm: Float = Field(gt=0, le=200)
    lenses: List[LensPreset] = Field(min_length=1)
    hemisphere: HemisphereConfig
    placement: PlacementConfig
    start: StartConfig
    constraints: ConstraintsConfig
    trajectories: TrajectoriesConfig
    speed: SpeedConfig
    framing: FramingConfig = FramingConfig()  # camera recipe extras (synth/scenes/framing.py)

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        return upgrade_config(data)

    @model_validator(mode="after")
    def _consistent(self) -> "SynthConfig":
        if self.start.min_distance_m >= max(self.hemisphere.radii_m):
            raise ValueError(f"start.min_distance_m ({self.start.min_distance_m}) must be below the largest "
                             f"hemisphere radius ({max(self.hemisphere.radii_m)})")
        if self.start.min_distance_m <= self.constraints.min_clearance_m:
            raise ValueError("start.min_distance_m must exceed constraints.min_clearance_m")
        if self.start.max_abs_pitch_deg > self.constraints.max_abs_pitch_deg:
            raise ValueError("start.max_abs_pitch_deg must not exceed constraints.max_abs_pitch_deg")
        return self

    def with_video(self, **overrides: Any) -> "SynthConfig":
        """A copy with some ``video`` fields replaced (``None`` values ignored), validated.

        Raises:
            ConfigError: a value out of range; names the option (``--height``), the value and the bound.
        """
        video = {**self.video.model_dump(), **{k: v for k, v in overrides.items() if v is not None}}
        data = self.model_dump()
        data["video"] = video
        try:
            return SynthConfig.model_validate(data)
        except ValidationError as e:  # name the option (--height), the value and the bound
            lines = []
            for err in e.errors():
                loc = list(err["loc"])
                name = f"--{loc[1]}" if loc[:1] == ["video"] and len(loc) > 1 and loc[1] in overrides else \
                    ".".join(map(str, loc))
                lines.append(f"{name} {err.get('input')!r}: {err['msg'].removeprefix('Value error, ')}")
            raise ConfigError("; ".join(lines)) from None


def upgrade_config(data: Any) -> Any:
    """A version-1 config document (``trajectories: {weights: {family: w, ...}, family: {...}, ...}``, as in
    ``synth_run.json`` of datasets made before version 2) as version 2 (``trajectories: {family: {weight: w, ...}}``,
    families in the order of the old ``weights``). Other documents are returned unchanged.

    A version-1 document without a ``trajectories.weights`` mapping is passed on as version 2 unchanged, so that
    validation names every missing or malformed field as usual.
    """
    if not isinstance(data, dict) or data.get("version") != 1:
        return data
    traj = data.get("trajectories")
    if not isinstance(traj, dict) or not isinstance(traj.get("weights"), dict):
        return {**data, "version": CONFIG_VERSION}
    blocks = {k: v for k, v in traj.items() if k != "weights"}
    new = {}
    for name, w in traj["weights"].items():
        block = blocks.pop(name, None) or {}
        new[name] = {"weight": w, **block} if isinstance(block, dict) else block
    new.update(blocks)  # blocks without a weight: reported by validation
    return {**data, "version": CONFIG_VERSION, "trajectories": new}


def default_config_path() -> Path:
    """The packaged default (identical to ``configs/synth/multicamvideo.yaml``)."""
    return Path(str(resources.files("synth") / "configs" / "multicamvideo.yaml"))


def load_config(path: Optional[Path | str] = None) -> SynthConfig:
    """Load and validate a generator config (YAML). ``None`` loads the packaged default.

    Raises:
        ConfigError: unreadable YAML, unknown keys, wrong types or out-of-range values; names file and key.
    """
    path = Path(path) if path is not None else default_config_path()
    try:
        raw = load_yaml(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        return SynthConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, str(path))) from None


def config_digest(obj: BaseModel | Dict[str, Any]) -> str:
    """Stable SHA-256 (hex, 16 chars) of a config's canonical JSON, to detect a dataset made with other settings.
    Cached on frozen models."""
    cached = getattr(obj, "_digest", None)
    if cached:
        return cached
    data = obj.model_dump(mode="json") if isinstance(obj, BaseModel) else obj
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
    if isinstance(obj, SynthConfig):
        obj._digest = digest
    return digest
