"""Write rigged, skinned, animated characters as binary glTF 2.0 (GLB) with ``pygltflib``.

Used for the built-in procedural humanoids, so built-in and user characters go through one loader. glTF
conventions: right-handed, +Y up, metres; matrices column-major; skin weights per vertex (one joint per vertex for
rigid parts, up to four joints per vertex for smooth-skinned bodies).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from synth.core.atomic import atomic_output_path

__all__ = ["Joint", "MeshPart", "Material", "AnimationClip", "write_skinned_glb"]


@dataclass(frozen=True)
class Joint:
    """A skeleton joint: ``parent`` index (-1 for the root) and rest translation relative to the parent (m)."""

    name: str
    parent: int
    translation: Sequence[float]


@dataclass
class MeshPart:
    """Triangles bound to one joint (rigid), or per vertex to up to four joints when ``joints4`` / ``weights4`` are
    given (linear-blend skinning; weights of a vertex sum to 1). Positions/normals in the character's bind pose
    (model space)."""

    positions: np.ndarray  # (N, 3) float32
    normals: np.ndarray    # (N, 3) float32
    uvs: np.ndarray        # (N, 2) float32
    indices: np.ndarray    # (M, 3) uint32
    joint: int
    material: int
    joints4: Optional[np.ndarray] = None   # (N, 4) uint16 joint indices
    weights4: Optional[np.ndarray] = None  # (N, 4) float32


@dataclass(frozen=True)
class Material:
    """A glTF metallic-roughness material: ``base_color`` linear RGBA, ``texture_png`` (sRGB PNG bytes; RGBA for
    a cut-out), ``alpha_cutoff``: when set, glTF ``alphaMode: MASK`` with that cutoff (pixels whose texture alpha is
    below it are not drawn: hair strands on cards), else ``OPAQUE``."""

    name: str
    base_color: Sequence[float] = (1.0, 1.0, 1.0, 1.0)
    texture_png: Optional[bytes] = None
    roughness: float = 0.8
    metallic: float = 0.0
    alpha_cutoff: Optional[float] = None


@dataclass
class AnimationClip:
    """Keyframes: ``times`` (K,) seconds; per joint index local ``rotations`` (K, 4) xyzw and ``translations``
    (K, 3) (absolute local translation, i.e. rest + offset)."""

    name: str
    times: np.ndarray
    rotations: Dict[int, np.ndarray] = field(default_factory=dict)
    translations: Dict[int, np.ndarray] = field(default_factory=dict)


class _Blob:
    def __init__(self):
        self.data = io.BytesIO()
        self.views: list = []
        self.accessors: list = []

    def view(self, raw: bytes, target: Optional[int] = None) -> int:
        import pygltflib as g

        pad = (-self.data.tell()) % 4
        self.data.write(b"\x00" * pad)
        offset = self.data.tell()
        self.data.write(raw)
        self.views.append(g.BufferView(buffer=0, byteOffset=offset, byteLength=len(raw), target=target))
        return len(self.views) - 1

    def accessor(self, arr: np.ndarray, kind: str, component: int, target: Optional[int] = None,
                 minmax: bool = False) -> int:
        import pygltflib as g

        arr = np.ascontiguousarray(arr)
        view = self.view(arr.tobytes(), target)
        count = arr.shape[0] if kind != "SCALAR" or arr.ndim else 1
        acc = g.Accessor(bufferView=view, componentType=component, count=int(count), type=kind)
        if minmax:
            flat = arr.reshape(count, -1)
            acc.min = flat.min(0).astype(float).tolist()
            acc.max = flat.max(0).astype(float).tolist()
        self.accessors.append(acc)
        return len(self.accessors) - 1


def write_skinned_glb(path: Path, joints: List[Joint], parts: List[MeshPart], materials: List[Material],
                      clips: List[AnimationClip], name: str = "character") -> Path:
    """Write a GLB with one skinned mesh (a primitive per material), its skeleton and animation clips, atomically.

    Raises:
        ValueError: inconsistent joint or material indices.
    """
    import pygltflib as g

    f32, u32, u16 = g.FLOAT, g.UNSIGNED_INT, g.UNSIGNED_SHORT
    blob = _Blob()
    n_j = len(joints)
    for p in parts:
        if not 0 <= p.joint < n_j or not 0 <= p.material < len(materials):
            raise ValueError(f"{path}: mesh part bound to joint {p.joint} / material {p.material} out of range")
        if p.joints4 is not None and (p.weights4 is None or p.joints4.shape != (len(p.positions), 4)
                                      or p.weights4.shape != p.joints4.shape or int(p.joints4.max()) >= n_j):
            raise ValueError(f"{path}: mesh part skin: joints4/weights4 must both be (N, 4) with joints < {n_j}")
    # joint nodes: index 2 + j (node 0 = character root, node 1 = skinned mesh)
    global_pos = np.zeros((n_j, 3))
    for j, jt in enumerate(joints):
        global_pos[j] = np.asarray(jt.translation) + (global_pos[jt.parent] if jt.parent >= 0 else 0)
    nodes = [g.Node(name=name, children=[1] + [2 + j for j, jt in enumerate(joints) if jt.parent < 0]),
             g.Node(name=f"{name}_mesh", mesh=0, skin=0)]
    for j, jt in enumerate(joints):
        kids = [2 + k for k, kt in enumerate(joints) if kt.parent == j]
        nodes.append(g.Node(name=jt.name, translation=[float(v) for v in jt.translation],
                            rotation=[0.0, 0.0, 0.0, 1.0], **({"children": kids} if kids else {})))
    ibm = np.tile(np.eye(4, dtype=np.float32), (n_j, 1, 1))
    ibm[:, :3, 3] = -global_pos  # rest rotations are identity: inverse bind = translation by -position
    ibm_acc = blob.accessor(np.transpose(ibm, (0, 2, 1)).reshape(n_j, 16).astype(np.float32), "MAT4", f32)
    # textures / materials
    images, textures, mats = [], [], []
    for m in materials:
        pbr = g.PbrMetallicRoughness(baseColorFactor=[float(c) for c in m.base_color], metallicFactor=m.metallic,
                                     roughnessFactor=m.roughness)
        if m.texture_png is not None:
            images.append(g.Image(bufferView=blob.view(m.texture_png), mimeType="image/png"))
            textures.append(g.Texture(source=len(images) - 1, sampler=0))
            pbr.baseColorTexture = g.TextureInfo(index=len(textures) - 1)
        alpha = {} if m.alpha_cutoff is None else {"alphaMode": "MASK", "alphaCutoff": float(m.alpha_cutoff)}
        mats.append(g.Material(name=m.name, pbrMetallicRoughness=pbr, doubleSided=False, **alpha))
    # one primitive per material
    prims = []
    for mi in range(len(materials)):
        mine = [p for p in parts if p.material == mi]
        if not mine:
            continue
        pos, nrm, uv, jnt, wts, idx, base = [], [], [], [], [], [], 0
        for p in mine:
            pos.append(p.positions)
            nrm.append(p.normals)
            uv.append(p.uvs)
            if p.joints4 is not None:
                jnt.append(np.asarray(p.joints4, np.uint16))
                wts.append(np.asarray(p.weights4, np.float32))
            else:
                jnt.append(np.full((len(p.positions), 4), 0, np.uint16))
                jnt[-1][:, 0] = p.joint
                wts.append(np.zeros((len(p.positions), 4), np.float32))
                wts[-1][:, 0] = 1.0
            idx.append(p.indices + base)
            base += len(p.positions)
        pos_a, n_a = np.concatenate(pos).astype(np.float32), np.concatenate(nrm).astype(np.float32)
        w = np.concatenate(wts)
        attrs = g.Attributes(
            POSITION=blob.accessor(pos_a, "VEC3", f32, g.ARRAY_BUFFER, minmax=True),
            NORMAL=blob.accessor(n_a, "VEC3", f32, g.ARRAY_BUFFER),
            TEXCOORD_0=blob.accessor(np.concatenate(uv).astype(np.float32), "VEC2", f32, g.ARRAY_BUFFER),
            JOINTS_0=blob.accessor(np.concatenate(jnt), "VEC4", u16, g.ARRAY_BUFFER),
            WEIGHTS_0=blob.accessor(w, "VEC4", f32, g.ARRAY_BUFFER))
        indices = blob.accessor(np.concatenate(idx).astype(np.uint32).reshape(-1), "SCALAR", u32,
                                g.ELEMENT_ARRAY_BUFFER)
        prims.append(g.Primitive(attributes=attrs, indices=indices, material=mi))
    anims = []
    for clip in clips:
        samplers, channels = [], []
        t_acc = blob.accessor(np.asarray(clip.times, np.float32), "SCALAR", f32, minmax=True)
        for path_name, table, kind in (("rotation", clip.rotations, "VEC4"), ("translation", clip.translations, "VEC3")):
            for j, values in table.items():
                out = blob.accessor(np.asarray(values, np.float32), kind, f32)
                samplers.append(g.AnimationSampler(input=t_acc, output=out, interpolation="LINEAR"))
                channels.append(g.AnimationChannel(sampler=len(samplers) - 1,
                                                   target=g.AnimationChannelTarget(node=2 + j, path=path_name)))
        anims.append(g.Animation(name=clip.name, samplers=samplers, channels=channels))
    data = blob.data.getvalue()
    gltf = g.GLTF2(asset=g.Asset(version="2.0", generator="synth"), scene=0, scenes=[g.Scene(nodes=[0])],
                   nodes=nodes, meshes=[g.Mesh(name=f"{name}_mesh", primitives=prims)],
                   skins=[g.Skin(name=f"{name}_skin", joints=[2 + j for j in range(n_j)],
                                 inverseBindMatrices=ibm_acc, skeleton=2)],
                   animations=anims, materials=mats, textures=textures, images=images,
                   samplers=[g.Sampler(magFilter=g.LINEAR, minFilter=g.LINEAR_MIPMAP_LINEAR)] if textures else [],
                   accessors=blob.accessors, bufferViews=blob.views, buffers=[g.Buffer(byteLength=len(data))])
    gltf.set_binary_blob(data)
    path = Path(path)
    with atomic_output_path(path) as tmp:
        gltf.save_binary(str(tmp))
    return path
