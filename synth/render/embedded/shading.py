"""The ``standard`` (physically based) look of the embedded renderer; ``draft`` is the fixed-function look.

``standard``: one GLSL program (:mod:`.pbr_shaders`, adapted from panda3d-simplepbr) on the whole world: metallic /
roughness materials (Panda3D ``Material``; glTF characters bring theirs), image-based lighting from the scene's
environment map (diffuse SH + mip-filtered reflections), exactly ONE directional light (the sun, or an interior's
key light) casting shadows, ACES tone mapping and sRGB encoding in the same pass. Panda3D renders the light's
shadow map once per ``renderFrame()`` (one shadow buffer per light on the shared GL context), and every camera
buffer samples it: one shadow map per frame, shared by all cameras. One shadowed light only: Mesa's llvmpipe
crashes compiling shaders with two or more shadowed lights.

Depth and masks are unaffected: geometry is unchanged, and the mask cameras' initial state switches the shader
off (priority 1000).
"""

from __future__ import annotations

import functools
import zlib
from typing import Optional, Sequence

import numpy as np

from . import pbr_shaders
from .ibl import EnvLight, env_light_from_map, procedural_interior, procedural_sky

__all__ = ["QUALITIES", "SHADOW_CASTER_BIT", "PbrPipeline", "preset_env_light", "MATERIALS", "ContactShadow"]

QUALITIES = ("draft", "standard")
#: camera-mask bit of the shadow camera: nodes hidden from it cast no shadow (sky dome, room shells)
SHADOW_CASTER_BIT = 20
#: node tag whose value ``cutout`` makes the sun's shadow pass alpha-test the node's textures (hair strands)
CUTOUT_TAG = "synth_cutout"

#: procedural surface kind -> (roughness, metallic) of its PBR material
MATERIALS = {"wood": (0.55, 0.0), "plaster": (0.9, 0.0), "fabric": (0.95, 0.0), "crate": (0.75, 0.0),
             "concrete": (0.92, 0.0), "metal": (0.35, 0.85), "facade": (0.85, 0.0), "asphalt": (0.95, 0.0),
             "tiles": (0.35, 0.0), "stone": (0.8, 0.0), "brick": (0.88, 0.0), "leaves": (0.7, 0.0),
             "bark": (0.95, 0.0), "grass": (0.9, 0.0), "sand": (0.95, 0.0), "cobble": (0.8, 0.0),
             "default": (0.7, 0.0), "paint": (0.4, 0.0), "car": (0.25, 0.6)}

# preset -> (sun elevation deg, sun irradiance rgb, zenith, horizon, ground, exposure); linear units
_OUTDOOR = {
    "noon": (58, (5.2, 5.0, 4.6), (0.18, 0.32, 0.75), (0.55, 0.68, 0.85), (0.18, 0.16, 0.14), 0.75),
    "default": (50, (5.0, 4.8, 4.5), (0.2, 0.35, 0.75), (0.6, 0.7, 0.85), (0.18, 0.16, 0.14), 0.75),
    "evening": (14, (3.6, 2.0, 1.0), (0.12, 0.16, 0.4), (0.9, 0.5, 0.3), (0.12, 0.1, 0.09), 0.95),
    "overcast": (70, (1.1, 1.1, 1.15), (0.75, 0.77, 0.8), (0.95, 0.95, 0.97), (0.2, 0.2, 0.2), 0.85),
}
# preset -> (key elevation deg, key irradiance, wall, ceiling, floor, area-light radiance, exposure)
_INDOOR = {
    "warm_lamp": (65, (2.6, 2.0, 1.4), (0.28, 0.22, 0.16), (0.35, 0.28, 0.2), (0.14, 0.1, 0.07), (9, 7, 5), 1.0),
    "daylight_window": (35, (3.6, 3.6, 3.8), (0.3, 0.31, 0.33), (0.34, 0.35, 0.37), (0.15, 0.13, 0.11),
                        (12, 13, 15), 0.9),
    "cool_ceiling": (80, (3.0, 3.2, 3.5), (0.3, 0.32, 0.35), (0.5, 0.52, 0.56), (0.14, 0.14, 0.15), (10, 11, 12),
                     0.9),
    "industrial": (75, (3.4, 3.3, 3.0), (0.22, 0.22, 0.22), (0.3, 0.3, 0.28), (0.12, 0.12, 0.12), (10, 10, 9), 0.9),
    "dim": (60, (1.2, 1.0, 0.8), (0.1, 0.09, 0.08), (0.14, 0.12, 0.1), (0.05, 0.05, 0.05), (4, 3.4, 2.8), 1.4),
}


def _direction(az_deg: float, el_deg: float) -> np.ndarray:
    a, e = np.radians(az_deg), np.radians(el_deg)
    return np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])


def preset_env_light(preset: str, kind: str, env_id: str) -> EnvLight:
    """The environment light of a procedural lighting preset (seeded by environment and preset, like ``draft``).

    Raises:
        ValueError: unknown preset.
    """
    rng = np.random.default_rng(zlib.crc32(f"{env_id}/{preset}".encode()))
    az = float(rng.uniform(0, 360))
    if preset in _OUTDOOR:
        el, sun, zen, hor, gnd, exposure = _OUTDOOR[preset]
        d = _direction(az, el)
        env = procedural_sky(d, np.asarray(sun) * 150.0, zen, hor, gnd)  # sun disc shown on the dome
        light = env_light_from_map(env, exposure=exposure, sun_dir=d)
        light.sun_color = np.asarray(sun, np.float32)
        return light
    if preset in _INDOOR:
        el, key, wall, ceil, floor, area, exposure = _INDOOR[preset]
        d = _direction(az, el)
        env = procedural_interior(d, area, wall, ceil, floor)
        light = env_light_from_map(env, exposure=exposure, sun_dir=d)
        light.sun_color = np.asarray(key, np.float32)
        return light
    raise ValueError(f"unknown lighting preset {preset!r}; standard quality has {sorted({**_OUTDOOR, **_INDOOR})}")


def _float_texture(name: str, img: np.ndarray, mipmaps: bool):
    from panda3d.core import SamplerState, Texture

    h, w, _ = img.shape
    tex = Texture(name)
    tex.setup2dTexture(w, h, Texture.T_float, Texture.F_rgb32)
    # Panda3D stores rows bottom-up and channels as BGR
    tex.setRamImage(np.ascontiguousarray(img[::-1, :, ::-1], np.float32).tobytes())
    tex.setWrapU(SamplerState.WM_repeat)
    tex.setWrapV(SamplerState.WM_clamp)
    tex.setMagfilter(SamplerState.FT_linear)
    tex.setMinfilter(SamplerState.FT_linear_mipmap_linear if mipmaps else SamplerState.FT_linear)
    return tex


class PbrPipeline:
    """Installs the PBR shader on ``world`` and manages the scene's environment light and shadowed sun.

    Args:
        world: the root every camera renders.
        shadow_size: shadow map resolution (pixels, square).
        shadow_extent_m: side of the square the shadow map covers around the character (metres).
    """

    def __init__(self, world, shadow_size: int = 2048, shadow_extent_m: float = 14.0):
        from panda3d.core import Material, Shader

        self.world = world
        self.shadow_size = shadow_size
        self.extent = shadow_extent_m
        self.shader = Shader.make(Shader.SL_GLSL, pbr_shaders.PBR_VERT, pbr_shaders.PBR_FRAG)
        self.sky_shader = Shader.make(Shader.SL_GLSL, pbr_shaders.SKY_VERT, pbr_shaders.SKY_FRAG)
        self.shadow_shader = Shader.make(Shader.SL_GLSL, pbr_shaders.SHADOW_VERT, pbr_shaders.SHADOW_FRAG)
        self.ground_shader = Shader.make(Shader.SL_GLSL, pbr_shaders.PBR_VERT, pbr_shaders.GROUND_FRAG)
        self.hair_shader = Shader.make(Shader.SL_GLSL, pbr_shaders.PBR_VERT, pbr_shaders.HAIR_FRAG)
        self.cutout_shadow_shader = Shader.make(Shader.SL_GLSL, pbr_shaders.CUTOUT_VERT,
                                                pbr_shaders.cutout_frag(mip_scaled=True))
        world.setShader(self.shader)
        default = Material("default")
        default.setBaseColor((1, 1, 1, 1))
        default.setRoughness(MATERIALS["default"][0])
        default.setMetallic(MATERIALS["default"][1])
        world.setMaterial(default)
        self.sun = None
        self.fresh = False  # a new shadow caster whose buffer Panda3D has not created yet
        self.light: Optional[EnvLight] = None
        self._set_inputs(world, preset_env_light("default", "outdoor", "init"))

    def _set_inputs(self, node, light: EnvLight) -> None:
        from panda3d.core import PTA_LVecBase3f

        tex = _float_texture("env", light.env, mipmaps=True)
        node.setShaderInput("env_map", tex)
        node.setShaderInput("env_max_lod", float(np.log2(max(light.env.shape[:2]))))
        node.setShaderInput("exposure", float(light.exposure))
        sh = PTA_LVecBase3f.emptyArray(9)
        for i, c in enumerate(light.sh):
            sh[i] = tuple(float(v) for v in c)
        node.setShaderInput("sh_coeffs", sh)
        node.setShaderInput("shadow_bias", 0.0015)

    def setup_scene(self, scene, light: EnvLight, sky=None, casters_only=None) -> None:
        """Light ``scene`` with ``light``: shader inputs, the one shadowed directional light and the sky dome's
        shader. ``casters_only``: when given, only these nodes cast shadows (interiors: the room shell would
        otherwise shadow everything)."""
        from panda3d.core import BitMask32, DirectionalLight, OrthographicLens, RenderState, ShaderAttrib

        self.release()
        self.light = light
        self._set_inputs(scene, light)
        node = DirectionalLight("sun")
        node.setColor((*[float(v) for v in light.sun_color], 1.0))
        node.setShadowCaster(True, self.shadow_size, self.shadow_size)
        node.setCameraMask(BitMask32.bit(SHADOW_CASTER_BIT))
        lens = OrthographicLens()
        lens.setFilmSize(self.extent, self.extent)
        lens.setNearFar(1.0, 120.0)
        node.setLens(lens)
        # a depth-only program for the shadow pass (overrides the world's PBR shader there)
        node.setInitialState(RenderState.make(ShaderAttrib.make(self.shadow_shader), 1000))
        # characters (tagged by :meth:`dress_strands`): hair cards cast the shadow of their strands, not of the cards
        node.setTagStateKey(CUTOUT_TAG)
        node.setTagState("cutout", RenderState.make(ShaderAttrib.make(self.cutout_shadow_shader), 1001))
        self.sun = scene.attachNewNode(node)
        self.fresh = True
        scene.setLight(self.sun)
        self.focus((0.0, 0.0, 0.0))
        if sky is not None:
            sky.setShader(self.sky_shader, 10)
            # no ground-projected dome unless project_ground says so (the sky shows the map along the view ray)
            sky.setShaderInput("proj_centre", (0.0, 0.0, 0.0))
            sky.setShaderInput("dome_radius", 0.0)
            sky.hide(BitMask32.bit(SHADOW_CASTER_BIT))
        if casters_only is not None:
            scene.hide(BitMask32.bit(SHADOW_CASTER_BIT))
            for n in casters_only:
                n.showThrough(BitMask32.bit(SHADOW_CASTER_BIT))

    def project_ground(self, ground, centre: Sequence[float], detail_fade_m: float = 12.0, sky=None,
                       dome_radius_m: float = 1.0e6, match: bool = True) -> None:
        """Show the scene's environment map ground-projected on ``ground`` (an image-lit scene's floor plane at
        world z = 0; call after :meth:`setup_scene`), as three.js's GroundedSkybox does: the map is projected from
        ``centre`` ((3,) Panda3D world metres, Z up, the projection centre at the capture height above the floor)
        onto a dome of ``dome_radius_m`` metres whose bottom is the flat floor; a view ray shows the map's radiance
        in the direction from ``centre`` to where it leaves the dome (:data:`.pbr_shaders._DOME`). Within the
        floor disc that is ``normalize(p - centre)`` for a floor point p; the band just below the horizon lands on
        the dome's wall instead of smearing radially over the far floor. ``sky`` (the sky dome node) takes the same
        mapping, so sky and floor continue each other for every camera; without it a huge radius is the flat
        floor projection alone. The sun's shadow still darkens the floor (:data:`.pbr_shaders.GROUND_FRAG`); its
        own texture adds luminance detail within ``detail_fade_m`` metres of the centre. ``match``: where the map
        is stretched over 3x radially (past ~5 m from the centre), fade into a matched ground: the map blurred
        isotropically on the floor for the colour, the floor's texture for the detail (no radial smears)."""
        centre = tuple(float(v) for v in centre)
        ground.setShader(self.ground_shader, 10)
        ground.setShaderInput("detail_fade_m", float(detail_fade_m))
        ground.setShaderInput("ground_match", 1.0 if match else 0.0)
        for node in (ground, sky):
            if node is not None:
                node.setShaderInput("proj_centre", centre)
                node.setShaderInput("dome_radius", float(dome_radius_m))

    def dress_strands(self, model) -> int:
        """Give the hair-strand geometry of ``model`` (geoms whose material is named ``hair_strands``: hair cards and
        eyebrows of the ``anny:`` bodies) the alpha-tested anisotropic hair shader (:data:`.pbr_shaders.HAIR_FRAG`),
        and tag ``model`` so that the sun's shadow pass cuts the same strands out. Returns how many geoms."""
        from panda3d.core import MaterialAttrib, ShaderAttrib

        count = 0
        for np_ in model.findAllMatches("**/+GeomNode"):
            gn = np_.node()
            for i in range(gn.getNumGeoms()):
                st = gn.getGeomState(i)
                ma = st.getAttrib(MaterialAttrib)
                if ma is not None and ma.getMaterial() is not None and ma.getMaterial().getName() == "hair_strands":
                    gn.setGeomState(i, st.setAttrib(ShaderAttrib.make(self.hair_shader)))
                    count += 1
        model.setTag(CUTOUT_TAG, "cutout")
        return count

    def release(self) -> None:
        """Drop the scene's sun and its shadow buffer (Panda3D keeps a caster's buffer until it stops casting)."""
        if self.sun is not None:
            self.sun.node().setShadowCaster(False)
            self.sun.removeNode()
            self.sun = None

    def focus(self, centre: Sequence[float]) -> None:
        """Centre the shadow map on ``centre`` (Panda3D metres; the character's position)."""
        if self.sun is None:
            return
        c = np.asarray(centre, float) + [0, 0, 0.9]
        p = c + self.light.sun_dir * 60.0
        self.sun.setPos(*p)
        self.sun.lookAt(*c)

    def add_caster(self, node) -> None:
        """Make ``node`` cast shadows even where its parent is hidden from the shadow camera."""
        from panda3d.core import BitMask32

        node.showThrough(BitMask32.bit(SHADOW_CASTER_BIT))


@functools.lru_cache(maxsize=1)
def _reference_exposed_irradiance() -> float:
    """Exposure x irradiance on an upward surface of the ``noon`` preset: HDRIs are auto-exposed to match it."""
    from .ibl import sh9_eval

    ref = preset_env_light("noon", "outdoor", "reference")
    up = np.array([0.0, 0.0, 1.0])
    e = float(sh9_eval(ref.sh, up).mean() + ref.sun_color.mean() * max(ref.sun_dir[2], 0.0))
    return ref.exposure * e


_HDRI_CACHE: dict = {}


def hdri_env_light(path) -> EnvLight:
    """The environment light of an HDRI file: sun from its brightest region (chroma limited, so a blue sky patch
    cannot make a blue sun), the rest as SH + reflections, auto-exposed like the ``noon`` preset.

    Raises:
        synth.render.embedded.ibl.HDRIError: missing or unreadable file (the message names it).
    """
    from .ibl import load_hdri, sh9_eval

    key = str(path)
    if key not in _HDRI_CACHE:
        light = env_light_from_map(load_hdri(path))
        lum = float(light.sun_color @ [0.2126, 0.7152, 0.0722])
        if lum > 0:
            light.sun_color = np.clip(light.sun_color, 0.6 * lum, 1.6 * lum).astype(np.float32)
        up = np.array([0.0, 0.0, 1.0])
        e = float(sh9_eval(light.sh, up).mean() + light.sun_color.mean() * max(light.sun_dir[2], 0.0))
        light.exposure = float(np.clip(_reference_exposed_irradiance() / max(e, 1e-6), 0.02, 50.0))
        _HDRI_CACHE[key] = light
    return _HDRI_CACHE[key]


class ContactShadow:
    """Contact shadow / ambient occlusion under a character, in every environment and both qualities: soft dark
    decals on the ground (:func:`.procedural.blob`), one under the body (radius ``BODY_RADIUS`` x the character's
    height, centred between the feet) and one under each foot joint (radius ``FOOT_RADIUS`` x height). A decal
    fades as what casts it rises: a foot's opacity falls linearly to 0 at ``FADE_M`` metres above its rest height,
    the body's at ``BODY_FADE_M`` (jumps lift the shadow's darkness with the feet). Decals are hidden from the
    shadow camera and write no depth, so depth maps and masks are unchanged.

    Args:
        scene: the scene root (Panda3D metres, Z up); the ground is the plane through the character's root.
        char_root: the character's placement node (its Z is the ground height).
        joints: name -> NodePath following each joint (``characters.expose_joints``); joints named like a foot,
            toe or ankle cast the foot decals (none: one decal under the root).
        height_m: the character's height (metres).
    """

    BODY_RADIUS = 0.3
    FOOT_RADIUS = 0.09
    BODY_OPACITY = 0.55
    FOOT_OPACITY = 0.6
    FADE_M = 0.3
    BODY_FADE_M = 0.8

    def __init__(self, scene, char_root, joints, height_m: float):
        from panda3d.core import BitMask32

        from .procedural import blob

        self.scene = scene
        self.char_root = char_root
        self.ground_z = float(char_root.getZ(scene))
        names = sorted(n for n in joints if any(k in n.lower() for k in ("foot", "toe", "ankle")))
        self.feet = [joints[n] for n in names]
        self.rest_h = [max(0.0, float(j.getZ(scene)) - self.ground_z) for j in self.feet]
        self.root = scene.attachNewNode("contact-shadow")
        self.root.hide(BitMask32.bit(SHADOW_CASTER_BIT))
        self.body = blob("contact-body", self.BODY_RADIUS * height_m)
        self.body.reparentTo(self.root)
        self.foot_blobs = []
        for _ in self.feet:
            b = blob("contact-foot", self.FOOT_RADIUS * height_m)
            b.reparentTo(self.root)
            self.foot_blobs.append(b)
        self.update()

    def update(self) -> None:
        """Move the decals under the current pose (call after posing the character)."""
        z = self.ground_z + 0.002
        if not self.feet:
            p = self.char_root.getPos(self.scene)
            self.body.setPos(p[0], p[1], z)
            self.body.setColorScale(1, 1, 1, self.BODY_OPACITY)
            return
        pts = np.array([list(j.getPos(self.scene)) for j in self.feet])
        lift = np.maximum(0.0, pts[:, 2] - self.ground_z - np.asarray(self.rest_h))
        self.body.setPos(float(pts[:, 0].mean()), float(pts[:, 1].mean()), z)
        self.body.setColorScale(1, 1, 1, self.BODY_OPACITY * float(np.clip(1 - lift.min() / self.BODY_FADE_M, 0, 1)))
        for b, p, h in zip(self.foot_blobs, pts, lift):
            b.setPos(float(p[0]), float(p[1]), z)
            b.setColorScale(1, 1, 1, self.FOOT_OPACITY * float(np.clip(1 - h / self.FADE_M, 0, 1)))

    def remove(self) -> None:
        self.root.removeNode()
