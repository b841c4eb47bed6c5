"""Motion capture (BVH) retargeted onto the built-in humanoid: bone directions and twist follow the source, feet
stay on the ground in contact frames, Panda3D plays the written clip as computed, bad files give clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from synth.render.embedded.bvh import (BvhError, bvh_forward_kinematics, read_bvh, retarget_to_humanoid)
from synth.render.embedded.humanoid import HumanoidSpec, _skeleton

# a CMU-like skeleton (names, parent, T-pose offset in CMU units ~ inches / 0.45), Y up, +Z front, +X left
_SKEL = [("Hips", None, (0, 0, 0)), ("LowerBack", "Hips", (0, 2, 0)), ("Spine", "LowerBack", (0, 2, 0)),
         ("Spine1", "Spine", (0, 2, 0)), ("Neck", "Spine1", (0, 1.8, 0)), ("Neck1", "Neck", (0, 1.6, 0)),
         ("Head", "Neck1", (0, 1.6, 0)),
         ("LeftShoulder", "Spine1", (1.5, 1.6, 0)), ("LeftArm", "LeftShoulder", (3, 0, 0)),
         ("LeftForeArm", "LeftArm", (5, 0, 0)), ("LeftHand", "LeftForeArm", (4.5, 0, 0)),
         ("RightShoulder", "Spine1", (-1.5, 1.6, 0)), ("RightArm", "RightShoulder", (-3, 0, 0)),
         ("RightForeArm", "RightArm", (-5, 0, 0)), ("RightHand", "RightForeArm", (-4.5, 0, 0)),
         ("LHipJoint", "Hips", (1.5, -1, 0)), ("LeftUpLeg", "LHipJoint", (0.5, -1, 0)),
         ("LeftLeg", "LeftUpLeg", (0, -7.5, 0)), ("LeftFoot", "LeftLeg", (0, -7.5, 0)),
         ("LeftToeBase", "LeftFoot", (0, -1, 2.5)),
         ("RHipJoint", "Hips", (-1.5, -1, 0)), ("RightUpLeg", "RHipJoint", (-0.5, -1, 0)),
         ("RightLeg", "RightUpLeg", (0, -7.5, 0)), ("RightFoot", "RightLeg", (0, -7.5, 0)),
         ("RightToeBase", "RightFoot", (0, -1, 2.5))]


def _write_bvh(path: Path, frames: np.ndarray, names=None) -> Path:
    """frames: (F, 3 + 3 * J) root position then (Z, X, Y) rotation degrees per joint."""
    names = names or [s[0] for s in _SKEL]
    lines = ["HIERARCHY"]
    kids = {n: [s[0] for s in _SKEL if s[1] == n] for n, _, _ in _SKEL}

    def emit(i, depth):
        n, parent, off = _SKEL[i]
        pad = "  " * depth
        lines.append(f"{pad}{'ROOT' if parent is None else 'JOINT'} {names[i]}")
        lines.append(pad + "{")
        lines.append(f"{pad}  OFFSET {off[0]} {off[1]} {off[2]}")
        ch = "6 Xposition Yposition Zposition Zrotation Xrotation Yrotation" if parent is None else \
            "3 Zrotation Xrotation Yrotation"
        lines.append(f"{pad}  CHANNELS {ch}")
        if kids[n]:
            for k in kids[n]:
                emit([s[0] for s in _SKEL].index(k), depth + 1)
        else:
            lines.append(f"{pad}  End Site")
            lines.append(pad + "  {")
            lines.append(f"{pad}    OFFSET 0 1 0")
            lines.append(pad + "  }")
        lines.append(pad + "}")

    emit(0, 0)
    lines += ["MOTION", f"Frames: {len(frames)}", "Frame Time: 0.0333333"]
    lines += [" ".join(f"{v:.6f}" for v in row) for row in frames]
    path.write_text("\n".join(lines) + "\n")
    return path


def _take(n=40):
    """Arms lowered from the T-pose with a forearm twist and elbow bend, knees bending (a squat), hips bobbing."""
    J = len(_SKEL)
    names = [s[0] for s in _SKEL]
    fr = np.zeros((n, 3 + 3 * J))
    t = np.linspace(0, 1, n)
    fr[:, 1] = 17.0 - 3.0 * np.sin(np.pi * t)  # hips height (feet at 0 at rest: 1 + 1 + 7.5 + 7.5 = 17)

    def rot(name, z=0.0, x=0.0, y=0.0):
        k = 3 + 3 * names.index(name)
        fr[:, k], fr[:, k + 1], fr[:, k + 2] = z, x, y

    rot("LeftArm", z=-80 * t, x=50 * t)            # lowered and twisted about the arm's axis
    rot("LeftForeArm", y=-70 * t)                  # elbow bend (the twist decides where the hand goes)
    rot("RightArm", z=60 * t)
    rot("LeftUpLeg", x=-50 * np.sin(np.pi * t))
    rot("LeftLeg", x=80 * np.sin(np.pi * t))
    rot("RightUpLeg", x=-50 * np.sin(np.pi * t))
    rot("RightLeg", x=80 * np.sin(np.pi * t))
    rot("Spine1", y=20 * t)
    return fr


def _dir(a, b):
    d = b - a
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def test_bone_directions_and_twist_follow_the_source(tmp_path):
    m = read_bvh(_write_bvh(tmp_path / "take.bvh", _take()))
    _, P = bvh_forward_kinematics(m)
    idx = {n: i for i, n in enumerate(m.names)}
    clip = retarget_to_humanoid(m, _skeleton(HumanoidSpec()))
    g = clip.globals_
    for (ta, tb), (sa, sb) in [(("upper_arm_l", "forearm_l"), ("LeftArm", "LeftForeArm")),
                               (("forearm_l", "hand_l"), ("LeftForeArm", "LeftHand")),  # needs the twist
                               (("upper_arm_r", "forearm_r"), ("RightArm", "RightForeArm")),
                               (("thigh_l", "shin_l"), ("LeftUpLeg", "LeftLeg")),
                               (("shin_r", "foot_r"), ("RightLeg", "RightFoot")),
                               (("chest", "neck"), ("Spine1", "Neck"))]:
        cos = np.sum(_dir(g[ta], g[tb]) * _dir(P[:, idx[sa]], P[:, idx[sb]]), -1)
        assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 1.0, (ta, tb)


def test_feet_on_the_ground_in_contact_frames(tmp_path):
    m = read_bvh(_write_bvh(tmp_path / "take.bvh", _take()))
    joints = _skeleton(HumanoidSpec())
    clip = retarget_to_humanoid(m, joints)
    g_rest_foot = (0.530 - 0.030 - 0.235 - 0.222) * 1.75  # hips - thigh - shin - foot offsets (humanoid.py)
    feet = np.minimum(clip.globals_["foot_l"][:, 1], clip.globals_["foot_r"][:, 1])
    assert clip.contact.sum() >= len(feet) // 2  # a squat keeps both feet down
    assert np.abs(feet[clip.contact] - g_rest_foot).max() < 0.02
    # without the correction the squat would lift the feet off the ground (the hips drop less than the legs fold)
    assert clip.hips_offset[:, 1].min() < -0.05


def test_panda_plays_the_retargeted_clip_as_computed(tmp_path):
    """The clip written into the humanoid GLB, played by Panda3D, puts the joints where the retargeting says
    (checks quaternion and axis conventions end to end)."""
    from synth.scenes.catalog import load_catalog
    from synth.render.embedded.characters import expose_joints, load_character

    bvh = _write_bvh(tmp_path / "take.bvh", _take())
    cat_yaml = {"version": 1, "backend": "embedded",
                "environments": [{"id": "e", "description": "x", "kind": "outdoor", "asset": "builtin:plaza",
                                  "free_space_cm": {"min": [-500, -500, 0], "max": [500, 500, 500]},
                                  "lighting": ["noon"]}],
                "characters": [{"id": "h", "description": "h", "height_m": 1.75, "asset": "builtin:humanoid"}],
                "animations": [{"id": "squat_mocap", "description": "d", "asset": f"bvh:{bvh.name}#0-40",
                                "duration_s": 39 / 30.0, "loop": False}]}
    p = tmp_path / "cat.yaml"
    p.write_text(yaml.safe_dump(cat_yaml))
    cat = load_catalog(p)
    loaded = load_character(cat, cat.character("h"), cat.animations_for("h"))
    actor = loaded.actor
    joints = expose_joints(actor)
    clip = retarget_to_humanoid(read_bvh(bvh), _skeleton(HumanoidSpec()), 0, 40)
    name = loaded.anim_names["squat_mocap"]
    from panda3d.core import NodePath

    root = NodePath("root")
    actor.reparentTo(root)
    errs = []
    # interior keys: panda3d-gltf rebuilds a clip's frames from its key times (the first and last keys may shift by
    # one frame, as for every built-in clip), interior frames land on the keys
    for f in (13, 26):
        actor.pose(name, f)
        actor.update(force=True)
        for jn in ("hand_l", "forearm_r", "foot_l", "head"):
            pos = np.array(joints[jn].getPos(root))  # Panda: z up, glTF y up -> (x, -z, y)
            ours = clip.globals_[jn][f]
            want = np.array([ours[0], -ours[2], ours[1]])
            errs.append(np.linalg.norm(pos - want))
    assert max(errs) < 0.01, errs


def test_unknown_joint_names_and_bad_files_name_the_file(tmp_path):
    names = [f"bone{i}" for i in range(len(_SKEL))]
    p = _write_bvh(tmp_path / "alien.bvh", _take(3), names=names)
    with pytest.raises(BvhError, match=r"alien\.bvh: unknown skeleton: joints \[.*'Head'.*not found"):
        retarget_to_humanoid(read_bvh(p), _skeleton(HumanoidSpec()))
    with pytest.raises(BvhError, match="not found"):
        read_bvh(tmp_path / "nope.bvh")
    bad = tmp_path / "bad.bvh"
    bad.write_text("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0\n")
    with pytest.raises(BvhError, match=r"bad\.bvh"):
        read_bvh(bad)
    short = tmp_path / "short.bvh"
    short.write_text(_write_bvh(tmp_path / "ok.bvh", _take(3)).read_text().rsplit("\n", 2)[0] + "\n")
    with pytest.raises(BvhError, match=r"short\.bvh: MOTION has"):
        read_bvh(short)
