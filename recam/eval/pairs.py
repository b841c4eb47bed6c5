"""Evaluation pairs of ``recam eval``: (source camera, target camera) of the same scene, sampled with a seed and
listed in ``pairs.csv`` (so another method can be run on exactly the same pairs)."""

from __future__ import annotations

import csv
import io
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Sequence

from synth.core.atomic import atomic_write_text
from synth.core.layout import SCENE_JSON, VIDEOS_DIR
from synth.core.multicam_format import DatasetFormatError, iter_scene_dirs, read_metadata_csv, read_scene_spec

__all__ = ["PAIR_FIELDS", "Pair", "sample_pairs", "write_pairs", "read_pairs"]

PAIR_FIELDS = ["pair_id", "scene", "source", "target", "prompt"]


@dataclass(frozen=True)
class Pair:
    """One evaluation pair: re-capture ``source`` along ``target``'s trajectory (same scene, both ``camNN``)."""

    pair_id: str
    scene: str  # relative to the dataset's train/ folder, e.g. f18_aperture10/scene3
    source: str
    target: str
    prompt: str


def _scene_prompts(root: Path) -> Dict[str, str]:
    meta = root / "metadata.csv"
    return {r.file_name: r.text for r in read_metadata_csv(meta)} if meta.is_file() else {}


def sample_pairs(root: Path, num_pairs: int, seed: int) -> List[Pair]:
    """``num_pairs`` distinct (source, target) camera pairs of the same scene, drawn with ``random.Random(seed)``
    from all ordered pairs of all scenes under ``root/train`` (fewer if the dataset has fewer). The prompt is the
    source video's ``metadata.csv`` text, else the scene caption of ``scene.json``.

    Raises:
        DatasetFormatError: no scenes, or no scene with two camera videos.
    """
    root = Path(root)
    prompts = _scene_prompts(root)
    cands = []
    for s in iter_scene_dirs(root):
        cams = sorted(v.stem for v in (s / VIDEOS_DIR).glob("cam*.mp4"))
        rel = f"{s.parent.name}/{s.name}"
        caption = ""
        if (s / SCENE_JSON).is_file():
            caption = read_scene_spec(s).caption
        for a in cams:
            for b in cams:
                if a != b:
                    text = prompts.get(f"{rel}/{VIDEOS_DIR}/{a}.mp4", caption)
                    cands.append(Pair(f"{rel.replace('/', '_')}_{a}_to_{b}", rel, a, b, text))
    if not cands:
        raise DatasetFormatError(f"{root}: no scene with two or more camera videos under {root}/train/<lens>/")
    rng = random.Random(seed)
    return sorted(rng.sample(cands, min(num_pairs, len(cands))), key=lambda p: p.pair_id)


def write_pairs(path: Path, pairs: Sequence[Pair]) -> None:
    """``pairs.csv``: ``pair_id,scene,source,target,prompt`` (atomic)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=PAIR_FIELDS, lineterminator="\n")
    w.writeheader()
    for p in pairs:
        w.writerow(asdict(p))
    atomic_write_text(path, buf.getvalue())


def read_pairs(path: Path) -> List[Pair]:
    """Read ``pairs.csv``. Raises DatasetFormatError naming the file and the missing column / bad row."""
    path = Path(path)
    if not path.is_file():
        raise DatasetFormatError(f"{path}: pairs file not found")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise DatasetFormatError(f"{path}: no pairs")
    missing = [c for c in PAIR_FIELDS if c not in rows[0]]
    if missing:
        raise DatasetFormatError(f"{path}: missing column(s) {missing}; expected {','.join(PAIR_FIELDS)}")
    out = []
    for i, r in enumerate(rows, start=2):
        if not r["pair_id"] or not r["scene"] or not r["source"].startswith("cam") or not r["target"].startswith("cam"):
            raise DatasetFormatError(f"{path}:{i}: bad row {r}")
        out.append(Pair(r["pair_id"], r["scene"], r["source"], r["target"], r["prompt"] or ""))
    return out
