"""The recipe-rule interface, its registry and the arrays every rule reads.

A rule is one constraint of the MultiCamVideo recipe (REFERENCE §1 and the generator config): a :class:`Rule`
subclass decorated with :func:`register_rule`. Its :meth:`Rule.check` reads a :class:`RuleContext` (the scene and
the poses of ``C`` cameras over ``F`` frames, as arrays) and returns one :class:`Violation` per camera (or per
scene) that breaks it, naming the first frame that does.

The same rules serve two callers:

* the sampler (:mod:`synth.scenes.sampling`) rejects a drawn camera when a rule with ``stage`` ``"start"`` (the
  start pose alone, before the family is drawn) or ``"trajectory"`` (every frame) reports it, with ``tol = 0``;
* ``synth validate`` (:mod:`synth.dataset.validate`) runs every rule on the poses read back from
  ``camera_extrinsics.json`` and ``scene.json``, with the slack of the written precision (``tol``, ``roll_tol``).

Rules with ``stage`` None hold by construction in the sampler (radius choice, lens, video settings, speed, roll...)
and are only checked by ``synth validate``.

Units: positions Unreal world **metres** (z up), rotations Unreal rotators ``[pitch, yaw, roll]`` in degrees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, List, Optional, Sequence, Type, TypeVar

import numpy as np

__all__ = ["Rule", "RuleContext", "Violation", "register_rule", "rules", "get_rule", "check", "first_frame"]


@dataclass(frozen=True)
class Violation:
    """One broken rule.

    Attributes:
        rule: the rule's ``name``.
        camera: row of the camera in the context's pose arrays (0-based), None for a scene-level rule.
        frame: first frame (0-based) that breaks the rule, None when the rule is not about one frame.
        message: the problem as ``synth validate`` reports it (``field: what, expected what``).
        file: the file it is reported against: ``"cameras"`` (``camera_extrinsics.json``) or ``"scene"``
            (``scene.json``).
    """

    rule: str
    camera: Optional[int]
    frame: Optional[int]
    message: str
    file: str = "cameras"


@dataclass(frozen=True)
class RuleContext:
    """A scene and ``C`` camera trajectories of ``F`` frames, as the rules read them.

    Attributes:
        cfg: the recipe, a :class:`synth.scenes.config.SynthConfig`.
        free_lo_m, free_hi_m: ``(3,)`` float64 corners of the environment's free space, metres.
        char_base_m: ``(3,)`` the character's feet (its vertical axis passes through it), metres.
        char_height_m: the character's height, metres.
        loc_m: ``(C, F, 3)`` float64 camera locations, metres.
        rot_deg: ``(C, F, 3)`` float64 Unreal rotators ``[pitch, yaw, roll]``, degrees.
        radius_m: the hemisphere radius (None: the start rules that need it are skipped).
        torso_m: ``(3,)`` the aim point (None: ``char_base_m`` + ``placement.torso_height_fraction`` of the
            height).
        names: camera names (``cam01``...) of the ``C`` rows, for messages (default ``cam01``...).
        valid: ``(C,)`` bool, False for cameras whose poses are unusable (non-finite; reported elsewhere): the
            per-camera rules skip them (default: all True).
        spec: the scene's :class:`synth.core.scene_spec.SceneSpec` (``synth validate``), None in the sampler; the
            rules about ``scene.json`` (settings, parameters, speed) need it and are skipped without it.
        digest: the recipe's config digest (with ``spec``: checks ``scene.json``'s ``config_digest``).
        source: where the recipe came from, for messages.
        checker: ``check(name, params, cfg) -> list[str] | None``, the family check (None: the registry's).
        tol: slack (metres, degrees) of the comparisons: 0 in the sampler, the written precision in validate.
        roll_tol: slack of the roll rules (degrees).
        families: the ``C`` cameras' trajectory families (None: from ``spec``, else unknown).
        focal_mm: ``(C, F)`` float64 focal length per camera and frame, mm (``synth validate``: from
            ``cameras/camera_intrinsics.json``, else the scene's lens; None: the rules that need it are skipped).
    """

    cfg: Any
    free_lo_m: np.ndarray
    free_hi_m: np.ndarray
    char_base_m: np.ndarray
    char_height_m: float
    loc_m: np.ndarray
    rot_deg: np.ndarray
    radius_m: Optional[float] = None
    torso_m: Optional[np.ndarray] = None
    names: Optional[Sequence[str]] = None
    valid: Optional[np.ndarray] = None
    spec: Any = None
    digest: Optional[str] = None
    source: str = "the config"
    checker: Any = None
    tol: float = 0.0
    roll_tol: float = 0.0
    families: Optional[Sequence[str]] = None
    focal_mm: Optional[np.ndarray] = None
    _cache: Dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def cameras(self) -> int:
        """Number of cameras ``C``."""
        return int(self.loc_m.shape[0])

    def name(self, i: int) -> str:
        """Name of camera row ``i``."""
        return self.names[i] if self.names is not None else f"cam{i + 1:02d}"

    def rows(self) -> List[int]:
        """Camera rows the per-camera rules check (the valid ones)."""
        if self.valid is None:
            return list(range(self.cameras))
        return [int(i) for i in np.flatnonzero(self.valid)]

    def family(self, i: int) -> Optional[str]:
        """Trajectory family of camera row ``i`` (``families``, else ``scene.json``), None if unknown."""
        if self.families is not None:
            return self.families[i]
        if self.spec is not None:
            specs = {c.name: c.family for c in self.spec.cameras}
            return specs.get(self.name(i))
        return None

    def torso(self) -> np.ndarray:
        """``(3,)`` the aim point, metres (see ``torso_m``)."""
        if self.torso_m is not None:
            return np.asarray(self.torso_m, float)
        frac = self.cfg.placement.torso_height_fraction
        return self.char_base_m + np.array([0.0, 0.0, self.char_height_m * frac])

    def cached(self, key: str, fn):
        """``fn()`` computed once per context (arrays several rules share, e.g. the clearance)."""
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]


def first_frame(mask: np.ndarray) -> int:
    """Index of the first True of a 1-D bool mask (call only when ``mask.any()``)."""
    return int(np.argmax(mask))


class Rule:
    """Base class of a recipe rule (see the module docstring).

    Subclasses set ``name`` (unique), ``order`` (the report order of ``synth validate``), ``stage`` (``"start"``,
    ``"trajectory"`` or None, see the module docstring), ``phase`` (0: about the scene, 1: per camera, 2: per camera
    but reported after every camera's phase-1 problems), ``summary`` (the sampler's short reason, e.g.
    ``"leaves the free space"``) and implement :meth:`check`.
    """

    name: ClassVar[str] = ""
    order: ClassVar[float] = 1000.0
    stage: ClassVar[Optional[str]] = None
    phase: ClassVar[int] = 1
    summary: ClassVar[str] = ""

    def check(self, ctx: RuleContext) -> List[Violation]:
        """Violations of this rule in ``ctx``: at most one per camera row (its first bad frame) unless the rule
        checks several fields; an empty list when the rule holds or does not apply."""
        raise NotImplementedError


R = TypeVar("R", bound=Type[Rule])
_REGISTRY: Dict[str, Rule] = {}
#: ``rules(stage)`` by stage, cleared on registration (the sampler asks for its rules on every draw)
_ORDERED: Dict[Optional[str], List[Rule]] = {}


def register_rule(cls: R) -> R:
    """Class decorator: register a :class:`Rule` subclass under ``cls.name``.

    Raises:
        ValueError: no name, another rule already registered under it, or an unknown ``stage``.
    """
    if not cls.name:
        raise ValueError(f"rule {cls.__name__} has no name")
    if cls.stage not in (None, "start", "trajectory"):
        raise ValueError(f"rule {cls.name!r}: stage {cls.stage!r}; expected None, 'start' or 'trajectory'")
    old = _REGISTRY.get(cls.name)
    if old is not None and type(old).__qualname__ != cls.__qualname__:
        raise ValueError(f"rule {cls.name!r} is already registered by {type(old).__module__}")
    _REGISTRY[cls.name] = cls()
    _ORDERED.clear()
    return cls


def rules(stage: Optional[str] = None) -> List[Rule]:
    """Registered rules in report order (``(order, name)``); with ``stage``, only the rules of that stage."""
    if stage not in _ORDERED:
        out = sorted(_REGISTRY.values(), key=lambda r: (r.order, r.name))
        _ORDERED[stage] = [r for r in out if stage is None or r.stage == stage]
    return list(_ORDERED[stage])


def get_rule(name: str) -> Rule:
    """The rule registered under ``name``.

    Raises:
        KeyError: naming ``name`` and the registered rules.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown recipe rule {name!r}; registered: {sorted(_REGISTRY)}") from None


def check(ctx: RuleContext, stage: Optional[str] = None, first_only: bool = False) -> List[Violation]:
    """Run the rules (of ``stage``, or all) on ``ctx``, in report order: phase, then camera row, then rule order.

    ``first_only`` stops at the first rule that reports anything (the sampler needs only whether, and which rule
    first, so it is spared the rest).
    """
    found: List[Violation] = []
    phases: Dict[str, int] = {}
    for rule in _ORDERED.get(stage) or rules(stage):
        v = rule.check(ctx)
        if v and first_only:
            return v
        found += v
        phases[rule.name] = rule.phase
    # stable sort: within one phase and camera, the rules keep their order
    return sorted(found, key=lambda x: (phases[x.rule], -1 if x.camera is None else x.camera))
