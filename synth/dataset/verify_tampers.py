"""The tampers ``synth verify`` must catch (issue 27), applied to the written files of a scene folder.

Each tamper edits ``cameras/camera_extrinsics.json`` (or the lens of ``scene.json``) of a *copy* of a correctly
rendered scene, never the pixels, and returns the cameras whose written geometry it changed (the cameras a check must
flag). Used by the tests and by ``benchmarks/bench_verify_study.py``.

==================  =============================================================================================
kind                edit
==================  =============================================================================================
``reversed``        one camera's poses in reverse frame order
``yaw_mirrored``    one camera's yaw negated (Unreal rotator ``yaw -> -yaw``; location kept)
``metres_as_cm``    every camera location divided by 100 (metres written into the centimetre field)
``shift4``          one camera's poses shifted by 4 frames (frame ``k`` gets pose ``min(k + 4, F - 1)``)
``swap``            two cameras' poses swapped
``other_scene``     one camera's poses taken from the same camera of another scene
``rot10``           one frame (the middle one) of one camera rotated by 10 degrees about its vertical axis
``focal``           the scene's focal length in ``scene.json`` changed 24 <-> 35 mm (18 -> 24, 50 -> 35)
==================  =============================================================================================
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np

from ..core.atomic import atomic_write_text
from ..core.layout import CAMERA_JSON, SCENE_JSON
from ..core.multicam_format import read_camera_fmatrices, write_camera_extrinsics
from ..core.poses import Poses

__all__ = ["TAMPERS", "apply_tamper", "FOCAL_SWAP"]

FOCAL_SWAP = {18.0: 24.0, 24.0: 35.0, 35.0: 24.0, 50.0: 35.0}


def _edit(scene: Path, fn: Callable[[Dict[str, np.ndarray]], None]) -> None:
    fm = read_camera_fmatrices(scene / CAMERA_JSON)
    fn(fm)
    write_camera_extrinsics(scene / CAMERA_JSON, fm)


def _rot_y(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


def apply_tamper(kind: str, scene: Path, camera: str, other: Optional[str] = None,
                 other_scene: Optional[Path] = None) -> List[str]:
    """Apply tamper ``kind`` (a key of :data:`TAMPERS`) to the scene folder ``scene`` in place.

    Args:
        camera: the camera to tamper (``camNN``).
        other: the second camera of ``swap``.
        other_scene: the scene folder ``other_scene`` takes ``camera`` from (same frame count).

    Returns:
        the cameras whose written geometry changed (all of them for ``metres_as_cm`` and ``focal``).

    Raises:
        KeyError: unknown kind; ValueError: a missing ``other`` / ``other_scene``.
    """
    scene = Path(scene)
    if kind == "reversed":
        _edit(scene, lambda fm: fm.__setitem__(camera, fm[camera][::-1].copy()))
        return [camera]
    if kind == "yaw_mirrored":
        def f(fm):
            loc, rot = Poses.from_fmatrix(fm[camera]).to_unreal()
            rot = rot.copy()
            rot[:, 1] = -rot[:, 1]
            fm[camera] = Poses.from_unreal(loc, rot).to_fmatrix()
        _edit(scene, f)
        return [camera]
    if kind == "metres_as_cm":
        names: List[str] = []

        def f(fm):
            for n in fm:
                fm[n] = fm[n].copy()
                fm[n][:, 3, :3] /= 100.0
                names.append(n)
        _edit(scene, f)
        return sorted(names)
    if kind == "shift4":
        def f(fm):
            m = fm[camera]
            fm[camera] = m[np.minimum(np.arange(len(m)) + 4, len(m) - 1)].copy()
        _edit(scene, f)
        return [camera]
    if kind == "swap":
        if other is None:
            raise ValueError("swap needs a second camera")

        def f(fm):
            fm[camera], fm[other] = fm[other].copy(), fm[camera].copy()
        _edit(scene, f)
        return [camera, other]
    if kind == "other_scene":
        if other_scene is None:
            raise ValueError("other_scene needs another scene folder")
        src = read_camera_fmatrices(Path(other_scene) / CAMERA_JSON)[camera]
        _edit(scene, lambda fm: fm.__setitem__(camera, src[:len(fm[camera])].copy()))
        return [camera]
    if kind == "rot10":
        def f(fm):
            p = Poses.from_fmatrix(fm[camera]).c2w.copy()
            k = len(p) // 2
            p[k, :3, :3] = p[k, :3, :3] @ _rot_y(10.0)
            fm[camera] = Poses.from_c2w(p).to_fmatrix()
        _edit(scene, f)
        return [camera]
    if kind == "focal":
        d = json.loads((scene / SCENE_JSON).read_text())
        f_mm = float(d["lens"]["focal_length_mm"])
        d["lens"]["focal_length_mm"] = FOCAL_SWAP.get(f_mm, 24.0 if f_mm != 24.0 else 35.0)
        atomic_write_text(scene / SCENE_JSON, json.dumps(d, indent=1) + "\n")
        return sorted(read_camera_fmatrices(scene / CAMERA_JSON))
    raise KeyError(f"unknown tamper {kind!r}; known: {', '.join(TAMPERS)}")


TAMPERS = ("reversed", "yaw_mirrored", "metres_as_cm", "shift4", "swap", "other_scene", "rot10", "focal")
