"""The end-of-run summary per node: units done and failed, retried units, busy seconds and items (camera images,
clips, pairs) per node, so a slow or failing machine stands out."""

from __future__ import annotations

from typing import Callable, Dict, Iterable, List, Optional

from .base import UnitOutcome

__all__ = ["node_summary", "format_node_summary", "format_failures"]


def node_summary(outcomes: Iterable[UnitOutcome], items: Optional[Callable[[UnitOutcome], float]] = None
                 ) -> List[Dict]:
    """One row per node (sorted by name): ``node``, ``units``, ``failed``, ``retried`` (units that needed more
    than one attempt), ``seconds`` (summed unit wall time), ``items`` (``items(outcome)`` summed; 0 without it)
    and ``items_per_s`` (items / seconds of that node's workers)."""
    rows: Dict[str, Dict] = {}
    for o in outcomes:
        r = rows.setdefault(o.node or "?", {"node": o.node or "?", "units": 0, "failed": 0, "retried": 0,
                                            "seconds": 0.0, "items": 0.0})
        r["units"] += 1
        r["failed"] += 0 if o.ok else 1
        r["retried"] += 1 if o.attempts > 1 else 0
        r["seconds"] += o.seconds
        r["items"] += items(o) if (items is not None and o.ok) else 0
    for r in rows.values():
        r["items_per_s"] = r["items"] / r["seconds"] if r["seconds"] > 0 else 0.0
    return [rows[k] for k in sorted(rows)]


def format_node_summary(rows: List[Dict], unit: str) -> List[str]:
    """Plain lines of :func:`node_summary` (``node host-a: 12 units (1 failed, 2 retried), 340 images, 3.1
    images/s per worker-second``)."""
    return [f"node {r['node']}: {r['units']} units ({r['failed']} failed, {r['retried']} retried), "
            f"{r['items']:g} {unit} in {r['seconds']:.1f} worker-s ({r['items_per_s']:.2f} {unit}/s per worker)"
            for r in rows]


def format_failures(outcomes: Iterable[UnitOutcome], label: Callable = str) -> List[str]:
    """One line per failed unit: ``scene 3 (node a, 1 attempt): RenderError: ...``."""
    return [f"{label(o.unit)} (node {o.node or '?'}, {o.attempts} attempt(s)): {o.error}"
            for o in outcomes if not o.ok]
