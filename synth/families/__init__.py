"""Trajectory families, one module each, registered by name (:func:`register_family`).

Importing this package imports every module in it (``pkgutil``), so adding a family is one new module here (a
:class:`TrajectoryFamily` subclass decorated with :func:`register_family`) plus its block under ``trajectories:`` in
the generator config. Families defined elsewhere (a plug-in, a test) register the same way once imported.
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import (FamilyBlock, FamilyContext, TrajectoryFamily, UnknownFamilyError, families, get_family,
                   register_family)

__all__ = ["TrajectoryFamily", "FamilyBlock", "FamilyContext", "UnknownFamilyError", "register_family",
           "get_family", "families"]

for _m in pkgutil.iter_modules(__path__):
    if _m.name != "base" and not _m.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_m.name}")
