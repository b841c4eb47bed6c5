"""Configuration errors and their formatting (one message style for every config, catalog and CLI)."""

from __future__ import annotations

from pydantic import ValidationError

__all__ = ["ConfigError", "format_validation_error"]


class ConfigError(ValueError):
    """A configuration or catalog file is invalid; the message names the file and the dotted key."""


def format_validation_error(err: ValidationError, source: str) -> str:
    """A pydantic ``ValidationError`` as ``<source>: invalid configuration`` plus one ``dotted.key: message (got
    value)`` line per error (unknown keys say so)."""
    lines = [f"{source}: invalid configuration"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "<root>"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"  {loc}: {msg} (got {e.get('input')!r})" if e["type"] != "missing" else f"  {loc}: {msg}")
    return "\n".join(lines)
