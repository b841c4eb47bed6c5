"""Reading ``cameras/camera_intrinsics.json``: per-frame, per-camera intrinsics of a scene whose cameras zoom.

The file (written by :func:`synth.core.multicam_format.write_camera_intrinsics`, documented in docs/dataset.md)
holds, frame-major like ``camera_extrinsics.json``, each camera's focal length in mm and ``fx, fy, cx, cy`` in
pixels of the scene's video size (``synth.core.intrinsics`` convention: continuous pixel coordinates, ``cx = W/2``
at the image centre; subtract 0.5 for OpenCV's integer-centred pixels). A scene with the fixed lens has no such
file: its K is the lens's (``scene.json`` / the lens folder name).

:func:`load_camera_intrinsics` is what ``synth verify`` and the readers call.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import numpy as np

from .layout import CAMERA_INTRINSICS_JSON
from .multicam_format import INTRINSICS_FORMAT, DatasetFormatError, DuplicateKeyError, loads_json_strict

__all__ = ["CameraIntrinsics", "read_camera_intrinsics", "load_camera_intrinsics"]

_FRAME_RE = re.compile(r"^frame(\d+)$")
_FIELDS = ("focal_length_mm", "fx", "fy", "cx", "cy")


@dataclass(frozen=True)
class CameraIntrinsics:
    """The content of one ``camera_intrinsics.json``.

    Attributes:
        cameras: camera names (``camNN``) in file order.
        focal_mm: ``(C, F)`` float64 focal length per camera and frame, mm.
        K: ``(C, F, 3, 3)`` float64 intrinsics in pixels of a ``width x height`` frame.
        width, height: the image size the pixels refer to.
        sensor_mm: sensor width, mm.
    """

    cameras: List[str]
    focal_mm: np.ndarray
    K: np.ndarray
    width: int
    height: int
    sensor_mm: float

    def camera(self, name: str) -> np.ndarray:
        """``(F, 3, 3)`` K of camera ``name``. Raises KeyError naming the cameras present."""
        if name not in self.cameras:
            raise KeyError(f"camera {name!r} not in the intrinsics file (cameras: {self.cameras})")
        return self.K[self.cameras.index(name)]


def _number(v, where: str, positive: bool = True) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or (positive and v <= 0):
        raise DatasetFormatError(f"{where}: expected a {'positive ' if positive else ''}finite number, got {v!r}")
    return float(v)


def read_camera_intrinsics(path: Path | str) -> CameraIntrinsics:
    """Parse a ``camera_intrinsics.json`` strictly.

    Raises:
        FileNotFoundError: no such file.
        DatasetFormatError: not JSON, a duplicate key, a wrong ``format``, missing or non-consecutive frames,
            cameras differing between frames, a missing or non-positive field; the message names the file and field.
    """
    path = Path(path)
    try:
        data = loads_json_strict(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (DuplicateKeyError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetFormatError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict) or data.get("format") != INTRINSICS_FORMAT:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise DatasetFormatError(f"{path}: field format: expected {INTRINSICS_FORMAT!r}, got {got!r}")
    if data.get("version") != 1:
        raise DatasetFormatError(f"{path}: field version: expected 1, got {data.get('version')!r}")
    width = data.get("width")
    height = data.get("height")
    for key, v in (("width", width), ("height", height)):
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise DatasetFormatError(f"{path}: field {key}: expected a positive integer, got {v!r}")
    sensor = _number(data.get("sensor_mm"), f"{path}: field sensor_mm")
    frames = sorted((int(m.group(1)), k) for k in data if (m := _FRAME_RE.match(k)))
    if not frames or [i for i, _ in frames] != list(range(len(frames))):
        raise DatasetFormatError(f"{path}: frames {[k for _, k in frames][:5]}...: expected frame0..frame{{F-1}}, "
                                 f"consecutive")
    cams: Optional[List[str]] = None
    vals = []
    for _, key in frames:
        entry = data[key]
        if not isinstance(entry, dict) or not entry:
            raise DatasetFormatError(f"{path}: field {key}: expected an object of cameras, got {entry!r}"[:300])
        if cams is None:
            cams = list(entry)
        elif list(entry) != cams:
            raise DatasetFormatError(f"{path}: field {key}: cameras {list(entry)}; expected {cams} as in frame0")
        row = []
        for cam in cams:
            c = entry[cam]
            if not isinstance(c, dict):
                raise DatasetFormatError(f"{path}: field {key}.{cam}: expected an object, got {c!r}"[:300])
            row.append([_number(c.get(f), f"{path}: field {key}.{cam}.{f}") for f in _FIELDS])
        vals.append(row)
    a = np.asarray(vals, np.float64).transpose(1, 0, 2)  # (C, F, 5)
    K = np.zeros(a.shape[:2] + (3, 3))
    K[..., 0, 0], K[..., 1, 1], K[..., 0, 2], K[..., 1, 2], K[..., 2, 2] = a[..., 1], a[..., 2], a[..., 3], a[..., 4], 1
    return CameraIntrinsics(cams, a[..., 0], K, width, height, sensor)


def load_camera_intrinsics(scene_dir: Path | str, camera: str) -> Optional[np.ndarray]:
    """``(F, 3, 3)`` float64 K in pixels (video size; continuous pixel coordinates) of ``camera`` per frame from
    ``<scene_dir>/cameras/camera_intrinsics.json``, or None when the scene has no such file (fixed lens: use the
    lens's K).

    Raises:
        DatasetFormatError: the file is malformed or lacks ``camera`` (names the file and the field).
    """
    path = Path(scene_dir) / CAMERA_INTRINSICS_JSON
    try:
        intr = read_camera_intrinsics(path)
    except FileNotFoundError:
        return None
    if camera not in intr.cameras:
        raise DatasetFormatError(f"{path}: camera {camera!r} missing (cameras: {intr.cameras})")
    return intr.camera(camera)
