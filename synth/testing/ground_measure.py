"""Measures of an image-lit environment's ground projection (issue 23): radial smear and horizon seam.

Used by ``tests/test_look5_ground_dome.py`` and ``benchmarks/measure_ground.py``. Renders one environment with the
embedded backend (``standard``), no character, from eight fixed cameras placed relative to the free space's centre
(the projection centre):

* four **view** cameras, none at the centre, 1.2-2.5 m high and 4-11 m away: two look down at the floor near the
  centre, two (:data:`LEVEL`) are nearly level, the horizon in frame;
* four **top-down** cameras 12 m above the floor 15 m from the centre (no perspective foreshortening).

**smear**: the floor's radial gradient anisotropy in the top-down views. A ground projection paints what stands at
the HDRI's horizon as streaks radial to the projection centre, whose luminance gradient runs across the radial
direction. For each floor pixel more than :data:`FAR_M` from the centre, ``s`` is the image direction of the world's
radial line through its floor point; smear = sum of the squared luminance gradient (Sobel) across ``s`` / along
``s``, over the four views. An isotropic floor gives ~1 (the procedural floor: 1.00).

**seam**: the largest row-to-row jump of the mean row colour (sRGB in [0, 1]) within 2 degrees of the horizon in
the level views, minus the same jump in a render without the floor (the sky shader alone), as in
``tests/test_look3_ground.py``; the largest over the level views.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np

__all__ = ["VIEW", "TOP", "LEVEL", "FAR_M", "floor_radial_dirs", "radial_anisotropy", "measure_ground"]

#: (eye, target) in Unreal cm relative to the free space's centre at floor level
VIEW = [((420.0, -250.0, 170.0), (0.0, 0.0, 0.0)),
        ((-300.0, 700.0, 250.0), (0.0, 0.0, 50.0)),
        ((650.0, 400.0, 140.0), (-3000.0, -1500.0, 60.0)),
        ((-900.0, -700.0, 120.0), (3000.0, -1000.0, 40.0))]
#: indices of the nearly level view cameras (the horizon in frame)
LEVEL = (2, 3)
TOP = [((1500.0 * np.cos(a), 1500.0 * np.sin(a), 1200.0), (1510.0 * np.cos(a), 1510.0 * np.sin(a), 0.0))
       for a in np.radians([20.0, 110.0, 200.0, 290.0])]
#: floor points nearer the centre than this (metres) are left out of the smear: there the map is stretched < 5x
#: (1.7 m capture height) and shows the HDRI's own ground, with its own radial lines (kerbs, road markings)
FAR_M = 8.0
_LUMA = np.array([0.2126, 0.7152, 0.0722])


def _up() -> np.ndarray:
    from synth.core.unreal import unreal_points_to_world

    o, up = unreal_points_to_world(np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 100.0]]))
    return (up - o) / np.linalg.norm(up - o)


def _rays(c2w: np.ndarray, K: np.ndarray, size: int) -> np.ndarray:
    """``(H, W, 3)`` unit view rays of a square image's pixel centres in world axes (OpenCV c2w)."""
    u, v = np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5)
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)
    rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
    return rays @ np.asarray(c2w)[:3, :3].T


def floor_radial_dirs(c2w: np.ndarray, K: np.ndarray, size: int, centre: np.ndarray,
                      far_m: float = FAR_M) -> Tuple[np.ndarray, np.ndarray]:
    """Floor pixels and the image direction of the radial line from ``centre`` through their floor point.

    Args:
        c2w: ``(4, 4)`` OpenCV camera-to-world (the repo's right-handed world, metres).
        K: ``(3, 3)`` intrinsics of a ``size`` x ``size`` image.
        centre: ``(3,)`` world point on the floor plane (the projection centre at floor level).
        far_m: only floor points farther than this from ``centre`` count.
    Returns:
        mask ``(H, W)`` bool (rays 2+ degrees below the horizon meeting the floor beyond ``far_m``) and the unit
        image direction ``(H, W, 2)`` (x right, y down) of the radial line there.
    """
    up = _up()
    d = _rays(c2w, K, size)
    eye = np.asarray(c2w)[:3, 3]
    dz = d @ up
    mask = dz < -np.sin(np.radians(2.0))
    t = np.where(mask, -((eye - centre) @ up) / np.minimum(dz, -1e-9), 0.0)
    p = eye + t[..., None] * d
    radial = p - centre
    radial -= (radial @ up)[..., None] * up
    mask &= np.linalg.norm(radial, axis=-1) > far_m
    radial /= np.maximum(np.linalg.norm(radial, axis=-1, keepdims=True), 1e-9)
    q = p + 0.01 * np.maximum(t, 1.0)[..., None] * radial
    w2c = np.linalg.inv(c2w)
    pc, qc = p @ w2c[:3, :3].T + w2c[:3, 3], q @ w2c[:3, :3].T + w2c[:3, 3]
    f = np.array([K[0, 0], K[1, 1]])
    s = qc[..., :2] / np.maximum(qc[..., 2:], 1e-9) * f - pc[..., :2] / np.maximum(pc[..., 2:], 1e-9) * f
    s /= np.maximum(np.linalg.norm(s, axis=-1, keepdims=True), 1e-12)
    return mask, s


def radial_anisotropy(gray: np.ndarray, mask: np.ndarray, s: np.ndarray) -> Tuple[float, float]:
    """Squared luminance gradient (Sobel) across and along the unit image directions ``s`` ``(H, W, 2)``, summed
    over ``mask`` ``(H, W)``; ``gray`` ``(H, W)`` float."""
    from scipy.ndimage import sobel

    gx, gy = sobel(gray, 1), sobel(gray, 0)
    along = gx * s[..., 0] + gy * s[..., 1]
    across = -gx * s[..., 1] + gy * s[..., 0]
    return float((across ** 2)[mask].sum()), float((along ** 2)[mask].sum())


def _poses(centre_cm: np.ndarray, cams):
    from synth.core.poses import Poses
    from synth.core.unreal import look_at_rotator

    eyes = np.array([centre_cm + e for e, _ in cams])
    rots = np.stack([look_at_rotator(eyes[i:i + 1], (centre_cm + np.asarray(t))[None])[0]
                     for i, (_, t) in enumerate(cams)])
    return Poses.from_unreal(eyes, rots)


def measure_ground(backend, env, size: int = 128) -> Tuple[Dict[str, float], List[np.ndarray]]:
    """Smear and seam (see the module docstring) of ``env`` (an image-lit catalog environment, params as given)
    rendered by ``backend`` (an ``EmbeddedBackend`` with 4 cameras, ``standard``).

    Returns:
        ``{"smear", "seam"}`` and the four view images ``(size, size, 3)`` float in [0, 1] (sRGB).
    """
    from synth.core.intrinsics import intrinsics_from_lens
    from synth.core.scene_spec import Lens
    from synth.core.unreal import unreal_points_to_world

    lens = Lens(24, 5, 23.76)
    K = intrinsics_from_lens(lens.focal_length_mm, lens.sensor_mm, size, size)
    c = (np.asarray(env.free_space_cm.min, float) + np.asarray(env.free_space_cm.max, float)) / 2
    c[2] = 0.0
    backend.load_environment(env, env.lighting[0])
    backend.set_lens(lens, size, size)
    views = _poses(c, VIEW)
    backend.set_camera_poses(views)
    imgs = [cc.rgb.astype(float) / 255 for cc in backend.capture()]
    ground = backend.scene.find("projected-ground")
    ground.hide()
    backend.set_camera_poses(views)
    bare = [cc.rgb.astype(float) / 255 for cc in backend.capture()]
    ground.show()
    up = _up()
    seam = []
    for i in LEVEL:
        rz = _rays(views.c2w[i], K, size) @ up
        rows = np.where((np.abs(rz) < np.sin(np.radians(2.0))).any(1))[0]
        lo, hi = rows.min(), rows.max() + 1
        jump = np.abs(np.diff(imgs[i][lo:hi].mean(1), axis=0)).max()
        jump_bare = np.abs(np.diff(bare[i][lo:hi].mean(1), axis=0)).max()
        seam.append(float(jump - jump_bare))
    tops = _poses(c, TOP)
    backend.set_camera_poses(tops)
    centre_w = unreal_points_to_world(c[None])[0]
    across = along = 0.0
    for i, cc in enumerate(backend.capture()):
        mask, sdir = floor_radial_dirs(tops.c2w[i], K, size, centre_w)
        a, b = radial_anisotropy((cc.rgb.astype(float) / 255) @ _LUMA, mask, sdir)
        across, along = across + a, along + b
    return {"smear": across / max(along, 1e-12), "seam": max(seam)}, imgs
