"""The renderer-backend registry: backends registered by name, with typed options.

A backend is registered by one module of :mod:`synth.render.backends` holding a :class:`BackendEntry` subclass
decorated with :func:`register_backend`. The entry is light (it must not import the renderer itself: Panda3D,
sockets to a game ...): its ``Options`` model declares the backend's settings, each field one ``synth render``
flag (see :func:`option`), and it states what the backend needs (``needs_catalog``, ``max_workers``). The renderer
is imported only in :meth:`BackendEntry.create`; external resources (a game process) are started and stopped by
:meth:`BackendEntry.session`.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar, Dict, Iterator, Optional, Type, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BackendEntry", "BackendOptions", "UnknownBackendError", "option", "register_backend",
           "get_backend", "backends", "option_flag"]


class UnknownBackendError(KeyError):
    """No backend is registered under this name; the message lists the registered ones."""

    def __str__(self) -> str:
        return str(self.args[0])


class BackendOptions(BaseModel):
    """Base of a backend's options: strict (unknown keys are errors), frozen. Each field is one ``synth render``
    flag, declared with :func:`option`."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def option(default: Any, flag: Optional[str] = None, help: str = "", hidden: bool = False, **constraints: Any) -> Any:
    """A :class:`BackendOptions` field that is also a ``synth render`` flag.

    Args:
        default: the default value.
        flag: the flag (default ``--<field-name-with-dashes>``).
        help: help text (the backend's name is appended in ``synth render --help``).
        hidden: hide the flag from ``--help``.
        constraints: pydantic ``Field`` constraints; ``ge`` / ``le`` also become the flag's range.
    """
    return Field(default, description=help, json_schema_extra={"flag": flag, "hidden": hidden}, **constraints)


def option_flag(name: str, field) -> str:
    """The flag of an options field (see :func:`option`)."""
    extra = field.json_schema_extra or {}
    return extra.get("flag") or "--" + name.replace("_", "-")


class BackendEntry:
    """What the registry knows of a backend (subclass it in a module of :mod:`synth.render.backends`).

    Class attributes:
        name: the ``--backend`` name; also the ``backend`` field of the asset catalogs it can load.
        Options: the backend's options (a :class:`BackendOptions` subclass).
        help: one line for ``synth render --help``.
        needs_catalog: what ``--catalog`` must describe when the built-in catalog cannot serve the backend
            (``synth render`` then requires ``--catalog``); None: the built-in catalog serves it.
        max_workers: most render processes it supports (None: any); ``workers_hint`` says what to do instead.
    """

    name: ClassVar[str]
    Options: ClassVar[Type[BackendOptions]] = BackendOptions
    help: ClassVar[str] = ""
    needs_catalog: ClassVar[Optional[str]] = None
    max_workers: ClassVar[Optional[int]] = None
    workers_hint: ClassVar[str] = ""

    def create(self, catalog, num_cameras: int, **kwargs: Any):
        """Instantiate the renderer (:class:`synth.render.backend.RendererBackend`) with the keyword arguments
        :meth:`session` yielded (called once per render process)."""
        raise NotImplementedError

    def run_record(self, options: BackendOptions) -> Optional[Dict[str, Any]]:
        """What a run with these options records under ``render`` in ``synth_run.json``: the options that change
        the images (a resumed run with other values is refused). Default: nothing."""
        return None

    @contextlib.contextmanager
    def session(self, options: BackendOptions, width: int, height: int) -> Iterator[Dict[str, Any]]:
        """Set up what the backend needs for a whole ``synth render`` run (video size ``width`` x ``height``) and
        yield the keyword arguments of :meth:`create` (picklable: they travel to worker processes); tear it down
        on exit. Default: the options as keyword arguments.

        Raises:
            synth.render.backend.BackendSetupError: the set-up failed (the message says what to check).
        """
        yield options.model_dump()


_REGISTRY: Dict[str, BackendEntry] = {}
E = TypeVar("E", bound=type)


def register_backend(cls: E) -> E:
    """Class decorator: register a :class:`BackendEntry` subclass under ``cls.name``.

    Raises:
        ValueError: no name, ``Options`` not a :class:`BackendOptions`, an option field that another backend
            already uses (flags are shared by ``synth render``), or another class registered under the name.
    """
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{cls.__qualname__}: a backend entry needs a `name`")
    if not (isinstance(cls.Options, type) and issubclass(cls.Options, BackendOptions)):
        raise ValueError(f"{cls.__qualname__}.Options must subclass synth.render.backends.BackendOptions")
    old = _REGISTRY.get(name)
    if old is not None and type(old).__qualname__ != cls.__qualname__:
        raise ValueError(f"backend {name!r} is already registered by {type(old).__module__}.{type(old).__qualname__}")
    for other in _REGISTRY.values():
        if other.name != name:
            clash = set(other.Options.model_fields) & set(cls.Options.model_fields)
            if clash:
                raise ValueError(f"backend {name!r}: options {sorted(clash)} are already options of backend "
                                 f"{other.name!r}; name them after the backend (e.g. {name}_...)")
    _REGISTRY[name] = cls()
    return cls


def backends() -> Dict[str, BackendEntry]:
    """Every registered backend by name (the modules of :mod:`synth.render.backends` register when the package is
    imported)."""
    return dict(_REGISTRY)


def get_backend(name: str) -> BackendEntry:
    """The backend registered under ``name``.

    Raises:
        UnknownBackendError: (a ``KeyError``) naming ``name`` and the registered backends.
    """
    registered = backends()
    try:
        return registered[name]
    except KeyError:
        raise UnknownBackendError(f"unknown backend {name!r}; registered: {', '.join(registered)}") from None
