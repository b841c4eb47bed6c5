"""Hair as geometry (issue 23, item 2): card meshes per style, rooted on the scalp, sized to the head, skinned to
the head bone, and matching the caption's words (the outfit record names the style the cards draw)."""

from __future__ import annotations

import numpy as np
import pytest

from look2_support import bank_body
from synth.render.embedded import bodies as B
from synth.render.embedded.garments import HAIR_CARDS, hair_cards
from synth.scenes.outfit import HAIR_STYLES, outfit_phrase

LOOK = {"top_style": "t-shirt", "bottom_style": "jeans", "hair_name": "brown"}


@pytest.fixture(scope="module")
def body(tmp_path_factory):
    return bank_body(tmp_path_factory)


def _hair(body, style):
    lay = [x for x in B.garment_layers(body, {**LOOK, "hair_style": style}) if x.name == "hair"]
    return lay[0] if lay else None


def test_every_style_but_bald_has_cards_sized_and_placed_on_the_head(body):
    assert set(HAIR_CARDS) == {s for s, v in HAIR_STYLES.items() if v is not None}
    assert _hair(body, "bald") is None
    head = np.array(body.part_names)[body.face_part] == "head"
    hv = body.vertices[np.unique(body.faces[head])].astype(float)
    lo, hi = hv.min(0), hv.max(0)
    size = hi[1] - lo[1]
    J = body.joints
    neck_y = J[body.bone("Neck"), 1]
    head_bone = body.bone("Head")
    shell_only = {}
    ext = {}
    for style in HAIR_CARDS:
        lay = _hair(body, style)
        v = lay.vertices
        # cards beyond the scalp shell: many more vertices than the thin shell of the same scalp region
        reg = B.face_regions(body, {**LOOK, "hair_style": style})
        shell_only[style] = len(np.unique(body.faces[reg == B.HAIR]))
        assert len(v) > 3 * shell_only[style], style
        assert (lay.weights4.sum(1) > 0.999).all() and (lay.weights4.sum(1) < 1.001).all()
        above = v[:, 1] > J[head_bone, 1]  # the head moves everything over its bone's head
        on_head = (lay.weights4 * (lay.joints4 == head_bone)).sum(1)
        # the shell keeps the scalp's own weights (the nape's share the neck); the cards are rigid on the head
        assert (on_head[above] > 0.999).mean() > 0.75, style
        # on the head: within a head-sized margin of its box (x, and y above the chin for the short styles)
        assert (np.abs(v[:, 0] - (lo[0] + hi[0]) / 2) < 0.5 * (hi[0] - lo[0]) + 0.06).all(), style
        assert v[:, 1].max() < hi[1] + 0.05 * size + 0.03, style
        ext[style] = (v[:, 1].min(), v[:, 2].min())
    # what the caption says: long hair and a ponytail reach below the neck, the others stay on the head;
    # a ponytail and a bun reach further back than short hair
    for style, (ymin, _) in ext.items():
        assert (ymin < neck_y - 0.03) == (style in ("long", "ponytail")), (style, ymin, neck_y)
    assert ext["ponytail"][1] < ext["short"][1] - 0.02 and ext["bun"][1] < ext["short"][1] - 0.02


def test_cards_scale_with_the_head():
    rng = np.random.default_rng(0)
    d = rng.normal(size=(400, 3))
    head = d / np.linalg.norm(d, axis=1, keepdims=True) * [0.08, 0.12, 0.1] + [0, 1.6, 0]
    scalp = head[head[:, 1] > 1.62]
    bones = {"Head": 3, "Neck": 2, "Spine1": 1}
    for style in HAIR_CARDS:
        a = hair_cards(style, 4, scalp, head, bones, 1.5, 1.38, seed=1)
        k = 1.25
        b = hair_cards(style, 4, (scalp - [0, 1.6, 0]) * k + [0, 1.6, 0], (head - [0, 1.6, 0]) * k + [0, 1.6, 0],
                       bones, 1.6 - 0.1 * k, 1.6 - 0.22 * k, seed=1)
        ea, eb = np.ptp(a.vertices, 0), np.ptp(b.vertices, 0)
        np.testing.assert_allclose(eb, ea * k, rtol=0.06, err_msg=style)
        assert a.region == 4 and len(a.faces) and a.faces.max() < len(a.vertices)
        top = a.vertices[:, 1] > 1.5  # above the neck: on the head bone only
        assert (a.joints4[top, 0] == 3).all() and (a.weights4[top, 0] == 1).all(), style
        np.testing.assert_allclose(a.weights4.sum(1), 1.0, atol=1e-9)
    with pytest.raises(ValueError, match="hair style 'mohawk' has no cards"):
        hair_cards("mohawk", 4, scalp, head, bones, 1.5, 1.38)


def test_caption_words_name_the_style():
    for style in HAIR_STYLES:
        words = outfit_phrase({**LOOK, "hair_style": style})
        if style == "bald":
            assert "hair" not in words
        elif style in ("ponytail", "bun"):
            assert words.startswith(f"with brown hair in a {style}, ")
        else:
            assert words.startswith(f"with {style} brown hair, ")
