"""The renderer-backend interface: what the embedded (Panda3D) and Unreal (UnrealCV) backends implement.

A backend renders one scene at a time: load the environment, spawn the character, choose its animation, set the
lens, and then per frame set the animation time, set every camera's pose and capture all cameras. Poses are given as
:class:`synth.core.poses.Poses` built from the Unreal FMatrix rows written to ``camera_extrinsics.json``, so a backend
draws exactly what the dataset states.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..scenes.catalog import Animation, Character, Environment
from ..core.poses import Poses
from ..core.scene_spec import Lens

__all__ = ["RendererBackend", "CameraCapture", "CaptureRequest", "RenderError", "AssetError", "RetryableRenderError",
           "BackendSetupError"]


class RenderError(RuntimeError):
    """A backend failed while rendering (the scene is discarded and may be retried)."""


class RetryableRenderError(RenderError):
    """A transient fault (timeout, dropped connection, restarted server): the scene is discarded and rendered again
    from its start; never stitched from parts."""


class BackendSetupError(RuntimeError):
    """A backend's session could not be set up for a run (a game that does not start, nothing listening ...); the
    message says what to check. ``synth render`` reports it and exits 2."""


class AssetError(RenderError):
    """An asset is missing, unreadable or unusable; the message names it and the catalog entry."""


@dataclass(frozen=True)
class CaptureRequest:
    """What to capture besides RGB."""

    depth: bool = False
    mask: bool = False


@dataclass
class CameraCapture:
    """One camera's images of one frame.

    Attributes:
        rgb: ``(H, W, 3)`` uint8, sRGB.
        depth_m: ``(H, W)`` float32 planar depth (distance along the optical axis) in metres; 0 where nothing was hit.
        mask: ``(H, W)`` bool, True on the character.
    """

    rgb: np.ndarray
    depth_m: Optional[np.ndarray] = None
    mask: Optional[np.ndarray] = None


class RendererBackend(ABC):
    """Interface of a renderer backend (see module docstring). Units: Unreal world cm and degrees."""

    name: str = "backend"

    @abstractmethod
    def load_environment(self, env: Environment, lighting: str) -> None:
        """Load an environment of the catalog with one of its lighting presets (replaces the previous scene)."""

    @abstractmethod
    def spawn_character(self, character: Character, location_cm: Sequence[float], yaw_deg: float) -> None:
        """Place a character with its feet at ``location_cm`` facing Unreal yaw ``yaw_deg`` (0 = +X)."""

    @abstractmethod
    def set_animation(self, animation: Animation) -> None:
        """Select the character's animation clip."""

    @abstractmethod
    def set_animation_time(self, t_s: float) -> None:
        """Pose the character at animation time ``t_s`` seconds (looping clips wrap)."""

    @abstractmethod
    def set_lens(self, lens: Lens, width: int, height: int) -> None:
        """Set every camera's lens (focal length and sensor width give the horizontal FOV) and image size."""

    def set_focal_lengths(self, focal_mm: Sequence[float]) -> None:
        """Set each camera's focal length (mm; one per camera, on the lens's sensor and image size) for the next
        capture: a zooming camera's focal length of the current frame (``cameras/camera_intrinsics.json``). Called
        after :meth:`set_lens`, before every capture of a scene with a zooming camera; :meth:`set_lens` resets every
        camera to the lens.

        Raises:
            RenderError: the backend cannot change focal lengths per camera (the default).
        """
        raise RenderError(f"the {self.name} backend cannot change the focal length per camera and frame (zoom, "
                          f"dolly_zoom); use the embedded or unreal backend")

    @abstractmethod
    def set_camera_poses(self, poses: Poses) -> None:
        """Set all cameras' poses for the next capture: one :class:`synth.core.poses.Poses` frame per camera
        (``C`` poses, OpenCV c2w in metres; :meth:`Poses.from_fmatrix` of the rows ``camera_extrinsics.json`` holds,
        :meth:`Poses.to_unreal` gives Unreal's locations and rotators back)."""

    def _check_camera_poses(self, poses: Poses) -> None:
        """What every ``set_camera_poses`` checks first: a :class:`Poses` of exactly ``self.num_cameras`` poses.

        Raises:
            TypeError: not a ``Poses`` (e.g. bare FMatrix rows). ValueError: another number of cameras.
        """
        if not isinstance(poses, Poses):
            raise TypeError(f"set_camera_poses takes synth.core.poses.Poses (e.g. Poses.from_fmatrix(rows)), got "
                            f"{type(poses).__name__}")
        if len(poses) != self.num_cameras:
            raise ValueError(f"expected {self.num_cameras} camera poses, got {len(poses)}")

    @abstractmethod
    def capture(self, request: CaptureRequest = CaptureRequest()) -> List[CameraCapture]:
        """Render and return every camera's images of the current world state (one synchronized instant)."""

    @abstractmethod
    def joint_positions_cm(self) -> Tuple[List[str], np.ndarray]:
        """The character's joint names and world positions ``(J, 3)`` in Unreal cm at the current time."""

    def close(self) -> None:
        """Release resources."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
