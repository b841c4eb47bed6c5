"""Renderer backends, one registry entry module each (:class:`BackendEntry` subclasses decorated with
:func:`register_backend`, see :mod:`synth.render.backends.base`).

Importing this package imports every module in it (``pkgutil``). The entry modules stay light: a renderer itself
(Panda3D, the UnrealCV client) is imported only when :meth:`BackendEntry.create` is called.
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import (BackendEntry, BackendOptions, UnknownBackendError, backends, get_backend, option, option_flag,
                   register_backend)

__all__ = ["BackendEntry", "BackendOptions", "UnknownBackendError", "backends", "get_backend", "option", "option_flag",
           "register_backend"]

for _m in pkgutil.iter_modules(__path__):
    if _m.name != "base" and not _m.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_m.name}")
