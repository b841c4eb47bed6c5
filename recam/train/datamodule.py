"""The LightningDataModule: the config's datasets, mixed with per-dataset weights by a rank-aware sampler.

One "epoch" spans the whole run (``max_steps x accumulate x batch`` draws per rank); the sampler starts at the draw
``global_step x accumulate x batch`` after a resume, so the data position is restored exactly.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Optional

import lightning as L
import torch
from torch.utils.data import DataLoader, Subset

# collate lives with the datasets: a spawned worker unpickles it by module, and that module must not import
# lightning (tens of seconds per worker on a loaded machine)
from ..data.datasets import build_dataset, collate
from ..data.sampler import MixingSampler
from .config import TrainConfig

__all__ = ["ReCamMasterDataModule", "collate"]

log = logging.getLogger(__name__)


class ReCamMasterDataModule(L.LightningDataModule):
    def __init__(self, cfg: TrainConfig):
        super().__init__()
        self.cfg = cfg
        self.datasets: List = []
        self.sampler: Optional[MixingSampler] = None

    def setup(self, stage: Optional[str] = None) -> None:
        if self.datasets:
            return
        d = self.cfg.data
        for e in d.datasets:
            ds = build_dataset(e.kind, cache=Path(e.cache) if e.cache else None, root=Path(e.root) if e.root else None,
                               num_frames=d.num_frames, height=d.height, width=d.width, stride=d.stride,
                               on_error=d.on_error, seed=self.cfg.seed,
                               pair_filters={k: v for k, v in {"max_angle_deg": e.max_angle_deg,
                                                               "min_baseline_m": e.min_baseline_m,
                                                               "max_baseline_m": e.max_baseline_m}.items()
                                             if v is not None},
                               task_probs=e.task_probs, require_metric=e.require_metric, options=e.options)
            if ds.problems:
                log.warning("%s (%s): %d broken samples skipped, e.g. %s", e.kind, e.cache or e.root,
                            len(ds.problems), ds.problems[0])
            if len(ds) == 0:
                raise ValueError(f"dataset {e.kind} at {e.cache or e.root} has no usable sample")
            self.datasets.append(ds)

    def _world(self):
        """(data-parallel rank, data-parallel world size, step, accumulation); the ranks of a context-parallel
        group (``parallel``) read the same samples."""
        t = self.trainer
        cp = self.cfg.parallel.degree
        return (t.global_rank // cp, t.world_size // cp, t.global_step, t.accumulate_grad_batches) if t \
            else (0, 1, 0, 1)

    def train_dataloader(self) -> DataLoader:
        from torch.utils.data import ConcatDataset

        rank, world, step, accum = self._world()
        d = self.cfg.data
        per_rank = self.cfg.trainer.max_steps * accum * d.batch_size
        self.sampler = MixingSampler([len(x) for x in self.datasets], [e.weight for e in d.datasets], per_rank,
                                     seed=self.cfg.seed, rank=rank, world_size=world)
        self.sampler.set_start(step * accum * d.batch_size)
        # Workers spawned, not forked (as `recam prepare`'s): a fork copies whatever locks this process's threads
        # hold at that instant (Mesa's llvmpipe, OpenMP, Ray, an earlier job of the same process) and a worker can
        # wait on one forever. Spawned workers receive the datasets and `collate` by pickle (module-level, plain).
        return DataLoader(ConcatDataset(self.datasets), batch_size=d.batch_size, sampler=self.sampler,
                          num_workers=d.num_workers, collate_fn=collate, persistent_workers=d.num_workers > 0,
                          pin_memory=torch.cuda.is_available(), drop_last=True,
                          multiprocessing_context="spawn" if d.num_workers > 0 else None)

    def val_dataloader(self) -> DataLoader:
        n = min(self.cfg.data.val_samples, len(self.datasets[0]))
        return DataLoader(Subset(self.datasets[0], list(range(n))), batch_size=1, shuffle=False,
                          num_workers=0, collate_fn=collate)
