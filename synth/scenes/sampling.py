"""Scene sampling: pure, seeded functions implementing the MultiCamVideo recipe (REFERENCE §1).

Scene ``k`` of run seed ``s`` draws from ``numpy.random.default_rng(SeedSequence([s, k]))`` and camera ``j`` of it
from ``SeedSequence([s, k, j])``, so a scene is identical whatever the shard, order or number of workers, and one
camera's rejection sampling does not shift another's draws.

Rules (every one checked by ``tests/test_sampling_rules.py`` from the written JSON alone):

* hemisphere radius from ``hemisphere.radii_m`` chosen by the environment's free space;
* start within the hemisphere (distance to its centre <= radius, above the ground), more than
  ``constraints.min_clearance_m`` from the character, aimed at the torso within ``start.aim_jitter_deg``,
  ``|pitch| <= start.max_abs_pitch_deg``;
* a trajectory family (:mod:`synth.families`, drawn by the weights of the config's ``trajectories`` blocks, in
  the families' draw order) with its configured ranges; speed constant or eased;
* on every frame: inside the free space (margins), above the floor, clear of the character,
  ``|pitch| <= constraints.max_abs_pitch_deg``. Violations are rejected and the camera re-drawn.

The rules are written once, in :mod:`synth.scenes.rules`: the sampler rejects with the rules of stage ``start``
and ``trajectory`` (no slack), ``synth validate`` reports with all of them from the written files.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np

from .captions import camera_caption, character_subject, scene_caption
from .catalog import Catalog, Character, Environment
from .config import SynthConfig, config_digest
from ..core.units import CM_PER_M
from ..core.unreal import look_at_rotator
from ..core.speed import speed_progress
from ..core.layout import camera_name
from ..core.scene_spec import CameraSpec, Lens, SceneSpec, SpeedProfile, VideoSpec
from ..families import FamilyContext, get_family
from ..families.base import round_json
from .framing import apply_recipe
from .rules import RuleContext, check as check_rules, fitting_radii, get_rule, segment_distance

__all__ = ["sample_scene", "SamplingError", "scene_rng", "camera_rng", "choose_radius", "lens_for_index",
           "segment_distance", "constraint_violation"]



class SamplingError(RuntimeError):
    """No camera satisfying every rule was found within ``constraints.max_tries`` draws."""


def scene_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of scene ``index`` of run ``seed`` (independent of shards, order and workers)."""
    if seed < 0 or index < 0:
        raise ValueError(f"seed and scene index must be >= 0, got seed={seed} index={index}")
    return np.random.default_rng(np.random.SeedSequence([seed, index]))


def camera_rng(seed: int, index: int, cam: int) -> np.random.Generator:
    """The generator of camera ``cam`` (1-based) of scene ``index``."""
    return np.random.default_rng(np.random.SeedSequence([seed, index, cam]))


def _weighted(rng: np.random.Generator, items, weights):
    w = np.asarray(weights, dtype=np.float64)
    return items[int(rng.choice(len(items), p=w / w.sum()))]


def choose_radius(cfg: SynthConfig, env: Environment, rng: np.random.Generator) -> float:
    """Hemisphere radius (m) from the environment's free space: radii r with ``2 r <= fit * min(width, depth)``
    fit; ``largest_fitting`` takes the largest, ``random_fitting`` a uniform one; the smallest if none fits."""
    sx, sy, _ = env.free_space_cm.size_m
    radii = cfg.hemisphere.radii_m
    fitting = fitting_radii(cfg.hemisphere, min(sx, sy))
    if not fitting:
        return float(radii[0])
    if cfg.hemisphere.radius_choice == "largest_fitting":
        return float(fitting[-1])
    return float(fitting[int(rng.integers(len(fitting)))])


def framing_distance_m(cfg: SynthConfig, lens: Lens, height_m: float) -> float:
    """Distance (m) at which ``lens``, aimed at the torso (``placement.torso_height_fraction`` of the height), frames
    a standing body of ``height_m`` head to feet within the framing margins (vertical field of view of the video's
    aspect; ``intrinsics_from_lens``: the sensor width spans the image width)."""
    v = cfg.video
    half_tan = (lens.sensor_mm * v.height / v.width) / (2 * lens.focal_length_mm)
    usable = 1 - 2 * cfg.framing.margin_frac
    tf = cfg.placement.torso_height_fraction
    return float(max(tf, 1 - tf) * height_m / (half_tan * usable))


def _environments_for(cfg: SynthConfig, catalog: Catalog, lens: Lens) -> List[Environment]:
    """The environments a scene with ``lens`` draws from (``framing.lens_fits_environment``)."""
    envs = list(catalog.environments)
    if not (cfg.framing.full_body and cfg.framing.lens_fits_environment):
        return envs
    tallest = max(c.height_m for c in catalog.drawable_characters())
    need = framing_distance_m(cfg, lens, tallest)
    radii = cfg.hemisphere.radii_m

    def largest(env):
        sx, sy, _ = env.free_space_cm.size_m
        fit = fitting_radii(cfg.hemisphere, min(sx, sy))
        return max(fit) if fit else radii[0]

    return [e for e in envs if largest(e) >= need] or envs


def lens_for_index(cfg: SynthConfig, index: int) -> Lens:
    """Lens presets are assigned round-robin (``lenses[index % n]``): exactly balanced over consecutive scenes."""
    p = cfg.lenses[index % len(cfg.lenses)]
    return Lens(p.focal_length_mm, p.aperture_f, cfg.sensor_mm)


def _rule_context(cfg: SynthConfig, env: Environment, char_base_m: np.ndarray, char_height_m: float,
                  loc_m: np.ndarray, rot_deg: np.ndarray, family: Optional[str] = None,
                  focal_mm: Optional[np.ndarray] = None) -> RuleContext:
    """The rules' view of one camera: ``loc_m`` / ``rot_deg`` ``(F, 3)`` become ``(1, F, 3)``, ``focal_mm``
    ``(F,)`` (None: the scene's fixed lens) ``(1, F)``; no slack."""
    return RuleContext(cfg=cfg, free_lo_m=np.asarray(env.free_space_cm.min) / CM_PER_M,
                       free_hi_m=np.asarray(env.free_space_cm.max) / CM_PER_M, char_base_m=char_base_m,
                       char_height_m=char_height_m, loc_m=np.asarray(loc_m, float)[None],
                       rot_deg=np.asarray(rot_deg, float)[None], families=None if family is None else [family],
                       focal_mm=None if focal_mm is None else np.asarray(focal_mm, float)[None])


def constraint_violation(cfg: SynthConfig, env: Environment, char_base_m: np.ndarray, char_height_m: float,
                         loc_m: np.ndarray, rot_deg: np.ndarray, stage: str = "trajectory",
                         family: Optional[str] = None, focal_mm: Optional[np.ndarray] = None) -> Optional[str]:
    """The sampler's short reason (a rule's ``summary``) for the first rule of ``stage`` (:mod:`synth.scenes.rules`)
    that a trajectory ``(F, 3)`` metres / ``(F, 3)`` Unreal rotators (deg) breaks on any frame, or None.

    ``stage="start"`` checks the start pose alone (``F = 1``), before the family is drawn. ``family`` and
    ``focal_mm`` ``(F,)`` (mm, a zooming camera) feed the rules about zooms (``dolly_zoom_size``)."""
    found = check_rules(_rule_context(cfg, env, char_base_m, char_height_m, loc_m, rot_deg, family, focal_mm), stage,
                        first_only=True)
    return None if not found else get_rule(found[0].rule).summary


def _sample_start(cfg: SynthConfig, rng: np.random.Generator, centre_m: np.ndarray, radius: float,
                  torso_m: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A start (location m, rotator deg, aim offset deg) inside the hemisphere, aimed at the torso with jitter."""
    s = cfg.start
    if s.distance_sampling == "uniform":
        r = rng.uniform(s.min_distance_m, radius)
    else:
        r = radius * np.cbrt(rng.uniform((s.min_distance_m / radius) ** 3, 1.0))
    elev = np.radians(rng.uniform(*s.elevation_deg))
    az = rng.uniform(0.0, 2 * np.pi)
    loc = centre_m + r * np.array([np.cos(elev) * np.cos(az), np.cos(elev) * np.sin(az), np.sin(elev)])
    loc = np.round(loc * CM_PER_M, 4) / CM_PER_M  # stored in scene.json to 1e-4 cm; poses use the stored value
    offset = np.round(rng.uniform(-s.aim_jitter_deg, s.aim_jitter_deg, size=2), 6)  # (pitch, yaw)
    rot = look_at_rotator(loc, torso_m)
    rot[0] += offset[0]
    rot[1] += offset[1]
    return loc, np.round(rot, 6), offset


def _sample_speed(cfg: SynthConfig, rng: np.random.Generator) -> SpeedProfile:
    if rng.uniform() < cfg.speed.eased_fraction:
        a = rng.uniform(*cfg.speed.a_abs) * (1.0 if rng.uniform() < 0.5 else -1.0)
        return SpeedProfile("eased", float(a))
    return SpeedProfile("constant", None)


def _sample_family(cfg: SynthConfig, family: str, rng: np.random.Generator, loc: np.ndarray, rot: np.ndarray,
                   offset: np.ndarray, torso_m: np.ndarray, char_base_m: np.ndarray, u: np.ndarray,
                   lens_focal_mm: float = 0.0):
    """Draw a family's parameters (its module in :mod:`synth.families`) and evaluate its poses; the parameters get
    the start pose and the distance to the character appended. Returns (params, loc_m (F,3), rot_deg (F,3))."""
    d0 = float(np.linalg.norm(loc - torso_m))
    ctx = FamilyContext(start_loc_m=loc, start_rot_deg=rot, aim_offset_deg=offset, torso_m=torso_m,
                        char_base_m=char_base_m, u=u, distance_to_character_m=d0, lens_focal_mm=lens_focal_mm)
    params, loc_f, rot_f = get_family(family).sample(cfg.trajectories[family], ctx, rng)
    params = {**params, "distance_to_character_m": round_json(d0),
              "start": {"location_cm": round_json(loc * CM_PER_M, 4), "rotator_deg": rot.tolist(),
                        "aim_offset_deg": offset.tolist()}}
    return params, loc_f, rot_f


def _sample_camera(cfg: SynthConfig, env: Environment, seed: int, index: int, cam: int, radius: float,
                   char_base_m: np.ndarray, char_height: float, torso_m: np.ndarray) -> CameraSpec:
    rng = camera_rng(seed, index, cam)
    weights = cfg.trajectories.weights  # in the families' draw order, whatever the YAML's
    family = _weighted(rng, list(weights), list(weights.values()))
    speed = _sample_speed(cfg, rng)
    u = speed_progress(cfg.video.frames, speed.profile, speed.a)
    last = "no attempt"
    lens, framing_tries, best = lens_for_index(cfg, index), 0, (-1.0, None, None, None, None)  # framing (synth/scenes/framing.py)
    for _ in range(cfg.constraints.max_tries):
        loc, rot, offset = _sample_start(cfg, rng, char_base_m, radius, torso_m)
        start_reason = constraint_violation(cfg, env, char_base_m, char_height, loc[None], rot[None], "start")
        if start_reason is not None:
            last = start_reason
            continue
        params, loc_f, rot_f = _sample_family(cfg, family, rng, loc, rot, offset, torso_m, char_base_m, u,
                                              lens.focal_length_mm)
        focal = get_family(family).focal_lengths(params, u)  # (F,) mm of a zooming camera, else None
        reason = constraint_violation(cfg, env, char_base_m, char_height, loc_f, rot_f, family=family, focal_mm=focal)
        # --- framing (synth/scenes/framing.py): constant roll + full-body start; the best try if none frames the body ---
        if reason is None:
            rot_f, frac = apply_recipe(cfg.framing, rng, loc_f, rot_f, char_base_m, char_height,
                                       lens.focal_length_mm, lens.sensor_mm, cfg.video.width, cfg.video.height)
            if cfg.framing.full_body and frac < 1.0:
                best = max(best, (frac, params, loc_f, rot_f, focal), key=lambda b: b[0])
                framing_tries += 1
                if framing_tries <= cfg.framing.max_retries and _ < cfg.constraints.max_tries - 1:
                    last = "does not frame the whole character"
                    continue
                frac, params, loc_f, rot_f, focal = best
        elif best[1] is not None and _ == cfg.constraints.max_tries - 1:
            reason, (frac, params, loc_f, rot_f, focal) = None, best
        if reason is None:
            name = camera_name(cam)
            return CameraSpec(name=name, family=family, params=params, speed=speed, location_cm=loc_f * CM_PER_M,
                              rotator_deg=rot_f, caption=camera_caption(family, params, speed.to_json()),
                              focal_mm=focal)
        last = reason
    raise SamplingError(
        f"scene {index} cam{cam:02d}: no '{family}' trajectory satisfied the rules in {cfg.constraints.max_tries} "
        f"tries in environment {env.id!r} (radius {radius} m; last failure: camera {last}). Enlarge the free "
        f"space or relax the trajectory ranges / constraints in the config.")


def _place_character(cfg: SynthConfig, env: Environment, rng: np.random.Generator) -> np.ndarray:
    if env.character_spots_cm:
        return np.asarray(env.character_spots_cm[int(rng.integers(len(env.character_spots_cm)))], float) / CM_PER_M
    lo = np.asarray(env.free_space_cm.min, float) / CM_PER_M
    hi = np.asarray(env.free_space_cm.max, float) / CM_PER_M
    half = (hi - lo) / 2 * cfg.placement.central_fraction
    mid = (hi + lo) / 2
    xy = rng.uniform(mid[:2] - half[:2], mid[:2] + half[:2]) if cfg.placement.central_fraction > 0 else mid[:2]
    return np.array([xy[0], xy[1], lo[2]])


def sample_scene(cfg: SynthConfig, catalog: Catalog, seed: int, index: int) -> SceneSpec:
    """Sample scene ``index`` of run ``seed``: environment, lighting, character, animation, placement, lens and
    ``cfg.cameras_per_scene`` camera trajectories.

    Pure: the result depends only on (cfg, catalog, seed, index).

    Raises:
        SamplingError: a camera could not satisfy the rules within ``constraints.max_tries``.
        ValueError: negative seed or index.
    """
    rng = scene_rng(seed, index)
    envs = _environments_for(cfg, catalog, lens_for_index(cfg, index))
    env: Environment = _weighted(rng, envs, [e.weight for e in envs])
    lighting = env.lighting[int(rng.integers(len(env.lighting)))]
    pool = catalog.drawable_characters()
    char: Character = _weighted(rng, pool, [c.weight for c in pool])
    anims = catalog.animations_for(char.id, env)  # motions that fit the environment's ground and props
    anim = _weighted(rng, anims, [a.weight for a in anims])
    anim_start = float(rng.uniform(0.0, anim.duration_s)) if anim.loop else 0.0
    radius = choose_radius(cfg, env, rng)
    base = np.round(_place_character(cfg, env, rng) * CM_PER_M, 4) / CM_PER_M
    yaw = float(rng.uniform(*cfg.placement.yaw_deg))
    torso = base + np.array([0.0, 0.0, char.height_m * cfg.placement.torso_height_fraction])
    cams = [_sample_camera(cfg, env, seed, index, j, radius, base, char.height_m, torso)
            for j in range(1, cfg.cameras_per_scene + 1)]
    v = cfg.video
    return SceneSpec(
        seed=seed, index=index, environment_id=env.id, lighting=lighting,
        free_space_cm=(tuple(env.free_space_cm.min), tuple(env.free_space_cm.max)), hemisphere_radius_m=radius,
        character_id=char.id, character_location_cm=tuple(round_json(base * CM_PER_M, 4)),
        character_yaw_deg=round_json(yaw), character_height_m=char.height_m,
        aim_point_cm=tuple(round_json(torso * CM_PER_M, 4)), animation_id=anim.id,
        animation_start_s=round_json(anim_start), lens=lens_for_index(cfg, index),
        video=VideoSpec(v.frames, v.fps, v.width, v.height), cameras=cams,
        caption=scene_caption(character_subject(char.description, char.params), anim.description, env.description, lighting),
        config_digest=config_digest(cfg), catalog_digest=catalog.digest())
