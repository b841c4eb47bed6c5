"""Procedural humanoid characters: skeleton, skinned mesh and keyframed clips, written as GLB.

Character space is glTF's: metres, +Y up, the character faces +Z, its left is +X. Proportions scale with the
catalog's ``height_m``; ``params`` (catalog) set ``build`` (girth), ``shoulders`` (width), colours ``skin``, ``top``,
``bottom``, ``shoes``, ``hair`` and the top's ``pattern`` (plain, stripes, checks, dots).

The mesh is a mannequin of capsules and ellipsoids, each rigidly skinned to one joint (spherical ends at the joints
keep it closed under rotation). Clips loop seamlessly over their duration: wave, walk (in place), dance, cheer, jump,
squat, idle, turn, clap, point, stretch, look_around.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Sequence, Tuple

import numpy as np

from .gltf_io import AnimationClip, Joint, Material, MeshPart, write_skinned_glb
from .motion_types import SourceMotion

__all__ = ["HUMANOID_JOINTS", "CLIPS", "build_humanoid_glb", "joint_index", "HumanoidSpec"]

CLIP_FPS = 30.0


@dataclass(frozen=True)
class HumanoidSpec:
    height_m: float = 1.75
    build: float = 1.0
    shoulders: float = 1.0
    skin: Tuple[float, float, float] = (0.9, 0.72, 0.6)
    top: Tuple[float, float, float] = (0.2, 0.3, 0.7)
    bottom: Tuple[float, float, float] = (0.2, 0.2, 0.25)
    shoes: Tuple[float, float, float] = (0.1, 0.1, 0.1)
    hair: Tuple[float, float, float] = (0.15, 0.1, 0.05)
    pattern: str = "plain"

    @classmethod
    def from_catalog(cls, height_m: float, params: Mapping) -> "HumanoidSpec":
        allowed = {f for f in cls.__dataclass_fields__ if f != "height_m"}
        unknown = set(params) - allowed
        if unknown:
            raise ValueError(f"unknown humanoid params {sorted(unknown)}; allowed {sorted(allowed)}")
        kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in params.items()}
        if kw.get("pattern", "plain") not in ("plain", "stripes", "checks", "dots"):
            raise ValueError(f"pattern must be plain, stripes, checks or dots, got {kw['pattern']!r}")
        return cls(height_m=height_m, **kw)


# name, parent, offset from parent as fractions of height (x scaled by width factors below)
_SKELETON = [
    ("hips", None, (0.0, 0.530, 0.0)),
    ("spine", "hips", (0.0, 0.065, 0.0)),
    ("chest", "spine", (0.0, 0.125, 0.0)),
    ("neck", "chest", (0.0, 0.100, 0.0)),
    ("head", "neck", (0.0, 0.045, 0.0)),
    ("upper_arm_l", "chest", (0.112, 0.085, 0.0)),
    ("forearm_l", "upper_arm_l", (0.0, -0.170, 0.0)),
    ("hand_l", "forearm_l", (0.0, -0.150, 0.0)),
    ("upper_arm_r", "chest", (-0.112, 0.085, 0.0)),
    ("forearm_r", "upper_arm_r", (0.0, -0.170, 0.0)),
    ("hand_r", "forearm_r", (0.0, -0.150, 0.0)),
    ("thigh_l", "hips", (0.056, -0.030, 0.0)),
    ("shin_l", "thigh_l", (0.0, -0.235, 0.0)),
    ("foot_l", "shin_l", (0.0, -0.222, 0.0)),
    ("thigh_r", "hips", (-0.056, -0.030, 0.0)),
    ("shin_r", "thigh_r", (0.0, -0.235, 0.0)),
    ("foot_r", "shin_r", (0.0, -0.222, 0.0)),
]
HUMANOID_JOINTS: List[str] = [s[0] for s in _SKELETON]


def joint_index(name: str) -> int:
    return HUMANOID_JOINTS.index(name)


def _skeleton(spec: HumanoidSpec) -> List[Joint]:
    h = spec.height_m
    out = []
    for name, parent, (x, y, z) in _SKELETON:
        sx = spec.shoulders if name.startswith("upper_arm") else (spec.build if name.startswith("thigh") else 1.0)
        out.append(Joint(name, HUMANOID_JOINTS.index(parent) if parent else -1, (x * h * sx, y * h, z * h)))
    return out


def _global_positions(joints: List[Joint]) -> np.ndarray:
    g = np.zeros((len(joints), 3))
    for i, j in enumerate(joints):
        g[i] = np.asarray(j.translation) + (g[j.parent] if j.parent >= 0 else 0)
    return g


# ------------------------------------------------------------------------------------------------------------------
# Mesh primitives
# ------------------------------------------------------------------------------------------------------------------


def _capsule(a, b, r, scale=(1.0, 1.0), seg=18, rings=6, joint=0, material=0) -> MeshPart:
    """Capsule from ``a`` to ``b`` (radius ``r``, cross-section scaled by ``scale`` along the local x/z axes)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    axis = b - a
    length = np.linalg.norm(axis)
    d = axis / length
    ref = np.array([0.0, 0.0, 1.0]) if abs(d[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = np.cross(d, ref)
    u /= np.linalg.norm(u)
    v = np.cross(d, u)
    if abs(d[1]) > 0.9:  # vertical limbs: keep the scale axes aligned with the body's x (width) and z (depth)
        u, v = np.array([1.0, 0, 0]), np.cross(d, [1.0, 0, 0])
    # profile: hemisphere at a, cylinder, hemisphere at b
    phis = np.concatenate([np.linspace(-np.pi / 2, 0, rings), np.linspace(0, np.pi / 2, rings)])
    offs = np.concatenate([np.zeros(rings), np.full(rings, length)])
    th = np.linspace(0, 2 * np.pi, seg + 1)
    P, N, UV = [], [], []
    for k, (phi, off) in enumerate(zip(phis, offs)):
        for t in th:
            nloc = np.cos(phi) * (np.cos(t) * u * scale[0] + np.sin(t) * v * scale[1]) + np.sin(phi) * d
            P.append(a + d * off + r * nloc)
            n = np.cos(phi) * (np.cos(t) * u / scale[0] + np.sin(t) * v / scale[1]) + np.sin(phi) * d
            N.append(n / np.linalg.norm(n))
            UV.append((t / (2 * np.pi), k / (len(phis) - 1)))
    idx = []
    cols = seg + 1
    for k in range(len(phis) - 1):
        for s in range(seg):
            p0, p1 = k * cols + s, k * cols + s + 1
            q0, q1 = p0 + cols, p1 + cols
            idx += [(p0, p1, q0), (p1, q1, q0)]  # counter-clockwise seen from outside (glTF front faces)
    return MeshPart(np.asarray(P, np.float32), np.asarray(N, np.float32), np.asarray(UV, np.float32),
                    np.asarray(idx, np.uint32), joint, material)


def _ellipsoid(c, radii, joint, material, seg=20, rings=12, top_only=False) -> MeshPart:
    c, radii = np.asarray(c, float), np.asarray(radii, float)
    lat = np.linspace(0 if top_only else -np.pi / 2, np.pi / 2, rings)
    th = np.linspace(0, 2 * np.pi, seg + 1)
    P, N, UV = [], [], []
    for k, la in enumerate(lat):
        for t in th:
            s = np.array([np.cos(la) * np.sin(t), np.sin(la), np.cos(la) * np.cos(t)])
            P.append(c + radii * s)
            n = s / radii
            N.append(n / np.linalg.norm(n))
            UV.append((t / (2 * np.pi), k / (rings - 1)))
    idx = []
    cols = seg + 1
    for k in range(rings - 1):
        for s_ in range(seg):
            p0, p1 = k * cols + s_, k * cols + s_ + 1
            q0, q1 = p0 + cols, p1 + cols
            idx += [(p0, p1, q0), (p1, q1, q0)]
    return MeshPart(np.asarray(P, np.float32), np.asarray(N, np.float32), np.asarray(UV, np.float32),
                    np.asarray(idx, np.uint32), joint, material)


def _pattern_png(pattern: str, color: Sequence[float], size: int = 128) -> bytes:
    """Cloth texture (sRGB PNG): a woven-noise base of ``color`` with the pattern in white/darker tones."""
    from PIL import Image

    rng = np.random.default_rng(abs(hash((pattern, tuple(color)))) % 2**32)
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = np.asarray(color, float)[None, None, :] * (0.92 + 0.08 * rng.random((size, size, 1)))
    light = np.clip(np.asarray(color, float) * 0.25 + 0.75, 0, 1)
    if pattern == "stripes":
        m = (np.floor(yy * 12) % 2 == 0)[..., None]
        img = np.where(m, base, light)
    elif pattern == "checks":
        m = ((np.floor(yy * 8) + np.floor(xx * 16)) % 2 == 0)[..., None]
        img = np.where(m, base, base * 0.6)
    elif pattern == "dots":
        fx, fy = (xx * 16) % 1 - 0.5, (yy * 10) % 1 - 0.5
        m = ((fx ** 2 + fy ** 2) < 0.09)[..., None]
        img = np.where(m, np.ones(3) * 0.97, base)
    else:
        img = base
    buf = io.BytesIO()
    Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _linear(c) -> Tuple[float, float, float, float]:
    """sRGB catalog colour -> glTF's linear ``baseColorFactor``."""
    c = np.asarray(c, float)
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return (*lin.tolist(), 1.0)


def _mesh(spec: HumanoidSpec, joints: List[Joint]) -> Tuple[List[MeshPart], List[Material]]:
    h, b = spec.height_m, spec.build
    G = _global_positions(joints)
    J = {n: i for i, n in enumerate(HUMANOID_JOINTS)}
    mats = [Material("skin", _linear(spec.skin), roughness=0.6),
            Material("top", (1, 1, 1, 1), texture_png=_pattern_png(spec.pattern, spec.top)),
            Material("bottom", _linear(spec.bottom)),
            Material("shoes", _linear(spec.shoes), roughness=0.5),
            Material("hair", _linear(spec.hair), roughness=0.9),
            Material("eyes", _linear((0.05, 0.05, 0.06)), roughness=0.3)]
    SKIN, TOP, BOTTOM, SHOES, HAIR, EYES = range(6)
    P = lambda n: G[J[n]]  # noqa: E731
    parts = [
        _capsule(P("hips") + [0, -0.02 * h, 0], P("spine"), 0.085 * h * b, (1.25, 0.85), joint=J["hips"],
                 material=BOTTOM),
        _capsule(P("spine"), P("chest"), 0.080 * h * b, (1.2, 0.8), joint=J["spine"], material=TOP),
        _capsule(P("chest"), P("neck") - [0, 0.01 * h, 0], 0.088 * h * b, (1.3 * spec.shoulders, 0.78),
                 joint=J["chest"], material=TOP),
        _capsule(P("neck"), P("head"), 0.030 * h, joint=J["neck"], material=SKIN),
    ]
    head_c = P("head") + [0, 0.065 * h, 0.005 * h]
    hr = np.array([0.052, 0.066, 0.058]) * h
    parts += [_ellipsoid(head_c, hr, J["head"], SKIN),
              _ellipsoid(head_c + [0, 0.006 * h, -0.006 * h], hr * [1.07, 1.04, 1.07], J["head"], HAIR, top_only=True)]
    for side, sx in (("l", 1), ("r", -1)):
        parts += [_ellipsoid(head_c + [sx * 0.02 * h, 0.01 * h, 0.052 * h], [0.007 * h] * 3, J["head"], EYES, 8, 6)]
        ua, fa, hd = P(f"upper_arm_{side}"), P(f"forearm_{side}"), P(f"hand_{side}")
        parts += [
            _capsule(ua, fa, 0.030 * h * b, joint=J[f"upper_arm_{side}"], material=TOP),
            _capsule(fa, hd, 0.025 * h * b, joint=J[f"forearm_{side}"], material=SKIN),
            _ellipsoid(hd + [0, -0.045 * h, 0], np.array([0.018, 0.045, 0.028]) * h, J[f"hand_{side}"], SKIN),
        ]
        th, sh, ft = P(f"thigh_{side}"), P(f"shin_{side}"), P(f"foot_{side}")
        parts += [
            _capsule(th, sh, 0.045 * h * b, joint=J[f"thigh_{side}"], material=BOTTOM),
            _capsule(sh, ft, 0.034 * h * b, joint=J[f"shin_{side}"], material=BOTTOM),
            _capsule(ft + [0, -0.008 * h, -0.025 * h], ft + [0, -0.012 * h, 0.085 * h], 0.028 * h,
                     (1.0, 0.7), joint=J[f"foot_{side}"], material=SHOES),
        ]
    return parts, mats


# ------------------------------------------------------------------------------------------------------------------
# Animation clips: local rotations per joint (axis conventions in the module docstring)
# ------------------------------------------------------------------------------------------------------------------


def _q(axis, deg) -> np.ndarray:
    """Quaternion(s) xyzw of rotations by ``deg`` (scalar or (K,)) about a fixed axis."""
    deg = np.asarray(deg, float)
    a = np.radians(deg) / 2
    ax = np.asarray(axis, float) / np.linalg.norm(axis)
    return np.concatenate([np.sin(a)[..., None] * ax, np.cos(a)[..., None]], -1)


X, Y, Z = (1, 0, 0), (0, 1, 0), (0, 0, 1)
# Conventions: flexion forward of arms/thighs = rotation about -X; knee bend = +X; raising the left arm sideways =
# +Z, the right arm = -Z; twist/turn = Y.


def _clip_idle(p):
    s = np.sin(p)
    return {"chest": _q(X, 2.0 * s), "head": _q(Y, 12 * np.sin(p / 2)), "upper_arm_l": _q(Z, 4 + 2 * s),
            "upper_arm_r": _q(Z, -4 - 2 * s), "spine": _q(Z, 1.5 * np.sin(p / 2))}, {"hips": (0.0, 0.004 * s, 0.0)}


def _clip_walk(p):
    s, c = np.sin(p), np.cos(p)
    return ({"thigh_l": _q(X, -28 * s), "thigh_r": _q(X, 28 * s), "shin_l": _q(X, 35 * np.clip(-c, 0, 1) + 5),
             "shin_r": _q(X, 35 * np.clip(c, 0, 1) + 5), "upper_arm_l": _q(X, 22 * s), "upper_arm_r": _q(X, -22 * s),
             "forearm_l": _q(X, -15 - 10 * s), "forearm_r": _q(X, -15 + 10 * s), "spine": _q(Y, 6 * s)},
            {"hips": (0.0, 0.018 * np.abs(np.sin(p)), 0.0)})


def _clip_wave(p):
    s2 = np.sin(2 * p)
    return ({"upper_arm_r": _q(Z, -150 + 4 * np.sin(p)), "forearm_r": _q(Z, 30 * s2),
             "hand_r": _q(Z, 10 * s2), "upper_arm_l": _q(Z, 5), "head": _q(Z, -6 + 3 * np.sin(p)),
             "chest": _q(Z, -3 * np.ones_like(p))}, {})


def _clip_cheer(p):
    s2 = np.sin(2 * p)
    return ({"upper_arm_l": _q(Z, 155 + 15 * s2), "upper_arm_r": _q(Z, -155 - 15 * s2),
             "forearm_l": _q(Z, 10 * s2), "forearm_r": _q(Z, -10 * s2), "head": _q(X, -10 + 5 * s2),
             "shin_l": _q(X, 10 + 10 * s2), "shin_r": _q(X, 10 + 10 * s2), "thigh_l": _q(X, -5 - 5 * s2),
             "thigh_r": _q(X, -5 - 5 * s2)}, {"hips": (0.0, 0.04 * np.abs(s2), 0.0)})


def _clip_dance(p):
    s, s2 = np.sin(p), np.sin(2 * p)
    return ({"upper_arm_l": _q(Z, 70 + 50 * s), "upper_arm_r": _q(Z, -70 + 50 * s), "forearm_l": _q(X, -40 - 30 * s),
             "forearm_r": _q(X, -40 + 30 * s), "spine": _q(Y, 18 * s), "chest": _q(Z, 8 * s),
             "head": _q(Z, -8 * s), "thigh_l": _q(X, -10 - 10 * s2), "thigh_r": _q(X, -10 - 10 * s2),
             "shin_l": _q(X, 20 + 20 * s2), "shin_r": _q(X, 20 + 20 * s2)},
            {"hips": (0.05 * s, -0.03 * (1 + s2) / 2, 0.0)})


def _smooth(x):
    x = np.clip(x, 0, 1)
    return x * x * (3 - 2 * x)


def _clip_jump(p):
    t = p / (2 * np.pi)  # 0..1
    crouch = _smooth(t / 0.25) * (1 - _smooth((t - 0.25) / 0.1)) + _smooth((t - 0.75) / 0.12) * (
        1 - _smooth((t - 0.87) / 0.13))
    air = np.clip(np.sin(np.pi * np.clip((t - 0.35) / 0.4, 0, 1)), 0, 1)
    return ({"thigh_l": _q(X, -50 * crouch), "thigh_r": _q(X, -50 * crouch), "shin_l": _q(X, 90 * crouch),
             "shin_r": _q(X, 90 * crouch), "foot_l": _q(X, -40 * crouch), "foot_r": _q(X, -40 * crouch),
             "spine": _q(X, 20 * crouch), "upper_arm_l": _q(X, 40 * crouch - 150 * air),
             "upper_arm_r": _q(X, 40 * crouch - 150 * air)},
            {"hips": (0.0, -0.16 * crouch + 0.35 * air, 0.0)})


def _clip_squat(p):
    s = (1 - np.cos(p)) / 2
    return ({"thigh_l": _q(X, -95 * s), "thigh_r": _q(X, -95 * s), "shin_l": _q(X, 110 * s),
             "shin_r": _q(X, 110 * s), "foot_l": _q(X, -20 * s), "foot_r": _q(X, -20 * s), "spine": _q(X, 25 * s),
             "upper_arm_l": _q(X, -85 * s), "upper_arm_r": _q(X, -85 * s)}, {"hips": (0.0, -0.30 * s, -0.06 * s)})


def _clip_turn(p):
    s = np.sin(4 * p)
    return ({"hips": _q(Y, np.degrees(p)), "thigh_l": _q(X, -15 * np.clip(s, 0, 1)),
             "thigh_r": _q(X, -15 * np.clip(-s, 0, 1)), "shin_l": _q(X, 25 * np.clip(s, 0, 1)),
             "shin_r": _q(X, 25 * np.clip(-s, 0, 1)), "upper_arm_l": _q(Z, 10 * np.ones_like(p)),
             "upper_arm_r": _q(Z, -10 * np.ones_like(p))}, {})


def _clip_clap(p):
    s = np.sin(2 * p)
    one = np.ones_like(p)
    return ({"upper_arm_l": _q(X, -45 * one), "upper_arm_r": _q(X, -45 * one),
             "forearm_l": _q(X, -80 * one), "forearm_r": _q(X, -80 * one), "head": _q(X, 5 * one)},
            {"hips": (0.0, 0.003 * s, 0.0)})


def _clip_point(p):
    u = _smooth(np.sin(p / 2) * 1.4)  # raise, hold, lower
    return ({"upper_arm_r": _q(X, -85 * u), "forearm_r": _q(X, -5 * u), "head": _q(Y, -20 * u),
             "chest": _q(Y, -10 * u), "upper_arm_l": _q(Z, 4 * np.ones_like(p))}, {})


def _clip_stretch(p):
    u = (1 - np.cos(p)) / 2
    return ({"upper_arm_l": _q(Z, 165 * u), "upper_arm_r": _q(Z, -165 * u), "spine": _q(X, -8 * u),
             "chest": _q(X, -6 * u), "head": _q(X, -10 * u)}, {"hips": (0.0, 0.01 * u, 0.0)})


def _clip_look_around(p):
    s = np.sin(p)
    return ({"head": _q(Y, 55 * s), "neck": _q(Y, 15 * s), "chest": _q(Y, 12 * s),
             "upper_arm_l": _q(Z, 5 * np.ones_like(p)), "upper_arm_r": _q(Z, -5 * np.ones_like(p))}, {})


CLIPS: Dict[str, Callable] = {"idle": _clip_idle, "walk": _clip_walk, "wave": _clip_wave, "cheer": _clip_cheer,
                              "dance": _clip_dance, "jump": _clip_jump, "squat": _clip_squat, "turn": _clip_turn,
                              "clap": _clip_clap, "point": _clip_point, "stretch": _clip_stretch,
                              "look_around": _clip_look_around}


def _make_clip(name: str, clip: str, duration: float, joints: List[Joint], height: float) -> AnimationClip:
    n = max(2, int(round(duration * CLIP_FPS)) + 1)
    times = np.linspace(0.0, duration, n)
    phase = 2 * np.pi * times / duration
    rots, trans = CLIPS[clip](phase)
    clip = AnimationClip(name, times)
    for j, jt in enumerate(joints):  # every joint keyed, so clips never inherit another clip's pose
        q = rots.get(jt.name)
        clip.rotations[j] = np.broadcast_to(q, (n, 4)).copy() if q is not None else np.tile([0, 0, 0, 1.0], (n, 1))
        off = trans.get(jt.name, (0.0, 0.0, 0.0))
        off = np.stack([np.broadcast_to(np.asarray(o, float) * height / 1.75, (n,)) for o in off], -1)
        clip.translations[j] = np.asarray(jt.translation)[None] + off
    return clip


def humanoid_source(clip: str, duration_s: float):
    """A built-in clip as a :class:`synth.render.embedded.motion_types.SourceMotion` of the 1.75 m humanoid (keys at
    :data:`CLIP_FPS` over ``duration_s``, both ends included: looping clips repeat their first pose), to retarget it
    onto other skeletons.

    Raises:
        KeyError: an unknown built-in clip.
    """
    from scipy.spatial.transform import Rotation

    joints = _skeleton(HumanoidSpec())
    c = _make_clip(clip, clip, duration_s, joints, 1.75)
    n, J = len(c.times), len(joints)
    G = np.zeros((n, J, 3, 3))
    P = np.zeros((n, J, 3))
    for j, jt in enumerate(joints):
        L = Rotation.from_quat(c.rotations[j]).as_matrix()
        if jt.parent < 0:
            G[:, j], P[:, j] = L, c.translations[j]
        else:
            G[:, j] = G[:, jt.parent] @ L
            P[:, j] = P[:, jt.parent] + G[:, jt.parent] @ np.asarray(jt.translation, float)
    return SourceMotion(f"builtin:{clip}", list(HUMANOID_JOINTS), [jt.parent for jt in joints],
                        _global_positions(joints), G, P, CLIP_FPS)


def build_humanoid_glb(path: Path, spec: HumanoidSpec, clips: Mapping[str, Tuple[str, float]]) -> Path:
    """Write a humanoid GLB. ``clips``: animation name in the file -> (built-in clip in :data:`CLIPS`, duration s).

    Raises:
        KeyError: an unknown built-in clip.
    """
    unknown = {c for c, _ in clips.values()} - set(CLIPS)
    if unknown:
        raise KeyError(f"unknown humanoid clips {sorted(unknown)}; available {sorted(CLIPS)}")
    joints = _skeleton(spec)
    parts, mats = _mesh(spec, joints)
    anim = [_make_clip(name, clip, d, joints, spec.height_m) for name, (clip, d) in clips.items()]
    return write_skinned_glb(Path(path), joints, parts, mats, anim, name="humanoid")
