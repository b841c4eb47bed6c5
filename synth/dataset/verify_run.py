"""``synth verify`` as a service: choose the cameras, check them scene by scene (given-pose residuals by default,
COLMAP as a second opinion or on request) with progress on the console, and print what was flagged
(:mod:`synth.dataset.verify` holds the checks). Results go to ``--out``, by default ``<dataset>.verify/`` beside the
dataset (printed in the first line; never inside the dataset)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, List, Optional

from pydantic import BaseModel, ConfigDict, Field

from ..core.engine.base import EngineSettings
from ..core.progress import console, format_eta, job_progress
from ..core.run_errors import UserError

__all__ = ["VerifyRunSettings", "run"]


class VerifyRunSettings(BaseModel):
    """What ``synth verify`` was asked to do (see ``synth verify --help``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    root: Path
    out: Optional[Path] = None
    method: str = "given"
    sample: Optional[int] = Field(None, ge=1)
    seed: int = 0
    cameras: Optional[str] = None
    shard: Optional[str] = None
    workers: int = Field(1, ge=1)
    stride: int = Field(4, ge=1)
    max_size: int = Field(512, ge=0)
    mapper: str = "global"
    threads: int = Field(1, ge=1)
    rot_deg: float = 3.0
    trans_rel: float = 0.2
    #: where the cameras are verified (``--engine`` and its flags; :mod:`synth.core.engine`)
    engine: EngineSettings = Field(default_factory=EngineSettings)


def run(s: VerifyRunSettings) -> List[Dict[str, str]]:
    """Verify the chosen cameras of ``s.root`` into ``s.out`` (resumable: cameras in the CSV are skipped).

    Returns:
        the CSV rows of every chosen camera (``flagged`` is ``"True"`` / ``"False"``).

    Raises:
        UserError: a bad shard, mapper or camera list, an unreadable dataset, no camera to verify.
    """
    from ..core.multicam_format import DatasetFormatError
    from ..core.pose_estimation import PoseOptions
    from ..core.sharding import parse_shard
    from ..core.engine import EngineSetupError
    from .verify import VerifyThresholds, list_items, run_verify, select_items

    if s.method not in ("given", "sfm", "both"):
        raise UserError(f"--method: expected given, sfm or both, got {s.method!r}")
    out = s.out if s.out is not None else default_out(s.root)
    try:
        _outside(out, s.root)
        options = PoseOptions(stride=s.stride, max_size=s.max_size, mapper=s.mapper, num_threads=s.threads)
        sh = parse_shard(s.shard)
        items = select_items(list_items(s.root), sh, s.sample, s.seed, s.cameras.split(",") if s.cameras else None)
    except (ValueError, DatasetFormatError) as e:
        raise UserError(str(e)) from None
    if not items:
        raise UserError(f"{s.root}: no camera videos to verify (shard {s.shard or '0/1'})")
    csv_name = "verify.csv" if sh == (0, 1) else f"verify.shard{sh[0]}of{sh[1]}.csv"
    how = ("given-pose residuals" if s.method == "given" else
           f"COLMAP, every {s.stride}th frame, <= {s.max_size} px" if s.method == "sfm" else
           f"given-pose residuals + COLMAP second opinion (every {s.stride}th frame)")
    console.print(f"verify results in {out.resolve()}: {len(items)} cameras of {len({i.scene for i in items})} "
                  f"scenes ({how}; {s.workers} worker(s))")
    t0 = time.perf_counter()
    with job_progress("cameras") as prog:
        on_done = _reporter(prog, prog.add_task("verify", total=len(items)), len(items), t0)
        try:
            rows = run_verify(items, out, options, VerifyThresholds(rot_deg=s.rot_deg, trans_rel=s.trans_rel),
                              s.workers, csv_name, on_done, s.method, engine=s.engine)
        except EngineSetupError as e:  # a worker cannot see --out or cannot start
            raise UserError(str(e)) from None
    _print_outcome(rows, out, time.perf_counter() - t0)
    return rows


def default_out(root: Path) -> Path:
    """``<dataset>.verify`` beside the dataset folder (for a scene folder: ``<scene>.verify`` beside it)."""
    root = Path(root).resolve()
    return root.with_name(root.name + ".verify")


def _outside(out: Path, root: Path) -> None:
    """Raise ValueError when ``out`` lies inside ``root`` (outputs never go into an input dataset)."""
    o, r = Path(out).resolve(), Path(root).resolve()
    if o == r or r in o.parents:
        raise ValueError(f"--out {out}: inside the dataset {root}; write the results beside it (default "
                         f"{default_out(root)})")


def _reporter(prog, task, total: int, t0: float):
    """``on_done(check, skipped)``: advance the bar; without a terminal, one line per verified camera."""
    n_done = [0, 0]

    def on_done(chk, skipped):
        n_done[0] += 1
        n_done[1] += 0 if skipped else 1
        if skipped:
            prog.skip(task)  # found verified: not counted in the rate or the ETA
        else:
            prog.advance(task)
        if prog.disable and chk is not None and not skipped:
            eta = (time.perf_counter() - t0) / n_done[1] * (total - n_done[0])
            flag = f" [red]FLAGGED ({chk.reasons})[/red]" if chk.flagged else ""
            console.print(f"{chk.scene}/{chk.camera} {chk.family}: {chk.status}, worst median "
                          f"{chk.gp_worst_median_px:.2f} px, bad pairs {chk.gp_bad_pairs}/{chk.gp_pairs}, cross "
                          f"{chk.cross_bad}/{chk.cross_pairs}{flag} ({n_done[0]}/{total}, {chk.seconds:.1f} s, "
                          f"ETA {format_eta(eta)})")

    return on_done


def _print_outcome(rows: List[Dict[str, str]], out: Path, seconds: float) -> None:
    """The status counts and every flagged camera."""
    status: Dict[str, int] = {}
    for r in rows:
        status[r["status"]] = status.get(r["status"], 0) + 1
    console.print(f"{len(rows)} cameras in {seconds:.1f} s: "
                  + ", ".join(f"{v} {k}" for k, v in sorted(status.items())) + f"; results in {out.resolve()}")
    for r in rows:
        if r["flagged"] == "True":
            console.print(f"[red]flagged[/red] {r['scene']}/{r['camera']} ({r['family']}): {r['reasons']} "
                          f"(bad pairs {r['gp_bad_pairs']}/{r['gp_pairs']}, worst median {r['gp_worst_median_px']} "
                          f"px, cross-camera bad {r['cross_bad']}/{r['cross_pairs']} with {r['cross_with'] or '-'}; "
                          f"SfM {r['sfm_status'] or '-'} {r['sfm_reasons']}) {r['message']}")
