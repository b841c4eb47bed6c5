"""The scene description: pure data passed from sampling to renderers and writers, and the typed ``scene.json``.

Positions are Unreal world centimetres, rotations Unreal rotators ``[pitch, yaw, roll]`` in degrees, distances in
trajectory ``params`` in metres and angles in degrees. ``scene.json`` is :meth:`SceneSpec.to_json`; every module
that reads it goes through :meth:`SceneSpec.from_json` / :func:`synth.core.multicam_format.read_scene_spec`, which
name the file and the field of anything malformed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple

import numpy as np

from .fmatrix_text import format_fmatrix
from .intrinsics import intrinsics_from_focals, intrinsics_from_lens
from .poses import Poses
from .unreal import unreal_pose_to_fmatrix
from .layout import scene_relpath

__all__ = ["SpeedProfile", "Lens", "VideoSpec", "CameraSpec", "SceneSpec", "SceneSpecError", "SCENE_JSON_VERSION"]

SCENE_JSON_VERSION = 1


class SceneSpecError(ValueError):
    """A ``scene.json`` document is malformed; the message names the file and the dotted field."""


def _get(d: Any, key: str, types, where: str, path: str):
    """``d[key]`` checked against ``types`` (bool is never a number); raises :class:`SceneSpecError`."""
    if not isinstance(d, dict) or key not in d:
        raise SceneSpecError(f"{where}: field {path}{key} missing")
    v = d[key]
    nums = (int, float)
    ok = isinstance(v, types) and not (isinstance(v, bool) and bool not in (types if isinstance(types, tuple)
                                                                            else (types,)))
    if not ok:
        want = "a number" if types == nums else getattr(types, "__name__", str(types))
        raise SceneSpecError(f"{where}: field {path}{key}: expected {want}, got {v!r}")
    return v


def _vec(d: Any, key: str, n: int, where: str, path: str) -> Tuple[float, ...]:
    v = _get(d, key, list, where, path)
    if len(v) != n or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        raise SceneSpecError(f"{where}: field {path}{key}: expected {n} numbers, got {v!r}")
    return tuple(float(x) for x in v)


@dataclass(frozen=True)
class SpeedProfile:
    """``constant`` or ``eased`` (upstream's exp formula with parameter ``a``; None for constant)."""

    profile: Literal["constant", "eased"]
    a: Optional[float] = None

    def to_json(self) -> Dict[str, Any]:
        return {"profile": self.profile, "a": self.a}

    @classmethod
    def from_json(cls, d: Any, where: str = "scene.json", path: str = "speed.") -> "SpeedProfile":
        prof = _get(d, "profile", str, where, path)
        if prof not in ("constant", "eased"):
            raise SceneSpecError(f"{where}: field {path}profile: expected constant or eased, got {prof!r}")
        a = d.get("a")
        if prof == "eased" and (isinstance(a, bool) or not isinstance(a, (int, float)) or a == 0):
            raise SceneSpecError(f"{where}: field {path}a: eased speed needs a non-zero number, got {a!r}")
        return cls(prof, None if prof == "constant" else float(a))


@dataclass(frozen=True)
class Lens:
    focal_length_mm: float
    aperture_f: float
    sensor_mm: float

    def to_json(self) -> Dict[str, Any]:
        return {"focal_length_mm": self.focal_length_mm, "aperture_f": self.aperture_f, "sensor_mm": self.sensor_mm}

    @classmethod
    def from_json(cls, d: Any, where: str = "scene.json", path: str = "lens.") -> "Lens":
        vals = [float(_get(d, k, (int, float), where, path)) for k in ("focal_length_mm", "aperture_f", "sensor_mm")]
        if min(vals) <= 0:
            raise SceneSpecError(f"{where}: field {path}: focal length, aperture and sensor must be > 0, got {vals}")
        return cls(*vals)


@dataclass(frozen=True)
class VideoSpec:
    frames: int
    fps: float
    width: int
    height: int

    def to_json(self) -> Dict[str, Any]:
        return {"frames": self.frames, "fps": self.fps, "width": self.width, "height": self.height}

    @classmethod
    def from_json(cls, d: Any, where: str = "scene.json", path: str = "video.") -> "VideoSpec":
        ints = {k: _get(d, k, int, where, path) for k in ("frames", "width", "height")}
        fps = float(_get(d, "fps", (int, float), where, path))
        for k, v in ints.items():
            if v <= 0:
                raise SceneSpecError(f"{where}: field {path}{k}: must be a positive integer, got {v}")
        if not fps > 0:
            raise SceneSpecError(f"{where}: field {path}fps: must be > 0, got {fps}")
        return cls(ints["frames"], fps, ints["width"], ints["height"])


@dataclass(frozen=True)
class CameraSpec:
    """One camera's trajectory.

    Attributes:
        name: ``camNN``.
        family: trajectory family (a name registered in :mod:`synth.families`).
        params: family parameters (angles deg, distances m, positions cm), JSON-ready.
        speed: speed profile.
        location_cm: ``(F, 3)`` Unreal world location per frame (None when read back from ``scene.json``, which
            does not hold per-frame poses: ``camera_extrinsics.json`` does).
        rotator_deg: ``(F, 3)`` Unreal rotator ``[pitch, yaw, roll]`` per frame (None likewise).
        caption: one sentence describing the camera motion.
        focal_mm: ``(F,)`` float64 focal length per frame in mm for a camera that zooms (families ``zoom``,
            ``dolly_zoom``), None for the scene's fixed lens. Written to ``cameras/camera_intrinsics.json``, not to
            ``scene.json`` (whose ``params`` hold what the family recomputes it from).
    """

    name: str
    family: str
    params: Dict[str, Any]
    speed: SpeedProfile
    location_cm: Optional[np.ndarray] = None
    rotator_deg: Optional[np.ndarray] = None
    caption: str = ""
    focal_mm: Optional[np.ndarray] = None

    def fmatrix_strings(self) -> List[str]:
        """``FMatrix::ToString()`` per frame, as written to ``camera_extrinsics.json``."""
        return [format_fmatrix(m) for m in unreal_pose_to_fmatrix(self.location_cm, self.rotator_deg)]

    def fmatrices(self) -> np.ndarray:
        """``(F, 4, 4)`` FMatrix per frame, quantised exactly as written to ``camera_extrinsics.json``
        (``%g``), so renderers draw the poses that the dataset states."""
        # The strings are our own format_fmatrix output (exactly 16 numbers each), so a split parses them; the
        # tolerant regex parser is for files read back (it was 20% of `synth plan`'s time here).
        text = " ".join(self.fmatrix_strings()).replace("[", " ").replace("]", " ")
        return np.array(text.split(), dtype=np.float64).reshape(-1, 4, 4)

    def poses(self) -> Poses:
        """The written (quantised) poses as :class:`synth.core.poses.Poses` (OpenCV c2w in metres)."""
        return Poses.from_fmatrix(self.fmatrices(), f"camera {self.name}")

    def to_json(self) -> Dict[str, Any]:
        return {"trajectory": self.family, "params": self.params, "speed": self.speed.to_json(),
                "caption": self.caption}

    @classmethod
    def from_json(cls, name: str, d: Any, where: str = "scene.json") -> "CameraSpec":
        path = f"cameras.{name}."
        return cls(name=name, family=_get(d, "trajectory", str, where, path),
                   params=_get(d, "params", dict, where, path),
                   speed=SpeedProfile.from_json(_get(d, "speed", dict, where, path), where, path + "speed."),
                   caption=d.get("caption", "") if isinstance(d.get("caption", ""), str) else "")


@dataclass(frozen=True)
class SceneSpec:
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
    cameras: List[CameraSpec]
    caption: str
    config_digest: str = ""
    catalog_digest: str = ""
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def relpath(self) -> Path:
        """``train/f{focal}_aperture{aperture}/scene{index}``."""
        return scene_relpath(self.index, self.lens.focal_length_mm, self.lens.aperture_f)

    def intrinsics(self) -> np.ndarray:
        """``(3, 3)`` K of the scene's lens (every camera without per-frame focal lengths)."""
        return intrinsics_from_lens(self.lens.focal_length_mm, self.lens.sensor_mm, self.video.width,
                                    self.video.height)

    @property
    def zooms(self) -> bool:
        """True when a camera has per-frame focal lengths (the scene writes ``cameras/camera_intrinsics.json``)."""
        return any(c.focal_mm is not None for c in self.cameras)

    def focal_lengths_mm(self) -> np.ndarray:
        """``(C, F)`` float64 focal length (mm) of every camera and frame: its ``focal_mm``, else the lens's."""
        n = self.video.frames
        return np.stack([np.full(n, self.lens.focal_length_mm, np.float64) if c.focal_mm is None
                         else np.asarray(c.focal_mm, np.float64) for c in self.cameras])

    def camera_intrinsics(self) -> np.ndarray:
        """``(C, F, 3, 3)`` float64 K in pixels (``synth.core.intrinsics`` convention) of every camera and frame."""
        return intrinsics_from_focals(self.focal_lengths_mm(), self.lens.sensor_mm, self.video.width,
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

    @classmethod
    def from_json(cls, data: Any, where: str = "scene.json") -> "SceneSpec":
        """Parse a ``scene.json`` document (:meth:`to_json`'s output).

        Raises:
            SceneSpecError: a missing field or a value of the wrong type or range; names ``where`` and the field.
        """
        if not isinstance(data, dict):
            raise SceneSpecError(f"{where}: expected a JSON object, got {type(data).__name__}")
        if data.get("format", "synth-scene") != "synth-scene":
            raise SceneSpecError(f"{where}: field format: expected 'synth-scene', got {data.get('format')!r}")
        env = _get(data, "environment", dict, where, "")
        char = _get(data, "character", dict, where, "")
        anim = _get(data, "animation", dict, where, "")
        fs = _get(env, "free_space_cm", dict, where, "environment.")
        cams = _get(data, "cameras", dict, where, "")
        return cls(
            seed=_get(data, "seed", int, where, ""), index=_get(data, "index", int, where, ""),
            environment_id=_get(env, "id", str, where, "environment."),
            free_space_cm=(_vec(fs, "min", 3, where, "environment.free_space_cm."),
                           _vec(fs, "max", 3, where, "environment.free_space_cm.")),
            lighting=_get(env, "lighting", str, where, "environment."),
            hemisphere_radius_m=float(_get(env, "hemisphere_radius_m", (int, float), where, "environment.")),
            character_id=_get(char, "id", str, where, "character."),
            character_location_cm=_vec(char, "location_cm", 3, where, "character."),
            character_yaw_deg=float(_get(char, "yaw_deg", (int, float), where, "character.")),
            character_height_m=float(_get(char, "height_m", (int, float), where, "character.")),
            aim_point_cm=_vec(char, "aim_point_cm", 3, where, "character."),
            animation_id=_get(anim, "id", str, where, "animation."),
            animation_start_s=float(_get(anim, "start_s", (int, float), where, "animation.")),
            lens=Lens.from_json(_get(data, "lens", dict, where, ""), where),
            video=VideoSpec.from_json(_get(data, "video", dict, where, ""), where),
            cameras=[CameraSpec.from_json(n, c, where) for n, c in cams.items()],
            caption=_get(data, "caption", str, where, ""),
            config_digest=str(data.get("config_digest", "")), catalog_digest=str(data.get("catalog_digest", "")),
            extra=data.get("extra", {}) if isinstance(data.get("extra", {}), dict) else {})
