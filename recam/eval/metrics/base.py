"""The evaluation-metric registry of ``recam eval``: metrics registered by name, with typed options.

A metric is one module of :mod:`recam.eval.metrics` holding a :class:`Metric` subclass decorated with
:func:`register_metric`. It declares

* ``columns``: the ``results.csv`` columns it fills (with units, for ``summary.json``); a run-level metric (FVD: one
  number over all pairs) has none and sets ``per_run``;
* ``Options``: what it needs from the user (local weights, a switch), each field one ``recam eval`` flag
  (:func:`option`); ``enabled(options)`` says whether the run computes it (e.g. only when its weights are given);
* ``needs``: what of a pair it reads (documentation and the lazy loading of :class:`PairContext`: ``"target"``,
  ``"source"``, ``"poses"`` ...);
* ``setup(options, device)``: loads what it needs once per run (before any work: an error stops the run, exit 2);
* ``score(ctx, state)``: the columns of one pair from a :class:`PairContext`; or, per run, ``aggregate(run, state)``:
  one record over all pairs (:class:`RunContext`), written to ``summary.json`` under the metric's name.

Heavy imports (torch, transformers, pycolmap) stay inside ``setup`` / ``score``: importing the registry is cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, ClassVar, Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple, Type, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..errors import MissingWeightsError  # re-exported: a metric's setup / score raises it

__all__ = ["MissingWeightsError", "MetricOptions", "option", "option_flags", "Column", "PairContext", "RunContext",
           "Metric", "register_metric", "get_metric", "metrics", "UnknownMetricError"]


class UnknownMetricError(KeyError):
    """No metric is registered under this name; the message lists the registered ones."""

    def __str__(self) -> str:
        return str(self.args[0])


class MetricOptions(BaseModel):
    """Base of a metric's options: strict (unknown keys are errors), frozen. Each field is one ``recam eval`` flag,
    declared with :func:`option`; the values are recorded in ``eval_run.json``."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def option(default: Any, flag: Optional[str] = None, help: str = "", **constraints: Any) -> Any:
    """A :class:`MetricOptions` field that is also a ``recam eval`` flag.

    Args:
        default: the default value (None for an optional weights path: the metric is then off).
        flag: the flag, e.g. ``"--reference-poses/--no-reference-poses"`` for a switch (default
            ``--<field-name-with-dashes>``, with ``--<field_name>`` as an alias).
        help: help text of the flag.
        constraints: pydantic ``Field`` constraints.
    """
    return Field(default, description=help, json_schema_extra={"flag": flag}, **constraints)


def option_flags(name: str, fld) -> List[str]:
    """The flag spellings of an options field: the declared one, else ``--a-b`` and its alias ``--a_b``."""
    flag = (fld.json_schema_extra or {}).get("flag")
    if flag:
        return [flag]
    dashed = "--" + name.replace("_", "-")
    return [dashed] if "_" not in name else [dashed, "--" + name]


@dataclass(frozen=True)
class Column:
    """One ``results.csv`` column of a metric: ``name``, ``unit`` (``summary.json`` ``units``) and whether
    ``summary.json`` / ``summary.md`` give its mean and median over the pairs (False for statuses, duplicates)."""

    name: str
    unit: str = ""
    summarize: bool = True


@dataclass
class PairContext:
    """What a per-pair metric scores: one generated video against the truth of its pair.

    Attributes:
        pair: the :class:`recam.eval.pairs.Pair` (``pair_id``, ``scene``, ``source``, ``target``, ``prompt``).
        scene_dir: the pair's scene folder (``<dataset>/train/<lens>/scene<N>``).
        out: the run's output folder (metrics may write per-pair files there, e.g. ``plots/``).
        generated: ``(n, h, w, 3)`` uint8, the generated video (its first ``n`` frames).
        target: ``(n, h, w, 3)`` uint8, the true target video resized and centre-cropped to the generated size;
            None in ``--protocol recammaster`` (no target view: metrics with ``"target"`` in ``needs`` do not run).
        target_c2w: ``(n, 4, 4)`` float64, the target camera's OpenCV camera-to-world poses in metres (the
            requested preset's in ``--protocol recammaster``).
        K: ``(3, 3)`` float64 pinhole intrinsics (pixels) of the generated / resized target frames.
        fps: frame rate of the target video.
        pose_options: :class:`synth.core.pose_estimation.PoseOptions` of the run (stride, size, mapper).
        source_loader: returns the source video at the generated size, ``(n, h, w, 3)`` uint8 (read on first use
            of :attr:`source` only).
        messages: texts for the row's ``message`` column (:meth:`say`).
        shared: what one metric computed for others of the same pair (e.g. estimated poses), by key.
    """

    pair: Any
    scene_dir: Path
    out: Path
    generated: np.ndarray
    target: Optional[np.ndarray]
    target_c2w: np.ndarray
    K: np.ndarray
    fps: float
    pose_options: Any
    source_loader: Callable[[], np.ndarray]
    messages: List[str] = field(default_factory=list)
    shared: Dict[str, Any] = field(default_factory=dict)

    @cached_property
    def source(self) -> np.ndarray:
        """The source video at the generated video's size, ``(n, h, w, 3)`` uint8 (loaded once, when asked)."""
        return self.source_loader()

    def say(self, message: str) -> None:
        """Add ``message`` to the pair's ``message`` column."""
        self.messages.append(message)


@dataclass
class RunContext:
    """What a per-run metric aggregates: every pair of the run and its ``results.csv`` row.

    Attributes:
        root: the dataset root; pairs: the run's pairs; results: ``pair_id`` -> row (strings, empty ``frames``:
        not scored); out: the output folder; videos_dir: the generated videos (``--videos``, else ``out/videos``);
        on_progress: ``(done, total)`` progress of a long pass, or None.
    """

    root: Path
    pairs: Sequence[Any]
    results: Mapping[str, Mapping[str, str]]
    out: Path
    videos_dir: Path
    on_progress: Optional[Callable[[int, int], None]] = None


class Metric:
    """What the registry knows of a metric (subclass it in a module of :mod:`recam.eval.metrics`).

    Class attributes:
        name: registry key, ``eval_run.json`` key (and ``summary.json`` key of a per-run metric).
        label: how notes name it ("LPIPS not computed: ...").
        help: one line for the docs.
        columns: the ``results.csv`` columns it fills (per-pair metrics).
        Options: its flags (a :class:`MetricOptions` subclass).
        needs: what it reads of a pair (``"target"``, ``"source"``, ``"poses"``, ``"weights"``).
        order: column order in ``results.csv`` (built-ins 10-90; new metrics default to 100, after them).
        per_run: one number over all pairs (:meth:`aggregate`) instead of columns per pair (:meth:`score`).
        missing_note: the ``summary`` note when a per-run metric is off (says which flag turns it on).
        progress_text: what :meth:`aggregate`'s progress counts ("I3D features of pair").
    """

    name: ClassVar[str]
    label: ClassVar[str] = ""
    help: ClassVar[str] = ""
    columns: ClassVar[Tuple[Column, ...]] = ()
    Options: ClassVar[Type[MetricOptions]] = MetricOptions
    needs: ClassVar[FrozenSet[str]] = frozenset({"target"})
    order: ClassVar[int] = 100
    per_run: ClassVar[bool] = False
    missing_note: ClassVar[str] = ""
    progress_text: ClassVar[str] = "pair"

    def enabled(self, options: MetricOptions) -> bool:
        """Whether a run with these options computes the metric (default: always)."""
        return True

    def setup(self, options: MetricOptions, device: str) -> Any:
        """Load what the metric needs once per run (``device``: ``recam eval --device``) and return its state.

        Raises:
            MissingWeightsError, ValueError: what it needs is missing or invalid (``recam eval`` exits 2 naming
                the metric's flag, before any work).
        """
        return options

    def record(self, options: MetricOptions, state: Any) -> Dict[str, Any]:
        """What ``eval_run.json`` records of the metric (default: its options, paths as strings)."""
        return options.model_dump(mode="json")

    def score(self, ctx: PairContext, state: Any) -> Dict[str, Any]:
        """Per-pair metrics: ``{column: value}`` for one pair (a subset of :attr:`columns`; missing ones stay empty).

        Raises:
            MissingWeightsError: what it needs is missing (a summary note, the run goes on).
            ValueError, OSError: the pair cannot be scored by this metric (the row's message says why).
        """
        raise NotImplementedError

    def aggregate(self, run: RunContext, state: Any) -> Dict[str, Any]:
        """Per-run metrics: the ``summary.json`` record over all scored pairs (with a ``note``)."""
        raise NotImplementedError

    def summary_row(self, record: Mapping[str, Any]) -> Optional[Tuple[int, float]]:
        """Per-run metrics: ``(videos, value)`` for the ``summary.md`` table, None when there is no value."""
        return None

    def display(self) -> str:
        return self.label or self.name


_REGISTRY: Dict[str, Metric] = {}
_SUMMARY_KEYS = ("pairs", "pose_status", "metrics", "notes", "units", "protocol")  # summary.json's own keys
M = TypeVar("M", bound=type)


def register_metric(cls: M) -> M:
    """Class decorator: register a :class:`Metric` subclass under ``cls.name``.

    Raises:
        ValueError: no name, ``Options`` not a :class:`MetricOptions`, a per-run metric with columns, a column or an
            option field that another metric already has (columns and flags are shared by one ``results.csv`` and
            one command), or another class registered under the name.
    """
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{cls.__qualname__}: a metric needs a `name`")
    if not (isinstance(cls.Options, type) and issubclass(cls.Options, MetricOptions)):
        raise ValueError(f"{cls.__qualname__}.Options must subclass recam.eval.metrics.MetricOptions")
    if not cls.per_run and not cls.columns:
        raise ValueError(f"metric {name!r}: a per-pair metric needs `columns` (its results.csv columns)")
    if cls.per_run and cls.columns:
        raise ValueError(f"metric {name!r}: a per-run metric writes summary.json, not results.csv columns")
    if cls.per_run and name in _SUMMARY_KEYS:
        raise ValueError(f"metric {name!r}: a per-run metric's name is its summary.json key; "
                         f"{', '.join(_SUMMARY_KEYS)} are taken")
    old = _REGISTRY.get(name)
    if old is not None and type(old).__qualname__ != cls.__qualname__:
        raise ValueError(f"metric {name!r} is already registered by {type(old).__module__}.{type(old).__qualname__}")
    for other in _REGISTRY.values():
        if other.name == name:
            continue
        cols = {c.name for c in other.columns} & {c.name for c in cls.columns}
        opts = set(other.Options.model_fields) & set(cls.Options.model_fields)
        if cols or opts:
            raise ValueError(f"metric {name!r}: columns {sorted(cols)} / options {sorted(opts)} are already those "
                             f"of metric {other.name!r}; name them after the metric")
    _REGISTRY[name] = cls()
    return cls


def metrics() -> Dict[str, Metric]:
    """Every registered metric by name, in ``results.csv`` column order (``order``, then name)."""
    return {m.name: m for m in sorted(_REGISTRY.values(), key=lambda m: (m.order, m.name))}


def get_metric(name: str) -> Metric:
    """The metric registered under ``name``.

    Raises:
        UnknownMetricError: (a ``KeyError``) naming ``name`` and the registered metrics.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownMetricError(f"unknown metric {name!r}; registered: {', '.join(metrics())}") from None
