"""Mixing several datasets with per-dataset weights, deterministically, across DDP ranks, resumably."""

from __future__ import annotations

from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np
from torch.utils.data import ConcatDataset, Dataset, Sampler

__all__ = ["MixingSampler", "mix"]


class MixingSampler(Sampler[int]):
    """Draws indices into ``ConcatDataset(datasets)``: each draw picks a dataset with probability proportional to
    its weight, then a uniform sample of it. The stream is a pure function of ``(seed, epoch)``; rank ``r`` of
    ``world_size`` takes draws ``r, r + world_size, ...`` of it, so ranks see disjoint samples.

    Args:
        sizes: length of each dataset (empty datasets get no draws).
        weights: mixing weights (normalised over non-empty datasets).
        samples_per_epoch: draws per epoch and rank.
        seed, rank, world_size: determinism and DDP sharding.

    ``state_dict`` / ``load_state_dict`` / ``set_start`` let a resumed run continue at the exact draw.
    """

    def __init__(self, sizes: Sequence[int], weights: Sequence[float], samples_per_epoch: int, seed: int = 0,
                 rank: int = 0, world_size: int = 1):
        if len(sizes) != len(weights) or not sizes:
            raise ValueError(f"{len(sizes)} datasets but {len(weights)} weights")
        w = np.array([wt if n > 0 else 0.0 for n, wt in zip(sizes, weights)], float)
        if np.any(w < 0) or w.sum() <= 0:
            raise ValueError(f"weights must be >= 0 with at least one non-empty dataset weighted; got {list(weights)} "
                             f"for sizes {list(sizes)}")
        self.sizes = list(sizes)
        self.p = w / w.sum()
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        self.samples_per_epoch = samples_per_epoch
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def set_start(self, start: int) -> None:
        """Skip the first ``start`` draws of this rank in the current epoch (resume mid-epoch)."""
        self.start = start

    def state_dict(self) -> Dict[str, int]:
        return {"epoch": self.epoch, "start": self.start}

    def load_state_dict(self, state: Dict[str, int]) -> None:
        self.epoch, self.start = int(state["epoch"]), int(state["start"])

    def indices(self, epoch: Optional[int] = None) -> np.ndarray:
        """This rank's draws for an epoch (global indices into the concatenation)."""
        rng = np.random.default_rng([self.seed, self.epoch if epoch is None else epoch])
        total = self.samples_per_epoch * self.world_size
        which = rng.choice(len(self.sizes), size=total, p=self.p)
        u = rng.random(total)
        local = np.floor(u * np.asarray(self.sizes)[which]).astype(np.int64)
        glob = self.offsets[which] + local
        return glob[self.rank::self.world_size]

    def __iter__(self) -> Iterator[int]:
        idx = self.indices()
        start, self.start = self.start, 0
        return iter(idx[start:].tolist())

    def __len__(self) -> int:
        return self.samples_per_epoch


def mix(datasets: List[Dataset], weights: Sequence[float], samples_per_epoch: int, seed: int = 0, rank: int = 0,
        world_size: int = 1):
    """``(ConcatDataset, MixingSampler)`` for datasets and weights."""
    return ConcatDataset(datasets), MixingSampler([len(d) for d in datasets], weights, samples_per_epoch, seed,
                                                  rank, world_size)
