"""Cameras for ReCamMaster: loading trajectories, the ``cam_emb`` contract, presets and custom trajectories.

Built on the shared camera-geometry core :mod:`synth.geometry` (conventions documented there).
"""

from __future__ import annotations

from synth.geometry import relative_cam_emb, relative_poses  # noqa: F401  (public re-exports)
from synth.multicam_format import load_camera_extrinsics  # noqa: F401

__all__ = ["load_camera_extrinsics", "relative_cam_emb", "relative_poses"]
