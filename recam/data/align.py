"""``recam align``: a clip's metric scale from metric depth maps (RealCam-I2V / CamI2V, REFERENCE §3).

``scale = median(D_metric / z_rel)`` over valid, static samples, where ``z_rel`` is either a relative depth map on
the same pixel grid, or the camera-space depth of COLMAP points (a text or binary model, read by ``pycolmap``) at
their observed pixels. Scale only,
no shift. Multiplying the clip's relative translations by ``scale`` gives metres.

Depth files are matched by frame name stem: ``.npy`` (float, metres), ``.exr`` (channel ``Z``, or ``R`` / ``Y``;
``--exr-disparity`` inverts, as SpatialVID stores disparity) or 16-bit ``.png`` (``--png-scale`` metres per unit,
default 0.001 = millimetres). Dynamic masks (optional, same stems, non-zero = moving) exclude pixels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional

import numpy as np

from synth.core.atomic import atomic_write_text

__all__ = ["load_depth", "read_colmap_model", "scale_from_relative_depth", "scale_from_colmap", "AlignResult",
           "write_scale_file", "DEPTH_EXT"]

DEPTH_EXT = (".npy", ".exr", ".png")


@dataclass
class AlignResult:
    scale: float
    method: str
    samples: int
    per_frame: Dict[str, float] = field(default_factory=dict)

    def spread(self) -> Dict[str, float]:
        """Spread of the per-frame median ratios: relative to the scale (percentiles, relative IQR)."""
        v = np.asarray(list(self.per_frame.values()), float)
        if not len(v):
            return {}
        p10, p25, p50, p75, p90 = np.percentile(v, [10, 25, 50, 75, 90])
        return {"frames": int(len(v)), "min": float(v.min()), "p10": float(p10), "median": float(p50),
                "p90": float(p90), "max": float(v.max()), "rel_iqr": float((p75 - p25) / self.scale)}

    def to_json(self) -> Dict[str, object]:
        return {"scale": self.scale, "method": self.method, "samples": self.samples, "spread": self.spread(),
                "per_frame_median": self.per_frame}


def load_depth(path: Path, png_scale: float = 0.001, exr_disparity: bool = False) -> np.ndarray:
    """A depth map in metres ``(H, W)`` float64; invalid values (<= 0, non-finite) become NaN.

    Raises:
        ValueError: unsupported extension or unreadable file (named).
    """
    path = Path(path)
    ext = path.suffix.lower()
    try:
        if ext == ".npy":
            d = np.load(path).astype(np.float64)
        elif ext == ".png":
            from PIL import Image

            img = np.asarray(Image.open(path))
            if img.dtype != np.uint16:
                raise ValueError(f"expected a 16-bit PNG, got {img.dtype}")
            d = img.astype(np.float64) * png_scale
        elif ext == ".exr":
            import OpenEXR

            with OpenEXR.File(str(path)) as f:
                ch = f.channels()
                name = next((c for c in ("Z", "R", "Y", "depth") if c in ch), None)
                if name is None:
                    raise ValueError(f"no Z/R/Y channel (has {sorted(ch)})")
                d = np.asarray(ch[name].pixels, dtype=np.float64)
            if exr_disparity:
                with np.errstate(divide="ignore"):
                    d = np.where(d > 0, 1.0 / d, np.nan)
        else:
            raise ValueError(f"unsupported depth format {ext!r}; use {DEPTH_EXT}")
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"{path}: unreadable depth map ({e})") from None
    if d.ndim == 3:
        d = d[..., 0]
    d[~np.isfinite(d) | (d <= 0)] = np.nan
    return d


def _files_by_stem(folder: Path, exts=DEPTH_EXT) -> Dict[str, Path]:
    return {p.stem: p for p in sorted(Path(folder).iterdir()) if p.suffix.lower() in exts}


def _static(mask_dir: Optional[Path], stem: str, shape) -> np.ndarray:
    if mask_dir is None:
        return np.ones(shape, bool)
    cands = [p for p in Path(mask_dir).glob(f"{stem}.*")]
    if not cands:
        return np.ones(shape, bool)
    m = np.load(cands[0]) if cands[0].suffix == ".npy" else np.asarray(__import__("PIL.Image").Image.open(cands[0]))
    if m.ndim == 3:
        m = m[..., 0]
    if m.shape != shape:
        raise ValueError(f"{cands[0]}: mask shape {m.shape} differs from depth {shape}")
    return m == 0


def scale_from_relative_depth(metric_dir: Path, relative_dir: Path, mask_dir: Optional[Path] = None,
                              png_scale: float = 0.001, exr_disparity: bool = False) -> AlignResult:
    """Median of ``metric / relative`` over all valid static pixels of the frames present in both folders.

    Raises:
        ValueError: no common frames, mismatched shapes, or no valid pixel.
    """
    met, rel = _files_by_stem(metric_dir), _files_by_stem(relative_dir)
    common = sorted(set(met) & set(rel))
    if not common:
        raise ValueError(f"no frames in common between {metric_dir} and {relative_dir} (matched by file stem)")
    ratios, per_frame = [], {}
    for stem in common:
        dm = load_depth(met[stem], png_scale, exr_disparity)
        dr = load_depth(rel[stem], png_scale, exr_disparity)
        if dm.shape != dr.shape:
            raise ValueError(f"{met[stem]} {dm.shape} and {rel[stem]} {dr.shape}: depth maps differ in size")
        ok = np.isfinite(dm) & np.isfinite(dr) & _static(mask_dir, stem, dm.shape)
        if ok.sum():
            r = dm[ok] / dr[ok]
            ratios.append(r)
            per_frame[stem] = float(np.median(r))
    if not ratios:
        raise ValueError(f"no valid static pixel in {len(common)} frames")
    allr = np.concatenate(ratios)
    return AlignResult(float(np.median(allr)), "relative-depth", int(allr.size), per_frame)


_COLMAP_FILES = ("cameras", "images", "points3D")


def read_colmap_model(model_dir: Path):
    """A COLMAP sparse model (text ``.txt`` or binary ``.bin``, read by ``pycolmap.Reconstruction``) ->
    ``(cameras {id: (w, h)}, images {name: (cam_from_world (3, 4) w2c, camera_id, obs (N, 3) = x, y,
    point3D_id)}, points {id: xyz (3,)})``. Only observations with a 3D point are kept; COLMAP pixel coordinates
    put pixel centres at +0.5.

    Raises:
        ValueError: no model in the folder, or one pycolmap cannot read (the folder named).
    """
    import pycolmap

    model_dir = Path(model_dir)
    have = {ext for ext in (".txt", ".bin") if all((model_dir / f"{n}{ext}").is_file() for n in _COLMAP_FILES)}
    if not have:
        raise ValueError(f"{model_dir}: no COLMAP model (expected cameras.txt, images.txt, points3D.txt or their "
                         f".bin versions)")
    try:
        rec = pycolmap.Reconstruction(str(model_dir))
    except Exception as e:  # pycolmap raises RuntimeError / ValueError with COLMAP's message
        raise ValueError(f"{model_dir}: unreadable COLMAP model ({type(e).__name__}: {e})") from None
    cameras = {cid: (int(c.width), int(c.height)) for cid, c in rec.cameras.items()}
    images = {}
    for im in rec.images.values():
        if not im.has_pose:
            continue
        obs = np.array([(p.xy[0], p.xy[1], p.point3D_id) for p in im.points2D if p.has_point3D()], float)
        cfw = im.cam_from_world  # a method since pycolmap 3.12's rigs and frames, a property before
        cfw = cfw() if callable(cfw) else cfw
        images[im.name] = (np.asarray(cfw.matrix(), float), int(im.camera_id), obs.reshape(-1, 3))
    points = {int(pid): np.asarray(p.xyz, float) for pid, p in rec.points3D.items()}
    return cameras, images, points


def scale_from_colmap(metric_dir: Path, model_dir: Path, mask_dir: Optional[Path] = None, first_only: bool = False,
                      png_scale: float = 0.001, exr_disparity: bool = False) -> AlignResult:
    """Median of ``D_metric(pixel) / z_sfm`` over the SfM points observed in each image that has a metric depth map
    (matched by stem); ``first_only`` uses the first image only (RealCam-I2V's choice). COLMAP pixel coordinates
    put pixel centres at +0.5, like ours.

    Raises:
        ValueError: no model, no image with a depth map, or no point on a valid static depth pixel.
    """
    cameras, images, points = read_colmap_model(model_dir)
    met = _files_by_stem(metric_dir)
    names = sorted(n for n in images if Path(n).stem in met)
    if not names:
        raise ValueError(f"no COLMAP image of {model_dir} has a depth map in {metric_dir} (matched by stem)")
    if first_only:
        names = names[:1]
    ratios, per_frame = [], {}
    for name in names:
        w2c, cam_id, obs = images[name]
        w, h = cameras[cam_id]
        stem = Path(name).stem
        d = load_depth(met[stem], png_scale, exr_disparity)
        static = _static(mask_dir, stem, d.shape)
        if not len(obs):
            continue
        xyz = np.stack([points[int(pid)] for pid in obs[:, 2]])
        z = xyz @ w2c[:3, :3].T[:, 2] + w2c[2, 3]  # camera-space depth of each observed point
        u, v = (obs[:, 0] * (d.shape[1] / w)).astype(int), (obs[:, 1] * (d.shape[0] / h)).astype(int)
        ok = (z > 0) & (u >= 0) & (u < d.shape[1]) & (v >= 0) & (v < d.shape[0])
        u, v, z = u[ok], v[ok], z[ok]
        dm = d[v, u]
        keep = static[v, u] & np.isfinite(dm)
        r = dm[keep] / z[keep]
        if len(r):
            ratios.append(r)
            per_frame[stem] = float(np.median(r))
    if not ratios:
        raise ValueError("no SfM point projects onto a valid static depth pixel")
    allr = np.concatenate(ratios)
    return AlignResult(float(np.median(allr)), "colmap", int(allr.size), per_frame)


def write_scale_file(path: Path, result: AlignResult, source: Dict[str, str]) -> Path:
    """Write the scale file the loaders read (``metric_scale.json``)."""
    atomic_write_text(Path(path), json.dumps({**result.to_json(), "source": source}, indent=1) + "\n")
    return Path(path)


def summary_line(result: AlignResult) -> str:
    s = result.spread()
    return (f"scale {result.scale:.6g} from {result.samples} samples ({result.method}); per-frame medians over "
            f"{s.get('frames', 0)} frames: p10 {s.get('p10', float('nan')):.4g}, p90 {s.get('p90', float('nan')):.4g}, "
            f"relative IQR {s.get('rel_iqr', float('nan')):.3f}")
