"""Ground-projection quality of every image-lit environment: radial smear and horizon seam (issue 23).

    nice python benchmarks/measure_ground.py [--size 128] [--png out_dir] [--envs hdri_venice,...]
                                             [--set key=value ...] [--json out.json]

The measures and cameras are :mod:`synth.testing.ground_measure`'s (smear: ~1 = isotropic floor; seam: the jump at
the horizon beyond the sky's own). ``--set key=value`` overrides an environment param for every environment:
``ground_projection=false`` (the procedural floor), ``projection_radius_m=1000000 ground_match=false`` (the flat
ground projection without dome or matched ground: the look before). ``--png``: the four view cameras per
environment as one sheet.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def _value(v: str):
    low = v.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return float(v)
    except ValueError:
        return v


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--png", default=None, help="folder for a sheet of the view cameras per environment")
    ap.add_argument("--envs", default=None, help="comma-separated environment ids (default: every image-lit one)")
    ap.add_argument("--set", action="append", default=[], help="key=value environment param override")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    from synth.render.embedded.backend import EmbeddedBackend
    from synth.scenes.catalog import load_catalog
    from synth.testing.ground_measure import measure_ground

    over = {k: _value(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    cat = load_catalog()
    envs = [e for e in cat.environments if e.asset.lower().endswith(".exr")]
    if args.envs:
        envs = [e for e in envs if e.id in args.envs.split(",")]
    be = EmbeddedBackend(cat, 4, quality="standard")
    res = {}
    try:
        for env in envs:
            env = env.model_copy(update={"params": {**env.params, **over}})
            m, imgs = measure_ground(be, env, args.size)
            res[env.id] = {k: round(v, 3) for k, v in m.items()}
            print(env.id, res[env.id], flush=True)
            if args.png:
                from PIL import Image

                Path(args.png).mkdir(parents=True, exist_ok=True)
                sheet = np.concatenate([np.concatenate(imgs[:2], 1), np.concatenate(imgs[2:], 1)], 0)
                Image.fromarray((sheet * 255).round().astype(np.uint8)).save(Path(args.png) / f"{env.id}.png")
    finally:
        be.close()
    print("mean", {m: round(float(np.mean([r[m] for r in res.values()])), 3) for m in ("smear", "seam")})
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
