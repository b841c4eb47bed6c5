"""Loading catalog characters into Panda3D ``Actor``s: built-in humanoids (generated GLB), the stock panda, and user
glTF/GLB files (rigged, skinned, animated; loaded by panda3d-gltf).

Asset references (catalog ``asset`` fields):

* character ``builtin:humanoid`` (``params``: see :class:`synth.render.embedded.humanoid.HumanoidSpec`), animations
  ``builtin:<clip>`` (wave, walk, dance, cheer, jump, squat, idle, turn);
* character ``anny:<file>.npz`` (a body of the bank built by ``synth assets build``, relative to the catalog;
  ``params.look``: clothing, skin, hair; see :mod:`synth.render.embedded.bodies`), animations ``builtin:<clip>`` and
  ``bvh:<file>`` retargeted onto the body;
* character ``panda3d:<model>``, animations ``panda3d:<anim>`` (files shipped with Panda3D);
* character ``path/to/model.glb`` (relative to the catalog file), animations ``path/to/file.glb#ClipName`` (a clip
  embedded in that file; the character's own file or another file with the same skeleton).

Models are scaled so that their bind-pose height equals the catalog's ``height_m``; ``params.forward`` (``+x``,
``-x``, ``+y``, ``-y``; default ``-y``, glTF's +Z front after conversion) says where the model's front faces in
Panda3D axes.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

from ...scenes.catalog import Animation, Catalog, Character
from ..backend import AssetError
from .humanoid import CLIPS, HumanoidSpec, build_humanoid_glb

__all__ = ["LoadedCharacter", "load_character"]

_CACHE = Path(tempfile.gettempdir()) / "synth-characters"


@dataclass
class LoadedCharacter:
    actor: object              # direct.actor.Actor.Actor
    anim_names: Dict[str, str]  # catalog animation id -> the Actor's animation name
    loop_frames: Dict[str, float]
    scale: float
    forward: str


def _builtin_humanoid(character: Character, animations: List[Animation], catalog_root=None) -> Path:
    try:
        spec = HumanoidSpec.from_catalog(character.height_m, character.params)
    except (TypeError, ValueError) as e:
        raise AssetError(f"character {character.id!r}: invalid params for builtin:humanoid ({e})") from None
    clips = {}
    bvh_pending = {}
    for a in animations:
        if a.asset.startswith("bvh:"):  # motion capture retargeted onto the humanoid (synth/render/embedded/bvh.py)
            from .bvh import bvh_file

            f = bvh_file(a.asset, catalog_root)
            if not f.is_file():
                raise AssetError(f"animation {a.id!r}: BVH {f}: file not found (catalog asset {a.asset!r})")
            st = f.stat()  # the cache key names the file's version; it is parsed only when the GLB is built
            clips[a.id] = (f"{a.asset}@{st.st_size}:{st.st_mtime_ns}", a.duration_s)
            bvh_pending[a.id] = a.asset
            continue
        if not a.asset.startswith("builtin:"):
            raise AssetError(f"animation {a.id!r} ({a.asset}) cannot play on built-in humanoid {character.id!r}; "
                             f"use builtin:<clip> with clip in {sorted(CLIPS)}")
        clip = a.asset.split(":", 1)[1]
        if clip not in CLIPS:
            raise AssetError(f"animation {a.id!r}: unknown built-in clip {clip!r}; available {sorted(CLIPS)}")
        clips[a.id] = (clip, a.duration_s)
    key = hashlib.sha256(json.dumps([spec.__dict__, sorted(clips.items())], sort_keys=True, default=list)
                         .encode()).hexdigest()[:16]
    path = _CACHE / f"{character.id}-{key}.glb"
    if not path.exists():
        if bvh_pending:
            from .bvh import BvhError, humanoid_clip_from_bvh

            for aid, asset in bvh_pending.items():
                try:
                    clips[aid] = (humanoid_clip_from_bvh(asset, catalog_root), clips[aid][1])
                except BvhError as e:
                    raise AssetError(f"animation {aid!r}: {e}") from None
        build_humanoid_glb(path, spec, clips)
    return _bam_of(path)


def _anny_body(character: Character, animations: List[Animation], catalog) -> Path:
    from .bodies import build_body_glb, load_body

    file = Path(catalog.resolve(character.asset.split(":", 1)[1]))
    body = load_body(file)  # AssetError names the file
    clips = {}
    for a in animations:
        if not (a.asset.startswith("builtin:") or a.asset.startswith("bvh:")):
            raise AssetError(f"animation {a.id!r} ({a.asset}) cannot play on body {character.id!r}; use "
                             f"builtin:<clip> or bvh:<file>")
        version = ""
        if a.asset.startswith("bvh:"):
            from .bvh import bvh_file

            f = bvh_file(a.asset, catalog.root)
            if not f.is_file():
                raise AssetError(f"animation {a.id!r}: BVH {f}: file not found (catalog asset {a.asset!r})")
            st = f.stat()
            version = f"{st.st_size}:{st.st_mtime_ns}"
        clips[a.id] = (a.asset, a.duration_s, version)
    st = file.stat()
    topo = (file.parent / "topology.npz").stat()
    key = hashlib.sha256(json.dumps([_BODY_FORMAT, str(file.resolve()), st.st_size, st.st_mtime_ns, topo.st_mtime_ns,
                                     character.params.get("look", {}), sorted(clips.items())], sort_keys=True,
                                    default=list).encode()).hexdigest()[:16]
    path = _CACHE / f"{character.id}-{key}.glb"
    if not path.exists():
        build_body_glb(path, body, character.params.get("look", {}),
                       {k: (v[0], v[1]) for k, v in clips.items()}, catalog.root)
    return _bam_of(path)


#: bump when the body GLB recipe changes (cached GLBs of an older recipe are not reused)
_BODY_FORMAT = 6  # 2: garments as meshes of their own, planted feet grounded; 3: hair volume; 4: hair cards;
#   5: garment openings cut along smooth level sets; 6: strand-textured hair cards, eyebrows, shoe meshes (clips
#   grounded on the shoes' soles)


def _bam_of(glb: Path) -> Path:
    """A Panda3D BAM copy of a generated GLB next to it (written once, atomically): loading it skips the glTF
    conversion, which dominates a character's load time (~0.3-0.7 s per humanoid with 8-16 clips)."""
    bam = glb.with_suffix(".bam")
    if not bam.exists():
        from .panda_app import panda_base

        model = panda_base().loader.loadModel(str(glb), noCache=True)
        tmp = bam.with_name(f".{bam.name}.{__import__('os').getpid()}.tmp")
        if not model.writeBamFile(str(tmp)):
            return glb
        tmp.replace(bam)
    return bam


def _load_actor(model, anims=None):
    from direct.actor.Actor import Actor

    return Actor(model, anims or {})


def load_character(catalog: Catalog, character: Character, animations: List[Animation]):
    """Build the ``Actor`` of a character with its compatible animations.

    Raises:
        AssetError: missing or unreadable model/animation files, unknown clips, invalid params.
    """
    asset = character.asset
    forward = character.params.get("forward", "-y")
    anim_names: Dict[str, str] = {}
    try:
        if asset == "builtin:humanoid":
            actor = _load_actor(str(_builtin_humanoid(character, animations, catalog.root)))
            anim_names = {a.id: a.id for a in animations}
        elif asset.startswith("anny:"):
            actor = _load_actor(str(_anny_body(character, animations, catalog)))
            anim_names = {a.id: a.id for a in animations}
        elif asset.startswith("panda3d:"):
            model = asset.split(":", 1)[1]
            files = {a.id: a.asset.split(":", 1)[1] for a in animations if a.asset.startswith("panda3d:")}
            actor = _load_actor(model, files)
            anim_names = {k: k for k in files}
        else:
            path = Path(catalog.resolve(asset))
            if not path.is_file():
                raise AssetError(f"character {character.id!r}: model file {path} not found (catalog asset {asset!r})")
            actor = _load_actor(str(path))
            if actor.isEmpty() or not actor.getJoints():
                raise AssetError(f"character {character.id!r}: {path} has no skin (no joints); expected a rigged, "
                                 f"skinned glTF/GLB (a mesh with a skin and its joint hierarchy)")
            embedded = set(actor.getAnimNames())
            extra = {}
            for a in animations:
                file_part, _, clip = a.asset.partition("#")
                apath = Path(catalog.resolve(file_part))
                if not apath.is_file():
                    raise AssetError(f"animation {a.id!r}: file {apath} not found (catalog asset {a.asset!r})")
                if apath.resolve() == path.resolve():
                    name = clip or (sorted(embedded)[0] if embedded else "")
                    if name not in embedded:
                        raise AssetError(f"animation {a.id!r}: clip {clip!r} not in {path}; it has {sorted(embedded)}")
                    anim_names[a.id] = name
                else:
                    extra[a.id] = str(apath)
                    anim_names[a.id] = a.id
            if extra:
                actor.loadAnims(extra)
    except AssetError:
        raise
    except Exception as e:  # Panda3D raises IOError/Exception/AssertionError for unreadable models
        raise AssetError(f"character {character.id!r}: cannot load {asset!r} ({type(e).__name__}: {e})") from None
    if actor.isEmpty() or not actor.getJoints():
        raise AssetError(f"character {character.id!r}: {asset!r} has no skeleton (expected a rigged, skinned model)")
    missing = [a.id for a in animations if anim_names.get(a.id) not in actor.getAnimNames()]
    if missing:
        raise AssetError(f"character {character.id!r}: animations {missing} could not be bound "
                         f"(the model has {sorted(actor.getAnimNames())})")
    lo, hi = actor.getTightBounds()
    # a generated body's ground is its model's z = 0 (its clips stand the shoes' soles there, below the bare feet)
    height = float(hi[2] - (0.0 if asset.startswith("anny:") else lo[2]))
    if not height > 0:
        raise AssetError(f"character {character.id!r}: model has zero height")
    scale = character.height_m / height
    loop = {}
    for aid, name in anim_names.items():
        n = actor.getNumFrames(name)
        # generated clips repeat their first key at the end: the loop is one frame shorter
        loop[aid] = float(n - 1 if (asset == "builtin:humanoid" or asset.startswith("anny:")) and n > 1 else n)
    actor.setBlend(frameBlend=True)
    return LoadedCharacter(actor, anim_names, loop, scale, forward)


def expose_joints(actor) -> Dict[str, object]:
    """NodePaths that follow every joint of the actor."""
    out = {}
    for j in actor.getJoints():
        name = j.getName()
        if name not in out:
            out[name] = actor.exposeJoint(None, "modelRoot", name)
    return out


def frame_for_time(loaded: LoadedCharacter, anim_id: str, t_s: float, loop: bool) -> float:
    """Animation frame at time ``t_s`` (fractional; wraps for looping clips, clamps otherwise)."""
    name = loaded.anim_names[anim_id]
    fps = loaded.actor.getFrameRate(name)
    f = t_s * fps
    length = loaded.loop_frames[anim_id]
    if loop:
        return f % length if length > 0 else 0.0
    return min(max(f, 0.0), max(loaded.actor.getNumFrames(name) - 1, 0))
