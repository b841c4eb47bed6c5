"""Regenerate README's pictures with the embedded renderer (standard quality):

    python scripts/make_docs_images.py [--seed 0 --scene 0] [--quality standard]

* ``docs/scene_plot.png``: the scene's camera frusta and paths (``synth plot``);
* ``docs/scene_frames.jpg``: frames 0 and 32 of its 10 cameras;
* ``docs/contact_sheet.jpg``: every character of the catalog (the ones scenes draw first, then the draft ones),
  then every environment (one view each).

Uses the default catalog (the built one when ``synth assets build`` ran). Takes about a minute on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]


def _label(img: np.ndarray, text: str) -> np.ndarray:
    im = Image.fromarray(img)
    d = ImageDraw.Draw(im)
    d.rectangle([0, img.shape[0] - 14, img.shape[1], img.shape[0]], fill=(0, 0, 0))
    d.text((3, img.shape[0] - 13), text, fill=(255, 255, 255))
    return np.asarray(im)


def _ring(n: int, dist_cm: float, height_cm: float, target_cm):
    """``n`` cameras on a circle around ``target_cm`` (Unreal cm), aimed at it."""
    from synth.core.poses import Poses
    from synth.core.unreal import look_at_rotator

    t = np.asarray(target_cm, float)
    ang = np.radians(35.0) + np.linspace(0, 2 * np.pi, n, endpoint=False)
    eyes = np.stack([t[0] + dist_cm * np.cos(ang), t[1] + dist_cm * np.sin(ang), np.full(n, height_cm)], -1)
    return Poses.from_unreal(eyes, look_at_rotator(eyes, np.asarray(target_cm, float)[None]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scene", type=int, default=0)
    ap.add_argument("--quality", default="standard")
    ap.add_argument("--size", type=int, default=160)
    args = ap.parse_args()

    from synth.scenes.catalog import load_catalog
    from synth.scenes.config import load_config
    from synth.dataset.plot import plot_scene
    from synth.core.poses import Poses
    from synth.render.embedded.backend import EmbeddedBackend
    from synth.scenes.sampling import sample_scene
    from synth.core.scene_spec import Lens
    from synth.core.multicam_format import write_scene_files

    S = args.size
    cat = load_catalog()
    cfg = load_config().with_video(width=S, height=S)
    plan = sample_scene(cfg, cat, args.seed, args.scene)
    with tempfile.TemporaryDirectory() as tmp:
        write_scene_files(Path(tmp), plan)
        plot_scene(Path(tmp), REPO / "docs" / "scene_plot.png")
    be = EmbeddedBackend(cat, 10, quality=args.quality)
    be.load_environment(cat.environment(plan.environment_id), plan.lighting)
    be.spawn_character(cat.character(plan.character_id), plan.character_location_cm, plan.character_yaw_deg)
    be.set_animation(cat.animation(plan.animation_id))
    be.set_lens(plan.lens, S, S)
    fm = np.stack([c.fmatrices() for c in plan.cameras])
    rows = []
    for f in (0, min(32, plan.video.frames - 1)):
        be.set_animation_time(plan.animation_time_s(f))
        be.set_camera_poses(Poses.from_fmatrix(fm[:, f]))
        be.capture()
        rows.append(np.concatenate([c.rgb for c in be.capture()], 1))
    Image.fromarray(np.concatenate(rows, 0)).save(REPO / "docs" / "scene_frames.jpg", quality=88)
    print(f"scene {args.scene}: {plan.environment_id}/{plan.lighting}, {plan.character_id}, {plan.animation_id}")
    be.close()

    # contact sheet: characters (in an image-lit scene when built, else the plaza), then environments
    be = EmbeddedBackend(cat, 1, quality=args.quality)
    ids = [e.id for e in cat.environments]
    stage = "hdri_sky" if "hdri_sky" in ids else "plaza"
    tiles = []
    drawn = cat.drawable_characters()
    for ch in drawn + [c for c in cat.characters if c not in drawn]:  # the people scenes draw, then draft ones
        be.load_environment(cat.environment(stage), cat.environment(stage).lighting[0])
        be.spawn_character(ch, [0.0, 0.0, 0.0], 0.0)
        anims = cat.animations_for(ch.id)
        be.set_animation(anims[0])
        be.set_lens(Lens(35, 5, 23.76), S, S)
        h = ch.height_m * 100
        be.set_camera_poses(_ring(1, h * 1.9, h * 0.6, [0, 0, h * 0.5]))
        be.set_animation_time(0.4)
        be.capture()
        tiles.append(_label(be.capture()[0].rgb, ch.id))
    for env in cat.environments:
        be.load_environment(env, env.lighting[0])
        lo, hi = np.asarray(env.free_space_cm.min, float), np.asarray(env.free_space_cm.max, float)
        c = (lo + hi) / 2
        c[2] = lo[2]
        ch = drawn[0]
        be.spawn_character(ch, c.tolist(), 0.0)
        be.set_animation(cat.animations_for(ch.id)[0])
        be.set_lens(Lens(18, 5, 23.76), S, S)
        d = min(450.0, 0.45 * float(min(hi[:2] - lo[:2])))
        be.set_camera_poses(_ring(1, d, 160.0, [c[0], c[1], 100.0]))
        be.set_animation_time(0.4)
        be.capture()
        tiles.append(_label(be.capture()[0].rgb, env.id))
    be.close()
    cols = 9
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    sheet = np.concatenate([np.concatenate(tiles[i:i + cols], 1) for i in range(0, len(tiles), cols)], 0)
    Image.fromarray(sheet).save(REPO / "docs" / "contact_sheet.jpg", quality=88)
    print(f"contact sheet: {len(cat.characters)} characters, {len(cat.environments)} environments")


if __name__ == "__main__":
    main()
