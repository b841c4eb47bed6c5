"""Asset catalogs: the environments, characters and animations a renderer backend can produce.

One YAML format for every backend (the embedded Panda3D renderer ships ``synth/assets/embedded_catalog.yaml``; an
Unreal project lists its maps and Fab/Mixamo assets in the same format, see ``docs/catalog.md``)::

    version: 1
    backend: embedded                 # which backend can load the assets
    environments:
      - id: plaza                     # unique id, used in scene.json and captions
        description: a sunny stone plaza with benches
        kind: outdoor                 # indoor | outdoor
        free_space_cm:                # Unreal world cm: the box cameras may occupy; min z is the floor
          min: [-1200, -1200, 0]
          max: [1200, 1200, 900]
        character_spots_cm: []        # optional fixed character spots (Unreal cm); else central placement
        asset: builtin:plaza          # backend-specific reference (a map path for Unreal)
        lighting: [noon, overcast]    # lighting presets; each scene draws one
        weight: 1.0                   # sampling weight
        props: []                     # props motions may need (climbing_frame, seat, stairs); [] = flat ground
        params: {}                    # backend-specific options
    characters:
      - {id: ..., description: ..., height_m: 1.75, skeleton: humanoid, asset: ..., params: {}}
    animations:                       # an animation plays on characters of the same skeleton
      - {id: wave, description: waves both arms, asset: ..., duration_s: 2.0, loop: true, skeleton: humanoid}
      - {id: climb, ..., needs: [climbing_frame]}   # drawn only where an environment's props offer them

``asset`` strings that are relative file paths resolve against the catalog file's folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Dict, List, Literal, Optional, Tuple

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from ..core.errors import ConfigError, format_validation_error
from ..core.yaml_safe import load_yaml
from ..core.strict_numbers import Float
from ..core.units import CM_PER_M

__all__ = ["Catalog", "Environment", "Character", "Animation", "Box", "load_catalog", "default_catalog_path"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


#: a point in Unreal world cm, at most 1e7 cm (100 km) from the origin on each axis
_Coord = Annotated[Float, Field(ge=-1e7, le=1e7)]
Vec3 = Tuple[_Coord, _Coord, _Coord]


class Box(_Strict):
    """Axis-aligned box in Unreal world centimetres."""

    min: Vec3
    max: Vec3

    @model_validator(mode="after")
    def _ordered(self) -> "Box":
        if any(a >= b for a, b in zip(self.min, self.max)):
            raise ValueError(f"free space needs min < max on every axis, got min={list(self.min)} max={list(self.max)}")
        return self

    @property
    def size_m(self) -> Tuple[float, float, float]:
        """Extent (width X, depth Y, height Z) in metres."""
        return tuple((b - a) / CM_PER_M for a, b in zip(self.min, self.max))  # type: ignore[return-value]


class Environment(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    description: str = Field(min_length=1)
    kind: Literal["indoor", "outdoor"]
    free_space_cm: Box
    character_spots_cm: List[Vec3] = Field(default_factory=list)
    asset: str = Field(min_length=1)
    lighting: List[str] = Field(default_factory=lambda: ["default"], min_length=1)
    weight: Float = Field(default=1.0, gt=0, le=1e6)
    #: props a clip may need that this environment offers (e.g. climbing_frame, seat, stairs); none: flat ground
    props: List[Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]] = Field(default_factory=list)
    params: Dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _spots_inside(self) -> "Environment":
        b = self.free_space_cm
        for s in self.character_spots_cm:
            if not all(lo <= v <= hi for v, lo, hi in zip(s, b.min, b.max)):
                raise ValueError(f"character spot {list(s)} lies outside free_space_cm")
        return self


class Character(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    description: str = Field(min_length=1)
    height_m: Float = Field(gt=0.1, le=5.0)
    skeleton: str = Field(default="humanoid", min_length=1)
    asset: str = Field(min_length=1)
    weight: Float = Field(default=1.0, gt=0, le=1e6)
    #: draft assets (the capsule mannequins, the panda) are drawn only when the catalog has no other character
    draft: bool = False
    params: Dict[str, Any] = Field(default_factory=dict)


class Animation(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    description: str = Field(min_length=1, description="verb phrase for captions, e.g. 'waves both arms'")
    asset: str = Field(min_length=1)
    duration_s: Float = Field(gt=0, le=86400)
    loop: bool = True
    skeleton: str = Field(default="humanoid", min_length=1)
    weight: Float = Field(default=1.0, gt=0, le=1e6)
    #: props the motion needs (climbing_frame, seat, stairs, ...): drawn only in environments whose ``props`` have
    #: them all; none: it fits flat ground (planted feet on the ground, no long airborne stretch)
    needs: List[Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]] = Field(default_factory=list)
    params: Dict[str, Any] = Field(default_factory=dict)


class Catalog(_Strict):
    version: Literal[1] = 1
    backend: str = Field(min_length=1)
    environments: List[Environment] = Field(min_length=1)
    characters: List[Character] = Field(min_length=1)
    animations: List[Animation] = Field(min_length=1)
    #: folder that relative asset paths resolve against (set by :func:`load_catalog`, not read from YAML)
    root: Optional[str] = None
    _digest: Optional[str] = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _unique_and_linked(self) -> "Catalog":
        for kind in ("environments", "characters", "animations"):
            ids = [x.id for x in getattr(self, kind)]
            dup = sorted({i for i in ids if ids.count(i) > 1})
            if dup:
                raise ValueError(f"duplicate {kind} ids: {dup}")
        for c in self.characters:
            if not self.animations_for(c.id):
                raise ValueError(f"character {c.id!r} has no animation it can play")
            for e in self.environments:
                if not self.animations_for(c.id, e):
                    raise ValueError(f"character {c.id!r} has no animation that fits environment {e.id!r} (every "
                                     f"one needs props the environment's `props` lack)")
        return self

    def environment(self, env_id: str) -> Environment:
        return _by_id(self.environments, env_id, "environment")

    def character(self, char_id: str) -> Character:
        return _by_id(self.characters, char_id, "character")

    def animation(self, anim_id: str) -> Animation:
        return _by_id(self.animations, anim_id, "animation")

    def drawable_characters(self) -> List[Character]:
        """The characters scenes draw from: the non-draft ones, or every character when all are draft."""
        return [c for c in self.characters if not c.draft] or list(self.characters)

    def animations_for(self, char_id: str, environment: Optional[Environment] = None) -> List[Animation]:
        """The animations ``char_id`` can play (same skeleton); with ``environment``, only those whose ``needs``
        the environment's ``props`` provide (a climbing clip is not drawn on flat ground)."""
        skeleton = self.character(char_id).skeleton
        out = [a for a in self.animations if a.skeleton == skeleton]
        if environment is not None:
            out = [a for a in out if set(a.needs) <= set(environment.props)]
        return out

    def resolve(self, asset: str) -> str:
        """Relative file paths resolve against the catalog's folder; ``scheme:...`` references pass through."""
        if ":" in asset.split("/")[0] or Path(asset).is_absolute() or self.root is None:
            return asset
        return str(Path(self.root) / asset)

    def digest(self) -> str:
        """SHA-256 (16 hex) of the catalog's content, to detect datasets made from another catalog."""
        if self._digest is None:
            data = self.model_dump(mode="json", exclude={"root"})
            self._digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
        return self._digest


def _by_id(items, key: str, what: str):
    for x in items:
        if x.id == key:
            return x
    raise KeyError(f"unknown {what} {key!r}; the catalog has {[x.id for x in items]}")


def asset_cache_dir() -> Path:
    """Where ``synth assets build`` writes built assets and their catalog: ``$SYNTH_ASSETS`` if set, else
    ``<python prefix>/share/synth/assets`` (the virtual environment's: each checkout's ``.venv`` has its own cache,
    kept with it). Not created here."""
    env = os.environ.get("SYNTH_ASSETS")
    return Path(env).expanduser() if env else Path(sys.prefix) / "share" / "synth" / "assets"


def default_catalog_path() -> Path:
    """The embedded renderer's catalog: the one ``synth assets build`` wrote into the asset cache (built-in assets
    plus built HDRI skies) when it exists, else the built-in one."""
    built = asset_cache_dir() / "catalog.yaml"
    if built.is_file():
        return built
    return Path(str(resources.files("synth") / "assets" / "embedded_catalog.yaml"))


def load_catalog(path: Optional[Path | str] = None) -> Catalog:
    """Load and validate an asset catalog (YAML); ``None`` loads the embedded backend's built-in one.

    Raises:
        ConfigError: unreadable YAML, unknown keys, empty lists, duplicate ids, inconsistent bounds; the message
            names the file and the key.
    """
    path = Path(path) if path is not None else default_catalog_path()
    try:
        raw = load_yaml(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: catalog file not found") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with environments, characters, animations")
    if "root" in raw:
        raise ConfigError(f"{path}: root: unknown key")
    try:
        return Catalog.model_validate({**raw, "root": str(path.parent.resolve())})
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, str(path))) from None
