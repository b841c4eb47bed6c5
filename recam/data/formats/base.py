"""What every dataset kind shares: the :class:`VideoItem` / :class:`Problem` records, the kind registry, path and
scale-file helpers, window indices and pose checks.

A kind is one module of :mod:`recam.data.formats` that calls :func:`register_kind` at import; the package imports
every module it holds (``pkgutil``), so adding a kind is adding one file. Readers are pure (no model, no video
decoding) and return ``(items, problems)``: broken samples are reported with their path and reason, never dropped
silently.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, FrozenSet, List, Optional, Sequence, Tuple, Type

import numpy as np
from pydantic import BaseModel, ConfigDict

from synth.core.pose_checks import PROPER, Handedness, pose_problems
from synth.core.poses import Poses
from synth.core.multicam_format import DatasetFormatError
from synth.core.problems import Problem

__all__ = ["clip_intrinsics", "VideoItem", "Problem", "DatasetKind", "KindOptions", "register_kind", "get_kind", "kinds", "SCALE_FILE", "IMAGE_EXT",
           "read_scale_file", "safe_join", "window", "pose_problem", "UnknownKindError"]

SCALE_FILE = "metric_scale.json"
IMAGE_EXT = (".png", ".jpg", ".jpeg", ".webp")


@dataclass
class VideoItem:
    """One clip window to train on.

    Attributes:
        kind, key: dataset kind and a unique key (relative path-like).
        video: an mp4 file, or a list of image files (frame sequences).
        frames: ``(F,)`` source frame indices used (start + k * stride).
        caption: text.
        poses: :class:`synth.core.poses.Poses` at ``frames`` (OpenCV c2w, right-handed world); translations in metres
            when ``metric_scale`` is set (already applied), else in the dataset's relative unit.
        metric_scale: factor applied to reach metres (1.0 for MultiCamVideo), or None (relative scale).
        k_norm: ``(4,)`` normalised intrinsics ``[fx/W, fy/H, cx/W, cy/H]`` of the window's first frame, in the
            source frame's ``W x H`` (None if unknown).
        intrinsics: ``(F, 4)`` the same per window frame (a zoom changes them; None if unknown). Both are of the
            *source* frame; :func:`clip_intrinsics` gives them for the clip after upstream's resize + centre crop
            (what ``recam prepare`` caches).
        group, camera: scene and camera (MultiCamVideo pairs); group = key for single-view kinds.
        expected_video_frames: the number of frames the video must have (pose count), checked when decoding.
        dyn_mask: SpatialVID ``dyn_masks.npz`` path, or None.
        scale_file: where a metric scale would come from (named in "no metric scale" problems).
    """

    kind: str
    key: str
    video: object
    frames: np.ndarray
    caption: str
    poses: Poses
    metric_scale: Optional[float]
    k_norm: Optional[np.ndarray] = None
    group: str = ""
    camera: str = ""
    expected_video_frames: Optional[int] = None
    dyn_mask: Optional[Path] = None
    extra: Dict = field(default_factory=dict)
    scale_file: Optional[Path] = None
    intrinsics: Optional[np.ndarray] = None

    def __post_init__(self):
        if self.intrinsics is None and self.k_norm is not None and np.asarray(self.k_norm).shape == (4,):
            self.intrinsics = np.repeat(np.asarray(self.k_norm, np.float64)[None], len(self.frames), 0)
        if self.intrinsics is not None and self.k_norm is None:
            self.k_norm = np.asarray(self.intrinsics, np.float64)[0]

    @property
    def c2w(self) -> np.ndarray:
        """``(F, 4, 4)`` OpenCV c2w of :attr:`poses` (read-only)."""
        return self.poses.c2w

    @property
    def metric(self) -> bool:
        return self.metric_scale is not None

    @property
    def source(self) -> str:
        """The video file, or the folder of an image sequence (for messages)."""
        return str(Path(self.video[0]).parent if isinstance(self.video, (list, tuple)) else self.video)


Reader = Callable[..., Tuple[List[VideoItem], List[Problem]]]


class KindOptions(BaseModel):
    """Base of a kind's typed reader options (:attr:`DatasetKind.Options`): strict, frozen. Each field (with a
    default and a ``description``) is one ``recam prepare`` flag, ``--<name-with-dashes>``; the reader receives
    the values as keyword arguments."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class DatasetKind:
    """A registered dataset kind.

    Attributes:
        name: ``--kind`` value and config ``kind``.
        reader: ``reader(root: Path, num_frames, stride, **options) -> (items, problems)``.
        paired: samples are (condition camera, target camera) pairs of one scene (MultiCamVideo), else
            single-view I2V / T2V clips.
        options: reader options it accepts besides ``require_metric`` (which every kind accepts); the fields of
            ``Options`` when that is given.
        summary: one line for ``--help`` and docs (poses on disk, scale).
        Options: the reader options typed (a :class:`KindOptions` subclass): they become ``recam prepare``
            flags, checked before any model loads. None: untyped ``options`` (no flags).
        layout: the files the reader looks for under the dataset root (named when it finds no clip at all).
    """

    name: str
    reader: Reader
    paired: bool = False
    options: FrozenSet[str] = frozenset()
    summary: str = ""
    layout: str = ""
    Options: Optional[Type[KindOptions]] = None

    def __post_init__(self):
        if self.Options is not None and not self.options:
            object.__setattr__(self, "options", frozenset(self.Options.model_fields))  # frozen dataclass


_KINDS: Dict[str, DatasetKind] = {}


class UnknownKindError(ValueError):
    """A dataset kind that no module registered."""


def register_kind(kind: DatasetKind) -> DatasetKind:
    """Add a kind to the registry (called by each kind module at import).

    Raises:
        ValueError: the name is already registered by another reader.
    """
    old = _KINDS.get(kind.name)
    if old is not None and old.reader is not kind.reader:
        raise ValueError(f"dataset kind {kind.name!r} registered twice")
    _KINDS[kind.name] = kind
    return kind


def _load_all() -> None:
    from .. import formats  # noqa: F401 - importing the package imports every kind module


def kinds() -> Tuple[str, ...]:
    """Names of every registered dataset kind, sorted."""
    _load_all()
    return tuple(sorted(_KINDS))


def get_kind(name: str) -> DatasetKind:
    """The registered kind ``name``.

    Raises:
        UnknownKindError: no such kind (the message lists the valid ones).
    """
    _load_all()
    if name not in _KINDS:
        raise UnknownKindError(f"unknown dataset kind {name!r}; expected one of {', '.join(sorted(_KINDS))}")
    return _KINDS[name]


def safe_join(root: Path, rel: str) -> Optional[Path]:
    """``root / rel`` resolved, if the path policy accepts it (:func:`synth.core.paths.safe_join`: no absolute path,
    no ``..``, no symbolic link leading out of ``root``), else None — a reader turns None into a problem of that
    row naming the file."""
    from synth.core.paths import UnsafePathError
    from synth.core.paths import safe_join as policy_join

    if not rel:
        return None
    try:
        return policy_join(root, rel, what="file name").resolve()
    except UnsafePathError:
        return None


def read_scale_file(path: Path) -> Optional[float]:
    """The ``scale`` of a ``metric_scale.json`` (``recam align``), or None if there is no such file.

    Raises:
        DatasetFormatError: unreadable file or a non-positive / non-finite scale.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        s = float(json.loads(path.read_text())["scale"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as e:
        raise DatasetFormatError(f"{path}: unreadable scale file ({e}); expected {{\"scale\": <float>, ...}}") \
            from None
    if not (math.isfinite(s) and s > 0):
        raise DatasetFormatError(f"{path}: scale must be a positive finite number, got {s}")
    return s


def window(num_frames: int, stride: int, start: int = 0) -> np.ndarray:
    """Source frame indices of a clip window: ``start + stride * arange(num_frames)``."""
    return start + stride * np.arange(num_frames)


_POSE_RE = re.compile(r"pose (\d+)")


def pose_problem(poses: np.ndarray, frames: Sequence[int], field_name: str, handedness: Handedness = PROPER
                 ) -> Optional[str]:
    """What is wrong with the poses of a window (:func:`synth.core.pose_checks.pose_problems`: finite, bottom row,
    orthonormal, handedness), as one reason naming the field and the source frame, or None if they are valid.

    Args:
        poses: ``(F, 4, 4)`` c2w or w2c.
        frames: the ``F`` source frame indices (messages name these, not positions in the window).
        field_name: the file field the poses came from (e.g. ``cam05``, ``camera_extrinsics``).
        handedness: :data:`synth.core.pose_checks.PROPER` for OpenCV axes in a right-handed world (real datasets),
            :data:`synth.core.unreal.UNREAL_C2W` for upstream's MultiCamVideo c2w (Unreal's left-handed world).
    """
    found = pose_problems(poses, handedness)
    if not found:
        return None
    frames = [int(f) for f in frames]
    msg = "; ".join(_POSE_RE.sub(lambda m: f"frame {frames[int(m.group(1))]}", p) for p in found)
    if msg.startswith("non-finite"):
        return f"{field_name}: non-finite pose ({msg})"
    return f"{field_name}: invalid pose ({msg})"


def clip_intrinsics(k_norm, source_size: Tuple[int, int], clip_size: Tuple[int, int]) -> np.ndarray:
    """Normalised intrinsics ``(..., 4)`` ``[fx/W, fy/H, cx/W, cy/H]`` of a source frame of ``source_size = (W, H)``
    pixels (upright) -> the same of the clip frame after upstream's resize + centre crop to
    ``clip_size = (width, height)`` (``recam.video.crop_plan``; ``synth.core.intrinsics.resize_crop_intrinsics``).

    A centre crop that changes the aspect ratio changes ``fx/W`` or ``fy/H`` (e.g. a 16:9 frame cropped to a square:
    ``fx/W`` grows by 16/9); a plain resize changes nothing. float64.
    """
    from synth.core.intrinsics import normalize_intrinsics, resize_crop_intrinsics

    k = np.asarray(k_norm, np.float64)
    (w, h), (tw, th) = source_size, clip_size
    K = np.zeros(k.shape[:-1] + (3, 3))
    K[..., 0, 0], K[..., 1, 1], K[..., 0, 2], K[..., 1, 2], K[..., 2, 2] = \
        k[..., 0] * w, k[..., 1] * h, k[..., 2] * w, k[..., 3] * h, 1.0
    return normalize_intrinsics(resize_crop_intrinsics(K, (w, h), (tw, th)), (tw, th))
