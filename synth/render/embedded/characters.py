"""Loading catalog characters into Panda3D ``Actor``s: built-in humanoids (generated GLB), the stock panda, and user
glTF/GLB files (rigged, skinned, animated; loaded by panda3d-gltf).

Asset references (catalog ``asset`` fields):

* character ``builtin:humanoid`` (``params``: see :class:`synth.render.embedded.humanoid.HumanoidSpec`), animations
  ``builtin:<clip>`` (wave, walk, dance, cheer, jump, squat, idle, turn);
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

from ...catalog import Animation, Catalog, Character
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


def _builtin_humanoid(character: Character, animations: List[Animation]) -> Path:
    try:
        spec = HumanoidSpec.from_catalog(character.height_m, character.params)
    except (TypeError, ValueError) as e:
        raise AssetError(f"character {character.id!r}: invalid params for builtin:humanoid ({e})") from None
    clips = {}
    for a in animations:
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
        build_humanoid_glb(path, spec, clips)
    return path


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
            actor = _load_actor(str(_builtin_humanoid(character, animations)))
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
    height = float(hi[2] - lo[2])
    if not height > 0:
        raise AssetError(f"character {character.id!r}: model has zero height")
    scale = character.height_m / height
    loop = {}
    for aid, name in anim_names.items():
        n = actor.getNumFrames(name)
        # generated clips repeat their first key at the end: the loop is one frame shorter
        loop[aid] = float(n - 1 if asset == "builtin:humanoid" and n > 1 else n)
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
