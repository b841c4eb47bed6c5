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

Character space: glTF's (metres, +Y up, facing +Z, left +X). Vertex arrays are float64 here; joints4 (N, 4) int,
weights4 (N, 4) summing to 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import numpy as np

__all__ = ["Layer", "shell", "clip_to_level_set", "hanging_tube", "hair_cards", "HAIR_CARDS", "THICKNESS_M", "EASE_M"]

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
HAIR_CARDS = {"short": (0.07, 0.014, 0.004, 0.0, 220), "long": (0.16, 0.018, 0.006, 0.0, 260),
              "ponytail": (0.12, 0.014, 0.004, 0.0, 200), "bun": (0.12, 0.014, 0.004, 0.0, 200),
              "curly": (0.06, 0.012, 0.012, 0.008, 320)}


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
               neck_y: float, shoulder_y: float, seed: int = 0) -> Layer:
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
    """
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
        radius = np.linalg.norm(r - centre) + lift
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
