"""Motion capture (BVH) onto the built-in humanoid: reading, forward kinematics and retargeting.

BVH (Biovision hierarchy; CMU's mocap takes, e.g. Debian's ``assimp-testmodels`` ``models/BVH/*.bvh``): a joint
hierarchy with OFFSETs and CHANNELS, then MOTION frames; rotations are Euler angles in degrees applied in the
channel order (intrinsic, ``Zrotation Xrotation Yrotation`` -> ``R = Rz Rx Ry``). CMU's skeleton is Y up, +Z front,
+X left at rest (T-pose), like the humanoid's glTF space (:mod:`synth.render.embedded.humanoid`), so no axis change.

Retargeting (per frame, world frame): the humanoid joint ``j`` mapped to source joint ``s`` gets the global rotation
``G_t(j) = G_s(s) A(j)``, where ``A(j)`` is the minimal rotation taking the humanoid's rest bone direction onto the
source's rest bone direction (the rest-pose difference: T-pose arms vs arms down). Twist about the bone axis is
carried by ``G_s`` and untouched by ``A`` (minimal rotations add none), so limbs do not collapse. Local rotations
follow as ``G_t(parent)^-1 G_t(j)``. The root keeps its vertical motion (scaled by hip height) and loses the
horizontal one (characters act in place: cameras are aimed at the start position); its height is corrected so that
in contact frames the lower foot stands exactly at its rest height (feet neither sink nor float).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from .motion_types import CMU_ROLES, HUMANOID_ROLES, RetargetedClip, Roles, SourceMotion

__all__ = ["BvhError", "BvhMotion", "read_bvh", "bvh_forward_kinematics", "retarget_to_humanoid", "CMU_TO_HUMANOID",
           "RetargetedClip", "SourceMotion", "Roles", "retarget", "source_from_bvh", "parse_bvh_asset",
           "require_cmu_joints"]

#: humanoid joint -> CMU BVH joint (Mixamo's ``mixamorig:`` prefix is stripped before matching)
CMU_TO_HUMANOID: Dict[str, str] = {
    "hips": "Hips", "spine": "Spine", "chest": "Spine1", "neck": "Neck", "head": "Head",
    "upper_arm_l": "LeftArm", "forearm_l": "LeftForeArm", "hand_l": "LeftHand",
    "upper_arm_r": "RightArm", "forearm_r": "RightForeArm", "hand_r": "RightHand",
    "thigh_l": "LeftUpLeg", "shin_l": "LeftLeg", "foot_l": "LeftFoot",
    "thigh_r": "RightUpLeg", "shin_r": "RightLeg", "foot_r": "RightFoot",
}


class BvhError(ValueError):
    """A BVH file is unreadable or lacks joints the retargeting needs (the message names the file)."""


@dataclass
class BvhMotion:
    """A parsed BVH take: ``names`` (J,), ``parents`` (J,) (-1 = root), ``offsets`` (J, 3) (file units),
    ``frame_time`` (s), ``rotations`` (F, J, 3, 3) local, ``root_position`` (F, 3) (file units)."""

    path: str
    names: List[str]
    parents: List[int]
    offsets: np.ndarray
    frame_time: float
    rotations: np.ndarray
    root_position: np.ndarray


def _axis_rot(axis: str, deg: np.ndarray) -> np.ndarray:
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    m = np.zeros(a.shape + (3, 3))
    i = "XYZ".index(axis)
    j, k = (i + 1) % 3, (i + 2) % 3
    m[..., i, i] = 1
    m[..., j, j], m[..., j, k], m[..., k, j], m[..., k, k] = c, -s, s, c
    return m


def read_bvh(path) -> BvhMotion:
    """Parse a BVH file.

    Raises:
        BvhError: missing file, malformed hierarchy or motion block (with the line), wrong number of values.
    """
    path = Path(path)
    if not path.is_file():
        raise BvhError(f"BVH {path}: file not found")
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        raise BvhError(f"BVH {path}: unreadable ({e})") from None
    tokens = text.split()
    if not tokens or tokens[0] != "HIERARCHY":
        raise BvhError(f"BVH {path}: expected 'HIERARCHY' at the start")
    names, parents, offsets, channels = [], [], [], []
    stack: List[int] = []
    i, last = 1, -1
    try:
        while tokens[i] != "MOTION":
            t = tokens[i]
            if t in ("ROOT", "JOINT"):
                names.append(re.sub(r"^.*:", "", tokens[i + 1]))
                parents.append(stack[-1] if stack else -1)
                last = len(names) - 1
                i += 2
            elif t == "End":  # End Site { OFFSET x y z }
                depth = 0
                while True:
                    i += 1
                    depth += tokens[i] == "{"
                    if tokens[i] == "}":
                        depth -= 1
                        if depth == 0:
                            break
                i += 1
            elif t == "{":
                stack.append(last)
                i += 1
            elif t == "}":
                stack.pop()
                i += 1
            elif t == "OFFSET":
                offsets.append([float(v) for v in tokens[i + 1:i + 4]])
                i += 4
            elif t == "CHANNELS":
                n = int(tokens[i + 1])
                channels.append(tokens[i + 2:i + 2 + n])
                i += 2 + n
            else:
                raise BvhError(f"BVH {path}: unexpected token {t!r} in HIERARCHY")
        frames = int(tokens[i + 2])
        frame_time = float(tokens[i + 5])
        values = np.asarray(tokens[i + 6:], float)
    except (IndexError, ValueError) as e:
        if isinstance(e, BvhError):
            raise
        raise BvhError(f"BVH {path}: malformed file ({type(e).__name__}: {e})") from None
    if not names or len(offsets) != len(names) or len(channels) != len(names):
        raise BvhError(f"BVH {path}: every joint needs an OFFSET and CHANNELS")
    width = sum(len(c) for c in channels)
    if frames < 1 or values.size != frames * width:
        raise BvhError(f"BVH {path}: MOTION has {values.size} values, expected {frames} frames x {width} channels")
    values = values.reshape(frames, width)
    rot = np.tile(np.eye(3), (frames, len(names), 1, 1))
    root = np.tile(np.asarray(offsets[0], float), (frames, 1))
    col = 0
    for j, ch in enumerate(channels):
        for c in ch:
            v = values[:, col]
            col += 1
            if c.endswith("rotation"):
                rot[:, j] = rot[:, j] @ _axis_rot(c[0].upper(), v)
            elif c.endswith("position") and j == 0:
                root[:, "XYZ".index(c[0].upper())] = v
    return BvhMotion(str(path), names, parents, np.asarray(offsets, float), frame_time, rot, root)


def bvh_forward_kinematics(m: BvhMotion) -> Tuple[np.ndarray, np.ndarray]:
    """Global rotations (F, J, 3, 3) and positions (F, J, 3) (file units)."""
    F, J = m.rotations.shape[:2]
    G = np.zeros((F, J, 3, 3))
    P = np.zeros((F, J, 3))
    for j in range(J):
        p = m.parents[j]
        if p < 0:
            G[:, j] = m.rotations[:, j]
            P[:, j] = m.root_position
        else:
            G[:, j] = G[:, p] @ m.rotations[:, j]
            P[:, j] = P[:, p] + np.einsum("fab,b->fa", G[:, p], m.offsets[j])
    return G, P


def _min_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The rotation of least angle taking direction ``a`` onto ``b`` (3x3)."""
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    v, c = np.cross(a, b), float(a @ b)
    if c < -1 + 1e-9:  # opposite: half-turn about any axis normal to a
        n = np.cross(a, [1, 0, 0]) if abs(a[0]) < 0.9 else np.cross(a, [0, 1, 0])
        n /= np.linalg.norm(n)
        return 2 * np.outer(n, n) - np.eye(3)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1 + c)


def _quat_xyzw(R: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(R.reshape(-1, 3, 3)).as_quat().reshape(R.shape[:-2] + (4,))


def source_from_bvh(m: BvhMotion, start: int = 0, stop: int = None) -> SourceMotion:
    """Frames ``[start, stop)`` of a BVH take as a :class:`SourceMotion`.

    Raises:
        BvhError: an empty or out-of-range frame range (names the file).
    """
    stop = m.rotations.shape[0] if stop is None else stop
    if not 0 <= start < stop <= m.rotations.shape[0]:
        raise BvhError(f"BVH {m.path}: frame range [{start}, {stop}) outside its {m.rotations.shape[0]} frames")
    sub = BvhMotion(m.path, m.names, m.parents, m.offsets, m.frame_time, m.rotations[start:stop],
                    m.root_position[start:stop])
    G, P = bvh_forward_kinematics(sub)
    rest = BvhMotion(m.path, m.names, m.parents, m.offsets, m.frame_time, np.tile(np.eye(3), (1, len(m.names), 1, 1)),
                     m.offsets[:1].copy())
    return SourceMotion(m.path, list(m.names), list(m.parents), bvh_forward_kinematics(rest)[1][0], G, P,
                        1.0 / m.frame_time)


def _rest_globals(joints) -> np.ndarray:
    t = np.array([j.translation for j in joints], float)
    g = np.zeros_like(t)
    for k, j in enumerate(joints):
        g[k] = t[k] + (g[j.parent] if j.parent >= 0 else 0)
    return g


def _axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_rotvec(axis / np.linalg.norm(axis) * angle).as_matrix()


def _rest_alignment(k: int, joints, g_rest: np.ndarray, src: SourceMotion, mapping: Dict[str, str]) -> np.ndarray:
    """``A`` taking target joint ``k``'s rest bone directions onto its source joint's (see the module docstring):
    the main child (the one continuing the incoming bone: neck over shoulders, fingers over thumb) is matched exactly
    by the rotation of least angle; the other children then set the twist about that bone (a chest with its
    shoulders, a hip with its legs). The root keeps the identity (both skeletons stand upright facing +Z)."""
    names = [j.name for j in joints]
    sidx = {n: i for i, n in enumerate(src.names)}
    if joints[k].parent < 0:
        return np.eye(3)
    s = sidx[mapping[names[k]]]
    pairs = []
    for c, jc in enumerate(joints):
        if jc.parent == k and names[c] in mapping:
            d_t = g_rest[c] - g_rest[k]
            d_s = src.rest[sidx[mapping[names[c]]]] - src.rest[s]
            if np.linalg.norm(d_t) > 1e-9 and np.linalg.norm(d_s) > 1e-9:
                pairs.append((d_t / np.linalg.norm(d_t), d_s / np.linalg.norm(d_s)))
    if not pairs:
        return np.eye(3)
    incoming = g_rest[k] - g_rest[joints[k].parent]
    if np.linalg.norm(incoming) > 1e-9:
        pairs.sort(key=lambda p: -float(p[0] @ incoming) / np.linalg.norm(incoming))
    d_t, d_s = pairs[0]
    A = _min_rotation(d_t, d_s)
    if len(pairs) > 1:  # twist about d_s that best aligns the other children (circular mean of their angles)
        sin = cos = 0.0
        for o_t, o_s in pairs[1:]:
            a = A @ o_t
            a, b = a - (a @ d_s) * d_s, o_s - (o_s @ d_s) * d_s
            na, nb = np.linalg.norm(a), np.linalg.norm(b)
            if na > 1e-6 and nb > 1e-6:
                a, b = a / na, b / nb
                sin += float(np.cross(a, b) @ d_s) * na * nb
                cos += float(a @ b) * na * nb
        if abs(sin) + abs(cos) > 1e-9:
            A = _axis_angle(d_s, np.arctan2(sin, cos)) @ A
    return A


def retarget(src: SourceMotion, joints, mapping: Dict[str, str], src_roles: Roles, roles: Roles,
             contact_tol: float = 0.04) -> RetargetedClip:
    """Retarget a motion onto a skeleton ``joints`` (list of ``gltf_io.Joint``: name, parent index, rest translation
    in metres, identity rest rotations; Y up, +Z front). ``mapping``: target joint -> source joint; unmapped target
    joints keep their rest pose relative to their parent. The root moves vertically only (scaled by the ratio of hip
    heights) and is raised or lowered so that in contact frames the lowest foot joint (relative to its rest height)
    stands at its rest height. ``contact_tol``: metres (after scaling) above the source's usual standing height that
    still count as contact.

    Raises:
        BvhError: mapped source joints missing (names them and the file).
    """
    missing = sorted({s for s in mapping.values()} - set(src.names))
    if missing:
        raise BvhError(f"BVH {src.path}: unknown skeleton: joints {missing} not found (expected CMU motion-capture "
                       f"joint names such as Hips, LeftUpLeg, LeftArm; the file has {src.names[:12]}...)")
    sidx = {n: i for i, n in enumerate(src.names)}
    names = [j.name for j in joints]
    parent = [j.parent for j in joints]
    g_rest = _rest_globals(joints)
    F = src.G.shape[0]
    G_t = np.zeros((F, len(joints), 3, 3))
    for k, name in enumerate(names):
        if name in mapping:
            G_t[:, k] = src.G[:, sidx[mapping[name]]] @ _rest_alignment(k, joints, g_rest, src, mapping)
        else:
            G_t[:, k] = G_t[:, parent[k]] if parent[k] >= 0 else np.eye(3)
    rots = {}
    for k, name in enumerate(names):
        L = G_t[:, k] if parent[k] < 0 else np.swapaxes(G_t[:, parent[k]], -1, -2) @ G_t[:, k]
        rots[name] = _quat_xyzw(L)
    sh, th = sidx[src_roles.hips], names.index(roles.hips)
    s_feet = [sidx[n] for n in src_roles.feet]
    t_feet = [names.index(n) for n in roles.feet]
    hips_s = src.rest[sh][1] - min(src.rest[f][1] for f in s_feet)
    hips_t = g_rest[th][1] - min(g_rest[f][1] for f in t_feet)
    scale = hips_t / hips_s
    dy = (src.P[:, sh, 1] - src.rest[sh, 1]) * scale
    pos = _fk(G_t, joints, dy)
    feet = np.min(pos[:, t_feet, 1] - g_rest[t_feet, 1][None], axis=1)
    src_feet = np.min(src.P[:, s_feet, 1] - src.rest[s_feet, 1][None], axis=1) * scale
    # contact: the lowest foot joint within contact_tol of its usual standing height (5th percentile: robust to a
    # single deep frame)
    contact = src_feet - np.percentile(src_feet, 5) <= contact_tol
    corr = np.where(contact, -feet, np.nan)
    if np.isnan(corr).all():
        corr[:] = 0.0
    f = np.arange(F)
    ok = ~np.isnan(corr)
    corr = np.interp(f, f[ok], corr[ok])
    offset = np.zeros((F, 3))
    offset[:, 1] = dy + corr
    final = _fk(G_t, joints, offset[:, 1])
    return RetargetedClip(rots, offset, src.fps, contact, {n: final[:, k] for k, n in enumerate(names)})


def retarget_to_humanoid(m: BvhMotion, joints, start: int = 0, stop: int = None,
                         contact_tol_m: float = 0.04) -> RetargetedClip:
    """Retarget frames ``[start, stop)`` of a BVH take onto the humanoid skeleton ``joints`` (see :func:`retarget`;
    ``hips_offset`` in metres for that humanoid).

    Raises:
        BvhError: joints of :data:`CMU_TO_HUMANOID` missing from the file (names them and the file), empty range.
    """
    require_cmu_joints(m)
    return retarget(source_from_bvh(m, start, stop), joints, CMU_TO_HUMANOID, CMU_ROLES, HUMANOID_ROLES,
                    contact_tol_m)


def require_cmu_joints(m: BvhMotion) -> None:
    """Check that a take has the CMU joints retargeting maps (:data:`CMU_TO_HUMANOID`).

    Raises:
        BvhError: naming the file, the missing joints and the first joint names it has.
    """
    missing = sorted(set(CMU_TO_HUMANOID.values()) - set(m.names))
    if missing:
        raise BvhError(f"BVH {m.path}: unknown skeleton: joints {missing} not found (expected CMU motion-capture "
                       f"joint names such as Hips, LeftUpLeg, LeftArm; the file has {m.names[:12]}...)")


def _fk(G_t: np.ndarray, joints, root_dy: np.ndarray) -> np.ndarray:
    """Joint positions (F, J, 3) under global rotations ``G_t`` (rest translations rotate with their parents), the
    root raised by ``root_dy``."""
    F = G_t.shape[0]
    P = np.zeros((F, len(joints), 3))
    for k, j in enumerate(joints):
        if j.parent < 0:
            P[:, k] = np.asarray(j.translation) + np.c_[np.zeros(F), root_dy, np.zeros(F)]
        else:
            P[:, k] = P[:, j.parent] + G_t[:, j.parent] @ np.asarray(j.translation, float)
    return P


_REGISTERED: Dict[str, str] = {}


def bvh_file(asset: str, root=None) -> Path:
    """The file of a catalog animation ``bvh:<file>[#<start>-<stop>]`` (relative files against ``root``)."""
    path = Path(asset.split(":", 1)[1].partition("#")[0])
    if root is not None and not path.is_absolute():
        path = Path(root) / path
    return path


def parse_bvh_asset(asset: str, root=None) -> Tuple[Path, int, "int | None"]:
    """``bvh:<file>[#<start>-<stop>]`` -> (file, start, stop) (end exclusive; ``None`` = to the end).

    Raises:
        BvhError: a malformed frame range (names the file).
    """
    path = bvh_file(asset, root)
    rng = asset.split(":", 1)[1].partition("#")[2]
    if not rng:
        return path, 0, None
    try:
        a, b = rng.split("-")
        return path, int(a), int(b)
    except ValueError:
        raise BvhError(f"BVH {path}: frame range {rng!r}: expected <start>-<stop>") from None


def humanoid_clip_from_bvh(asset: str, root=None) -> str:
    """Register the built-in-humanoid clip of a catalog animation ``bvh:<file>[#<start>-<stop>]`` (frame range
    of the take, end exclusive; relative files resolve against ``root``) and return its key in
    :data:`synth.render.embedded.humanoid.CLIPS` (clips are callables of the loop phase, sampled at the humanoid's fps).

    Raises:
        BvhError: unreadable file, unknown joint names, bad range.
    """
    if asset in _REGISTERED:
        return _REGISTERED[asset]
    from .humanoid import CLIPS, HumanoidSpec, _skeleton

    path, start, stop = parse_bvh_asset(asset, root)
    m = read_bvh(path)
    clip = retarget_to_humanoid(m, _skeleton(HumanoidSpec()), start, stop)
    n = clip.hips_offset.shape[0]

    def sample(phase):
        u = np.clip(np.asarray(phase, float) / (2 * np.pi), 0.0, 1.0)
        f = np.round(u * (n - 1)).astype(int)
        rots = {k: v[f] for k, v in clip.rotations.items()}
        off = clip.hips_offset[f]
        return rots, {"hips": (off[:, 0], off[:, 1], off[:, 2])}

    key = f"bvh:{path.resolve()}#{start}-{stop if stop is not None else n}"
    CLIPS[key] = sample
    _REGISTERED[asset] = key
    return key
