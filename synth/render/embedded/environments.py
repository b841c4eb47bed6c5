"""Built-in procedural environments and lighting presets of the embedded renderer.

Every builder receives the catalog's free-space box (converted to Panda3D metres) and keeps it clear: walls, props,
buildings and trees stand outside it, so no camera trajectory (which stays inside the free space) passes through
geometry. The look of an environment is fixed by its id (a seeded generator), lighting varies per scene.
"""

from __future__ import annotations

import zlib
from typing import Callable, Dict

import numpy as np
from panda3d.core import AmbientLight, DirectionalLight, NodePath, PointLight, Vec3, Vec4

from .procedural import box, cone, cylinder, make_texture, plane, sphere, texture_from_array

__all__ = ["BUILDERS", "build_environment", "apply_lighting", "LIGHTING_PRESETS", "PROJECTED_GROUND",
           "projection_centre", "projection_radius", "ground_match"]


def srgb_to_linear(c) -> np.ndarray:
    """sRGB colour components in [0, 1] -> linear (the framebuffer re-encodes to sRGB)."""
    c = np.asarray(c, float)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _color(np_: NodePath, rgb) -> NodePath:
    """Set a flat colour given in sRGB (as designers pick them)."""
    np_.setColor(*srgb_to_linear(rgb), 1.0)
    return np_


#: set by build_environment: surfaces get PBR materials (standard quality) or not (draft: fixed-function look kept)
_PBR = {"on": False}


def _material(np_: NodePath, kind: str) -> None:
    if not _PBR["on"]:
        return
    from panda3d.core import Material

    from .shading import MATERIALS

    rough, metal = MATERIALS.get(kind, MATERIALS["default"])
    m = Material(kind)
    m.setBaseColor((1, 1, 1, 1))
    m.setRoughness(rough)
    m.setMetallic(metal)
    np_.setMaterial(m, 1)


def _tex(np_: NodePath, kind: str, seed: int = 0, color=None) -> NodePath:
    np_.setTexture(make_texture(kind, seed), 1)
    _material(np_, kind)
    if color is not None:
        _color(np_, color)
    return np_


def mark_textures_srgb(np_: NodePath) -> None:
    """Stock Panda3D models ship 8-bit colour textures without an sRGB flag; with an sRGB framebuffer they must be
    declared sRGB or they render washed out."""
    from panda3d.core import Texture

    for tex in np_.findAllTextures():
        fmt = tex.getFormat()
        if fmt in (Texture.F_rgb, Texture.F_rgb8):
            tex.setFormat(Texture.F_srgb)
        elif fmt in (Texture.F_rgba, Texture.F_rgba8):
            tex.setFormat(Texture.F_srgb_alpha)


def _sky(root: NodePath, top, horizon) -> NodePath:
    """An unlit gradient dome far away; written first and without depth, so depth reads 'nothing' there."""
    h = 128
    t = np.linspace(0, 1, h)[:, None, None] ** 0.6
    img = np.asarray(horizon)[None, None] * (1 - t) + np.asarray(top)[None, None] * t
    img = np.repeat(img[::-1], 8, axis=1)  # row 0 (v = 1) = zenith, last row (v = 0) = horizon
    dome = sphere("sky", (0, 0, 0), 400.0, seg=32, rings=16)
    tex = texture_from_array("sky", img, repeat=False)
    dome.setTexture(tex, 1)
    # v = height / radius (world z through a texture matrix): horizon colour at and below z = 0, zenith on top
    from panda3d.core import Mat4, TexGenAttrib, TextureStage, TransformState

    ts = TextureStage.getDefault()
    dome.setTexGen(ts, TexGenAttrib.MWorldPosition)
    dome.setTexTransform(ts, TransformState.makeMat(Mat4(0, 0, 0, 0, 0, 0, 0, 0, 0, 1 / 400.0, 0, 0, 0.5, 0, 0, 1)))
    dome.setTwoSided(True)
    dome.setLightOff(1)
    dome.setShaderOff(1)
    dome.setBin("background", 0)
    dome.setDepthWrite(False)
    dome.setDepthTest(False)
    dome.reparentTo(root)
    return dome


def _room(root, lo, hi, rng, params):
    m = 0.6
    L, H = lo - [m, m, 0], hi + [m, m, 0.05]
    _tex(plane("floor", L[:2], H[:2], 0.0, uv_scale=0.5), "wood").reparentTo(root)
    walls = box("walls", L - [0, 0, 0.01], H, uv_scale=0.5, inside=True)
    _tex(walls, "plaster", 1, color=rng.uniform(0.8, 1.0, 3)).reparentTo(root)
    # furniture in the margin band along the walls
    _tex(box("sofa", [L[0] + 0.05, lo[1] + 1.0, 0], [L[0] + 0.55, lo[1] + 3.0, 0.45]), "fabric").reparentTo(root)
    _tex(box("sofa_back", [L[0] + 0.05, lo[1] + 1.0, 0.45], [L[0] + 0.2, lo[1] + 3.0, 0.9]), "fabric").reparentTo(root)
    _tex(box("shelf", [H[0] - 0.5, hi[1] - 2.5, 0], [H[0] - 0.05, hi[1] - 0.5, 2.0]), "crate").reparentTo(root)
    _tex(box("cabinet", [lo[0] + 1.0, L[1] + 0.05, 0], [lo[0] + 2.2, L[1] + 0.5, 0.8]), "wood", 2).reparentTo(root)
    lamp = cylinder("lamp", (H[0] - 0.3, L[1] + 0.3, 0), 0.03, 1.5)
    _color(lamp, (0.2, 0.2, 0.2))
    lamp.reparentTo(root)
    shade = cone("shade", (H[0] - 0.3, L[1] + 0.3, 1.35), 0.25, 0.35)
    _color(shade, (0.95, 0.9, 0.75))
    shade.reparentTo(root)
    window = plane("window", [0, 0], [1.6, 1.2], 0.0)
    window.setHpr(0, 90, 0)
    window.setPos(lo[0] + 2.0, H[1] - 0.02, 1.0)
    _color(window, (0.75, 0.88, 1.0))
    window.setLightOff(1)
    window.reparentTo(root)
    for i, x in enumerate(np.linspace(lo[0] + 0.5, hi[0] - 0.5, 3)):
        frame = box(f"frame{i}", [x - 0.3, H[1] - 0.04, 1.4], [x + 0.3, H[1] - 0.01, 1.8])
        _color(frame, rng.uniform(0.2, 0.9, 3))
        frame.reparentTo(root)


def _warehouse(root, lo, hi, rng, params):
    m = 2.0
    L, H = lo - [m, m, 0], hi + [m, m, 0.5]
    _tex(plane("floor", L[:2], H[:2], 0.0, uv_scale=0.25), "concrete").reparentTo(root)
    _tex(box("walls", L - [0, 0, 0.01], H, uv_scale=0.25, inside=True), "metal", color=(0.75, 0.78, 0.8)).reparentTo(root)
    for x in np.arange(L[0] + 1.0, H[0] - 0.5, 1.3):
        for y in (L[1] + 0.2, H[1] - 1.3):
            for k in range(int(rng.integers(1, 4))):
                c = box("crate", [x, y, k * 1.1], [x + 1.1, y + 1.1, (k + 1) * 1.1])
                _tex(c, "crate").reparentTo(root)
    for x in np.linspace(lo[0], hi[0], 5):
        for y in (L[1] + 1.6, H[1] - 1.8):
            _tex(box("pillar", [x - 0.2, y - 0.2, 0], [x + 0.2, y + 0.2, H[2]]), "concrete", 3).reparentTo(root)
    for y in np.linspace(L[1], H[1], 6):
        beam = box("beam", [L[0], y - 0.1, H[2] - 0.4], [H[0], y + 0.1, H[2] - 0.2])
        _color(beam, (0.35, 0.3, 0.25))
        beam.reparentTo(root)


def _buildings_along(root, rng, x0, x1, y_face, depth_sign, h_range=(8, 25)):
    x = x0
    while x < x1:
        w = rng.uniform(6, 14)
        h = rng.uniform(*h_range)
        y_in, y_out = y_face, y_face + depth_sign * 12
        b = box("building", [x, min(y_in, y_out), 0], [x + w - 0.3, max(y_in, y_out), h], uv_scale=0.25)
        _tex(b, "facade", int(rng.integers(3)), color=rng.uniform(0.75, 1.0, 3)).reparentTo(root)
        x += w


def _street(root, lo, hi, rng, params):
    _tex(plane("ground", [lo[0] - 80, lo[1] - 80], [hi[0] + 80, hi[1] + 80], -0.01, 0.25), "concrete", 4).reparentTo(root)
    _tex(plane("road", [lo[0] - 80, lo[1]], [hi[0] + 80, hi[1]], 0.0, uv_scale=0.25), "asphalt").reparentTo(root)
    for x in np.arange(lo[0] - 60, hi[0] + 60, 6.0):
        mark = plane("marking", [x, (lo[1] + hi[1]) / 2 - 0.08], [x + 3, (lo[1] + hi[1]) / 2 + 0.08], 0.005)
        _color(mark, (0.95, 0.95, 0.9))
        mark.reparentTo(root)
    for side, y0, y1 in ((-1, lo[1] - 4.0, lo[1]), (1, hi[1], hi[1] + 4.0)):
        _tex(box("sidewalk", [lo[0] - 80, y0, 0], [hi[0] + 80, y1, 0.15], uv_scale=0.5), "tiles").reparentTo(root)
        face = y0 if side < 0 else y1
        _buildings_along(root, rng, lo[0] - 80, hi[0] + 80, face, side)
        for x in np.arange(lo[0] - 40, hi[0] + 40, 12.0):
            yp = (y0 + y1) / 2
            post = cylinder("lamp_post", (x, yp, 0.15), 0.07, 5.0)
            _color(post, (0.15, 0.15, 0.17))
            post.reparentTo(root)
            head = sphere("lamp_head", (x, yp, 5.2), 0.25)
            _color(head, (1, 0.95, 0.8))
            head.reparentTo(root)
    for x in np.arange(lo[0] + 2, hi[0] - 2, rng.uniform(7, 11)):
        car = box("car", [x, lo[1] + 0.1, 0], [x + 4.2, lo[1] + 1.9, 1.1])
        _color(car, rng.uniform(0.1, 0.9, 3))
        car.reparentTo(root)
        top = box("car_top", [x + 1.0, lo[1] + 0.25, 1.1], [x + 3.0, lo[1] + 1.75, 1.6])
        _color(top, (0.2, 0.25, 0.3))
        top.reparentTo(root)


def _plaza(root, lo, hi, rng, params):
    _tex(plane("ground", lo[:2] - 60, hi[:2] + 60, 0.0, uv_scale=0.5), "stone").reparentTo(root)
    for k, (a, b) in enumerate(((lo[0] - 3, lo[1] - 3), (hi[0] + 1, lo[1] - 3), (hi[0] + 1, hi[1] + 1),
                                (lo[0] - 3, hi[1] + 1))):
        pl = box("planter", [a, b, 0], [a + 2, b + 2, 0.6])
        _tex(pl, "brick", k).reparentTo(root)
        bush = sphere("bush", (a + 1, b + 1, 0.9), 1.0, squash=0.7)
        _tex(bush, "leaves", k).reparentTo(root)
    for x in np.linspace(lo[0] + 3, hi[0] - 3, 4):
        for y0 in (lo[1] - 1.2, hi[1] + 0.6):
            _tex(box("bench", [x - 1, y0, 0.4], [x + 1, y0 + 0.6, 0.5]), "wood", 5).reparentTo(root)
            for dx in (-0.9, 0.8):
                leg = box("bench_leg", [x + dx, y0, 0], [x + dx + 0.1, y0 + 0.6, 0.4])
                _color(leg, (0.2, 0.2, 0.2))
                leg.reparentTo(root)
    for side in (-1, 1):
        _buildings_along(root, rng, lo[0] - 30, hi[0] + 30, (lo[1] - 12) if side < 0 else (hi[1] + 12), side)
    for x_face, sign in ((lo[0] - 14, -1), (hi[0] + 14, 1)):
        for y in np.arange(lo[1] - 10, hi[1] + 10, 10.0):
            h = rng.uniform(8, 20)
            xa, xb = sorted((x_face, x_face + sign * 10))
            _tex(box("building", [xa, y, 0], [xb, y + 9.5, h], uv_scale=0.25), "facade", 1,
                 color=rng.uniform(0.75, 1.0, 3)).reparentTo(root)


def _tree(root, x, y, rng, scale=1.0):
    h = rng.uniform(3, 6) * scale
    _tex(cylinder("trunk", (x, y, 0), 0.18 * scale, h), "bark").reparentTo(root)
    for k in range(3):
        c = sphere("crown", (x + rng.normal(0, 0.4), y + rng.normal(0, 0.4), h + k * 0.8 * scale),
                   rng.uniform(1.2, 2.0) * scale)
        _tex(c, "leaves", int(rng.integers(4))).reparentTo(root)


def _park(root, lo, hi, rng, params):
    _tex(plane("ground", lo[:2] - 80, hi[:2] + 80, 0.0, uv_scale=0.5), "grass").reparentTo(root)
    mid = (lo + hi) / 2
    _tex(plane("path", [lo[0] - 80, mid[1] - 1.2], [hi[0] + 80, mid[1] + 1.2], 0.01, 0.5), "sand").reparentTo(root)
    _tex(plane("path2", [mid[0] - 1.2, lo[1] - 80], [mid[0] + 1.2, hi[1] + 80], 0.012, 0.5), "sand").reparentTo(root)
    for _ in range(60):
        ang = rng.uniform(0, 2 * np.pi)
        rad = rng.uniform(1.0, 3.0)
        x = mid[0] + np.cos(ang) * ((hi[0] - lo[0]) / 2 + 3 * rad)
        y = mid[1] + np.sin(ang) * ((hi[1] - lo[1]) / 2 + 3 * rad)
        _tree(root, x, y, rng)
    for x in (lo[0] - 1.5, hi[0] + 0.9):
        _tex(box("bench", [x, mid[1] - 3, 0.4], [x + 0.6, mid[1] - 1, 0.5]), "wood", 6).reparentTo(root)


def _courtyard(root, lo, hi, rng, params):
    m = 0.5
    L, H = lo - [m, m, 0], hi + [m, m, 0]
    _tex(plane("ground", L[:2] - 5, H[:2] + 5, 0.0, uv_scale=0.7), "cobble").reparentTo(root)
    wall_h = 7.0
    for k, (a, b) in enumerate((([L[0] - 0.6, L[1] - 0.6, 0], [H[0] + 0.6, L[1], wall_h]),
                                ([L[0] - 0.6, H[1], 0], [H[0] + 0.6, H[1] + 0.6, wall_h]),
                                ([L[0] - 0.6, L[1], 0], [L[0], H[1], wall_h]),
                                ([H[0], L[1], 0], [H[0] + 0.6, H[1], wall_h]))):
        _tex(box(f"wall{k}", a, b, uv_scale=0.5), "brick").reparentTo(root)
    for k, x in enumerate(np.linspace(L[0] + 1.5, H[0] - 1.5, 5)):
        arch = box("arch", [x - 0.8, H[1] - 0.02, 0], [x + 0.8, H[1] - 0.01, 2.6])
        _color(arch, (0.12, 0.1, 0.09))
        arch.reparentTo(root)
    for (x, y) in ((L[0] + 0.25, L[1] + 0.25), (H[0] - 0.25, L[1] + 0.25), (L[0] + 0.25, H[1] - 0.25),
                   (H[0] - 0.25, H[1] - 0.25)):
        pot = cylinder("pot", (x, y, 0), 0.22, 0.5)
        _color(pot, (0.6, 0.3, 0.2))
        pot.reparentTo(root)
        _tex(sphere("plant", (x, y, 0.8), 0.35), "leaves").reparentTo(root)


#: name of the node holding an image-lit scene's ground (``standard`` projects the HDRI onto it)
PROJECTED_GROUND = "projected-ground"
#: height (metres) above the floor of the ground projection's centre: the height HDRIs are shot from
PROJECTION_HEIGHT_M = 1.7


def _hdri_ground(root, lo, hi, rng, params):
    """An image-lit scene's ground: a 200 m plane of ``params.ground`` (a procedural surface kind); the HDRI is
    the sky dome and the light (see ``apply_lighting`` / ``shading.hdri_env_light``). In ``standard`` the plane
    shows the HDRI ground-projected (``shading.PbrPipeline.project_ground``) with the surface kind as near detail
    (``params.ground_projection: false`` turns it off; ``params.projection_height_m`` sets the centre's height,
    ``params.projection_radius_m`` the dome's radius; ``params.ground_match: false`` turns off the matched ground
    that replaces the smeared far floor);
    ``draft`` shows the surface kind."""
    kind = params.get("ground", "grass")
    _tex(plane("ground", lo[:2] - 100, hi[:2] + 100, 0.0, uv_scale=0.5), kind).reparentTo(root)


def projection_centre(free_lo: np.ndarray, free_hi: np.ndarray, params: dict) -> np.ndarray:
    """Centre ``(3,)`` (Panda3D metres, Z up, floor at z = 0) of an image-lit scene's ground projection: the free
    space's centre, ``params.projection_height_m`` (default :data:`PROJECTION_HEIGHT_M`) above the floor."""
    h = float(params.get("projection_height_m", PROJECTION_HEIGHT_M))
    return np.array([(free_lo[0] + free_hi[0]) / 2, (free_lo[1] + free_hi[1]) / 2, h])


#: radius (metres) of the dome the HDRI is projected onto (its flat bottom is the floor): far enough that the
#: cameras stay inside with room to spare, near enough that the HDRI's horizon band lands on its wall
PROJECTION_RADIUS_M = 50.0


def projection_radius(params: dict) -> float:
    """Radius (metres) of an image-lit scene's projection dome: ``params.projection_radius_m`` (default
    :data:`PROJECTION_RADIUS_M`; a huge value gives the flat-floor projection alone).

    Raises:
        ValueError: the param is not a number above the projection height.
    """
    r = params.get("projection_radius_m", PROJECTION_RADIUS_M)
    h = float(params.get("projection_height_m", PROJECTION_HEIGHT_M))
    if isinstance(r, bool) or not isinstance(r, (int, float)) or not np.isfinite(r) or r <= h:
        raise ValueError(f"params.projection_radius_m: expected a number of metres above the projection height "
                         f"({h} m), got {r!r}")
    return float(r)


def ground_match(params: dict) -> bool:
    """Whether an image-lit scene's far floor fades into the matched ground (``params.ground_match``, default true).

    Raises:
        ValueError: the param is not a boolean.
    """
    v = params.get("ground_match", True)
    if not isinstance(v, bool):
        raise ValueError(f"params.ground_match: expected true or false, got {v!r}")
    return v


def _panda_env(root, lo, hi, rng, params, loader=None):
    env = loader.loadModel("models/environment")
    scale = float(params.get("scale", 0.1))
    env.setScale(scale)
    b = env.getTightBounds()
    centre = (np.asarray(b[0]) + np.asarray(b[1])) / 2
    env.setPos(-centre[0] + (lo[0] + hi[0]) / 2, -centre[1] + (lo[1] + hi[1]) / 2, float(params.get("z", -0.3)))
    mark_textures_srgb(env)
    env.reparentTo(root)


BUILDERS: Dict[str, Callable] = {"room": _room, "warehouse": _warehouse, "street": _street, "plaza": _plaza,
                                 "park": _park, "courtyard": _courtyard, "hdri_ground": _hdri_ground}

LIGHTING_PRESETS = ("default", "noon", "evening", "overcast", "warm_lamp", "daylight_window", "cool_ceiling",
                    "industrial", "dim")

_SKIES = {"noon": ((0.3, 0.5, 0.9), (0.75, 0.85, 0.95)), "evening": ((0.25, 0.3, 0.55), (0.95, 0.6, 0.4)),
          "overcast": ((0.62, 0.64, 0.68), (0.8, 0.8, 0.82)), "default": ((0.35, 0.55, 0.9), (0.8, 0.88, 0.95))}


def build_environment(root: NodePath, builder: str, kind: str, free_lo: np.ndarray, free_hi: np.ndarray,
                      lighting: str, env_id: str, params: dict, loader, pbr: bool = False, hdri=None):
    """Populate ``root`` with an environment (``builder`` in :data:`BUILDERS` or ``panda_env``) and its sky.

    ``pbr``: give surfaces PBR materials (roughness / metalness per surface kind, for the standard look).
    ``hdri``: the scene's ``EnvLight`` when image-lit (the draft dome takes its zenith and horizon colours).
    Returns the sky dome (outdoor) or None."""
    rng = np.random.default_rng(zlib.crc32(env_id.encode()))
    static = root.attachNewNode("static")
    _PBR["on"] = pbr
    try:
        if builder == "panda_env":
            _panda_env(static, free_lo, free_hi, rng, params, loader)
        elif builder == "hdri_ground":  # its own node, not flattened: standard gives it the projection shader
            _hdri_ground(root.attachNewNode(PROJECTED_GROUND), free_lo, free_hi, rng, params)
        else:
            BUILDERS[builder](static, free_lo, free_hi, rng, params)
    finally:
        _PBR["on"] = False
    static.flattenStrong()  # hundreds of props -> a few geoms per render state (draw calls dominate on llvmpipe)
    if kind == "outdoor":
        if hdri is not None:
            return _sky(root, *_hdri_gradient(hdri))
        return _sky(root, *_SKIES.get(lighting, _SKIES["default"]))
    return None


def _hdri_gradient(light):
    """Zenith and horizon sRGB colours of an HDRI (tone-mapped means of its top rows and of the horizon band)."""
    env = light.env * light.exposure
    h = env.shape[0]
    top, hor = env[: h // 8].mean((0, 1)), env[h // 2 - h // 16: h // 2].mean((0, 1))
    to_srgb = lambda c: np.clip(np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.clip(c, 0, None) ** (1 / 2.4) - 0.055),
                                0, 1)
    return tuple(to_srgb(top / (1 + top))), tuple(to_srgb(hor / (1 + hor)))


def _dir_light(root, name, color, hpr):
    light = DirectionalLight(name)
    light.setColor(Vec4(*color, 1))
    np_ = root.attachNewNode(light)
    np_.setHpr(*hpr)
    root.setLight(np_)
    return np_


def apply_lighting(root: NodePath, preset: str, kind: str, free_lo: np.ndarray, free_hi: np.ndarray,
                   env_id: str, hdri=None) -> None:
    """Add the lights of a preset under ``root`` (directional sun/sky, lamps, ambient). Lighting is Panda3D's
    fixed-function (per-vertex) model: its 1.10 shader generator needs Cg, which does not compile for Mesa, so
    there are no shadows, on CPU and GPU alike (identical look everywhere)."""
    if preset not in LIGHTING_PRESETS:
        raise ValueError(f"unknown lighting preset {preset!r}; the embedded renderer has {LIGHTING_PRESETS}")
    rng = np.random.default_rng(zlib.crc32(f"{env_id}/{preset}".encode()))
    az = float(rng.uniform(0, 360))
    centre = (free_lo + free_hi) / 2
    if hdri is not None:  # draft look of an image-lit scene: its sun and its mean sky colour as ambient
        d = hdri.sun_dir
        heading = float(np.degrees(np.arctan2(-d[0], d[1]))) + 180.0
        pitch = -float(np.degrees(np.arcsin(np.clip(d[2], -1, 1))))
        _dir_light(root, "sun", np.clip(hdri.sun_color * hdri.exposure * 0.6, 0, 1.6), (heading, pitch, 0))
        a = AmbientLight("ambient")
        amb = np.clip(hdri.sh[0] * 0.282095 / np.pi * hdri.exposure * 1.6, 0.15, 1.0)
        a.setColor(Vec4(*amb, 1))
        root.setLight(root.attachNewNode(a))
        return

    def ambient(level, tint=(1, 1, 1)):
        a = AmbientLight("ambient")
        a.setColor(Vec4(*(level * np.asarray(tint)), 1))
        root.setLight(root.attachNewNode(a))

    def lamps(color, n, power):
        for k in range(n):
            p = PointLight(f"lamp{k}")
            p.setColor(Vec4(*(np.asarray(color) * power), 1))
            p.setAttenuation(Vec3(1, 0, 0.03))
            lp = root.attachNewNode(p)
            lp.setPos(centre[0] + (k - (n - 1) / 2) * (free_hi[0] - free_lo[0]) / max(n, 1), centre[1],
                      free_hi[2] - 0.1)
            root.setLight(lp)

    if preset in ("noon", "default"):
        _dir_light(root, "sun", (1.35, 1.3, 1.2), (az, -58, 0))
        ambient(0.55, (0.85, 0.9, 1.0))
    elif preset == "evening":
        _dir_light(root, "sun", (1.3, 0.8, 0.5), (az, -18, 0))
        ambient(0.45, (0.7, 0.72, 0.95))
    elif preset == "overcast":
        _dir_light(root, "sky", (0.45, 0.45, 0.48), (az, -75, 0))
        ambient(0.85, (0.95, 0.97, 1.0))
    elif preset == "warm_lamp":
        lamps((1.0, 0.75, 0.5), 2, 1.3)
        ambient(0.45, (1.0, 0.9, 0.8))
    elif preset == "daylight_window":
        _dir_light(root, "window", (1.0, 1.0, 1.05), (az, -35, 0))
        ambient(0.55, (0.9, 0.95, 1.0))
    elif preset == "cool_ceiling":
        lamps((0.85, 0.92, 1.0), 3, 1.1)
        ambient(0.45, (0.9, 0.95, 1.0))
    elif preset == "industrial":
        lamps((1.0, 0.97, 0.85), 4, 1.4)
        _dir_light(root, "fill", (0.3, 0.3, 0.32), (az, -70, 0))
        ambient(0.4)
    elif preset == "dim":
        lamps((1.0, 0.85, 0.7), 1, 0.9)
        ambient(0.25, (0.8, 0.85, 1.0))
