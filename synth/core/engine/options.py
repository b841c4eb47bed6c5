"""The engine flags of a command (``--engine``, ``--ray-address``, ``--gpus-per-worker``, ``--cpus-per-worker``,
``--max-retries``): one :class:`~.base.EngineSettings` model whose fields become flags of every command that
distributes work (through :class:`synth.core.command_line.WithModelOptions`), and its parsing."""

from __future__ import annotations

from typing import Any, Dict

from .base import EngineSettings

__all__ = ["ENGINE_OPTIONS", "engine_settings_or_exit", "engine_flags"]

#: ``WithModelOptions`` models entry: the engine flags, each with dashes and the underscore alias.
ENGINE_OPTIONS = [(None, EngineSettings, None)]


def engine_flags(values: Dict[str, Any]) -> Dict[str, Any]:
    """Pop the engine fields out of a command's keyword arguments (``values`` is changed)."""
    return {k: values.pop(k) for k in list(EngineSettings.model_fields) if k in values}


def engine_settings_or_exit(values: Dict[str, Any]) -> EngineSettings:
    """:func:`engine_flags` as an :class:`EngineSettings`, or exit 2 naming the flag."""
    from ..command_line import settings_or_exit

    return settings_or_exit(EngineSettings, **engine_flags(values))
