"""The motion types shared by the BVH retargeter (:mod:`.bvh`) and the built-in humanoid (:mod:`.humanoid`).

Their own module because each of the two modules produces what the other consumes (the humanoid exports its clips
as a :class:`SourceMotion`; BVH takes are retargeted onto the humanoid's skeleton): with the types in ``bvh.py`` the
two imported each other (a cycle). ``bvh`` re-exports them under their old names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np

__all__ = ["RetargetedClip", "SourceMotion", "Roles", "CMU_ROLES", "HUMANOID_ROLES"]


@dataclass
class RetargetedClip:
    """Target joint -> local rotations (F, 4) xyzw; ``hips_offset`` (F, 3) metres added to the root's rest
    translation; ``fps``; ``contact`` (F,) frames with a foot on the ground; ``globals_`` target joint -> world
    positions (F, 3) in metres (character space, feet at their rest height in contact frames)."""

    rotations: Dict[str, np.ndarray]
    hips_offset: np.ndarray
    fps: float
    contact: np.ndarray
    globals_: Dict[str, np.ndarray]


@dataclass
class SourceMotion:
    """A motion in world space, whatever its file: ``names`` (J,), ``parents`` (J,), ``rest`` (J, 3) joint positions
    of the rest pose, ``G`` (F, J, 3, 3) global rotations relative to the rest pose, ``P`` (F, J, 3) joint positions
    (any length unit: only ratios are used), ``fps``. Y up, +Z front, +X left, like glTF characters."""

    path: str
    names: List[str]
    parents: List[int]
    rest: np.ndarray
    G: np.ndarray
    P: np.ndarray
    fps: float


@dataclass(frozen=True)
class Roles:
    """Joint names with a role in retargeting: the root (``hips``) and the joints that touch the ground (ankles,
    toes; their lowest one stands on the ground in contact frames)."""

    hips: str
    feet: Tuple[str, ...]


CMU_ROLES = Roles("Hips", ("LeftFoot", "RightFoot"))
HUMANOID_ROLES = Roles("hips", ("foot_l", "foot_r"))
