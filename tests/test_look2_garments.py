"""Garments as geometry (issue 23, item 1): garment meshes cover the skin they should at every sampled frame of every
motion of the catalog, on rendered masks.

Each frame, the body and its garments are skinned exactly as the renderer's GLB is (linear-blend skinning with the
same weights, :func:`synth.render.embedded.bodies.skin_points`) and drawn in flat colours by the embedded renderer's
Panda3D: the skin under a garment magenta (less the row of triangles at its openings, which one sees through a
neckline or hem), garments green, the rest blue. Magenta pixels are skin showing through a garment: for shells
(tops, trousers, jeans, shorts) under 0.5% of the garment's pixels in every view of every frame of every motion.
Hanging skirts have no cloth simulation: a knee raised high (climbing, the playground jumps) pushes the thigh
through the front; measured 2.1-2.9% at worst (0.6% at worst for the built-in clips), bounded here at 3%.
"""

from __future__ import annotations

import numpy as np
import pytest

from look2_support import bank_body, retargeted
from synth.core.poses import Poses
from synth.core.scene_spec import Lens
from synth.core.unreal import look_at_rotator
from synth.scenes.catalog import load_catalog

SIZE = 72
#: bank looks: sweater + shorts, sweater + skirt, dress
LOOKS = (0, 13, 15)
FRAMES_PER_CLIP = 2
SHELL_MAX = 0.005
HANGING_MAX = 0.03


@pytest.fixture(scope="module")
def body(tmp_path_factory):
    return bank_body(tmp_path_factory)


def _to_panda(v):
    """glTF character space (Y up, facing +Z) -> Panda3D (Z up), metres."""
    return np.stack([v[..., 0], -v[..., 2], v[..., 1]], -1)


def _node(name, verts, faces, rgb):
    from synth.render.embedded.procedural import mesh_node

    n = np.zeros_like(verts, np.float32)
    uv = np.zeros((len(verts), 2), np.float32)
    np_ = mesh_node(name, verts.astype(np.float32), n, uv, faces.astype(np.uint32))
    np_.setLightOff(1000)
    np_.setShaderOff(1000)
    np_.setTextureOff(1000)
    np_.setMaterialOff(1000)
    np_.setTwoSided(True)
    np_.setColor(*rgb, 1, 1000)
    return np_


@pytest.mark.slow
def test_garments_cover_their_skin_in_every_motion(body):
    from synth.assets_build.bodies import BANK_SEED, sample_body
    from synth.render.embedded import bodies as B
    from synth.render.embedded.backend import EmbeddedBackend

    cat = load_catalog()
    char = next((c for c in cat.characters if c.asset.startswith("anny:")), None)
    if char is None:
        pytest.skip("no bank bodies in the installed catalog (run scripts/setup.sh)")
    anims = cat.animations_for(char.id)
    be = EmbeddedBackend(cat, 3, quality="draft")
    be.load_environment(cat.environment("room"), "warm_lamp")
    for ch in be.scene.getChildren():
        ch.hide()
    be.set_lens(Lens(35, 5, 23.76), SIZE, SIZE)
    ang = np.radians([20, 140, 260])
    eyes = np.stack([330 * np.cos(ang), 330 * np.sin(ang), [60.0, 150.0, 100.0]], -1)
    be.set_camera_poses(Poses.from_unreal(eyes, look_at_rotator(eyes, np.array([[0.0, 0.0, 85.0]]))))
    worst = {}
    try:
        for li in LOOKS:
            look = sample_body(BANK_SEED, li)["look"]
            reg = B.face_regions(body, look)
            layers = B.garment_layers(body, look, reg)
            names = {lay.name for lay in layers}
            # skin under a garment, less the rim row at its openings (seen through the neckline, cuffs, hems)
            covered = np.isin(reg, [B.TOP, B.BOTTOM])
            rim = np.zeros(len(body.vertices), bool)
            rim[body.faces[~covered].reshape(-1)] = True
            covered &= ~rim[body.faces].any(1)
            assert "top" in names and ("skirt" in names) == (look["bottom_style"] in ("skirt", "dress"))
            for anim in anims:
                rt = retargeted(body, cat, anim)
                F = rt.hips_offset.shape[0]
                frames = np.linspace(0, F - 1, FRAMES_PER_CLIP).round().astype(int)
                skin = B.pose_vertices_all(body, rt, np.arange(len(body.vertices)), frames)
                posed = [B.skin_points(body, rt, lay.vertices, lay.joints4, lay.weights4, frames) for lay in layers]
                for k in range(len(frames)):
                    root = be.scene.attachNewNode("garment-check")
                    _node("covered", _to_panda(skin[k]), body.faces[covered], (1, 0, 1)).reparentTo(root)
                    _node("other", _to_panda(skin[k]), body.faces[~covered], (0, 0, 1)).reparentTo(root)
                    for lay, p in zip(layers, posed):
                        # hair, eyebrows and shoes are not garments here (they cover no top/bottom skin)
                        rgb = (0, 0, 1) if lay.name in ("hair", "scalp", "eyebrows", "shoes") else (0, 1, 0)
                        _node(lay.name, _to_panda(p[k]), lay.faces, rgb).reparentTo(root)
                    for ci, cap in enumerate(be.capture()):
                        px = cap.rgb.astype(int)
                        magenta = ((px[..., 0] > 200) & (px[..., 1] < 60) & (px[..., 2] > 200)).sum()
                        green = ((px[..., 0] < 60) & (px[..., 1] > 200) & (px[..., 2] < 60)).sum()
                        assert green > 30, (li, anim.id, int(frames[k]), ci)
                        key = (li, anim.id)
                        worst[key] = max(worst.get(key, 0.0), magenta / green)
                    root.removeNode()
    finally:
        be.close()
    hanging = {li for li in LOOKS if sample_body(BANK_SEED, li)["look"]["bottom_style"] in ("skirt", "dress")}
    bad = {k: round(v, 4) for k, v in worst.items() if v > (HANGING_MAX if k[0] in hanging else SHELL_MAX)}
    assert not bad, f"skin showing through garments (magenta / garment pixels): {bad}"
    assert len(worst) == len(LOOKS) * len(anims) >= 3 * 16
