"""Garments as geometry for the ``anny:`` bodies: meshes of their own over the skin, skinned with the body's weights
so they follow every motion.

* **Shells** (tops, trousers, jeans, shorts; a dress's bodice): the body's own triangles of the garment's region
  (:func:`synth.render.embedded.bodies.face_regions`), pushed out along the vertex normals by a thickness, with a hem
  strip at every open edge (neckline, cuffs, waist, leg openings) folding back to the skin, so the garment shows its
  thickness and no gap; the skin below stays (painted the garment's colour: nothing shows through where a joint
  folds the shell into the body).
* **Hanging tubes** (skirts, a dress's skirt): one tube around both legs from the waist to the hem (the outfit's leg
  coverage), its radius per height and direction the body's widest point there plus ease, never narrowing downwards
  (it hangs); skinned to the hips at the waist, blending towards each thigh (by side) at the hem.
* **Hair cards** (:func:`hair_cards`) and **eyebrows** (:func:`eyebrow_cards`): two-sided strips with a strand
  texture made here (:func:`strand_texture`: thin wavy strands, alpha fading at the tips and sides), alpha-cut at
  :data:`STRAND_CUTOFF` and shaded with an anisotropic highlight along the strands (the renderer's hair shader).
* **Shoes** (:func:`shoe`): a closed shell over each foot with a flat sole :data:`SOLE_M` under it, a convex toe box
  and a padded collar at the ankle, skinned like the foot; the clips stand on the shoes' soles.

Character space: glTF's (metres, +Y up, facing +Z, left +X). Vertex arrays are float64 here; joints4 (N, 4) int,
weights4 (N, 4) summing to 1.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Dict

import numpy as np

__all__ = ["Layer", "shell", "clip_to_level_set", "hanging_tube", "hair_cards", "HAIR_CARDS", "THICKNESS_M", "EASE_M",
           "strand_texture", "strand_png", "STRAND_CUTOFF", "eyebrow_cards", "shoe", "SOLE_M", "UPPER_M"]

#: shell thickness (metres) per garment slot: the offset from the skin along the normal
THICKNESS_M: Dict[str, float] = {"top": 0.012, "bottom": 0.011}
#: ease of a hanging tube over the body's widest point (metres)
EASE_M = 0.025


@dataclass
class Layer:
    """A skinned triangle mesh in the body's rest pose: ``vertices`` (N, 3), ``normals`` (N, 3), ``uv`` (N, 2),
    ``joints4`` (N, 4) int, ``weights4`` (N, 4), ``faces`` (M, 3) int (counter-clockwise seen from outside; hems
    and tubes carry both windings), ``region`` (the material index) and ``name``."""

    name: str
    region: int
    vertices: np.ndarray
    normals: np.ndarray
    uv: np.ndarray
    joints4: np.ndarray
    weights4: np.ndarray
    faces: np.ndarray


def _both_sides(faces: np.ndarray) -> np.ndarray:
    return np.concatenate([faces, faces[:, ::-1]])


def _odd_first(tri: np.ndarray, odd: np.ndarray) -> np.ndarray:
    """Triangles (M, 3) rotated cyclically (windings kept) so that the corner flagged in ``odd`` (M, 3) is first."""
    idx = (np.argmax(odd, 1)[:, None] + np.arange(3)[None]) % 3
    return np.take_along_axis(tri, idx, 1)


def clip_to_level_set(field, vertices, normals, uv, joints4, weights4, faces, level: float = 0.0):
    """Cut a triangle mesh along the level set ``field == level`` and keep the part where ``field >= level``
    (marching triangles): a triangle with corners on both sides is split where the field, linear over it, crosses
    ``level``, so the kept part ends along a smooth iso-line instead of a sawtooth of whole triangles.

    Args:
        field: (V,) float per vertex (a smooth signed coverage field; metres).
        vertices, normals: (V, 3); uv: (V, 2) (u wraps at 1: an edge crossing the seam interpolates the short way);
            joints4 (V, 4) int and weights4 (V, 4) skinning.
        faces: (M, 3) int candidate triangles (counter-clockwise; the windings are kept).
    Returns:
        ``(vertices, normals, uv, joints4, weights4, faces)``: the input arrays with one new vertex per cut edge
        appended (shared by the two triangles of the edge: the cut is watertight; skinning weights interpolated
        over the union of both corners' joints, the 4 largest kept, renormalised) and the kept faces.
    """
    f = np.asarray(faces, np.int64).reshape(-1, 3)
    phi = np.asarray(field, np.float64) - level
    V = len(phi)
    inside = phi[f] >= 0
    k = inside.sum(1)
    keep = f[k == 3]
    one, two = f[k == 1], f[k == 2]
    # rotate so that the odd corner (the one inside / the one outside) comes first: cyclic order, windings kept
    one = _odd_first(one, inside[k == 1])
    two = _odd_first(two, ~inside[k == 2])
    edges = np.concatenate([one[:, [0, 1]], one[:, [0, 2]], two[:, [0, 1]], two[:, [0, 2]]])
    lo, hi = edges.min(1), edges.max(1)
    ukey, inv = np.unique(lo * V + hi, return_inverse=True)
    a, b = ukey // V, ukey % V
    t = (phi[a] / np.where(phi[a] - phi[b] == 0, 1e-12, phi[a] - phi[b]))[:, None]  # field 0 at a + t (b - a)
    t = np.clip(t, 0.0, 1.0)
    verts = np.asarray(vertices, np.float64)
    nrm = np.asarray(normals, np.float64)
    tex = np.asarray(uv, np.float64)
    new_v = verts[a] + t * (verts[b] - verts[a])
    new_n = nrm[a] + t * (nrm[b] - nrm[a])
    new_n /= np.maximum(np.linalg.norm(new_n, axis=1, keepdims=True), 1e-12)
    du = tex[b, 0] - tex[a, 0]
    du -= np.round(du)  # the u seam: the short way round
    new_uv = np.stack([(tex[a, 0] + t[:, 0] * du) % 1.0, tex[a, 1] + t[:, 0] * (tex[b, 1] - tex[a, 1])], 1)
    j4, w4 = np.asarray(joints4, np.int64), np.asarray(weights4, np.float64)
    nj = max(int(j4.max()) + 1, 4)
    dense = np.zeros((len(a), nj))
    rows = np.arange(len(a))[:, None]
    np.add.at(dense, (np.repeat(rows, 4, 1), j4[a]), (1 - t) * w4[a])
    np.add.at(dense, (np.repeat(rows, 4, 1), j4[b]), t * w4[b])
    new_j = np.argsort(-dense, 1)[:, :4]
    new_w = np.take_along_axis(dense, new_j, 1)
    new_w /= np.maximum(new_w.sum(1, keepdims=True), 1e-12)
    n1 = len(one)
    c = V + inv
    ab1, ac1 = c[:n1], c[n1:2 * n1]
    ab2, ac2 = c[2 * n1:2 * n1 + len(two)], c[2 * n1 + len(two):]
    # one corner in (a in; b, c out): (a, ab, ac); two in (a out; b, c in): (b, c, ac), (b, ac, ab)
    tris = [keep, np.stack([one[:, 0], ab1, ac1], 1),
            np.stack([two[:, 1], two[:, 2], ac2], 1), np.stack([two[:, 1], ac2, ab2], 1)]
    return (np.concatenate([verts, new_v]), np.concatenate([nrm, new_n]), np.concatenate([tex, new_uv]),
            np.concatenate([j4, new_j]), np.concatenate([w4, new_w]), np.concatenate(tris).astype(np.int64))


def shell(name: str, region: int, vertices, normals, uv, joints4, weights4, faces, thickness: float) -> Layer:
    """The shell of the triangles ``faces`` (indices into the body's arrays): the used vertices pushed out by
    ``thickness`` metres along ``normals``, plus a two-sided hem strip from every open edge back to 1 mm over the
    skin. Skinning and texture coordinates are the body's."""
    faces = np.asarray(faces, np.int64)
    used, inv = np.unique(faces.reshape(-1), return_inverse=True)
    f_out = inv.reshape(-1, 3)
    n = np.asarray(normals, np.float64)[used]
    v = np.asarray(vertices, np.float64)[used]
    verts = [v + n * thickness]
    # open edges: directed edges of the selection whose reverse is not in it
    e = np.concatenate([f_out[:, [0, 1]], f_out[:, [1, 2]], f_out[:, [2, 0]]])
    key = e[:, 0] * len(used) + e[:, 1]
    rev = e[:, 1] * len(used) + e[:, 0]
    open_e = e[~np.isin(key, rev)]
    hem_faces = np.zeros((0, 3), np.int64)
    src = np.arange(len(used))
    if len(open_e):
        ring = np.unique(open_e.reshape(-1))
        inner = len(used) + np.searchsorted(ring, open_e)  # index of the inner copy of each edge vertex
        verts.append(v[ring] + n[ring] * 0.001)
        src = np.concatenate([src, ring])
        a, b = open_e[:, 0], open_e[:, 1]
        ia, ib = inner[:, 0], inner[:, 1]
        hem_faces = _both_sides(np.concatenate([np.stack([a, ib, b], 1), np.stack([a, ia, ib], 1)]))
    return Layer(name, region, np.concatenate(verts), n[src], np.asarray(uv, np.float64)[used][src],
                 np.asarray(joints4)[used][src].astype(np.int64), np.asarray(weights4, np.float64)[used][src],
                 np.concatenate([f_out, hem_faces]).astype(np.int64))


def hanging_tube(name: str, region: int, body_vertices: np.ndarray, candidate: np.ndarray, hips: np.ndarray,
                 waist_y: float, hem_y: float, bones: Dict[str, int], levels: int = 12, around: int = 48,
                 flare: float = 0.12, body_joints4=None, body_weights4=None) -> Layer:
    """A skirt: a tube around the body from ``waist_y`` down to ``hem_y`` (metres), centred on the hips' vertical
    axis. Its radius in each of ``around`` directions and ``levels`` heights is the largest radius of the
    ``candidate`` body vertices (bool (V,): torso and legs, not arms) within 3 cm of that height and 12 degrees of
    that direction, plus :data:`EASE_M`, never smaller than the level above (it hangs) and widened towards the hem
    by ``flare`` (fraction). Skinning: the weights of the nearest candidate body vertex (``body_joints4`` /
    ``body_weights4``), so that the skirt rides the hips at the waist and lifts with a raised thigh at the hem (no
    cloth simulation: a knee raised high still pushes through the front); without body weights, 55% on the thighs (``bones["LeftUpLeg"]`` /
    ``bones["RightUpLeg"]``, by the side, +X is left) at the hem."""
    v = np.asarray(body_vertices, np.float64)[candidate]
    rel = v - hips
    r_v = np.hypot(rel[:, 0], rel[:, 2])
    th_v = np.arctan2(rel[:, 0], rel[:, 2])
    ys = np.linspace(waist_y, hem_y, levels)
    th = np.linspace(-np.pi, np.pi, around, endpoint=False)
    R = np.zeros((levels, around))
    for i, y in enumerate(ys):
        band = np.abs(v[:, 1] - y) < 0.03
        for k, t in enumerate(th):
            d = np.abs((th_v[band] - t + np.pi) % (2 * np.pi) - np.pi) < np.radians(12)
            R[i, k] = r_v[band][d].max() if d.any() else 0.0
        if i and (R[i] == 0).any():
            R[i] = np.where(R[i] == 0, R[i - 1], R[i])
    R = np.maximum.accumulate(R + EASE_M, axis=0)
    t_lvl = np.linspace(0, 1, levels)
    R = R * (1 + flare * t_lvl[:, None] ** 2)
    R = np.maximum(R, R.mean(1, keepdims=True) * 0.85)  # no pinched folds between the legs
    x = hips[0] + R * np.sin(th)[None]
    z = hips[2] + R * np.cos(th)[None]
    y = np.repeat(ys[:, None], around, 1)
    verts = np.stack([x, y, z], -1).reshape(-1, 3)
    # faces between rings (closed around: the last column joins the first)
    i, k = np.meshgrid(np.arange(levels - 1), np.arange(around), indexing="ij")
    a = i * around + k
    b = i * around + (k + 1) % around
    c = (i + 1) * around + (k + 1) % around
    d = (i + 1) * around + k
    quads = np.stack([a, b, c, d], -1).reshape(-1, 4)
    faces = np.concatenate([quads[:, [0, 2, 1]], quads[:, [0, 3, 2]]])  # outward (seen from outside: CCW)
    faces = _both_sides(faces)
    # normals: horizontal, outward
    nrm = np.stack([np.sin(th)[None].repeat(levels, 0), np.zeros((levels, around)),
                    np.cos(th)[None].repeat(levels, 0)], -1).reshape(-1, 3)
    uv = np.stack([np.broadcast_to((th + np.pi) / (2 * np.pi), (levels, around)), y / 0.5], -1).reshape(-1, 2)
    side = np.broadcast_to(np.sin(th)[None], (levels, around)).reshape(-1)  # +1 left, -1 right
    t = np.broadcast_to(t_lvl[:, None], (levels, around)).reshape(-1)
    j4 = np.zeros((len(verts), 4), np.int64)
    w4 = np.zeros((len(verts), 4))
    if body_joints4 is None:
        legs = 0.55 * t
        j4[:, 0], j4[:, 1], j4[:, 2] = bones["Hips"], bones["LeftUpLeg"], bones["RightUpLeg"]
        w4[:, 0] = 1 - legs
        w4[:, 1] = legs * (0.5 + 0.5 * side)
        w4[:, 2] = legs * (0.5 - 0.5 * side)
    else:
        from scipy.spatial import cKDTree

        idx = np.flatnonzero(candidate)
        _, near = cKDTree(np.asarray(body_vertices, np.float64)[idx]).query(verts)
        j4[:] = np.asarray(body_joints4)[idx[near]]
        w4[:] = np.asarray(body_weights4, np.float64)[idx[near]]
    return Layer(name, region, verts, nrm, uv, j4, w4, faces.astype(np.int64))


#: hair-card styles (the outfit record's hair styles other than ``bald``): strand length over the scalp (metres),
#: card width (metres), lift off the scalp (metres), curl amplitude (metres), cards per style
HAIR_CARDS = {"short": (0.07, 0.014, 0.008, 0.0, 220), "long": (0.16, 0.018, 0.009, 0.0, 260),
              "ponytail": (0.12, 0.014, 0.008, 0.0, 200), "bun": (0.12, 0.014, 0.008, 0.0, 200),
              "curly": (0.06, 0.012, 0.014, 0.008, 320)}
#: cards lie in layers: each card's lift is the style's plus up to this much more (metres, for a 0.24 m head)
LIFT_JITTER_M = 0.006


def _ribbon(path: np.ndarray, up: np.ndarray, width: float):
    """A card along ``path`` (K, 3): two vertices per point, ``width`` across (tapering to 30% at the tip), lying
    in the surface whose normals are ``up`` (K, 3). Returns vertices (2K, 3), normals (2K, 3), uv (2K, 2), faces."""
    k = len(path)
    t = np.gradient(path, axis=0)
    t /= np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-9)
    side = np.cross(t, up)
    side /= np.maximum(np.linalg.norm(side, axis=1, keepdims=True), 1e-9)
    w = width * (1 - 0.7 * np.linspace(0, 1, k))[:, None] / 2
    verts = np.concatenate([path - side * w, path + side * w])
    nrm = np.concatenate([up, up])
    s = np.linspace(0, 1, k)
    uv = np.concatenate([np.stack([np.zeros(k), s], 1), np.stack([np.ones(k), s], 1)])
    i = np.arange(k - 1)
    faces = np.concatenate([np.stack([i, i + 1, k + i + 1], 1), np.stack([i, k + i + 1, k + i], 1)])
    return verts, nrm, uv, faces


def hair_cards(style: str, region: int, scalp_vertices: np.ndarray, head_vertices: np.ndarray, bones: Dict[str, int],
               neck_y: float, shoulder_y: float, seed: int = 0, hairline=None) -> Layer:
    """Hair as geometry: two-sided tapered cards (strips) rooted on the scalp and combed over it, per ``style``
    (:data:`HAIR_CARDS`): ``short`` lies back over the head; ``long`` falls over the head's sides and back and
    hangs straight down to ``shoulder_y``; ``ponytail`` and ``bun`` comb back to a tie point at the back of the
    head, from which a tail hangs (ponytail) or around which a ball of cards sits (bun); ``curly`` is short,
    lifted and coiled.

    Args:
        region: the material index of the cards (the body's hair).
        scalp_vertices: (S, 3) the roots' candidates (the body's hair region), character space (metres, +Y up,
            facing +Z).
        head_vertices: (H, 3) the head's vertices: its centre and size (the cards are sized to the head).
        bones: ``Head``, ``Neck`` and ``Spine1`` bone indices: cards are skinned to the head; the part of long
            hair and of a ponytail below ``neck_y`` blends towards the chest so it rests on the shoulders.
        seed: the roots' random draw (the same body and style give the same cards).
        hairline: (R, 3) optional, the scalp region's edge vertices: short fringe cards cross it from 2.5 cm inside
            to 6 mm outside, tips (fading strands) outwards, so the hair's edge is strand tips on the skin, not the
            edge of the scalp's triangles.

    Lifts (off the scalp, under the cards: the opaque scalp shell is thinner) and lengths scale with the head."""
    if style not in HAIR_CARDS:
        raise ValueError(f"hair style {style!r} has no cards; expected one of {sorted(HAIR_CARDS)}")
    length, width, lift, curl, n = HAIR_CARDS[style]
    rng = np.random.default_rng(seed)
    hv = np.asarray(head_vertices, np.float64)
    lo, hi = hv.min(0), hv.max(0)
    centre = (lo + hi) / 2
    size = float(hi[1] - lo[1])  # head height: lengths scale with it (reference 0.24 m)
    scale = size / 0.24
    roots = np.asarray(scalp_vertices, np.float64)
    roots = roots[rng.choice(len(roots), size=min(n, len(roots)), replace=len(roots) < n)]
    tie = np.array([centre[0], centre[1] + 0.05 * size, lo[2] - 0.01])  # back of the head
    steps = 10
    V, N, U, F, Y = [], [], [], [], []
    for r in roots:
        p = r.copy()
        path, ups = [], []
        radius = np.linalg.norm(r - centre) + (lift + rng.uniform(0, LIFT_JITTER_M)) * scale
        for k in range(steps + 1):
            nrm = (p - centre) / max(np.linalg.norm(p - centre), 1e-9)
            hanging = style in ("long",) and p[1] < centre[1] - 0.1 * size
            q = p + nrm * (curl * np.sin(k * 1.7 + r[0] * 97) if curl else 0.0)
            path.append(q)
            ups.append(nrm if not hanging else np.array([nrm[0], 0.0, nrm[2]]) / max(np.hypot(nrm[0], nrm[2]), 1e-9))
            if style in ("ponytail", "bun"):
                flow = tie - p
            elif style == "long":  # parted back over the crown, then down the sides and the back
                flow = np.array([0.0, -1.0, -0.25]) if r[2] < centre[2] - 0.1 * size else np.array([0.0, -0.3, -1.0])
            else:  # short, curly: back and a little down
                flow = np.array([0.0, -0.35, -1.0])
            flow = flow - nrm * (flow @ nrm)  # along the scalp
            flow /= max(np.linalg.norm(flow), 1e-9)
            flow += rng.normal(0, 0.15, 3)
            step = length * scale / steps * (1.6 if style == "long" else 1.0)
            if hanging:
                p = p + np.array([0.0, -1.0, 0.0]) * step
            else:
                p = p + flow * step
                p = centre + (p - centre) / np.linalg.norm(p - centre) * radius  # stay on the lifted scalp
            if style == "long" and p[1] < shoulder_y:
                break
        v, nn, uv, f = _ribbon(np.array(path), np.array(ups), width * scale)
        F.append(f + sum(len(x) for x in V))
        V.append(v), N.append(nn), U.append(uv)
    extra = []
    if hairline is not None and len(hairline):
        rim = np.asarray(hairline, np.float64)
        from scipy.spatial import cKDTree

        rim = rim[rng.choice(len(rim), size=min(len(rim), 240), replace=False)]
        inside = roots.mean(0)
        skin = cKDTree(hv)
        t = np.linspace(-0.025, 0.006, 7)
        # over the scalp shell (which stops 12 mm inside the edge), down to 1.5 mm over the skin at the tip: the
        # fringe follows the skin (the forehead is not the scalp's sphere)
        off = np.interp(t, [-0.025, -0.014, -0.008, 0.0, 0.006], [lift, 0.006, 0.003, 0.0022, 0.0015])[:, None] * scale
        for r in rim:
            nrm = (r - centre) / max(np.linalg.norm(r - centre), 1e-9)
            out = r - inside
            out -= nrm * (out @ nrm)
            out /= max(np.linalg.norm(out), 1e-9)
            pts = r + out * t[:, None] * scale + rng.normal(0, 0.002 * scale, 3)
            d = pts - centre
            ups = d / np.linalg.norm(d, axis=1, keepdims=True)
            _, near = skin.query(pts)
            pts = centre + ups * (np.linalg.norm(hv[near] - centre, axis=1, keepdims=True) + off)
            extra.append(_ribbon(pts, ups, 1.4 * width * scale))
    if style == "ponytail":  # a tail: cards from the tie point down the back
        for _ in range(40):
            a = rng.uniform(0, 2 * np.pi)
            off = np.array([np.cos(a), 0.0, np.sin(a)]) * rng.uniform(0.005, 0.02) * scale
            path = np.array([tie + off + np.array([0.0, -t * 0.26 * scale, -0.03 * np.sin(np.pi * t) * scale])
                             for t in np.linspace(0, 1, 10)])
            up = np.tile([0.0, 0.0, -1.0], (10, 1))
            extra.append(_ribbon(path, up, width * 1.2 * scale))
    elif style == "bun":  # a ball of cards around the tie point
        c = tie + np.array([0.0, 0.02, -0.035]) * scale
        for _ in range(60):
            a0, b0 = rng.uniform(0, 2 * np.pi), rng.uniform(-1, 1)
            d0 = np.array([np.sqrt(1 - b0 * b0) * np.cos(a0), b0, np.sqrt(1 - b0 * b0) * np.sin(a0)])
            axis = rng.normal(size=3)
            axis -= d0 * (axis @ d0)
            axis /= np.linalg.norm(axis)
            ang = np.linspace(0, 1.4, 8)
            dirs = d0[None] * np.cos(ang)[:, None] + axis[None] * np.sin(ang)[:, None]
            extra.append(_ribbon(c + dirs * 0.05 * scale, dirs, width * 1.3 * scale))
    for v, nn, uv, f in extra:
        F.append(f + sum(len(x) for x in V))
        V.append(v), N.append(nn), U.append(uv)
    verts = np.concatenate(V)
    faces = _both_sides(np.concatenate(F))
    j4 = np.zeros((len(verts), 4), np.int64)
    w4 = np.zeros((len(verts), 4))
    below = np.clip((neck_y - verts[:, 1]) / max(neck_y - shoulder_y, 1e-6), 0, 1)  # 0 above the neck, 1 at shoulders
    j4[:, 0], j4[:, 1], j4[:, 2] = bones["Head"], bones["Neck"], bones["Spine1"]
    w4[:, 0] = 1 - below
    w4[:, 1] = below * 0.3
    w4[:, 2] = below * 0.7
    return Layer("hair", region, verts, np.concatenate(N), np.concatenate(U), j4, w4, faces.astype(np.int64))


# ------------------------------------------------------------------------------------------------------------------
# Hair strands texture, eyebrows, shoes
# ------------------------------------------------------------------------------------------------------------------

from .pbr_shaders import STRAND_CUTOFF  # noqa: E402  (the shaders' discard threshold; glTF alphaCutoff)


def strand_texture(width: int = 128, height: int = 256, strands: int = 44, seed: int = 7) -> np.ndarray:
    """The hair cards' texture, made at build time: (height, width, 4) uint8 RGBA, u (columns) across a card, v
    (rows, row 0 at the root) along it. ``strands`` thin wavy strands (Gaussian profile 0.7-1.3 px), each ending at
    its own length (70-100% of the card) with its alpha fading over the last 15%; alpha fades to 0 over the card's
    outer 12% on both sides and over the first 5% at the root (no straight card edge). RGB is a grey
    level per strand (0.62-1.0): the colour is the material's (the outfit's ``hair_name``), the texture only varies
    it strand by strand."""
    rng = np.random.default_rng(seed)
    u = np.arange(width)[None, :] + 0.5
    v = (np.arange(height)[:, None] + 0.5) / height
    clear = np.ones((height, width))  # product of (1 - strand alpha): what shows through every strand
    grey = np.zeros((height, width))
    wsum = np.zeros((height, width))
    for _ in range(strands):
        c = rng.uniform(0.06, 0.94) * width + rng.uniform(1.0, 3.0) * np.sin(2 * np.pi * rng.uniform(0.5, 2.0) * v
                                                                              + rng.uniform(0, 2 * np.pi))
        sigma = rng.uniform(0.7, 1.3)
        end = rng.uniform(0.7, 1.0)
        a = np.exp(-0.5 * ((u - c) / sigma) ** 2) * np.clip((end - v) / 0.15, 0, 1)
        b = rng.uniform(0.62, 1.0)
        clear *= 1 - a
        grey += a * b
        wsum += a
    alpha = 1 - clear
    side = np.minimum(u / width, 1 - u / width)
    alpha *= np.clip(side / 0.12, 0, 1)
    alpha *= np.clip(v / 0.05, 0, 1)  # roots fade in: a card's root end is no hard edge (the scalp shell is below)
    rgb = np.where(wsum > 1e-3, grey / np.maximum(wsum, 1e-9), 0.8)
    img = np.concatenate([np.repeat(rgb[..., None], 3, -1), alpha[..., None]], -1)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


@functools.lru_cache(maxsize=1)
def strand_png() -> bytes:
    """:func:`strand_texture` as PNG bytes (RGBA; the same bytes every call)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(strand_texture(), "RGBA").save(buf, format="PNG")
    return buf.getvalue()


def eyebrow_cards(region: int, head_vertices: np.ndarray, head_normals: np.ndarray, eyes: np.ndarray,
                  head_bone: int, cards: int = 2, seed: int = 0) -> Layer:
    """Eyebrows: per eye, ``cards`` short two-sided cards (strand-textured like the hair) along an arch over the
    brow ridge, 1.5 mm off the skin, skinned rigidly to the head.

    Args:
        region: the material index (the hair strands').
        head_vertices: (H, 3) the head's vertices, character space (metres, +Y up, facing +Z, left +X).
        head_normals: (H, 3) their unit normals.
        eyes: (2, 2, 3) per eye (left, right) the min and max corner of its front's box: the brow spans the eye's
            width plus 35% and arches 0.9 eye-heights over its centre.
        head_bone: the Head bone index (weight 1).
    """
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    hv = np.asarray(head_vertices, np.float64)
    hn = np.asarray(head_normals, np.float64)
    front = hn[:, 2] > 0.2  # the face, not the back of the head
    tree = cKDTree(hv[front][:, :2])
    V, N, U, F = [], [], [], []
    for lo, hi in np.asarray(eyes, np.float64):
        c = (lo + hi) / 2
        w, h = hi[0] - lo[0], hi[1] - lo[1]
        inner = -np.sign(c[0])  # towards the nose: the brow is thickest there
        for k in range(cards):
            t = np.linspace(0.0, 1.0, 9)
            x = c[0] + inner * (0.62 * w - 1.3 * w * t)
            y = c[1] + 0.8 * h + 0.28 * h * np.sin(np.pi * np.clip(t * 1.15, 0, 1)) - 0.2 * h * t \
                + (k - (cards - 1) / 2) * 0.09 * h + rng.normal(0, 0.01 * h, len(t))
            # onto the skin: the nearest face vertex in x, y (the brow ridge is the front surface there)
            _, near = tree.query(np.stack([x, y], 1), k=6)
            idx = np.flatnonzero(front)[near]
            z = hv[idx, 2].max(1)
            nrm = hn[idx].mean(1)
            nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
            path = np.stack([x, y, z], 1) + nrm * 0.0015
            v, nn, uv, f = _ribbon(path, nrm, 0.16 * h)
            F.append(f + sum(len(a) for a in V))
            V.append(v), N.append(nn), U.append(uv)
    verts = np.concatenate(V)
    j4 = np.zeros((len(verts), 4), np.int64)
    j4[:, 0] = head_bone
    w4 = np.zeros((len(verts), 4))
    w4[:, 0] = 1.0
    return Layer("eyebrows", region, verts, np.concatenate(N), np.concatenate(U), j4, w4,
                 _both_sides(np.concatenate(F)).astype(np.int64))


def _toe_box(p: np.ndarray, s: np.ndarray, faces: np.ndarray = None, start: float = 0.5, full: float = 0.68,
             relax: int = 12) -> np.ndarray:
    """The front of a foot (``s``: 0 heel .. 1 toes' end) wrapped in a toe box: every vertex with ``s`` > ``start``
    moves along its direction from the front's centroid onto the convex hull of the front's vertices (the gaps
    between the toes fill, the toes' tips join in one rounded cap), blended in up to ``full`` (the heel and the
    midfoot keep the foot's shape). With ``faces`` (indices into ``p``), the moved front is then relaxed ``relax``
    times (each vertex halfway to its neighbours' mean: the vertices of the gaps between the toes crowd onto the
    same part of the hull and fold the surface) and pushed back out to the hull where that pulled it inside.
    ``p`` (N, 3) metres; returns the moved copy."""
    from scipy.spatial import ConvexHull

    front = s > start
    if front.sum() < 8:
        return p
    pts = p[front]
    c = pts.mean(0)
    eq = ConvexHull(pts).equations  # n . x + off <= 0 inside
    d = pts - c
    dist = np.linalg.norm(d, axis=1, keepdims=True)
    d = d / np.maximum(dist, 1e-12)
    nd = d @ eq[:, :3].T  # (P, facets)
    t = np.where(nd > 1e-9, -(c @ eq[:, :3].T + eq[:, 3])[None] / np.where(nd > 1e-9, nd, 1.0), np.inf).min(1)
    hull = c + d * t[:, None]
    b = np.clip((s[front] - start) / (full - start), 0, 1)
    b = b * b * (3 - 2 * b)
    q = p.copy()
    q[front] = pts + (hull - pts) * b[:, None]
    if faces is not None and relax:
        e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
        e = np.unique(np.sort(e, 1), axis=0)
        deg = np.bincount(e.reshape(-1), minlength=len(p)).astype(float)
        move = front.copy()
        move[front] = b > 0.99  # the blend zone stays put: it joins the midfoot
        for _ in range(relax):
            acc = np.zeros_like(q)
            np.add.at(acc, e[:, 0], q[e[:, 1]])
            np.add.at(acc, e[:, 1], q[e[:, 0]])
            mean = acc / np.maximum(deg, 1)[:, None]
            q[move] = 0.5 * q[move] + 0.5 * mean[move]
        d = q[front] - c
        r = np.linalg.norm(d, axis=1)
        d = d / np.maximum(r, 1e-12)[:, None]
        nd = d @ eq[:, :3].T
        t = np.where(nd > 1e-9, -(c @ eq[:, :3].T + eq[:, 3])[None] / np.where(nd > 1e-9, nd, 1.0), np.inf).min(1)
        q[front] = c + d * np.maximum(r, np.where(b > 0.99, t, r))[:, None]
    return q


#: a shoe's sole below the foot's lowest point (metres, the shell's thickness included) and its upper's thickness
SOLE_M = 0.015
UPPER_M = 0.004


def shoe(region: int, vertices, normals, uv, joints4, weights4, faces, toe_dir) -> Layer:
    """A shoe over one foot: the foot's triangles ``faces`` (its segmentation part, open only at the ankle) as a
    closed shell (:func:`shell`, :data:`UPPER_M` thick, with a hem strip down into the opening at the ankle) after
    shaping the foot: the bottom flattened onto a sole :data:`SOLE_M` below the foot's lowest point and 3 mm wider
    (a welt), the toes' end lengthened 1 cm and raised into a toe cap, and a padded collar (4 mm more) over the last
    2 cm below the ankle opening. Skinned with the foot's own weights (the foot and toe bones), so it bends with the
    toes. ``toe_dir`` (3,): the foot's forward direction (heel to toe). Character space (metres, +Y up)."""
    faces = np.asarray(faces, np.int64)
    used = np.unique(faces.reshape(-1))
    v = np.asarray(vertices, np.float64)
    n = np.asarray(normals, np.float64)
    p, nn = v[used], n[used]
    y0 = p[:, 1].min()
    fwd = np.asarray(toe_dir, np.float64) * [1, 0, 1]
    fwd /= np.linalg.norm(fwd)
    s = (p - p.mean(0)) @ fwd
    s = (s - s.min()) / max(np.ptp(s), 1e-9)  # 0 at the heel, 1 at the toes' end
    p = _toe_box(p, s, np.searchsorted(used, faces))
    full = v.copy()
    full[used] = p
    nn = _normals(full, faces)[used]  # the toe box's own
    s = (p - p.mean(0)) @ fwd
    s = (s - s.min()) / max(np.ptp(s), 1e-9)
    sole_zone = np.clip(1 - (p[:, 1] - y0) / 0.025, 0, 1)  # 1 at the bottom, 0 from 2.5 cm up
    drop = SOLE_M - UPPER_M
    q = p.copy()
    q[:, 1] -= drop * sole_zone
    bottom = (nn[:, 1] < -0.4) & (p[:, 1] < y0 + 0.025)
    q[bottom, 1] = y0 - drop + 0.15 * (p[bottom, 1] - y0)  # a flat sole (the arch filled in)
    horiz = nn * [1, 0, 1]
    horiz /= np.maximum(np.linalg.norm(horiz, axis=1, keepdims=True), 1e-9)
    q += horiz * 0.003 * sole_zone[:, None]
    toe = np.clip((s - 0.75) / 0.25, 0, 1) ** 2
    q += fwd * 0.01 * toe[:, None] + np.array([0, 1.0, 0]) * 0.004 * toe[:, None] * (1 - sole_zone[:, None])
    # the ankle opening: open edges of the foot's part
    inv = np.searchsorted(used, faces)
    e = np.concatenate([inv[:, [0, 1]], inv[:, [1, 2]], inv[:, [2, 0]]])
    key = e[:, 0] * len(used) + e[:, 1]
    ring = np.unique(e[~np.isin(key, e[:, 1] * len(used) + e[:, 0])].reshape(-1))
    if len(ring):
        from scipy.spatial import cKDTree

        d, _ = cKDTree(p[ring]).query(p)
        q += nn * 0.004 * np.clip(1 - np.abs(d - 0.01) / 0.01, 0, 1)[:, None]
    full[used] = q
    # the shaped shoe's own normals (the foot's carry its toes: shading would draw them on the toe cap)
    return shell("shoes", region, full, _normals(full, faces), uv, joints4, weights4, faces, UPPER_M)


def _normals(v: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (V, 3) of counter-clockwise ``faces``."""
    fn = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])
    n = np.zeros_like(v, dtype=np.float64)
    for c in range(3):
        np.add.at(n, faces[:, c], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
