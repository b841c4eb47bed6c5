"""CMU motion-capture takes (Debian package ``assimp-testmodels``: ``/usr/share/assimp/models/BVH``) cut into
clips for the built-in humanoid (``bvh:`` animations, retargeted at load time by
:mod:`synth.render.embedded.bvh`). Missing package -> the clips are listed as unavailable with the reason."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import List, Tuple

__all__ = ["BVH_DIR", "CMU_CLIPS", "CLIP_NEEDS", "cmu_animations", "user_animations", "folder_signature"]

BVH_DIR = Path("/usr/share/assimp/models/BVH")
LICENCE = "CMU Graphics Lab Motion Capture Database terms (free for research and commercial use)"
#: (take, first frame, end frame (exclusive), id, description) at the takes' 120 fps (3 s clips: each clip adds to
#: every humanoid's load time); the first second (T-pose calibration) is skipped
CMU_CLIPS: List[Tuple[str, int, int, str, str]] = [
    ("01_01", 120, 480, "mocap_playground_1", "moves around a playground, captured from a real person"),
    ("01_01", 600, 960, "mocap_playground_2", "jumps forward and turns, captured from a real person"),
    ("01_01", 1080, 1440, "mocap_playground_3", "jumps and lands, captured from a real person"),
    ("01_01", 1560, 1920, "mocap_playground_4", "turns around and steps, captured from a real person"),
    ("01_03", 120, 480, "mocap_climb_1", "reaches up and climbs, captured from a real person"),
    ("01_03", 1200, 1560, "mocap_climb_2", "hangs and swings, captured from a real person"),
    ("01_03", 2400, 2760, "mocap_climb_3", "climbs down and steps, captured from a real person"),
    ("01_03", 3600, 3960, "mocap_climb_4", "steps and balances, captured from a real person"),
]


#: takes whose clips need a prop: 01_03 climbs, hangs and swings on playground equipment (on flat ground the
#: body crouches with both feet in the air, or planted feet sink through the ground); such clips are drawn only in
#: environments whose ``props`` offer it (none of the built-in ones does). Measured by
#: :func:`synth.render.embedded.bodies.foot_support` (tests/test_look2_motions.py).
CLIP_NEEDS = {"01_03": ("climbing_frame",)}


def _dpkg_version(pkg: str) -> str:
    try:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True, timeout=30)
        return r.stdout.strip() if r.returncode == 0 else ""
    except (OSError, subprocess.TimeoutExpired):
        return ""


def cmu_animations(bvh_dir: Path = BVH_DIR):
    """Catalog animation entries, manifest entries and unavailable entries (with reasons) for :data:`CMU_CLIPS`."""
    anims, manifest, unavailable = [], [], []
    version = _dpkg_version("assimp-testmodels")
    for take, a, b, aid, desc in CMU_CLIPS:
        path = Path(bvh_dir) / f"{take}.bvh"
        if not path.is_file():
            unavailable.append({"id": aid, "kind": "animation",
                                "reason": f"{path} not found (install the Debian package assimp-testmodels)"})
            continue
        anims.append({"id": aid, "description": desc, "asset": f"bvh:{path}#{a}-{b}",
                      "duration_s": round((b - a - 1) / 120.0, 6), "loop": False,
                      **({"needs": list(CLIP_NEEDS[take])} if take in CLIP_NEEDS else {})})
        manifest.append({"id": aid, "kind": "bvh", "file": str(path), "source": "debian:assimp-testmodels",
                         "version": version, "origin": f"CMU mocap take {take}, frames {a}-{b}",
                         "licence": LICENCE, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()})
    return anims, manifest, unavailable


def folder_signature(folder: Path) -> list:
    """(name, size, mtime_ns) of every ``*.bvh`` in a user folder: part of the cache's build key (a changed
    folder rebuilds the catalog)."""
    folder = Path(folder)
    return [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in sorted(folder.glob("*.bvh"))]


def user_animations(folder: Path, clip_s: float = 3.0):
    """Catalog animations cut from every ``*.bvh`` of a user folder: clips of ``clip_s`` seconds (a shorter take is
    one clip), ids ``<file stem>_<k>``. A file that cannot be read or lacks CMU joint names (Hips, LeftUpLeg,
    LeftArm, ...: what retargeting maps) is listed as unavailable with the reason, naming the file.

    Returns (animations, manifest entries, unavailable entries).
    """
    import re

    from ..render.embedded.bvh import BvhError, read_bvh, require_cmu_joints

    anims, manifest, unavailable = [], [], []
    folder = Path(folder)
    if not folder.is_dir():
        return [], [], [{"id": str(folder), "kind": "animation", "reason": f"{folder}: not a folder of BVH files"}]
    for path in sorted(folder.glob("*.bvh")):
        stem = re.sub(r"[^A-Za-z0-9_\-]", "_", path.stem)
        try:
            m = read_bvh(path)
            require_cmu_joints(m)
        except BvhError as e:
            unavailable.append({"id": stem, "kind": "animation", "reason": str(e)})
            continue
        n = m.rotations.shape[0]
        fps = 1.0 / m.frame_time
        step = max(2, int(round(clip_s * fps)))
        starts = list(range(0, max(n - 1, 1), step)) or [0]
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        for k, a in enumerate(starts):
            b = min(a + step, n)
            if b - a < 2:
                continue
            aid = f"{stem}_{k + 1}"
            anims.append({"id": aid, "description": f"moves as in the motion capture {path.stem}",
                          "asset": f"bvh:{path.resolve()}#{a}-{b}", "duration_s": round((b - a - 1) / fps, 6),
                          "loop": False})
            manifest.append({"id": aid, "kind": "bvh", "file": str(path.resolve()), "source": "user",
                             "version": "", "origin": f"{path.name}, frames {a}-{b}", "licence": "user-provided",
                             "sha256": digest})
    return anims, manifest, unavailable
