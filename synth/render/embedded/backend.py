"""The embedded renderer backend: Panda3D offscreen through EGL (Mesa llvmpipe on CPUs, NVIDIA EGL on GPU nodes).

One offscreen buffer per camera (all sharing one GL context); one ``renderFrame()`` draws every camera from the same
scene graph, i.e. the same character pose: capture is synchronized by construction. Colour buffers are sRGB, depth
buffers 32-bit float and linearised to metres, masks come from a second, flat-shaded pass per camera in which only
the character is white (tag states; depth-tested, so occlusion is respected).
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ...scenes.catalog import Animation, Catalog, Character, Environment
from ...core.poses import Poses
from ...core.scene_spec import Lens
from ..backend import AssetError, CameraCapture, CaptureRequest, RenderError, RendererBackend
from . import coords
from .panda_app import panda_base, select_egl_device

__all__ = ["EmbeddedBackend", "panda_base", "NEAR_M", "FAR_M"]

NEAR_M, FAR_M = 0.05, 1000.0
_MASK_TAG = "synth_mask"


def _read_rgb(tex, w: int, h: int) -> np.ndarray:
    """A colour buffer's RAM read-back as ``(h, w, 3)`` uint8 RGB, top row first, in memory of its own.

    Panda3D keeps an 8-bit RGBA texture as BGRA rows bottom-up in one RAM buffer that the next ``renderFrame()``
    overwrites in place, so one copy is needed: it flips the rows of the untouched BGRA pixels into a new array and
    returns its RGB view ``bgra[:, :, 2::-1]`` (no channel conversion here: :class:`synth.core.video_io.VideoWriter`
    hands such a view to swscale as BGRA, so the pixels are converted once, to YUV, in the encoder's GIL-free code).
    Any other texture layout goes through Panda3D's own conversion (``getRamImageAs("RGB")``) and a flipped copy.

    Raises:
        RenderError: the read-back is empty (EGL context lost).
    """
    raw = tex.getRamImage()
    if not raw:
        raise RenderError("the renderer returned an empty image (EGL context lost?)")
    from panda3d.core import Texture

    if tex.getNumComponents() == 4 and tex.getComponentType() == Texture.T_unsigned_byte and len(raw) == h * w * 4:
        bgra = np.empty((h, w, 4), np.uint8)
        np.copyto(bgra, np.frombuffer(raw, np.uint8).reshape(h, w, 4)[::-1])  # numpy copies without the GIL
        return bgra[:, :, 2::-1]
    rgb = tex.getRamImageAs("RGB")
    return np.frombuffer(rgb, np.uint8).reshape(h, w, 3)[::-1].copy()


class EmbeddedBackend(RendererBackend):
    """Panda3D backend.

    Args:
        catalog: the asset catalog (environments, characters, animations; ``asset`` references resolved against it).
        num_cameras: cameras per scene.
        msaa: multisample anti-aliasing samples of the colour buffers (0 = off). Panda3D multisamples only nodes
            with an ``AntialiasAttrib``, so the scene root gets ``MMultisample`` when ``msaa > 0`` (works on Mesa's
            llvmpipe too). Depth, masks and joints are unaffected: the mask buffers are single-sampled and depth
            is resolved from the nearest sample.
        quality: ``standard`` (physically based materials, image-based lighting, one shadow-casting sun, tone
            mapping; :mod:`.shading`) or ``draft`` (fixed-function per-vertex lighting, no shadows: faster; the
            default of this class, e.g. for the Unreal test server; ``synth render`` defaults to standard).
        gpu: CUDA device index (among ``CUDA_VISIBLE_DEVICES``) whose NVIDIA EGL device renders; None: the first
            visible GPU when NVIDIA EGL is there, else EGL's default display (:func:`.panda_app.select_egl_device`).
        anisotropy: anisotropic filtering degree (1 = off, up to 16) of every texture of the scene and character
            (all are mipmapped). Off by default in both qualities: on Mesa's llvmpipe any degree above 1 made a
            standard frame 2.3-2.5x slower (street) and 4.5-4.7x (an image-lit scene) at 512x512, measured
            2026-12-07; on a GPU it is nearly free. Like MSAA it only sharpens textures seen at grazing angles and
            is not recorded in ``synth_run.json``.
    """

    name = "embedded"

    def __init__(self, catalog: Catalog, num_cameras: int = 10, msaa: int = 0, quality: str = "draft",
                 gpu: Optional[int] = None, anisotropy: int = 1):
        from .shading import QUALITIES

        if quality not in QUALITIES:
            raise ValueError(f"unknown quality {quality!r}; expected one of {QUALITIES}")
        if not (isinstance(anisotropy, int) and 1 <= anisotropy <= 16):
            raise ValueError(f"anisotropy must be an integer from 1 (off) to 16, got {anisotropy!r}")
        self.anisotropy = anisotropy
        self._filters_stale = False  # new textures in the scene: set their anisotropic degree before the next frame
        self.quality = quality
        self.catalog = catalog
        self.num_cameras = num_cameras
        self.msaa = msaa
        self.egl_device = select_egl_device(gpu)  # before Panda3D starts (--gpu / CUDA_VISIBLE_DEVICES)
        self.base = panda_base()
        from panda3d.core import NodePath

        self.world = NodePath("synth-world")
        if msaa:
            from panda3d.core import AntialiasAttrib

            self.world.setAntialias(AntialiasAttrib.MMultisample)
        self.scene = None
        self.character = None
        self.char_root = None
        self.contact = None  # the character's contact shadow (shading.ContactShadow)
        self.joints: Dict[str, object] = {}
        self.animation: Optional[Animation] = None
        self.size: Optional[Tuple[int, int]] = None
        self.buffers: List[dict] = []
        self.lens = None
        self._mask_enabled = False
        self._prime = False  # new multisampled buffers: render one frame before the first capture
        self.pbr = None
        if quality == "standard":
            from .shading import PbrPipeline

            self.pbr = PbrPipeline(self.world)

    # ---------------------------------------------------------------------------------------------- buffers
    def _make_buffers(self, width: int, height: int, masks: bool) -> None:
        from panda3d.core import (Camera, ColorAttrib, FrameBufferProperties, GraphicsOutput, GraphicsPipe,
                                  LightAttrib, RenderState, ShaderAttrib, Texture,
                                  WindowProperties)

        self._release_buffers()
        engine, pipe = self.base.graphicsEngine, self.base.pipe
        host = self._host_buffer()
        gsg = host.getGsg()
        # Environment: flat black but textures kept, so alpha-tested cards (foliage) cut out as in the RGB pass.
        flat_black = RenderState.make(ColorAttrib.makeFlat((0, 0, 0, 1)), LightAttrib.makeAllOff(),
                                      ShaderAttrib.makeOff(), 1000)
        # Character: white, cut out where its colour pass cuts out (hair strands; the standard look's hair shader
        # scales the alpha with the mip level, the draft look's fixed-function alpha test does not)
        from panda3d.core import Shader

        from .pbr_shaders import CUTOUT_VERT, cutout_frag

        cutout = Shader.make(Shader.SL_GLSL, CUTOUT_VERT, cutout_frag(mip_scaled=self.quality == "standard"))
        flat_white = RenderState.make(ColorAttrib.makeFlat((1, 1, 1, 1)), LightAttrib.makeAllOff(),
                                      ShaderAttrib.make(cutout), 1000)
        from panda3d.core import ColorWriteAttrib

        unseen = RenderState.make(ColorWriteAttrib.make(ColorWriteAttrib.COff), 1000)  # contact shadows
        # with multisampling, depth comes from the single-sampled auxiliary (mask) pass, so that it stays the depth
        # at each pixel's centre (a multisampled depth buffer resolves to one of its samples at silhouettes)
        depth_kind = "mask" if self.msaa else "rgb"
        for i in range(self.num_cameras):
            entry = {}
            for kind in (("rgb", "mask") if masks or self.msaa else ("rgb",)):
                fbp = FrameBufferProperties()
                fbp.setRgbColor(True)
                fbp.setRgbaBits(8, 8, 8, 8)
                fbp.setDepthBits(32)
                fbp.setFloatDepth(True)
                if kind == "rgb":
                    fbp.setSrgbColor(True)
                    if self.msaa:
                        fbp.setMultisamples(self.msaa)
                # sort >= 0: Panda3D gives the sun's shadow buffer sort -10, so it renders before every camera
                # of the same frame (no camera sees the previous frame's shadows)
                buf = engine.makeOutput(pipe, f"{kind}{i}", i, fbp, WindowProperties.size(width, height),
                                        GraphicsPipe.BFRefuseWindow, gsg, host)
                if buf is None:
                    raise RenderError(f"cannot create a {width}x{height} offscreen buffer (EGL)")
                color = Texture(f"{kind}{i}")
                buf.addRenderTexture(color, GraphicsOutput.RTMCopyRam, GraphicsOutput.RTPColor)
                depth = None
                if kind == depth_kind:
                    depth = Texture(f"depth{i}")
                    depth.setFormat(Texture.FDepthComponent32)
                    buf.addRenderTexture(depth, GraphicsOutput.RTMCopyRam, GraphicsOutput.RTPDepth)
                buf.setClearColorActive(True)
                buf.setClearColor((0, 0, 0, 1))
                cam_node = Camera(f"{kind}-cam{i}", self.lens)
                if kind == "mask":
                    cam_node.setInitialState(flat_black)
                    cam_node.setTagStateKey(_MASK_TAG)
                    cam_node.setTagState("character", flat_white)
                    cam_node.setTagState("contact", unseen)
                    cam = entry["rgb_cam"].attachNewNode(cam_node)
                else:
                    cam = self.world.attachNewNode(cam_node)
                dr = buf.makeDisplayRegion()
                dr.setCamera(cam)
                entry[kind] = buf
                entry[f"{kind}_tex"] = color
                entry[f"{kind}_cam"] = cam
                if depth is not None:
                    entry["depth_tex"] = depth
            self.buffers.append(entry)
        self.size = (width, height)
        self._mask_enabled = masks
        self._prime = bool(self.msaa)
        self.gsg = gsg
        if self.lens is not None:
            for entry in self.buffers:
                entry["rgb_cam"].node().setLens(self.lens)
                if "mask_cam" in entry:
                    entry["mask_cam"].node().setLens(self.lens)
            if getattr(self, "_focals", None) is not None:
                self.set_focal_lengths(self._focals)
        if getattr(self, "_poses", None) is not None:
            self._apply_poses(self._poses)

    def _host_buffer(self):
        """A tiny host buffer owning the GL context; camera buffers are framebuffer objects on it (which is what
        allows float depth attachments)."""
        if getattr(self, "_host", None) is None:
            from panda3d.core import FrameBufferProperties, GraphicsPipe, WindowProperties

            fbp = FrameBufferProperties()
            fbp.setRgbColor(True)
            fbp.setDepthBits(16)
            self._host = self.base.graphicsEngine.makeOutput(self.base.pipe, "synth-host", -100, fbp,
                                                             WindowProperties.size(16, 16),
                                                             GraphicsPipe.BFRefuseWindow)
            if self._host is None:
                raise RenderError("cannot create an offscreen GL context through EGL")
        return self._host

    def _release_buffers(self) -> None:
        for entry in self.buffers:
            for kind in ("rgb", "mask"):
                if kind in entry:
                    self.base.graphicsEngine.removeWindow(entry[kind])
                    entry[f"{kind}_cam"].removeNode()
        self.buffers = []

    def renderer_info(self) -> str:
        if not self.buffers:
            return "Panda3D (no buffer yet)"
        g = self.gsg
        return f"Panda3D {self._panda_version()} on {g.getDriverRenderer()} ({g.getDriverVendor()})"

    @staticmethod
    def _panda_version() -> str:
        from panda3d.core import PandaSystem

        return PandaSystem.getVersionString()

    # ---------------------------------------------------------------------------------------------- scene
    def load_environment(self, env: Environment, lighting: str) -> None:
        from .environments import (BUILDERS, PROJECTED_GROUND, apply_lighting, build_environment, ground_match,
                                   projection_centre, projection_radius)

        if self.pbr is not None:
            self.pbr.release()
        if self.scene is not None:
            self.scene.removeNode()
        self.character = self.char_root = self.contact = None
        self._markers = []
        self.scene = self.world.attachNewNode(f"scene-{env.id}")
        self._filters_stale = True
        lo = coords.unreal_cm_to_panda(env.free_space_cm.min)
        hi = coords.unreal_cm_to_panda(env.free_space_cm.max)
        lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
        asset = env.asset
        if asset.startswith("builtin:"):
            builder = asset.split(":", 1)[1]
            if builder not in BUILDERS:
                raise AssetError(f"environment {env.id!r}: unknown built-in {builder!r}; available {sorted(BUILDERS)}")
        elif asset == "panda3d:models/environment":
            builder = "panda_env"
        elif asset.lower().endswith(".exr"):
            builder = "hdri_ground"  # image-lit: HDRI sky dome + PBR ground (catalog params.ground)
        else:
            raise AssetError(f"environment {env.id!r}: the embedded renderer cannot load {asset!r} (use builtin:<name> "
                             f"or panda3d:models/environment)")
        try:
            hdri = None
            if builder == "hdri_ground":
                from .shading import hdri_env_light

                hdri = hdri_env_light(self.catalog.resolve(asset))
            sky = build_environment(self.scene, builder, env.kind, lo, hi, lighting, env.id, env.params,
                                    self.base.loader, pbr=self.pbr is not None, hdri=hdri)
            if self.pbr is None:
                apply_lighting(self.scene, lighting, env.kind, lo, hi, env.id, hdri=hdri)
            else:
                from .shading import preset_env_light

                light = hdri if hdri is not None else preset_env_light(lighting, env.kind, env.id)
                self.pbr.setup_scene(self.scene, light, sky=sky, casters_only=[] if env.kind == "indoor" else None)
                ground = self.scene.find(PROJECTED_GROUND)
                if hdri is not None and not ground.isEmpty() and env.params.get("ground_projection", True):
                    self.pbr.project_ground(ground, projection_centre(lo, hi, env.params), sky=sky,
                                            dome_radius_m=projection_radius(env.params),
                                            match=ground_match(env.params))
        except (ValueError, OSError) as e:  # includes HDRIError (names the file)
            raise AssetError(f"environment {env.id!r}: {e}") from None

    def spawn_character(self, character: Character, location_cm: Sequence[float], yaw_deg: float) -> None:
        from .characters import expose_joints, load_character

        if self.scene is None:
            raise RenderError("load_environment must come before spawn_character")
        if self.char_root is not None:
            self.char_root.removeNode()
        loaded = load_character(self.catalog, character, self.catalog.animations_for(character.id))
        self.char_root = self.scene.attachNewNode(f"char-{character.id}")
        self._filters_stale = True
        self.char_root.setPos(*coords.unreal_cm_to_panda(location_cm))
        heading = coords.unreal_yaw_to_panda_heading(yaw_deg) + coords.panda_heading_offset_for_forward(loaded.forward)
        self.char_root.setH(heading)
        actor = loaded.actor
        if character.asset.startswith("panda3d:"):
            from .environments import mark_textures_srgb

            mark_textures_srgb(actor)
        actor.reparentTo(self.char_root)
        actor.setScale(loaded.scale)
        if not character.asset.startswith("anny:"):  # a body's clips put its shoes' soles on the ground already
            lo, _ = actor.getTightBounds(self.char_root)
            actor.setZ(actor.getZ() - float(lo[2]))  # feet on the ground
        actor.setTag(_MASK_TAG, "character")
        if self.pbr is not None:
            self.pbr.dress_strands(actor)
            self.pbr.add_caster(self.char_root)
            self.pbr.focus(coords.unreal_cm_to_panda(location_cm))
        self.character = loaded
        self.joints = expose_joints(actor)
        self.animation = None
        from .shading import ContactShadow

        if self.contact is not None:
            self.contact.remove()
        self.contact = ContactShadow(self.scene, self.char_root, self.joints, character.height_m)
        self.contact.root.setTag(_MASK_TAG, "contact")  # masks and depth do not see it

    def set_animation(self, animation: Animation) -> None:
        if self.character is None:
            raise RenderError("spawn_character must come before set_animation")
        if animation.id not in self.character.anim_names:
            raise AssetError(f"animation {animation.id!r} is not bound to the current character")
        self.animation = animation

    def set_animation_time(self, t_s: float) -> None:
        from .characters import frame_for_time

        if self.animation is None:
            raise RenderError("set_animation must come before set_animation_time")
        name = self.character.anim_names[self.animation.id]
        frame = frame_for_time(self.character, self.animation.id, t_s, self.animation.loop)
        self.character.actor.pose(name, frame)
        self.character.actor.update(force=True)
        self._update_markers()
        if self.contact is not None:
            self.contact.update()

    def set_lens(self, lens: Lens, width: int, height: int) -> None:
        from panda3d.core import PerspectiveLens

        pl = PerspectiveLens()
        pl.setFilmSize(lens.sensor_mm, lens.sensor_mm * height / width)
        pl.setFocalLength(lens.focal_length_mm)
        pl.setNearFar(NEAR_M, FAR_M)
        self.lens = pl
        self._focals = None
        if self.size != (width, height) or not self.buffers:
            self._make_buffers(width, height, self._mask_enabled)
        for entry in self.buffers:
            entry.pop("lens", None)  # every camera back on the shared lens
            entry["rgb_cam"].node().setLens(pl)
            if "mask_cam" in entry:
                entry["mask_cam"].node().setLens(pl)

    def set_focal_lengths(self, focal_mm: Sequence[float]) -> None:
        """Per-camera focal lengths (mm) on the lens's film (sensor width x the image's aspect): each camera gets
        its own copy of the lens (its RGB and mask passes share it), so K is ``intrinsics_from_lens`` of its focal
        length."""
        if self.lens is None or not self.buffers:
            raise RenderError("set_lens must come before set_focal_lengths")
        focal = [float(f) for f in focal_mm]
        if len(focal) != len(self.buffers) or not all(np.isfinite(f) and f > 0 for f in focal):
            raise ValueError(f"expected {len(self.buffers)} positive focal lengths (mm), got {focal}")
        self._focals = focal
        for entry, f in zip(self.buffers, focal):
            lens = entry.get("lens")
            if lens is None:
                lens = entry["lens"] = self.lens.makeCopy()
                entry["rgb_cam"].node().setLens(lens)
                if "mask_cam" in entry:
                    entry["mask_cam"].node().setLens(lens)
            lens.setFocalLength(f)

    def enable_masks(self, enabled: bool) -> None:
        """Create (or drop) the mask pass; lens and camera poses carry over."""
        if enabled != self._mask_enabled:
            self._mask_enabled = enabled
            if self.size is not None:
                self._make_buffers(*self.size, enabled)

    def set_camera_poses(self, poses: Poses) -> None:
        self._check_camera_poses(poses)
        if not self.buffers:
            raise RenderError("set_lens must come before set_camera_poses")
        self._poses = poses
        self._apply_poses(poses)

    def _apply_poses(self, poses: Poses) -> None:
        from panda3d.core import LMatrix4f

        for entry, c2w in zip(self.buffers, poses.c2w):
            entry["rgb_cam"].setMat(LMatrix4f(*coords.c2w_to_panda_camera(c2w).ravel().tolist()))

    def capture(self, request: CaptureRequest = CaptureRequest()) -> List[CameraCapture]:
        if request.mask and not self._mask_enabled:
            self.enable_masks(True)
        if self.scene is None or not self.buffers:
            raise RenderError("nothing to render: load an environment and set the lens first")
        if self._filters_stale:
            for tex in self.scene.findAllTextures():
                tex.setAnisotropicDegree(self.anisotropy)
            self._filters_stale = False
        if self._prime or (self.pbr is not None and self.pbr.fresh):
            # Panda3D creates a light's shadow buffer while culling the first frame that needs it, and a new
            # multisampled buffer's first resolve is not reliable: render that frame once more, so that every
            # capture shows the current state (shadow map rendered before every camera)
            self.base.graphicsEngine.renderFrame()
            self._prime = False
            if self.pbr is not None:
                self.pbr.fresh = False
        self.base.graphicsEngine.renderFrame()
        w, h = self.size
        out = []
        for entry in self.buffers:
            cap = CameraCapture(_read_rgb(entry["rgb_tex"], w, h))
            if request.depth:
                d = np.frombuffer(entry["depth_tex"].getRamImage(), np.float32).reshape(h, w)[::-1]
                z = NEAR_M * FAR_M / (FAR_M - d.astype(np.float64) * (FAR_M - NEAR_M))
                cap.depth_m = np.where(d >= 1.0 - 1e-7, 0.0, z).astype(np.float32)
            if request.mask:
                m = np.frombuffer(entry["mask_tex"].getRamImageAs("R"), np.uint8).reshape(h, w)[::-1]
                cap.mask = m > 127
            out.append(cap)
        return out

    def add_marker(self, joint: str, radius_m: float = 0.03, rgb: Sequence[float] = (1.0, 0.0, 0.0)) -> None:
        """Attach a small unlit sphere, drawn on top of everything, to a joint of the current character (debugging
        and geometric tests: its image position can be measured and triangulated)."""
        from .procedural import sphere

        if joint not in self.joints:
            raise KeyError(f"no joint {joint!r}; the character has {sorted(self.joints)}")
        m = sphere(f"marker-{joint}", (0, 0, 0), radius_m, seg=16, rings=10)
        m.setColor(*rgb, 1)
        m.setLightOff(1)
        m.setShaderOff(2)
        m.setTextureOff(1)
        m.setDepthTest(False)  # drawn over everything (joints sit inside the body)
        m.setDepthWrite(False)
        m.setBin("fixed", 100)
        m.reparentTo(self.scene)
        m.node().setFinal(True)
        self._markers = getattr(self, "_markers", []) + [(m, self.joints[joint])]

    def _update_markers(self) -> None:
        for m, jnp in getattr(self, "_markers", []):
            m.setPos(self.scene, jnp.getPos(self.scene))

    def joint_positions_cm(self) -> Tuple[List[str], np.ndarray]:
        if self.character is None:
            raise RenderError("no character")
        names = list(self.joints)
        pts = np.array([list(self.joints[n].getPos(self.world)) for n in names])
        return names, coords.panda_to_unreal_cm(pts)

    def close(self) -> None:
        if self.pbr is not None:
            self.pbr.release()
        self._release_buffers()
        if self.scene is not None:
            self.scene.removeNode()
            self.scene = None
        self.world.removeNode()
