"""Splitting work across cluster tasks: ``--shard i/n`` parsing and the scene/clip indices a shard owns."""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple, TypeVar

__all__ = ["parse_shard", "shard_indices", "select_shard"]

T = TypeVar("T")


def parse_shard(text: Optional[str]) -> Tuple[int, int]:
    """``"i/n"`` (0 <= i < n) -> ``(i, n)``; None -> ``(0, 1)``.

    Raises:
        ValueError: malformed text (the message names ``--shard`` and shows an example).
    """
    if text is None:
        return 0, 1
    try:
        i_s, n_s = text.split("/")
        i, n = int(i_s), int(n_s)
    except ValueError:
        raise ValueError(f"--shard must look like i/n (e.g. 0/8), got {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise ValueError(f"--shard i/n needs 0 <= i < n, got {text!r}")
    return i, n


def shard_indices(num_items: int, shard: Tuple[int, int], start: int = 0) -> List[int]:
    """Indices ``start .. start + num_items - 1`` owned by shard ``(i, n)``: those with ``k % n == i``
    (interleaved, so shards stay balanced and a run can later be extended with more items)."""
    i, n = shard
    return [k for k in range(start, start + num_items) if k % n == i]


def select_shard(items: Sequence[T], shard: Tuple[int, int]) -> List[T]:
    """The items at positions ``k`` with ``k % n == i`` (same rule as :func:`shard_indices`)."""
    i, n = shard
    return [it for k, it in enumerate(items) if k % n == i]
