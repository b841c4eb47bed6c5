"""``synth validate``'s checks of ``cameras/camera_intrinsics.json`` (per-frame intrinsics of zooming cameras).

* the file is present exactly when it is needed: a scene whose ``scene.json`` has a zooming camera (a family with
  :meth:`~synth.families.base.TrajectoryFamily.focal_lengths`, e.g. ``zoom``, ``dolly_zoom``) must have it;
* it parses (:func:`synth.core.intrinsics_file.read_camera_intrinsics`), names the camera JSON's cameras and frames,
  and states the video's size and the lens's sensor;
* every K is the pinhole of its focal length: ``fx = fy = focal / sensor x W``, ``cx = W/2``, ``cy = H/2``;
* every focal length is the one the camera's family computes from its ``scene.json`` parameters and speed profile
  (the scene's lens for a camera that does not zoom), and a zoom starts at the scene's lens.

:func:`scene_focal_lengths` also gives the ``(C, F)`` focal lengths the recipe rules (``dolly_zoom_size``) read.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..core.intrinsics_file import read_camera_intrinsics
from ..core.layout import CAMERA_INTRINSICS_JSON
from ..core.multicam_format import DatasetFormatError
from ..core.problems import Problem
from ..core.scene_spec import SceneSpec
from ..core.speed import speed_progress
from ..families import get_family

__all__ = ["intrinsics_problems", "expected_focal_lengths"]

#: |written - expected| focal length slack (mm): the file and scene.json carry 6 decimals
FOCAL_TOL_MM = 1e-5
#: relative slack of fx, fy against focal / sensor x W (6 decimals of pixels)
K_REL_TOL = 1e-6


def expected_focal_lengths(spec: SceneSpec, names: Sequence[str], frames: int) -> Tuple[np.ndarray, List[str]]:
    """``(C, F)`` float64 focal lengths (mm) the cameras ``names`` should have from ``scene.json`` (their family's
    :meth:`focal_lengths` with their speed profile, else the lens), and the names of the zooming ones. A camera
    whose family or parameters cannot be evaluated gets the lens (the family check reports it)."""
    specs = {c.name: c for c in spec.cameras}
    out = np.full((len(names), frames), spec.lens.focal_length_mm, np.float64)
    zooming = []
    for i, n in enumerate(names):
        cs = specs.get(n)
        if cs is None:
            continue
        try:
            u = speed_progress(frames, cs.speed.profile, cs.speed.a)
            f = get_family(cs.family).focal_lengths(cs.params, u)
        except (KeyError, TypeError, ValueError):
            continue
        if f is not None:
            out[i] = np.asarray(f, np.float64)
            zooming.append(n)
    return out, zooming


def intrinsics_problems(scene_dir: Path, spec: Optional[SceneSpec], names: Sequence[str], frames: int
                        ) -> Tuple[List[Problem], Optional[np.ndarray]]:
    """Problems of a scene's ``camera_intrinsics.json`` and the ``(C, F)`` focal lengths (mm) of cameras ``names``
    the rules should use: the file's when it is readable, else the scene's lens (None without ``scene.json``)."""
    path = Path(scene_dir) / CAMERA_INTRINSICS_JSON
    p = str(path)
    lens_focal = None if spec is None else np.full((len(names), frames), spec.lens.focal_length_mm, np.float64)
    expected, zooming = (None, []) if spec is None else expected_focal_lengths(spec, names, frames)
    if not path.exists():
        if zooming:
            return [Problem(p, f"missing: cameras {zooming} zoom (families "
                               f"{sorted({c.family for c in spec.cameras if c.name in zooming})}); expected their "
                               f"per-frame intrinsics")], lens_focal
        return [], lens_focal
    try:
        intr = read_camera_intrinsics(path)
    except DatasetFormatError as e:
        return [Problem(p, str(e).split(": ", 1)[-1])], lens_focal
    problems: List[Problem] = []
    if intr.cameras != list(names):
        problems.append(Problem(p, f"cameras {intr.cameras}; expected the camera JSON's {list(names)}"))
    if intr.focal_mm.shape[1] != frames:
        problems.append(Problem(p, f"{intr.focal_mm.shape[1]} frames; expected {frames}"))
    if problems:
        return problems, lens_focal
    W, H = intr.width, intr.height
    if spec is not None:
        if (W, H) != (spec.video.width, spec.video.height):
            problems.append(Problem(p, f"width, height: {W}x{H}; expected the video's "
                                       f"{spec.video.width}x{spec.video.height}"))
        if abs(intr.sensor_mm - spec.lens.sensor_mm) > 1e-9:
            problems.append(Problem(p, f"sensor_mm: {intr.sensor_mm:g}; expected the lens's {spec.lens.sensor_mm:g}"))
    fpx = intr.focal_mm / intr.sensor_mm * W
    K = intr.K
    for i, cam in enumerate(intr.cameras):
        bad = (np.abs(K[i, :, 0, 0] - fpx[i]) > K_REL_TOL * fpx[i] + 1e-6) | \
              (np.abs(K[i, :, 1, 1] - fpx[i]) > K_REL_TOL * fpx[i] + 1e-6) | \
              (np.abs(K[i, :, 0, 2] - W / 2) > 1e-6) | (np.abs(K[i, :, 1, 2] - H / 2) > 1e-6)
        if bad.any():
            f = int(np.argmax(bad))
            problems.append(Problem(p, f"frame{f}.{cam}: fx, fy, cx, cy = {K[i, f, 0, 0]:g}, {K[i, f, 1, 1]:g}, "
                                       f"{K[i, f, 0, 2]:g}, {K[i, f, 1, 2]:g}; expected focal_length_mm / sensor_mm x "
                                       f"width = {fpx[i, f]:g} and the image centre {W / 2:g}, {H / 2:g}"))
        if expected is not None:
            off = np.abs(intr.focal_mm[i] - expected[i]) > FOCAL_TOL_MM
            if off.any():
                f = int(np.argmax(off))
                what = "its family's zoom (scene.json params and speed)" if cam in zooming else "the scene's lens"
                problems.append(Problem(p, f"frame{f}.{cam}.focal_length_mm: {intr.focal_mm[i, f]:g}; expected "
                                           f"{expected[i, f]:g} from {what}"))
    if spec is not None:
        specs = {c.name: c for c in spec.cameras}
        for cam in zooming:
            f0 = specs[cam].params.get("focal_start_mm")
            if f0 != spec.lens.focal_length_mm:
                problems.append(Problem(str(Path(scene_dir) / "scene.json"),
                                        f"cameras.{cam}.params.focal_start_mm: {f0!r}; a zoom starts at the scene's "
                                        f"lens {spec.lens.focal_length_mm:g} mm"))
    return problems, intr.focal_mm
