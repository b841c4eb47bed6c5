"""Image-based lighting data: equirectangular environment maps, their irradiance spherical harmonics and sun.

Conventions (shared with the GLSL in :mod:`.pbr_shaders`): an environment map is a ``(H, W, 3)`` float32 array of
linear radiance, ``H = W / 2``, row 0 = zenith (Panda3D world ``+z``), column ``u`` at longitude
``atan2(y, x) = 2 pi (u + 0.5) / W - pi``. Directions are Panda3D world axes (x right, y forward, z up; metres).

Maps come from HDRI files (OpenEXR, e.g. CC0 Poly Haven skies built into the asset cache by ``synth assets
build``) or are synthesised for the procedural lighting presets (:func:`procedural_sky`, :func:`procedural_interior`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Tuple

import numpy as np

__all__ = ["EnvLight", "direction_to_pixel", "pixel_directions", "sh9_irradiance", "sh9_eval", "sun_from_map",
           "procedural_sky", "procedural_interior", "load_hdri", "HDRIError", "env_light_from_map",
           "repair_channel_dropouts"]


class HDRIError(ValueError):
    """An HDRI file is missing or unreadable (the message names the file and what was expected)."""


def pixel_directions(h: int, w: int) -> Tuple[np.ndarray, np.ndarray]:
    """Unit directions ``(H, W, 3)`` of pixel centres and their solid angles ``(H, 1)`` in steradians."""
    lat = np.pi / 2 - (np.arange(h) + 0.5) / h * np.pi          # +pi/2 at row 0
    lon = (np.arange(w) + 0.5) / w * 2 * np.pi - np.pi
    cl = np.cos(lat)[:, None]
    d = np.stack([cl * np.cos(lon)[None], cl * np.sin(lon)[None], np.repeat(np.sin(lat)[:, None], w, 1)], -1)
    solid = (np.cos(lat) * (np.pi / h) * (2 * np.pi / w))[:, None]
    return d, solid


def direction_to_pixel(d: np.ndarray, h: int, w: int) -> Tuple[int, int]:
    """Row and column of the pixel containing direction ``d`` (3,)."""
    d = np.asarray(d, float) / np.linalg.norm(d)
    lat, lon = np.arcsin(np.clip(d[2], -1, 1)), np.arctan2(d[1], d[0])
    return (int(np.clip((np.pi / 2 - lat) / np.pi * h, 0, h - 1)),
            int(np.clip((lon + np.pi) / (2 * np.pi) * w, 0, w - 1)))


def _sh_basis(d: np.ndarray) -> np.ndarray:
    """Real SH basis (l <= 2) at directions ``(..., 3)``, in the order the shader uses."""
    x, y, z = d[..., 0], d[..., 1], d[..., 2]
    return np.stack([np.full_like(x, 0.282095), 0.488603 * y, 0.488603 * z, 0.488603 * x, 1.092548 * x * y,
                     1.092548 * y * z, 0.315392 * (3 * z * z - 1), 1.092548 * x * z, 0.546274 * (x * x - y * y)], -1)


def sh9_irradiance(env: np.ndarray) -> np.ndarray:
    """Irradiance SH coefficients ``(9, 3)`` of a map (Ramamoorthi & Hanrahan 2001: radiance projected, then
    convolved with the clamped cosine, ``A = (pi, 2pi/3, pi/4)``). ``sh9_eval(coeffs, n)`` is the irradiance
    (W/m^2 per unit radiance) on a surface with normal ``n``; a constant map of radiance ``L`` gives ``pi L``."""
    h, w, _ = env.shape
    d, solid = pixel_directions(h, w)
    basis = _sh_basis(d)                                      # (H, W, 9)
    L = np.einsum("hwk,hwc,h->kc", basis, env.astype(np.float64), solid[:, 0])
    A = np.array([np.pi] + [2 * np.pi / 3] * 3 + [np.pi / 4] * 5)
    return (L * A[:, None]).astype(np.float32)


def sh9_eval(coeffs: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Irradiance ``(..., 3)`` at normals ``(..., 3)`` from :func:`sh9_irradiance` coefficients."""
    return _sh_basis(np.asarray(n, float)) @ coeffs


def sun_from_map(env: np.ndarray, blur_px: int = 2) -> Tuple[np.ndarray, np.ndarray]:
    """Direction (unit, pointing *towards* the light) and mean radiance of the map's brightest region.

    The luminance is box-blurred by ``blur_px`` (so one hot pixel does not win over the sun disc); the region is
    every pixel within 8 degrees of the maximum; only the upper hemisphere counts.
    """
    h, w, _ = env.shape
    lum = env[..., :3] @ np.array([0.2126, 0.7152, 0.0722])
    lum = lum.copy()
    lum[h // 2:] = 0.0
    k = max(1, int(blur_px))
    pad = np.pad(lum, ((k, k), (k, k)), mode="edge")
    c = np.cumsum(np.cumsum(pad, 0), 1)
    c = np.pad(c, ((1, 0), (1, 0)))
    n = 2 * k + 1
    blur = (c[n:, n:] - c[:-n, n:] - c[n:, :-n] + c[:-n, :-n]) / (n * n)
    r, col = np.unravel_index(int(np.argmax(blur)), blur.shape)
    d, solid = pixel_directions(h, w)
    peak = d[r, col]
    near = (d @ peak) > np.cos(np.radians(8.0))
    wgt = near * lum * solid
    direction = (d * wgt[..., None]).sum((0, 1))
    direction /= np.linalg.norm(direction)
    radiance = env[near].mean(0)
    return direction.astype(np.float64), radiance.astype(np.float32)


@dataclass
class EnvLight:
    """Everything the PBR pass needs from one environment: the map shown/reflected, its SH and the one sun."""

    env: np.ndarray          # (H, W, 3) float32 linear, sun peak kept (drawn on the sky dome)
    sh: np.ndarray           # (9, 3) irradiance SH of the map with the sun region removed (the sun is a light)
    sun_dir: np.ndarray      # (3,) unit, towards the sun, world axes
    sun_color: np.ndarray    # (3,) linear irradiance of the directional light (W/m^2-like units)
    exposure: float = 1.0


def env_light_from_map(env: np.ndarray, sun_scale: float = 1.0, exposure: float = 1.0,
                       sun_dir: np.ndarray = None) -> EnvLight:
    """Split a map into sun (brightest region -> one directional light) and the rest (SH + reflections)."""
    env = np.asarray(env, np.float32)
    h, w, _ = env.shape
    direction, _ = sun_from_map(env) if sun_dir is None else (np.asarray(sun_dir, float), None)
    d, solid = pixel_directions(h, w)
    cone = (d @ direction) > np.cos(np.radians(8.0))
    rest = env.copy()
    floor = np.median(env[~cone], axis=0) if (~cone).any() else np.zeros(3, np.float32)
    sun_irr = ((env[cone] - floor) * solid.repeat(w, 1)[cone][:, None]).sum(0)  # radiance x solid angle
    rest[cone] = np.minimum(rest[cone], floor * 4)
    sun_color = np.maximum(sun_irr, 0.0) * sun_scale
    return EnvLight(env, sh9_irradiance(rest), direction, sun_color.astype(np.float32), exposure)


def _gradient(h, w, zenith, horizon, ground, sharpness=0.6):
    d, _ = pixel_directions(h, w)
    z = d[..., 2:3]
    up = np.clip(z, 0, 1) ** sharpness
    sky = np.asarray(horizon) * (1 - up) + np.asarray(zenith) * up
    down = np.clip(-z, 0, 1) ** 0.3
    gnd = np.asarray(horizon) * 0.5 * (1 - down) + np.asarray(ground) * down
    return np.where(z >= 0, sky, gnd).astype(np.float32), d


def procedural_sky(sun_dir, sun_radiance, zenith, horizon, ground, h: int = 128) -> np.ndarray:
    """An outdoor sky map: zenith/horizon gradient (linear radiance), a darker ground and a 1.5-degree sun disc of
    ``sun_radiance`` in direction ``sun_dir`` (with a soft glow)."""
    env, d = _gradient(h, 2 * h, zenith, horizon, ground)
    s = np.asarray(sun_dir, float) / np.linalg.norm(sun_dir)
    cosang = d @ s
    ang = np.degrees(np.arccos(np.clip(cosang, -1, 1)))
    env += (ang < 1.5)[..., None] * np.asarray(sun_radiance, np.float32)
    env += (np.exp(-ang / 6.0)[..., None] * np.asarray(sun_radiance, np.float32) * 2e-3)
    return env.astype(np.float32)


def procedural_interior(light_dir, light_radiance, wall, ceiling, floor, h: int = 64) -> np.ndarray:
    """An interior map: walls, ceiling and floor colours (linear radiance) and one bright area light (a window or
    ceiling panel, 10 degrees wide) in direction ``light_dir``."""
    env, d = _gradient(h, 2 * h, ceiling, wall, floor, sharpness=1.5)
    s = np.asarray(light_dir, float) / np.linalg.norm(light_dir)
    ang = np.degrees(np.arccos(np.clip(d @ s, -1, 1)))
    env += (ang < 10.0)[..., None] * np.asarray(light_radiance, np.float32)
    return env.astype(np.float32)


def load_hdri(path: Path) -> np.ndarray:
    """Read an OpenEXR environment map as ``(H, W, 3)`` float32 linear radiance (equirectangular, 2:1).

    Raises:
        HDRIError: the file is missing, not an EXR, has no RGB channels, is not 2:1, or holds non-finite values.
    """
    path = Path(path)
    if not path.is_file():
        raise HDRIError(f"HDRI {path}: file not found (expected an equirectangular OpenEXR image)")
    try:
        import OpenEXR

        with OpenEXR.File(str(path)) as f:
            ch = f.channels()
            if "RGB" in ch:
                img = np.asarray(ch["RGB"].pixels, np.float32)
            elif all(c in ch for c in "RGB"):
                img = np.stack([np.asarray(ch[c].pixels, np.float32) for c in "RGB"], -1)
            else:
                raise HDRIError(f"HDRI {path}: no R, G, B channels (has {sorted(ch)})")
    except HDRIError:
        raise
    except Exception as e:  # noqa: BLE001 - OpenEXR raises RuntimeError/OSError/... for corrupt files
        raise HDRIError(f"HDRI {path}: not a readable OpenEXR image ({type(e).__name__}: {e})") from None
    if img.ndim != 3 or img.shape[1] != 2 * img.shape[0]:
        raise HDRIError(f"HDRI {path}: expected an equirectangular 2:1 image, got {img.shape[:2]} (H, W)")
    if not np.isfinite(img).all():
        img = np.nan_to_num(img, nan=0.0, posinf=6.0e4, neginf=0.0)
    return repair_channel_dropouts(np.maximum(img[..., :3], 0.0).astype(np.float32))


#: a pixel is a channel dropout when its brightest channel exceeds this radiance and its darkest is below
#: ``DROPOUT_RATIO`` of it: no natural light source is that saturated (a low sun through haze is ~(1, 0.5, 0.2))
DROPOUT_MIN_RADIANCE = 100.0
DROPOUT_RATIO = 1e-3


def repair_channel_dropouts(img: np.ndarray, ring_px: int = 3) -> np.ndarray:
    """Give the sun's core back the colour of its corona where the file lost channels there.

    Some shipped HDRIs (the 512x256 Poly Haven skies of ``@pmndrs/assets``: ``park``, ``sunrise``) store the sun's
    core as one channel only, e.g. ``(0, 0, 11800)``: two channels were lost in the conversion (half floats overflow
    at 65504), the disc around it is warm white. Left alone, the sun drawn in the sky and the directional light
    taken from it (:func:`env_light_from_map`) come out pure blue. A *dropout* pixel (brightest channel
    > :data:`DROPOUT_MIN_RADIANCE`, darkest < :data:`DROPOUT_RATIO` x brightest) keeps its brightest channel's value
    and takes the chromaticity (colour normalised to a maximum of 1) of the intact pixels within ``ring_px`` of the
    dropouts (wrapping around in longitude); white where there are none.

    Args:
        img: ``(H, W, 3)`` float32 linear radiance, equirectangular (see the module docstring).
    Returns:
        the repaired map (a copy when anything changed, else ``img`` itself).
    """
    from scipy.ndimage import binary_dilation

    hi, lo = img.max(-1), img.min(-1)
    bad = (hi > DROPOUT_MIN_RADIANCE) & (lo < DROPOUT_RATIO * hi)
    if not bad.any():
        return img
    w = img.shape[1]
    wrapped = np.concatenate([bad[:, -ring_px:], bad, bad[:, :ring_px]], 1)  # longitude wraps around
    near = binary_dilation(wrapped, iterations=ring_px)[:, ring_px:ring_px + w] & ~bad
    intact = near & (lo >= DROPOUT_RATIO * hi) & (hi > 0)
    if intact.any():
        rgb = img[intact].astype(np.float64).sum(0)
        chroma = rgb / rgb.max()
    else:
        chroma = np.ones(3)
    out = img.copy()
    out[bad] = (hi[bad, None] * chroma[None]).astype(np.float32)
    return out
