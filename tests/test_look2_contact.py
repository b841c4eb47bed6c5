"""Contact shadows (issue 23, item 4): in every environment of the catalog the ground around the character's feet is
darker than the ground 1 m away, and the contact shadow is what makes it so (hiding it brightens the feet's ring).

Measured on rendered images: ground points on rings around the feet (0.16-0.28 m) and 1 m away (0.95-1.05 m) are
projected with the camera's intrinsics and pose (:meth:`synth.core.poses.Poses.project`); pixels of the character
(its mask, dilated) are left out. Ground textures vary (blotchy cobbles, grass), so each pixel's luminance is divided
by the same pixel's in a render without the character: what is compared is the shading the character brings to the
ground (contact shadow, its cast shadow), not the ground's albedo.
"""

from __future__ import annotations

import numpy as np
import pytest

from synth.core.intrinsics import intrinsics_from_lens
from synth.core.poses import Poses
from synth.core.scene_spec import Lens
from synth.core.unreal import look_at_rotator, unreal_points_to_world
from synth.render.backend import CaptureRequest
from synth.scenes.catalog import load_catalog

SIZE = 96
LENS = Lens(24, 5, 23.76)
EYE_CM = np.array([[230.0, 70.0, 200.0]])


def _ring_pixels(radii_m, K, poses, mask):
    ang = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    pts = np.array([[r * np.cos(a) * 100, r * np.sin(a) * 100, 0.0] for r in radii_m for a in ang])
    uv, z = poses.project(K, unreal_points_to_world(pts))
    uv, z = uv[0], z[0]
    col, row = np.floor(uv[:, 0]).astype(int), np.floor(uv[:, 1]).astype(int)
    ok = (z > 0) & (col >= 0) & (col < SIZE) & (row >= 0) & (row < SIZE)
    col, row = col[ok], row[ok]
    from scipy.ndimage import binary_dilation

    near_char = binary_dilation(mask, iterations=2)
    keep = ~near_char[row, col]
    return row[keep], col[keep]


def _luma(rgb):
    lin = (rgb.astype(float) / 255) ** 2.2
    return lin @ np.array([0.2126, 0.7152, 0.0722])


def _rings(be, K, poses, bare):
    """Median shading (luminance with the character / without it) on the feet's ring and on the 1 m ring."""
    cap = be.capture(CaptureRequest(mask=True))[0]
    ratio = _luma(cap.rgb) / np.maximum(bare, 1e-4)
    near = _ring_pixels([0.16, 0.22, 0.28], K, poses, cap.mask)
    far = _ring_pixels([0.95, 1.0, 1.05], K, poses, cap.mask)
    assert len(near[0]) > 40 and len(far[0]) > 40
    return float(np.median(ratio[near])), float(np.median(ratio[far])), cap.mask


@pytest.mark.slow
def test_ground_near_the_feet_is_darker_in_every_environment():
    from synth.render.embedded.backend import EmbeddedBackend

    cat = load_catalog()
    be = EmbeddedBackend(cat, 1, quality="standard")
    K = intrinsics_from_lens(LENS.focal_length_mm, LENS.sensor_mm, SIZE, SIZE)
    poses = Poses.from_unreal(EYE_CM, look_at_rotator(EYE_CM, np.array([[0.0, 0.0, 0.0]])))
    results = {}
    try:
        for env in cat.environments:
            be.load_environment(env, env.lighting[0])
            be.spawn_character(cat.character("alex"), [0.0, 0.0, 0.0], 0.0)
            be.set_animation(cat.animation("idle"))
            be.set_animation_time(0.5)
            be.set_lens(LENS, SIZE, SIZE)
            be.set_camera_poses(poses)
            be.char_root.hide()
            be.contact.root.hide()
            bare = _luma(be.capture()[0].rgb)
            be.char_root.show()
            be.contact.root.show()
            near, far, mask = _rings(be, K, poses, bare)
            be.contact.root.hide()
            near_off, _, mask_off = _rings(be, K, poses, bare)
            np.testing.assert_array_equal(mask, mask_off)  # the character's mask does not see its contact shadow
            results[env.id] = (near / far, near / near_off)
    finally:
        be.close()
    darker = {k: round(v[0], 3) for k, v in results.items() if not v[0] < 0.9}
    assert not darker, f"ground near the feet / 1 m away should be < 0.9: {darker}"
    caused = {k: round(v[1], 3) for k, v in results.items() if not v[1] < 0.93}
    assert not caused, f"the contact shadow should darken the feet's ring (with / without < 0.93): {caused}"
