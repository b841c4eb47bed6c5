"""The flags of ``recam eval``, built from :class:`recam.eval.settings.EvalRunSettings` and the options of every
registered metric: the command function takes ``**flags`` and never names a flag or a metric itself."""

from __future__ import annotations

import functools
import inspect
from typing import Iterator, Tuple

import typer

__all__ = ["with_eval_flags"]


def _fields() -> Iterator[Tuple[str, object, str]]:
    """``(name, field, help suffix)`` of every settings field and metric option."""
    from .metrics import metrics
    from .settings import EvalRunSettings

    from synth.core.engine.base import EngineSettings

    for name, fld in EvalRunSettings.model_fields.items():
        if name not in ("metrics", "engine"):
            yield name, fld, ""
    for name, fld in EngineSettings.model_fields.items():  # --engine and its flags
        yield name, fld, ""
    for m in metrics().values():
        for name, fld in m.Options.model_fields.items():
            yield name, fld, f" ({m.display()})"


class with_eval_flags:  # noqa: N801  (used as a decorator)
    """A command whose ``**flags`` catch-all becomes one typer option per field of the run settings and of every
    registered metric's options (``option_flags``: ``--a-b`` with the alias ``--a_b``). Typer reads a command's
    parameters from its signature; this one is computed when typer asks, so metrics registered after import (a
    test's) get their flags too."""

    def __init__(self, func):
        functools.update_wrapper(self, func)

    def __call__(self, *args, **kwargs):
        return self.__wrapped__(*args, **kwargs)

    @property
    def __signature__(self) -> inspect.Signature:
        import annotated_types

        from .metrics import option_flags

        params, seen = [], set()
        for name, fld, suffix in _fields():
            if name in seen:
                raise ValueError(f"recam eval: option {name!r} is declared twice (settings and a metric)")
            seen.add(name)
            bounds = {"min": m.ge for m in fld.metadata if isinstance(m, annotated_types.Ge)}
            bounds.update({"max": m.le for m in fld.metadata if isinstance(m, annotated_types.Le)})
            default = typer.Option(... if fld.is_required() else fld.default, *option_flags(name, fld),
                                   help=(fld.description or "").rstrip(".") + suffix + ".", **bounds)
            params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                            annotation=fld.annotation))
        return inspect.Signature(params)
