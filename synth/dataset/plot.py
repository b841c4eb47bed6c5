"""``synth plot``: draw a scene's camera trajectories as frusta around the character (matplotlib, Agg).

Poses come from ``camera_extrinsics.json`` through upstream's conversion (OpenCV c2w, Unreal world axes, metres).
Unreal's world is left-handed; the drawing uses the right-handed frame (X, -Y, Z) so that nothing is mirrored,
and labels the axes accordingly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..core.intrinsics import intrinsics_from_lens
from ..core.units import SENSOR_MM
from ..core.multicam_format import load_camera_extrinsics
from ..core.layout import CAMERA_JSON, parse_lens_dir_name
from ..core.units import CM_PER_M
from .writer import read_spec_or_none

__all__ = ["plot_scene", "frustum_corners"]

_FLIP = np.array([1.0, -1.0, 1.0])  # Unreal (left-handed) -> drawing frame (right-handed)


def frustum_corners(c2w: np.ndarray, K: np.ndarray, width: int, height: int, depth: float) -> np.ndarray:
    """``(5, 3)`` world points: camera centre and the image corners at ``depth`` along the optical axis."""
    corners_px = np.array([[0, 0], [width, 0], [width, height], [0, height]], float)
    rays = np.c_[(corners_px - K[:2, 2]) / np.diag(K)[:2], np.ones(4)]
    pts = c2w[:3, 3] + depth * rays @ c2w[:3, :3].T
    return np.vstack([c2w[:3, 3], pts])


def plot_scene(scene_dir: Path, out_png: Path, every: int = 10, depth: Optional[float] = None,
               dpi: int = 120) -> Path:
    """Draw every camera of a scene folder: path, frusta every ``every`` frames (first frame bold), the character
    (vertical bar + torso point) and the hemisphere. Works on official scenes too (lens from the folder name).

    Returns the PNG path. Raises ``DatasetFormatError`` for an unreadable camera JSON.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scene_dir, out_png = Path(scene_dir), Path(out_png)
    c2ws = load_camera_extrinsics(scene_dir / CAMERA_JSON)
    spec = read_spec_or_none(scene_dir)
    if spec is not None:
        K, w, h = spec.intrinsics(), spec.video.width, spec.video.height
    else:
        focal = (parse_lens_dir_name(scene_dir.parent.name) or (24.0, 0))[0]
        w = h = 1280
        K = intrinsics_from_lens(focal, SENSOR_MM, w, h)
    all_pos = np.concatenate([c[:, :3, 3] for c in c2ws.values()])
    span = float(np.ptp(all_pos, axis=0).max()) or 1.0
    depth = depth or 0.06 * span + 0.05

    fig = plt.figure(figsize=(10, 8))
    ax = fig.add_subplot(projection="3d")
    colors = plt.get_cmap("tab10")
    for i, (cam, c) in enumerate(c2ws.items()):
        col = colors(i % 10)
        fam = {c.name: c.family for c in spec.cameras}.get(cam, "") if spec else ""
        pos = c[:, :3, 3] * _FLIP
        ax.plot(*pos.T, color=col, lw=1.5, label=f"{cam} {fam}")
        for f in list(range(0, len(c), max(1, every))) + [len(c) - 1]:
            fr = frustum_corners(c[f], K, w, h, depth) * _FLIP
            lw = 1.6 if f == 0 else 0.6
            for k in range(1, 5):
                ax.plot(*np.stack([fr[0], fr[k]]).T, color=col, lw=lw, alpha=0.9)
            ring = fr[[1, 2, 3, 4, 1]]
            ax.plot(*ring.T, color=col, lw=lw)
    if spec is not None:
        base = np.asarray(spec.character_location_cm, float) / CM_PER_M * _FLIP
        hgt = spec.character_height_m
        ax.plot(*np.stack([base, base + [0, 0, hgt]]).T, color="k", lw=4, label=spec.character_id)
        torso = np.asarray(spec.aim_point_cm, float) / CM_PER_M * _FLIP
        ax.scatter(*torso, color="k", s=30)
        r = spec.hemisphere_radius_m
        uu, vv = np.meshgrid(np.linspace(0, 2 * np.pi, 37), np.linspace(0, np.pi / 2, 10))
        ax.plot_wireframe(base[0] + r * np.cos(uu) * np.cos(vv), base[1] + r * np.sin(uu) * np.cos(vv),
                          base[2] + r * np.sin(vv), color="0.8", lw=0.4)
        title = (f"{scene_dir.name}: {spec.environment_id}, {spec.character_id} {spec.animation_id}, "
                 f"{spec.lens.focal_length_mm:g} mm, r = {r:g} m")
    else:
        title = f"{scene_dir.name} ({len(c2ws)} cameras)"
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("X (m, Unreal forward)")
    ax.set_ylabel("-Y (m, Unreal left)")
    ax.set_zlabel("Z (m, up)")
    pts = np.concatenate([all_pos * _FLIP] + ([base[None]] if spec is not None else []))
    mid, half = (pts.max(0) + pts.min(0)) / 2, (pts.max(0) - pts.min(0)).max() / 2 + depth
    ax.set_xlim(mid[0] - half, mid[0] + half)
    ax.set_ylim(mid[1] - half, mid[1] + half)
    ax.set_zlim(max(mid[2] - half, pts[:, 2].min() - depth), mid[2] + half)
    ax.legend(loc="upper left", fontsize=7, ncol=2)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return out_png
