"""Held-out evaluation split: scenes whose seeds can never coincide with a training run's.

Scene ``k`` of run seed ``s`` draws from ``SeedSequence([s, k])`` (:mod:`synth.scenes.sampling`). An evaluation run
(``synth render --split eval --seed s``) uses the run seed ``EVAL_SEED_BASE + s``; training runs are refused seeds
at or above ``EVAL_SEED_BASE``. So no (seed, index) pair, hence no sampled scene, environment placement, character,
animation or camera draw, is shared between a training and an evaluation dataset, whatever their sizes. The split,
the requested seed and the effective seed are recorded in ``synth_run.json``. (Disjoint *assets* need disjoint
catalogs: give the evaluation run its own ``--catalog``.)
"""

from __future__ import annotations

import json
from pathlib import Path

from ..core.atomic import atomic_write_text
from ..core.layout import RUN_MANIFEST

__all__ = ["SPLITS", "EVAL_SEED_BASE", "effective_seed", "record_split"]

SPLITS = ("train", "eval")
#: run seeds of evaluation datasets start here; training seeds must stay below
EVAL_SEED_BASE = 1_000_000_000


def effective_seed(seed: int, split: str) -> int:
    """The run seed scenes are drawn with: ``seed`` (train) or ``EVAL_SEED_BASE + seed`` (eval).

    Raises:
        ValueError: unknown split, negative seed, or a training seed inside the evaluation namespace.
    """
    if split not in SPLITS:
        raise ValueError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    if seed < 0:
        raise ValueError(f"--seed must be >= 0, got {seed}")
    if seed >= EVAL_SEED_BASE:
        raise ValueError(f"--seed {seed}: seeds >= {EVAL_SEED_BASE} are reserved for the held-out evaluation split; "
                         f"use --split eval --seed {seed - EVAL_SEED_BASE} for an evaluation set, or a smaller seed")
    return seed + (EVAL_SEED_BASE if split == "eval" else 0)


def record_split(out: Path, split: str, seed: int) -> None:
    """Add ``split``, ``requested_seed`` and ``eval_seed_base`` to ``<out>/synth_run.json`` (written by the run
    manifest check just before; its ``seed`` is already the effective seed, which makes a train and an eval run
    into the same folder refuse each other)."""
    path = Path(out) / RUN_MANIFEST
    manifest = json.loads(path.read_text())
    want = {"split": split, "requested_seed": seed, "eval_seed_base": EVAL_SEED_BASE}
    if all(manifest.get(k) == v for k, v in want.items()):
        return
    manifest.update(want)
    atomic_write_text(path, json.dumps(manifest, indent=2) + "\n")
