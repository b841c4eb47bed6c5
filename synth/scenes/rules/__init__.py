"""The recipe's rules, written once: one module per constraint, registered by name (:func:`register_rule`).

The sampler (:mod:`synth.scenes.sampling`) rejects drawn cameras with them and ``synth validate``
(:mod:`synth.dataset.validate`) reports with them from the written files; see :mod:`synth.scenes.rules.base`.
Importing this package imports every module in it (``pkgutil``), so adding a rule is adding a module.
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import Rule, RuleContext, Violation, check, get_rule, register_rule, rules
from .clearance import segment_distance
from .radius import allowed_radii, fitting_radii

__all__ = ["Rule", "RuleContext", "Violation", "check", "get_rule", "register_rule", "rules", "segment_distance",
           "fitting_radii", "allowed_radii"]

for _m in pkgutil.iter_modules(__path__):
    if _m.name != "base" and not _m.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_m.name}")
