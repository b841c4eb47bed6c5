"""``synth plan`` as a service: sample scenes and write their camera JSON, ``scene.json`` and ``metadata.csv``
(no videos), resumably."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from ..core.layout import METADATA_CSV
from ..core.progress import console, job_progress
from ..core.run_errors import UserError

__all__ = ["run"]


def run(scenes: int, seed: int, out: Path, config: Optional[Path] = None, catalog: Optional[Path] = None,
        shard: Optional[str] = None) -> int:
    """Plan scenes ``0..scenes-1`` (this shard's) of run ``seed`` into ``out``; complete scenes are skipped.

    Returns:
        the number of ``metadata.csv`` rows.

    Raises:
        UserError: bad config/catalog/shard, ``--out`` a file, locked or made with other settings, a scene whose
            constraints cannot be met.
    """
    from ..core.multicam_format import write_scene_files
    from ..core.sharding import parse_shard, shard_indices
    from ..scenes.sampling import SamplingError, sample_scene
    from .run_setup import check_before_writing, check_out_folder, load_inputs, lock_output
    from .writer import DatasetMismatchError, ensure_run_manifest, finish_run, scene_outputs_present, staged_scene

    check_out_folder(out)
    cfg, cat = load_inputs(config, catalog)
    try:
        indices = shard_indices(scenes, parse_shard(shard))
    except ValueError as e:
        raise UserError(str(e)) from None
    check_before_writing(out, cfg, cat, seed, indices)
    with lock_output(out, shard, "plan"):  # before the run manifest: a losing concurrent run writes nothing
        try:
            ensure_run_manifest(out, seed, cfg, cat)
        except DatasetMismatchError as e:
            raise UserError(str(e)) from None
        t0 = time.perf_counter()
        done = skipped = 0
        with job_progress("scenes") as prog:
            task = prog.add_task("plan", total=len(indices))
            for k in indices:
                try:
                    p = sample_scene(cfg, cat, seed, k)
                except SamplingError as e:
                    raise UserError(str(e)) from None
                if scene_outputs_present(out / p.relpath, p):
                    skipped += 1
                else:
                    with staged_scene(out, p) as tmp:
                        write_scene_files(tmp, p)
                    done += 1
                prog.advance(task)
        rows = finish_run(out)
        dt = time.perf_counter() - t0
        console.print(f"planned {done} scenes ({skipped} already complete) in {dt:.1f} s "
                      f"({len(indices) / max(dt, 1e-9):.0f} scenes/s); {METADATA_CSV}: {rows} rows")
        console.print(f"dataset: [bold]{out.resolve()}[/bold]")
    return rows
