"""Errors shared by the evaluation modules (a leaf module: the weight loaders and the metric registry import it)."""

from __future__ import annotations

__all__ = ["MissingWeightsError"]


class MissingWeightsError(FileNotFoundError):
    """A learned metric was asked for without the local weights it needs (nothing is downloaded)."""
