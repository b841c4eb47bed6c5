"""Workers of the generic execution-layer tests (a module of its own: spawned processes import it by name and Ray
actors get it by value)."""

from __future__ import annotations

import os
import time
from pathlib import Path


class Squarer:
    """A long-lived worker: counts the units it ran (its "expensive state"), reports 2 items per unit."""

    def __init__(self, ctx, fail_on=(), out=None, slow_s=0.0):
        self.ctx, self.fail_on, self.out, self.slow_s, self.n = ctx, set(fail_on), out, slow_s, 0

    def __call__(self, unit):
        self.n += 1
        self.ctx.report(1)
        if unit in self.fail_on:
            raise ValueError(f"broken asset of unit {unit}")
        if self.out is not None:  # a unit that takes time and says who runs it (the kill test)
            Path(self.out, f"running.{unit}.{os.getpid()}").write_text("")
            time.sleep(self.slow_s)
        self.ctx.report(1)
        return {"square": unit * unit, "pid": os.getpid(), "node": self.ctx.node}


def make_squarer(ctx, fail_on=(), out=None, slow_s=0.0):
    return Squarer(ctx, fail_on, out, slow_s)


def make_broken(ctx):
    raise RuntimeError("no GPU driver here")


def make_pair_scorer(root, out, settings, videos_dir, ctx):
    """``recam eval``'s pair worker with no metric (loads the pair, writes the side-by-side video, fills the row)."""
    from recam.eval.run import PairScorer
    from synth.core.pose_estimation import PoseOptions

    return PairScorer(root, out, settings, None, videos_dir, PoseOptions(), [])
