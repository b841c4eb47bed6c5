"""Scene description: pure data passed from sampling to renderers and writers (no side effects here).

Positions are Unreal world centimetres, rotations Unreal rotators ``[pitch, yaw, roll]`` in degrees, distances in
trajectory ``params`` in metres and angles in degrees. ``scene.json`` is :meth:`ScenePlan.to_json`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple

import numpy as np

from .geometry import fmatrix_to_c2w, intrinsics_from_lens, parse_fmatrix, format_fmatrix, unreal_pose_to_fmatrix
from .multicam_format import camera_name, scene_relpath

__all__ = ["Family", "FAMILIES", "SpeedProfile", "Lens", "VideoSpec", "CameraPlan", "ScenePlan", "SCENE_JSON_VERSION"]

Family = Literal["pan", "tilt", "translate", "arc", "random", "static"]
FAMILIES: Tuple[str, ...] = ("pan", "tilt", "translate", "arc", "random", "static")
SCENE_JSON_VERSION = 1


@dataclass(frozen=True)
class SpeedProfile:
    """``constant`` or ``eased`` (upstream's exp formula with parameter ``a``; None for constant)."""

    profile: Literal["constant", "eased"]
    a: Optional[float] = None

    def to_json(self) -> Dict[str, Any]:
        return {"profile": self.profile, "a": self.a}


@dataclass(frozen=True)
class Lens:
    focal_length_mm: float
    aperture_f: float
    sensor_mm: float

    def to_json(self) -> Dict[str, Any]:
        return {"focal_length_mm": self.focal_length_mm, "aperture_f": self.aperture_f, "sensor_mm": self.sensor_mm}


@dataclass(frozen=True)
class VideoSpec:
    frames: int
    fps: float
    width: int
    height: int

    def to_json(self) -> Dict[str, Any]:
        return {"frames": self.frames, "fps": self.fps, "width": self.width, "height": self.height}


@dataclass(frozen=True)
class CameraPlan:
    """One camera's trajectory.

    Attributes:
        name: ``camNN``.
        family: trajectory family.
        params: family parameters (angles deg, distances m, positions cm), JSON-ready.
        speed: speed profile.
        location_cm: ``(F, 3)`` Unreal world location per frame.
        rotator_deg: ``(F, 3)`` Unreal rotator ``[pitch, yaw, roll]`` per frame.
        caption: one sentence describing the camera motion.
    """

    name: str
    family: str
    params: Dict[str, Any]
    speed: SpeedProfile
    location_cm: np.ndarray
    rotator_deg: np.ndarray
    caption: str = ""

    def fmatrix_strings(self) -> List[str]:
        """``FMatrix::ToString()`` per frame, as written to ``camera_extrinsics.json``."""
        return [format_fmatrix(m) for m in unreal_pose_to_fmatrix(self.location_cm, self.rotator_deg)]

    def fmatrices(self) -> np.ndarray:
        """``(F, 4, 4)`` FMatrix per frame, quantised exactly as written to ``camera_extrinsics.json``
        (``%g``), so renderers draw the poses that the dataset states."""
        return np.stack([parse_fmatrix(s) for s in self.fmatrix_strings()])

    def c2w(self) -> np.ndarray:
        """``(F, 4, 4)`` OpenCV c2w in metres of the written (quantised) poses."""
        return fmatrix_to_c2w(self.fmatrices())

    def to_json(self) -> Dict[str, Any]:
        return {"trajectory": self.family, "params": self.params, "speed": self.speed.to_json(),
                "caption": self.caption}


@dataclass(frozen=True)
class ScenePlan:
    """Everything sampled for one scene; renderers and writers consume it unchanged."""

    seed: int
    index: int
    environment_id: str
    free_space_cm: Tuple[Tuple[float, float, float], Tuple[float, float, float]]
    lighting: str
    hemisphere_radius_m: float
    character_id: str
    character_location_cm: Tuple[float, float, float]
    character_yaw_deg: float
    character_height_m: float
    aim_point_cm: Tuple[float, float, float]
    animation_id: str
    animation_start_s: float
    lens: Lens
    video: VideoSpec
    cameras: List[CameraPlan]
    caption: str
    config_digest: str = ""
    catalog_digest: str = ""
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def relpath(self) -> Path:
        """``train/f{focal}_aperture{aperture}/scene{index}``."""
        return scene_relpath(self.index, self.lens.focal_length_mm, self.lens.aperture_f)

    def intrinsics(self) -> np.ndarray:
        """``(3, 3)`` K of every camera of the scene (same lens and size)."""
        return intrinsics_from_lens(self.lens.focal_length_mm, self.lens.sensor_mm, self.video.width,
                                    self.video.height)

    def animation_time_s(self, frame: int) -> float:
        """Animation clock at a frame: ``animation_start_s + frame / fps`` (all cameras share it)."""
        return self.animation_start_s + frame / self.video.fps

    def camera_fmatrices(self) -> Dict[str, np.ndarray]:
        return {c.name: c.fmatrices() for c in self.cameras}

    def to_json(self) -> Dict[str, Any]:
        """The ``scene.json`` document."""
        return {
            "format": "synth-scene",
            "version": SCENE_JSON_VERSION,
            "seed": self.seed,
            "index": self.index,
            "environment": {"id": self.environment_id, "lighting": self.lighting,
                            "hemisphere_radius_m": self.hemisphere_radius_m,
                            "free_space_cm": {"min": list(self.free_space_cm[0]), "max": list(self.free_space_cm[1])}},
            "character": {"id": self.character_id, "location_cm": list(self.character_location_cm),
                          "yaw_deg": self.character_yaw_deg, "height_m": self.character_height_m,
                          "aim_point_cm": list(self.aim_point_cm)},
            "animation": {"id": self.animation_id, "start_s": self.animation_start_s},
            "lens": self.lens.to_json(),
            "video": self.video.to_json(),
            "cameras": {c.name: c.to_json() for c in self.cameras},
            "caption": self.caption,
            "config_digest": self.config_digest,
            "catalog_digest": self.catalog_digest,
            **({"extra": self.extra} if self.extra else {}),
        }

    def camera_names(self) -> Sequence[str]:
        return [c.name for c in self.cameras]


def default_camera_names(n: int) -> List[str]:
    return [camera_name(j) for j in range(1, n + 1)]
