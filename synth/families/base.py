"""The trajectory-family interface, its registry and the helpers every family shares.

A family is one module of :mod:`synth.families` holding one :class:`TrajectoryFamily` subclass decorated with
:func:`register_family`: its ``name`` (the key of its block under ``trajectories:`` in the generator config and the
``trajectory`` of a camera in ``scene.json``), its ``Config`` (that block, a strict pydantic model with a
``weight``), the sampler, the caption phrase, and the checks ``synth validate`` / ``synth stats`` run.

Units: positions Unreal world **metres** (the sampler converts to cm for the scene description), rotations Unreal
rotators ``[pitch, yaw, roll]`` in degrees; ``u`` is the per-frame progress in [0, 1] from
:func:`synth.core.speed.speed_progress` (every family moves by ``u[i] x (its total amount)`` at frame ``i``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Dict, List, Optional, Tuple, Type, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..core.strict_numbers import Float, FloatPair
from ..core.unreal import rotator_to_axes

__all__ = ["TrajectoryFamily", "FamilyBlock", "AngleRangeConfig", "FamilyContext", "register_family", "get_family",
           "families", "UnknownFamilyError", "Range", "check_range", "round_json", "sentence", "hold",
           "camera_axis_vectors", "range_problem", "RESERVED_NAMES"]

Range = FloatPair  # (lo, hi): finite numbers, not bools or strings

#: keys that cannot name a family (``weights`` marks a version-1 config; the rest are config attributes)
RESERVED_NAMES = frozenset({"weights", "version", "root", "items", "keys", "values", "get"})


class FamilyBlock(BaseModel):
    """A family's block under ``trajectories:``: strict (unknown keys are errors), frozen, with the family's
    mixture ``weight`` (finite, in [0, 1e6]; weights are normalised over the configured families)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    #: bounded so that normalising the weights never overflows (``.inf`` is refused by the type)
    weight: Float = Field(ge=0, le=1e6)


class AngleRangeConfig(FamilyBlock):
    """A block with ``angle_deg``: the total angle, uniform in ``[min, max]`` degrees
    (``0 < min <= max <= MAX_DEG``)."""

    MAX_DEG: ClassVar[float] = 180.0
    angle_deg: Range

    @field_validator("angle_deg")
    @classmethod
    def _angle(cls, v: Range) -> Range:
        return check_range(v, 0.0, cls.MAX_DEG, positive=True)


@dataclass(frozen=True)
class FamilyContext:
    """What a family samples from: the camera's start and the character.

    Attributes:
        start_loc_m: ``(3,)`` start location, Unreal world metres.
        start_rot_deg: ``(3,)`` start rotator ``[pitch, yaw, roll]`` degrees (aimed at the torso plus the jitter).
        aim_offset_deg: ``(2,)`` the start's ``(pitch, yaw)`` jitter from aiming exactly at the torso, degrees.
        torso_m: ``(3,)`` aim point on the character, metres.
        char_base_m: ``(3,)`` the character's feet (its vertical axis passes through it), metres.
        u: ``(F,)`` progress per frame in [0, 1] (the camera's speed profile).
        distance_to_character_m: ``|start - torso|`` in metres.
        lens_focal_mm: the scene's lens focal length (mm): where a zooming family's focal length starts (0: not
            given, e.g. a family test without a lens).
    """

    start_loc_m: np.ndarray
    start_rot_deg: np.ndarray
    aim_offset_deg: np.ndarray
    torso_m: np.ndarray
    char_base_m: np.ndarray
    u: np.ndarray
    distance_to_character_m: float
    lens_focal_mm: float = 0.0


class TrajectoryFamily:
    """Base class of a trajectory family (see the module docstring). Subclasses set ``name`` and ``Config`` and
    implement :meth:`sample` and :meth:`caption`; :meth:`check`, :meth:`stats` and :meth:`categorical` default to
    nothing to report."""

    name: ClassVar[str]
    Config: ClassVar[Type[FamilyBlock]] = FamilyBlock
    #: position in the mixture draw: families are drawn over in ``(draw_order, name)`` order, whatever the order of
    #: the YAML (a config's digest ignores key order, so its scenes must too). Built-ins: 0-5, so the draws
    #: match datasets made before the registry; new families come after them.
    draw_order: ClassVar[float] = 100.0

    def sample(self, block: FamilyBlock, ctx: FamilyContext, rng: np.random.Generator
               ) -> Tuple[Dict[str, Any], np.ndarray, np.ndarray]:
        """Draw the family's parameters from ``rng`` within ``block`` and evaluate the poses.

        Returns:
            ``(params, loc_m, rot_deg)``: JSON-ready parameters (angles deg, distances m, positions cm; stored in
            ``scene.json``), ``(F, 3)`` locations in metres and ``(F, 3)`` rotators in degrees.
        """
        raise NotImplementedError

    def caption(self, params: Dict[str, Any], speed_phrase: str) -> str:
        """One sentence describing the motion, e.g. ``"The camera pans left by 30 degrees at a constant speed."``"""
        raise NotImplementedError

    def focal_lengths(self, params: Dict[str, Any], u: np.ndarray) -> Optional[np.ndarray]:
        """``(F,)`` float64 focal length per frame (mm) of a camera that zooms, recomputed from its ``scene.json``
        ``params`` and its progress ``u`` (the sampler calls it, ``synth validate`` compares it with
        ``cameras/camera_intrinsics.json``); None (the default): the scene's fixed lens."""
        return None

    #: parameter key in ``scene.json`` -> the ``block`` range it was drawn from (checked by :meth:`check`)
    ranged_params: ClassVar[Dict[str, str]] = {}

    def check(self, params: Dict[str, Any], block: FamilyBlock) -> List[str]:
        """Parameters of a written camera that lie outside the configured ``block``, as ``"<key>: <problem>"``
        messages (empty: consistent). The default checks :attr:`ranged_params`, or else every quantity of
        :meth:`stats` against its range."""
        if not self.ranged_params:
            return [p for name, value, rng in self.stats(params, block) if (p := range_problem(name, value, rng))]
        return [p for key, attr in self.ranged_params.items()
                if (p := range_problem(key, params[key], getattr(block, attr)))]

    def stats(self, params: Dict[str, Any], block: FamilyBlock) -> List[Tuple[str, float, Optional[Range]]]:
        """Numeric quantities for ``synth stats``: ``(name, value, configured range or None)``."""
        return []

    def categorical(self, params: Dict[str, Any]) -> Dict[str, str]:
        """Categorical quantities for ``synth stats``, e.g. ``{"translate axis": "+x"}``."""
        return {}


class UnknownFamilyError(KeyError):
    """No family is registered under this name; the message lists the registered ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


_REGISTRY: Dict[str, TrajectoryFamily] = {}
F = TypeVar("F", bound=type)


def register_family(cls: F) -> F:
    """Class decorator: register a :class:`TrajectoryFamily` subclass under ``cls.name``.

    Raises:
        ValueError: no/invalid name, a reserved name, a ``Config`` that is not a :class:`FamilyBlock`, or another
            class already registered under that name.
    """
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.isidentifier() or name in RESERVED_NAMES:
        raise ValueError(f"{cls.__qualname__}: a trajectory family needs a `name` that is a Python identifier and "
                         f"not one of {sorted(RESERVED_NAMES)}, got {name!r}")
    if not (isinstance(cls.Config, type) and issubclass(cls.Config, FamilyBlock)):
        raise ValueError(f"{cls.__qualname__}.Config must subclass synth.families.base.FamilyBlock")
    old = _REGISTRY.get(name)
    if old is not None and type(old).__qualname__ != cls.__qualname__:
        raise ValueError(f"trajectory family {name!r} is already registered by {type(old).__module__}."
                         f"{type(old).__qualname__}")
    _REGISTRY[name] = cls()
    return cls


def families() -> Dict[str, TrajectoryFamily]:
    """Every registered family by name, in draw order (``(draw_order, name)``; the built-in ones are discovered when
    :mod:`synth.families` is imported)."""
    return dict(sorted(_REGISTRY.items(), key=lambda kv: (kv[1].draw_order, kv[0])))


def get_family(name: str) -> TrajectoryFamily:
    """The family registered under ``name``.

    Raises:
        UnknownFamilyError: (a ``KeyError``) naming ``name`` and the registered families.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownFamilyError(f"unknown trajectory family {name!r}; registered: {', '.join(_REGISTRY)}") from None


# ------------------------------------------------------------------------------------------------------------------
# Helpers shared by families
# ------------------------------------------------------------------------------------------------------------------


def check_range(v: Range, lo: float | None = None, hi: float | None = None, *, positive: bool = False) -> Range:
    """Validate a ``[min, max]`` config range (for pydantic validators).

    Raises:
        ValueError: ``min > max``, ``min <= 0`` when ``positive``, or outside ``[lo, hi]``.
    """
    a, b = v
    if a > b:
        raise ValueError(f"range [{a}, {b}] has min > max")
    if positive and a <= 0:
        raise ValueError(f"range [{a}, {b}] must be > 0")
    if lo is not None and a < lo:
        raise ValueError(f"range [{a}, {b}] must be >= {lo}")
    if hi is not None and b > hi:
        raise ValueError(f"range [{a}, {b}] must be <= {hi}")
    return v


def range_problem(name: str, value: float, rng: Optional[Range], tol: float = 1e-6) -> Optional[str]:
    """``"<name> <value> outside the configured [a, b]"`` or None (also says so for a value that is not a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        return f"{name}: expected a number, got {value!r}"
    if rng is None or rng[0] - tol <= value <= rng[1] + tol:
        return None
    return f"{name} {value:g} outside the configured [{rng[0]:g}, {rng[1]:g}]"


def round_json(x, nd: int = 6):
    """Round floats (scalars, lists, arrays; nested) to ``nd`` decimals for ``scene.json``."""
    if isinstance(x, np.ndarray):
        x = x.tolist()
    if isinstance(x, (list, tuple)):
        return [round_json(v, nd) for v in x]
    return round(float(x), nd)


def sentence(text: str) -> str:
    """Collapse whitespace, capitalise the first letter and end with a full stop."""
    text = " ".join(text.split())
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def hold(location: np.ndarray, rotator: np.ndarray, u: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """No motion: ``(F, 3)`` copies of the location and of the rotator (``F = len(u)``)."""
    n = len(u)
    return np.repeat(np.asarray(location, float)[None], n, 0), np.repeat(np.asarray(rotator, float)[None], n, 0)


def camera_axis_vectors(rotator: np.ndarray) -> Dict[str, np.ndarray]:
    """World directions (Unreal axes) of a camera's OpenCV axes: ``x`` right, ``y`` down, ``z`` forward."""
    fwd, right, up = rotator_to_axes(*np.asarray(rotator, float))
    return {"x": right, "y": -up, "z": fwd}
