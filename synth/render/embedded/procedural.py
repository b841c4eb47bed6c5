"""Procedural meshes (boxes, cylinders, spheres, cones, planes) and textures (numpy) for the embedded environments.

Meshes are built in Panda3D metres with UVs in metres (``uv_scale`` repeats textures per metre), so textures keep a
physical size whatever the object's size.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence, Tuple

import numpy as np
from panda3d.core import (Geom, GeomNode, GeomTriangles, GeomVertexData, GeomVertexFormat, NodePath, SamplerState,
                          Texture)
from PIL import Image

__all__ = ["mesh_node", "box", "cylinder", "sphere", "cone", "plane", "make_texture", "TEXTURES", "blob",
           "blob_texture"]


def mesh_node(name: str, pos: np.ndarray, nrm: np.ndarray, uv: np.ndarray, tris: np.ndarray) -> NodePath:
    """A ``NodePath`` of one triangle mesh (float32 v3n3t2)."""
    fmt = GeomVertexFormat.getV3n3t2()
    vdata = GeomVertexData(name, fmt, Geom.UHStatic)
    vdata.uncleanSetNumRows(len(pos))
    interleaved = np.concatenate([pos, nrm, uv], axis=1).astype(np.float32)
    view = memoryview(vdata.modifyArray(0)).cast("B")
    view[:] = interleaved.tobytes()
    prim = GeomTriangles(Geom.UHStatic)
    prim.setIndexType(Geom.NTUint32)
    arr = prim.modifyVertices()
    arr.uncleanSetNumRows(tris.size)
    memoryview(arr).cast("B")[:] = np.ascontiguousarray(tris, np.uint32).tobytes()
    geom = Geom(vdata)
    geom.addPrimitive(prim)
    node = GeomNode(name)
    node.addGeom(geom)
    return NodePath(node)


def _quad(p0, p1, p2, p3, n, uv_scale, cell: float = 1.0):
    """Four corners counter-clockwise seen from the normal's side, subdivided into cells of about ``cell`` metres
    (lighting is per vertex: large faces need vertices to catch lamp light)."""
    P0, P1, P3 = (np.asarray(p, float) for p in (p0, p1, p3))
    e1, e2 = P1 - P0, P3 - P0
    w, h = np.linalg.norm(e1), np.linalg.norm(e2)
    nu, nv = max(1, min(64, int(np.ceil(w / cell)))), max(1, min(64, int(np.ceil(h / cell))))
    a, b = np.meshgrid(np.linspace(0, 1, nu + 1), np.linspace(0, 1, nv + 1))
    P = (P0 + a.reshape(-1, 1) * e1 + b.reshape(-1, 1) * e2)
    UV = np.stack([a.ravel() * w, b.ravel() * h], -1) * uv_scale
    idx = np.arange((nu + 1) * (nv + 1)).reshape(nv + 1, nu + 1)
    q = np.stack([idx[:-1, :-1], idx[:-1, 1:], idx[1:, 1:], idx[1:, :-1]], -1).reshape(-1, 4)
    T = np.concatenate([q[:, [0, 1, 2]], q[:, [0, 2, 3]]])
    return P, np.tile(n, (len(P), 1)), UV, T


def _merge(quads) -> Tuple[np.ndarray, ...]:
    P, N, UV, T, base = [], [], [], [], 0
    for p, n, uv, t in quads:
        P.append(p)
        N.append(n)
        UV.append(uv)
        T.append(t + base)
        base += len(p)
    return np.concatenate(P), np.concatenate(N), np.concatenate(UV), np.concatenate(T)


def box(name: str, lo: Sequence[float], hi: Sequence[float], uv_scale: float = 1.0, inside: bool = False) -> NodePath:
    """Axis-aligned box from ``lo`` to ``hi`` (metres); ``inside`` flips faces to look inwards (rooms)."""
    x0, y0, z0 = lo
    x1, y1, z1 = hi
    c = [(x0, y0, z0), (x1, y0, z0), (x1, y1, z0), (x0, y1, z0), (x0, y0, z1), (x1, y0, z1), (x1, y1, z1), (x0, y1, z1)]
    faces = [((0, 3, 2, 1), (0, 0, -1)), ((4, 5, 6, 7), (0, 0, 1)), ((0, 1, 5, 4), (0, -1, 0)),
             ((2, 3, 7, 6), (0, 1, 0)), ((1, 2, 6, 5), (1, 0, 0)), ((3, 0, 4, 7), (-1, 0, 0))]
    quads = []
    for (a, b, cc, d), n in faces:
        if inside:
            a, b, cc, d = d, cc, b, a
            n = tuple(-v for v in n)
        quads.append(_quad(c[a], c[b], c[cc], c[d], n, uv_scale))
    return mesh_node(name, *_merge(quads))


def plane(name: str, lo: Sequence[float], hi: Sequence[float], z: float = 0.0, uv_scale: float = 1.0) -> NodePath:
    """Horizontal rectangle facing up."""
    return mesh_node(name, *_merge([_quad((lo[0], lo[1], z), (hi[0], lo[1], z), (hi[0], hi[1], z), (lo[0], hi[1], z),
                                          (0, 0, 1), uv_scale)]))


def _revolve(name, profile_r, profile_z, normals_rz, seg, uv_scale, center):
    th = np.linspace(0, 2 * np.pi, seg + 1)
    P, N, UV = [], [], []
    circ = 0
    for k, (r, z) in enumerate(zip(profile_r, profile_z)):
        nr, nz = normals_rz[k]
        for t in th:
            P.append((center[0] + r * np.cos(t), center[1] + r * np.sin(t), center[2] + z))
            N.append((nr * np.cos(t), nr * np.sin(t), nz))
            UV.append((t * max(r, 0.05) * uv_scale, (z + circ) * uv_scale))
    cols = seg + 1
    T = []
    for k in range(len(profile_r) - 1):
        for s in range(seg):
            p0, p1, q0, q1 = k * cols + s, k * cols + s + 1, (k + 1) * cols + s, (k + 1) * cols + s + 1
            T += [(p0, p1, q1), (p0, q1, q0)]
    N = np.asarray(N, float)
    N /= np.maximum(np.linalg.norm(N, axis=1, keepdims=True), 1e-9)
    return mesh_node(name, np.asarray(P), N, np.asarray(UV), np.asarray(T))


def cylinder(name: str, center, radius: float, height: float, seg: int = 20, uv_scale: float = 1.0) -> NodePath:
    """Closed vertical cylinder standing on ``center`` (x, y, z of its base)."""
    r = [0, radius, radius, radius, radius, 0]
    z = [0, 0, 0, height, height, height]
    n = [(0, -1), (0, -1), (1, 0), (1, 0), (0, 1), (0, 1)]
    return _revolve(name, r, z, n, seg, uv_scale, center)


def cone(name: str, center, radius: float, height: float, seg: int = 20, uv_scale: float = 1.0) -> NodePath:
    slope = radius / height
    n = np.array([1.0, slope]) / np.hypot(1.0, slope)
    return _revolve(name, [0, radius, radius, 0], [0, 0, 0, height], [(0, -1), (0, -1), tuple(n), tuple(n)], seg,
                    uv_scale, center)


def sphere(name: str, center, radius: float, seg: int = 20, rings: int = 12, uv_scale: float = 1.0,
           squash: float = 1.0) -> NodePath:
    lat = np.linspace(-np.pi / 2, np.pi / 2, rings)
    r = radius * np.cos(lat)
    z = radius * squash * np.sin(lat)
    n = [(np.cos(a), np.sin(a)) for a in lat]
    return _revolve(name, r, z, n, seg, uv_scale, center)


# ------------------------------------------------------------------------------------------------------------------
# Textures
# ------------------------------------------------------------------------------------------------------------------


def _noise(size: int, cells: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth value noise in [0, 1], tileable."""
    g = rng.random((cells, cells))
    g = np.pad(g, ((0, 1), (0, 1)), mode="wrap")
    img = Image.fromarray((g * 255).astype(np.uint8)).resize((size + size // cells, size + size // cells),
                                                             Image.BICUBIC)
    return np.asarray(img, float)[:size, :size] / 255.0


def _fbm(size, rng, octaves=(4, 8, 16, 32), gains=(0.5, 0.25, 0.15, 0.1)):
    out = sum(g * _noise(size, c, rng) for c, g in zip(octaves, gains))
    return out / sum(gains)


def _tex_array(kind: str, seed: int, size: int = 256) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    n = _fbm(size, rng)

    def col(c, var=0.12):
        return np.clip(np.asarray(c)[None, None] * (1 - var + 2 * var * n[..., None]), 0, 1)

    if kind == "wood":
        plank = np.floor(yy * 4)
        grain = 0.5 + 0.5 * np.sin((xx * 40 + 8 * n + plank * 3.1) * 2)
        img = np.asarray([0.55, 0.36, 0.2])[None, None] * (0.75 + 0.25 * grain[..., None])
        img *= (1 - 0.35 * ((yy * 4) % 1 < 0.03))[..., None]
        img *= (0.85 + 0.3 * rng.random(4)[plank.astype(int)])[..., None]
    elif kind == "tiles":
        m = ((xx * 4) % 1 < 0.04) | ((yy * 4) % 1 < 0.04)
        img = np.where(m[..., None], 0.35, col([0.78, 0.75, 0.7], 0.08))
    elif kind == "stone":
        row = np.floor(yy * 4)
        m = ((xx * 3 + 0.5 * (row % 2)) % 1 < 0.03) | ((yy * 4) % 1 < 0.03)
        img = np.where(m[..., None], 0.3, col([0.66, 0.63, 0.58], 0.18))
    elif kind == "grass":
        img = col([0.25, 0.45, 0.15], 0.3) * (0.8 + 0.4 * _noise(size, 64, rng)[..., None])
    elif kind == "asphalt":
        img = col([0.22, 0.22, 0.23], 0.15) * (0.9 + 0.2 * rng.random((size, size, 1)))
    elif kind == "concrete":
        img = col([0.58, 0.57, 0.55], 0.15)
    elif kind == "brick":
        row = np.floor(yy * 8)
        m = ((xx * 4 + 0.5 * (row % 2)) % 1 < 0.04) | ((yy * 8) % 1 < 0.08)
        tint = 0.85 + 0.3 * rng.random((8, 8))[row.astype(int), np.floor(xx * 4 + 0.5 * (row % 2)).astype(int) % 8]
        img = np.where(m[..., None], np.array([0.75, 0.72, 0.68]), col([0.6, 0.25, 0.17], 0.1) * tint[..., None])
    elif kind == "cobble":
        c = _noise(size, 12, rng)
        img = col([0.5, 0.48, 0.45], 0.2) * (0.7 + 0.6 * (c[..., None] > 0.5))
    elif kind == "sand":
        img = col([0.76, 0.68, 0.5], 0.12)
    elif kind == "metal":
        img = col([0.6, 0.62, 0.65], 0.08) * (0.85 + 0.15 * np.sin(xx * 2 * np.pi * 16)[..., None])
    elif kind == "plaster":
        img = col([0.85, 0.82, 0.75], 0.05)
    elif kind == "facade":
        win = ((xx * 4) % 1 > 0.25) & ((xx * 4) % 1 < 0.75) & ((yy * 3) % 1 > 0.3) & ((yy * 3) % 1 < 0.8)
        wall = col([0.7, 0.62, 0.52], 0.1)
        img = np.where(win[..., None], col([0.25, 0.35, 0.45], 0.2), wall)
    elif kind == "crate":
        m = (xx < 0.06) | (xx > 0.94) | (yy < 0.06) | (yy > 0.94) | (np.abs(xx - yy) < 0.04)
        img = np.where(m[..., None], col([0.45, 0.3, 0.15]), col([0.65, 0.48, 0.28], 0.15))
    elif kind == "bark":
        img = col([0.35, 0.25, 0.16], 0.3) * (0.8 + 0.2 * np.sin(xx * 60)[..., None])
    elif kind == "leaves":
        img = col([0.18, 0.38, 0.12], 0.4) * (0.7 + 0.6 * _noise(size, 32, rng)[..., None])
    elif kind == "fabric":
        img = col([0.3, 0.35, 0.55], 0.1) * (0.9 + 0.1 * (np.sin(xx * 200) * np.sin(yy * 200))[..., None])
    else:
        raise ValueError(f"unknown texture {kind!r}")
    return np.clip(img, 0, 1)


TEXTURES = ("wood", "tiles", "stone", "grass", "asphalt", "concrete", "brick", "cobble", "sand", "metal", "plaster",
            "facade", "crate", "bark", "leaves", "fabric")


def texture_from_array(name: str, img: np.ndarray, srgb: bool = True, repeat: bool = True) -> Texture:
    """``(H, W, 3)`` float [0, 1] or uint8 (row 0 at the top) -> Panda3D texture (sRGB, mipmapped)."""
    if img.dtype != np.uint8:
        img = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    h, w, _ = img.shape
    tex = Texture(name)
    tex.setup2dTexture(w, h, Texture.T_unsigned_byte, Texture.F_srgb if srgb else Texture.F_rgb)
    tex.setRamImageAs(np.ascontiguousarray(img[::-1]).tobytes(), "RGB")
    tex.setMinfilter(SamplerState.FT_linear_mipmap_nearest)  # 11% faster than trilinear on llvmpipe
    tex.setMagfilter(SamplerState.FT_linear)
    tex.setAnisotropicDegree(1)  # anisotropic filtering costs ~10x on llvmpipe (CPU rasterizer)
    mode = SamplerState.WM_repeat if repeat else SamplerState.WM_clamp
    tex.setWrapU(mode)
    tex.setWrapV(mode)
    return tex


@lru_cache(maxsize=64)
def make_texture(kind: str, seed: int = 0) -> Texture:
    """A procedural texture (cached per process)."""
    return texture_from_array(f"{kind}-{seed}", _tex_array(kind, seed))


@lru_cache(maxsize=4)
def blob_texture(size: int = 64) -> Texture:
    """A soft round shadow (RGBA, black; alpha 1 at the centre falling smoothly to 0 at the edge: ``(1 - r^2)^2``
    with r the distance to the centre in units of the radius), mipmapped and clamped."""
    yy, xx = (np.mgrid[0:size, 0:size] + 0.5) / size * 2 - 1
    r2 = np.clip(xx ** 2 + yy ** 2, 0, 1)
    alpha = ((1 - r2) ** 2 * 255).astype(np.uint8)
    img = np.zeros((size, size, 4), np.uint8)
    img[..., 3] = alpha
    tex = Texture("contact-blob")
    tex.setup2dTexture(size, size, Texture.T_unsigned_byte, Texture.F_rgba)
    tex.setRamImageAs(img.tobytes(), "RGBA")
    tex.setMinfilter(SamplerState.FT_linear_mipmap_linear)
    tex.setMagfilter(SamplerState.FT_linear)
    tex.setWrapU(SamplerState.WM_clamp)
    tex.setWrapV(SamplerState.WM_clamp)
    return tex


def blob(name: str, radius: float) -> NodePath:
    """A horizontal unit decal (a square of side ``2 * radius`` metres centred on the origin, facing +Z) carrying
    :func:`blob_texture`: unlit, unshaded, alpha-blended, no depth writes, drawn after the opaque scene and pulled
    towards the camera by a depth offset (no z-fighting with the ground it lies on)."""
    from panda3d.core import TransparencyAttrib

    r = float(radius)
    pos = np.array([[-r, -r, 0], [r, -r, 0], [r, r, 0], [-r, r, 0]], np.float32)
    nrm = np.tile(np.array([[0, 0, 1]], np.float32), (4, 1))
    uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
    np_ = mesh_node(name, pos, nrm, uv, np.array([[0, 1, 2], [0, 2, 3]], np.uint32))
    np_.setTexture(blob_texture(), 100)
    np_.setTransparency(TransparencyAttrib.MAlpha, 100)
    np_.setLightOff(100)
    np_.setShaderOff(100)
    np_.setMaterialOff(100)
    np_.setDepthWrite(False, 100)
    np_.setDepthOffset(2, 100)
    np_.setBin("transparent", 10)
    np_.setTwoSided(True)
    return np_
