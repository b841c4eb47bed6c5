"""What the ``synth`` and ``recam`` command modules share: failing with one message and an exit code, turning a
settings model's validation error into that message, flags computed from typed option models (backend options,
dataset-kind reader options), and how help is laid out.

Commands stay thin: each parses its flags into one settings model (pydantic, in the module of the service it
feeds) and calls one service function; this module holds only the typer glue. It imports typer, rich and
pydantic, never torch.
"""

from __future__ import annotations

import functools
import inspect
import os
import shutil
from typing import Any, Callable, Dict, Iterable, List, NoReturn, Optional, Tuple, Type

import contextlib
from typing import Iterator

import typer
from pydantic import BaseModel, ValidationError
from rich.markup import escape

from .progress import console
from .run_errors import RunInterrupted, UserError

__all__ = ["fail", "exits", "settings_or_exit", "model_option_params", "WithModelOptions", "given", "CONTEXT_SETTINGS",
           "flag_aliases", "HELP_WIDTH"]

#: Columns of ``--help`` when no ``TERMINAL_WIDTH`` is set: wide enough that long words (paths, ``$SLURM_...``)
#: are wrapped, not cut with "…", when the output is a log or an 80-column terminal.
HELP_WIDTH = 120

#: ``context_settings`` of every command (``-h`` as well as ``--help``).
CONTEXT_SETTINGS: Dict[str, Any] = {"help_option_names": ["--help", "-h"], "max_content_width": HELP_WIDTH}


def fail(msg: str, code: int = 2) -> NoReturn:
    """Print ``error: msg`` (literal text: ``[a b c d]`` in a message is not rich markup) and exit with ``code``
    (2: bad input, 1: a failed check)."""
    console.print(f"[red]error:[/red] {escape(str(msg))}")
    raise typer.Exit(code)


@contextlib.contextmanager
def exits() -> Iterator[None]:
    """Run a service: its :class:`UserError` becomes ``error: message`` and the error's exit code, a
    :class:`RunInterrupted` exit 130 (the service has said what was kept)."""
    try:
        yield
    except UserError as e:
        fail(str(e), e.code)
    except RunInterrupted:
        raise typer.Exit(130) from None


def settings_message(err: ValidationError, flags: Optional[Dict[str, str]] = None) -> str:
    """A settings model's ``ValidationError`` as one message: a cross-field check's own text as it was raised
    (``give exactly one of ...``), a field error as ``--flag: what was expected (got value)``; one line each.

    Args:
        err: the error of a settings model's construction.
        flags: field name -> the flag spelling to name (default ``--<name-with-dashes>``).
    """
    lines = []
    for e in err.errors():
        if e["type"] == "value_error" and not e["loc"]:  # a model validator's message, written for the user
            lines.append(str(e["ctx"]["error"]))
            continue
        name = str(e["loc"][0]) if e["loc"] else ""
        flag = (flags or {}).get(name) or "--" + name.replace("_", "-")
        msg = str(e["ctx"]["error"]) if e["type"] == "value_error" else e["msg"]
        lines.append(f"{flag}: {msg} (got {e.get('input')!r})" if e["type"] != "missing" else f"{flag}: {msg}")
    return "\n".join(lines)


def settings_or_exit(cls: Type[BaseModel], flags: Optional[Dict[str, str]] = None, **values: Any):
    """``cls(**values)``, or exit 2 with :func:`settings_message` (before any heavy import: settings models are
    light)."""
    try:
        return cls(**values)
    except ValidationError as e:
        fail(settings_message(e, flags))


def given(ctx: typer.Context, name: str) -> bool:
    """Whether parameter ``name`` was given on the command line or in the environment (not its default)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def flag_aliases(name: str, flag: Optional[str] = None) -> Tuple[str, ...]:
    """The spellings of an option: ``--with-dashes`` first, then the ``--with_underscores`` alias (scripts written
    for ReCamMaster use ``--cam_type``, ``--model_dir``)."""
    dashed = flag or "--" + name.replace("_", "-")
    under = "--" + dashed[2:].replace("-", "_")
    return (dashed,) if under == dashed else (dashed, under)


def model_option_params(model: Type[BaseModel], owner: Optional[str], taken: Iterable[str] = (),
                        flags_of: Optional[Callable] = None) -> List[inspect.Parameter]:
    """One keyword parameter (a typer option) per field of ``model``, for a command's signature: the field's
    ``description`` is the help, its ``ge`` / ``le`` the flag's range, a field without a default a required flag.

    Args:
        model: an options or settings model.
        owner: appended to each help text (``(embedded)``, ``(--kind realcam-vid)``); None: nothing.
        taken: the command's own parameter names; a field of the same name is an error.
        flags_of: ``flags_of(name, field) -> tuple of flags`` (default :func:`flag_aliases`: dashes, then the
            underscore alias).

    Raises:
        ValueError: a field named like one of the command's own parameters.
    """
    import annotated_types

    taken = set(taken)
    params = []
    for name, field in model.model_fields.items():
        if name in taken:
            raise ValueError(f"{owner}: option {name!r} clashes with a parameter of the command")
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if extra.get("cli") is False:  # filled by the command itself (e.g. the registry flags it was given)
            continue
        bounds = {"min": m.ge for m in field.metadata if isinstance(m, annotated_types.Ge)}
        bounds.update({"max": m.le for m in field.metadata if isinstance(m, annotated_types.Le)})
        text = (field.description or "").rstrip(".")
        default = typer.Option(... if field.is_required() else field.default,
                               *(flags_of or (lambda n, f: flag_aliases(n)))(name, field),
                               help=f"{text} ({owner})." if owner else (f"{text}." if text else None),
                               hidden=bool(extra.get("hidden")), **bounds)
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                        annotation=field.annotation))
    return params


class WithModelOptions:
    """A command whose ``**extra`` catch-all becomes one keyword parameter (flag) per field of the option models
    ``models()`` returns (``[(owner, model, flags_of), ...]``, see :func:`model_option_params`: a command's
    settings, every registered backend's options, every dataset kind's reader options). Typer reads a command's
    parameters from its signature; this one is computed when typer asks, so what registers after import gets its
    flags too. ``replace()`` swaps parameters (name ->
    ``typer.Option``), e.g. a ``--backend`` whose help lists the registry."""

    def __init__(self, func, models: Callable[[], List[tuple]], replace: Callable[[], Dict[str, Any]] = dict):
        functools.update_wrapper(self, func)
        self._models, self._replace = models, replace

    def __call__(self, *args, **kwargs):
        return self.__wrapped__(*args, **kwargs)

    @property
    def __signature__(self) -> inspect.Signature:
        sig = inspect.signature(self.__wrapped__, eval_str=True)
        replace = self._replace()
        params = [p.replace(default=replace[p.name]) if p.name in replace else p
                  for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD]
        taken = {p.name for p in params}
        seen: Dict[str, str] = {}
        for owner, model, flags_of in self._models():
            for p in model_option_params(model, owner, taken, flags_of):
                if p.name not in seen:  # two models may share a field (kinds with the same reader option)
                    seen[p.name] = owner
                    params.append(p.replace(default=replace[p.name]) if p.name in replace else p)
        return sig.replace(parameters=params)


def _wide_help() -> None:
    """Help at least :data:`HELP_WIDTH` columns wide (typer's rich help ignores ``max_content_width`` and cuts long
    words with "…" at 80), unless ``TERMINAL_WIDTH`` asks for a width."""
    from typer import rich_utils

    if not os.environ.get("TERMINAL_WIDTH"):
        rich_utils.MAX_WIDTH = max(HELP_WIDTH, shutil.get_terminal_size((HELP_WIDTH, 24)).columns)


def _no_bool_metavar() -> None:
    """On/off flags show no ``<bool>`` value column in ``--help`` (they take no value). Typer has no setting for
    it; its option class exposes the column as ``display_type_rich``, which a flag answers with None here."""
    from typer.core import TyperOption

    original = TyperOption.display_type_rich
    if getattr(original, "_flags_hidden", False):
        return

    def display_type_rich(self, ctx):
        if self.is_flag and not self.count:
            return None
        return original(self, ctx)

    display_type_rich._flags_hidden = True
    TyperOption.display_type_rich = display_type_rich


_wide_help()
_no_bool_metavar()
