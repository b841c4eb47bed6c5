"""Readers of camera-annotated video datasets -> :class:`VideoItem` records with OpenCV c2w poses.

One module per dataset kind, registered by name (:func:`register_kind`); this package imports every module it
holds, so adding a kind is one new file (see ``docs/architecture.md``). Conventions (REFERENCE §1, §3):

=============  ===========================================  =========================  ======================
kind           poses on disk                                scale                      poses per
=============  ===========================================  =========================  ======================
multicam       Unreal FMatrix strings -> upstream c2w        metric (cm -> m)           video frame
realcam-vid    w2c 4x4 OpenCV (npz)                          x ``align_factor``         video frame
spatialvid     w2c [t, q_xyzw] OpenCV, ~5 fps subset         per-clip scale file        interpolated (SE(3))
re10k          w2c 3x4 rows in txt, OpenCV                   relative / scale file      video frame
dl3dv          c2w 4x4 OpenGL (transforms.json)              relative / scale file      image
=============  ===========================================  =========================  ======================

Scale files (``metric_scale.json``, written by ``recam align``) multiply translations to metres. Every reader
checks the poses of each window (finite, orthonormal, sign of det R) and reports bad ones as problems naming the
file and field.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import List, Tuple

from synth.core.multicam_format import DatasetFormatError

from .base import (SCALE_FILE, DatasetKind, Problem, UnknownKindError, VideoItem, get_kind, kinds, read_scale_file,
                   register_kind, safe_join)

__all__ = ["VideoItem", "Problem", "DatasetKind", "register_kind", "get_kind", "kinds", "enumerate_items",
           "SCALE_FILE", "read_scale_file", "safe_join", "UnknownKindError"]

for _m in pkgutil.iter_modules(__path__):
    if _m.name != "base" and not _m.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_m.name}")


def enumerate_items(kind: str, root: Path | str, num_frames: int, stride: int = 1, require_metric: bool = False,
                    **options) -> Tuple[List[VideoItem], List[Problem]]:
    """All usable clip windows of a dataset, and the broken ones with their reasons.

    Args:
        kind: a registered kind (:func:`kinds`).
        root: the dataset folder.
        num_frames, stride: the window (``stride * arange(num_frames)`` from frame 0).
        require_metric: report clips without a metric scale as problems instead of returning them.
        options: the kind's own reader options (:attr:`DatasetKind.options`, e.g. ``index`` and ``caption`` of
            RealCam-Vid); None values mean "default".

    Raises:
        UnknownKindError: unknown kind. ValueError: an option the kind does not take. DatasetFormatError: the
        dataset's root-level metadata is unreadable.
    """
    k = get_kind(kind)
    unknown = sorted(set(options) - k.options)
    if unknown:
        raise ValueError(f"dataset kind {kind!r} takes no option {', '.join(unknown)}; its options: "
                         f"{', '.join(sorted(k.options | {'require_metric'}))}")
    if not Path(root).is_dir():
        raise DatasetFormatError(f"{root}: dataset folder not found")
    items, problems = k.reader(Path(root).resolve(), num_frames, stride,
                               **{n: v for n, v in options.items() if v is not None})
    if require_metric:
        problems += [Problem(str(it.scale_file or it.source), "no metric scale (run `recam align`); "
                                                               f"{kind} poses are not metric")
                     for it in items if not it.metric]
        items = [it for it in items if it.metric]
    return items, problems
