"""Hair that reads as hair, eyebrows and shoes (issue 23, items 2 and 8; "shoes are bare-foot shapes").

* Shoes: a closed shell per foot whose inside holds the whole foot below the ankle (generalised winding number of
  the shoe's surface at every foot vertex), a sole under it, skinned like the foot.
* Eyebrows: two strips of strand cards per body (bald ones too), over each eye, on the skin, rigid on the head.
* Hair strands: alpha-cut cards; rendered (standard look, small frames) they put hair-coloured pixels on the top of
  the head for every style, none for the bald head (whose hair-coloured pixels are its eyebrows', lower down); the
  mask pass cuts out what the colour pass does (a mask pixel never shows the bare background in the colour frame).
"""

from __future__ import annotations

import numpy as np
import pytest

from look2_support import bank_body
from synth.render.embedded import bodies as B
from synth.render.embedded.garments import SOLE_M, STRAND_CUTOFF, strand_texture

LOOK = {"top_style": "t-shirt", "bottom_style": "jeans", "hair_name": "brown", "hair": (0.4, 0.25, 0.12)}


@pytest.fixture(scope="module")
def body(tmp_path_factory):
    return bank_body(tmp_path_factory)


def _winding(points: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Generalised winding number (P,) of closed-ish triangle soup ``tri`` (T, 3, 3) at ``points`` (P, 3): 1 inside,
    0 outside (Van Oosterom & Strackee's solid angle per triangle, summed / 4 pi)."""
    out = np.zeros(len(points))
    for s in range(0, len(points), 256):
        a = tri[None, :, 0] - points[s:s + 256, None]
        b = tri[None, :, 1] - points[s:s + 256, None]
        c = tri[None, :, 2] - points[s:s + 256, None]
        la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
        det = np.einsum("pti,pti->pt", a, np.cross(b, c))
        den = la * lb * lc + np.einsum("pti,pti->pt", a, b) * lc + np.einsum("pti,pti->pt", b, c) * la \
            + np.einsum("pti,pti->pt", c, a) * lb
        out[s:s + 256] = 2 * np.arctan2(det, den).sum(1) / (4 * np.pi)
    return out


def test_shoes_hold_the_feet_below_the_ankle_on_a_sole(body):
    shoes = [lay for lay in B.garment_layers(body, LOOK) if lay.name == "shoes"]
    assert len(shoes) == 2 and all(s.region == B.SHOES for s in shoes)
    part = np.array(body.part_names)[body.face_part]
    for shoe, side, s in zip(shoes, ("Left", "Right"), "LR"):
        foot = np.unique(body.faces[part == f"foot.{s}"])
        fv = body.vertices[foot].astype(float)
        ankle_y = body.joints[body.bone(f"{side}Foot"), 1]
        v = shoe.vertices
        # below the ankle (its collar reaches the foot part's top), on the foot's side, a sole under the foot
        assert v[:, 1].max() <= fv[:, 1].max() + 0.01 and v[:, 1].max() < ankle_y + 0.05
        assert np.sign(v[:, 0].mean()) == (1 if s == "L" else -1)
        np.testing.assert_allclose(v[:, 1].min(), fv[:, 1].min() - SOLE_M, atol=0.002)
        lo, hi = v.min(0), v.max(0)
        assert (lo[[0, 2]] <= fv.min(0)[[0, 2]]).all() and (hi[[0, 2]] >= fv.max(0)[[0, 2]]).all()
        # every foot vertex more than 2 cm below the opening is inside the shoe (the toes included)
        deep = (fv[:, 1] < fv[:, 1].max() - 0.02) & (np.arange(len(fv)) % 2 == 0)  # every other: time
        w = _winding(fv[deep], shoe.vertices[shoe.faces])
        assert (w > 0.5).mean() > 0.995, (side, float((w > 0.5).mean()))
        # the check can fail: the bare foot itself (no offset) does not hold its own vertices pushed out 1 cm
        nrm = B.vertex_normals(body.vertices.astype(float), body.faces)[foot][deep]
        assert (_winding(fv[deep] + nrm * 0.01, shoe.vertices[shoe.faces]) > 0.5).mean() < 0.9
        # skinned like the foot: only foot and toe bones (and the leg at the ankle) move it
        movers = {body.bone_names[j] for j in np.unique(shoe.joints4[shoe.weights4 > 0.05])}
        assert {f"{side}Foot", f"{side}ToeBase"} <= movers <= {f"{side}Foot", f"{side}ToeBase", f"{side}Leg"}
        np.testing.assert_allclose(shoe.weights4.sum(1), 1.0, atol=1e-5)


def test_every_body_has_eyebrows_over_its_eyes():
    from synth.scenes.catalog import asset_cache_dir

    built = sorted((asset_cache_dir() / "bodies").glob("body*.npz"))[:3]
    if not built:
        pytest.skip("no bank bodies in the asset cache (run scripts/setup.sh)")
    for path in built:
        body = B.load_body(path)
        part = np.array(body.part_names)[body.face_part]
        head = body.vertices[np.unique(body.faces[part == "head"])].astype(float)
        for style in ("bald", "long"):
            brows = [lay for lay in B.garment_layers(body, {**LOOK, "hair_style": style}) if lay.name == "eyebrows"]
            assert len(brows) == 1 and brows[0].region == B.HAIR_STRANDS, (path.name, style)
            e = brows[0]
            assert (e.joints4[:, 0] == body.bone("Head")).all() and (e.weights4[:, 0] == 1).all()
            for s, sign in (("L", 1), ("R", -1)):
                eye = body.vertices[np.unique(body.faces[part == f"eye_front.{s}"])].astype(float)
                mine = e.vertices[np.sign(e.vertices[:, 0]) == sign]
                assert len(mine) >= 16, (path.name, s)
                # above the eye (over its box's top, under 3 cm higher), across it, in front of the face
                assert mine[:, 1].min() > eye[:, 1].max() - 0.002 and mine[:, 1].max() < eye[:, 1].max() + 0.03
                assert mine[:, 0].min() < eye[:, 0].mean() < mine[:, 0].max()
                assert mine[:, 2].min() > eye[:, 2].min() - 0.01
                # on the skin (head vertices are 3-5 mm apart, the cards' edges 2-3 mm off their middle line)
                d = np.linalg.norm(mine[:, None] - head[None], axis=-1).min(1)
                assert d.max() < 0.009 and np.median(d) < 0.005, (path.name, s, float(d.max()))


def test_strand_texture_cuts_cards_into_strands():
    t = strand_texture()
    a = t[..., 3].astype(float) / 255
    assert t.dtype == np.uint8 and t.shape[2] == 4
    cut = a >= STRAND_CUTOFF
    # strands: many runs of kept texels across a row, gaps between them; tips and sides fade out
    row = cut[t.shape[0] // 2]
    runs = int((np.diff(row.astype(int)) == 1).sum())
    assert runs >= 8 and 0.25 < cut.mean() < 0.8
    assert a[:, :3].max() < STRAND_CUTOFF and a[:, -3:].max() < STRAND_CUTOFF  # no straight card edge
    assert a[-2:].max() < STRAND_CUTOFF and a[:2].max() < STRAND_CUTOFF  # tips and roots fade
    assert t[..., :3][cut].min() >= 0.6 * 255  # grey levels near white: the material carries the colour


SIZE = 160


def _strand_shaders(actor) -> set:
    """The shaders on the geoms of ``actor`` whose material is the hair strands' (None: no shader of their own)."""
    from panda3d.core import MaterialAttrib, ShaderAttrib

    out = set()
    for np_ in actor.findAllMatches("**/+GeomNode"):
        gn = np_.node()
        for i in range(gn.getNumGeoms()):
            st = gn.getGeomState(i)
            ma = st.getAttrib(MaterialAttrib)
            if ma is not None and ma.getMaterial() is not None and ma.getMaterial().getName() == "hair_strands":
                sa = st.getAttrib(ShaderAttrib)
                out.add(sa.getShader() if sa is not None else None)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("quality,styles", [("standard", ("bald", "short", "long", "ponytail", "bun", "curly")),
                                            ("draft", ("bald", "long", "bun"))])
def test_hair_pixels_above_the_head_and_masks_cut_as_the_colour_pass(quality, styles):
    from synth.core.poses import Poses
    from synth.core.scene_spec import Lens
    from synth.core.unreal import look_at_rotator
    from synth.render.backend import CaptureRequest
    from synth.render.embedded.backend import EmbeddedBackend
    from synth.scenes.catalog import load_catalog

    cat = load_catalog()
    char = next((c for c in cat.characters if c.asset.startswith("anny:")), None)
    if char is None:
        pytest.skip("no bank bodies in the installed catalog (run scripts/setup.sh)")
    idle = cat.animation("idle")
    cat = cat.model_copy(update={"animations": [idle]})  # one clip: the body GLBs build in seconds
    be = EmbeddedBackend(cat, 2, quality=quality)
    be.load_environment(cat.environment("hdri_park"), cat.environment("hdri_park").lighting[0])
    hz = char.height_m * 100 * 0.93
    eyes = np.array([[50.0, 15.0, hz + 10], [-45.0, -20.0, hz + 10]])  # in front (it faces +X) and behind
    poses = Poses.from_unreal(eyes, look_at_rotator(eyes, np.array([[0.0, 0.0, hz]])))
    above, stray, magenta = {}, {}, {}
    try:
        be.set_lens(Lens(35, 5, 23.76), SIZE, SIZE)
        be.set_camera_poses(poses)
        be.spawn_character(char, [0.0, 0.0, 0.0], 0.0)
        be.char_root.hide()
        be.contact.root.hide()
        background = [c.rgb.astype(int) for c in be.capture()]
        tops = None
        for style in styles:
            # magenta hair: nothing else in the frame has that colour
            look = {**char.params["look"], "hair_style": style, "hair": (0.85, 0.1, 0.85)}
            be.spawn_character(char.model_copy(update={"params": {**char.params, "look": look}}), [0.0, 0.0, 0.0], 0.0)
            be.set_animation(idle)
            be.set_animation_time(0.5)
            # standard: the strands (hair and eyebrows) have the hair shader; draft: the fixed-function alpha test
            want = {be.pbr.hair_shader} if quality == "standard" else {None}
            assert _strand_shaders(be.character.actor) == want, style
            caps = be.capture(CaptureRequest(mask=True))
            rows = [np.flatnonzero(c.mask.any(1)) for c in caps]
            if style == "bald":
                tops = [int(r.min()) for r in rows]  # the bare head's top row in each view
            px = [c.rgb.astype(int) for c in caps]
            hair = [c.mask & (p[..., 0] > 1.4 * p[..., 1] + 20) & (p[..., 2] > 1.4 * p[..., 1] + 20) for c, p in
                    zip(caps, px)]
            magenta[style] = sum(int(h[:t + SIZE // 2].sum()) for h, t in zip(hair, tops))  # the head, not the top
            # hair on top of the head: hair-coloured pixels over the bare head's top rows (the eyebrows are lower)
            above[style] = sum(int(h[:t + SIZE // 12].sum()) for h, t in zip(hair, tops))
            # a mask pixel showing the plain background in the colour frame: a card cut out in one pass only
            for c, bg in zip(caps, background):
                same = np.abs(c.rgb.astype(int) - bg).max(-1) <= 2
                stray[style] = max(stray.get(style, 0.0), float((c.mask & same).sum() / max(c.mask.sum(), 1)))
    finally:
        be.close()
    thin = {s: n for s, n in above.items() if s != "bald" and n < 60}
    assert above["bald"] == 0 and not thin, f"hair pixels on the head's top (two {SIZE}x{SIZE} views): {above}"
    # hair-coloured pixels: many for every style; for the bald head only its eyebrows'
    assert magenta["bald"] < 0.15 * min(n for s, n in magenta.items() if s != "bald"), magenta
    # measured: 0 for every hair style (a stray pixel for the bald head); masks drawn without the cut-out: 0.2-0.9%
    assert max(stray.values()) < 0.001, stray
