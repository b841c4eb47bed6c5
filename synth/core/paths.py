"""One path policy for every file name that comes from data, and for output folders next to their inputs.

Why: names in pairs files, camera JSON keys, metadata rows and scene ids are user data; joined to an output
folder unchecked, ``../../x`` or ``/etc/x`` writes anywhere (issue hardening-2). The rules:

* a name derived from data matches a strict pattern (:data:`PATTERNS`: pair ids, camera names ``camNN``, video
  names, scene ids) and is checked with :func:`check_name` before it is used;
* every such name is joined with :func:`safe_join`, which refuses absolute parts, ``..``, and symbolic links that
  leave the root (a link that stays inside the root is fine);
* lock and manifest files are opened with :func:`open_nofollow` (``O_NOFOLLOW``): a planted symlink is refused,
  never followed;
* an output is never inside an input dataset nor equal to an input path (:func:`check_output_not_inside_inputs`),
  and ``synth render --out`` is never inside an existing dataset's scene (:func:`enclosing_scene`); both are checked
  before any work.

Every refusal raises :class:`UnsafePathError` (a ``ValueError``) whose message names the path, the field and what
was expected, so the commands' existing ``ValueError`` handlers turn it into exit 2.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import Iterable, Optional, Union

from .layout import CAMERA_JSON, SCENE_JSON, SCENE_RE

__all__ = ["UnsafePathError", "PATTERNS", "check_name", "is_valid_name", "safe_join", "open_nofollow",
           "read_text_nofollow", "check_output_not_inside_inputs", "enclosing_scene"]

PathLike = Union[str, os.PathLike]


class UnsafePathError(ValueError):
    """A name or path breaks the path policy; the message names it, the field and what was expected."""


# A "word" name: starts with a letter, digit or underscore (so never "", ".", ".." or a hidden file), at most 200
# characters, no path separator, NUL or control character.
_WORD = r"[A-Za-z0-9_][A-Za-z0-9_.+=@,()-]{0,199}"
#: kind -> (compiled full-match pattern, what is expected in words). ASCII only: names become file names on every
#: filesystem, and look-alike Unicode in an id is more likely an attack than a need.
PATTERNS = {
    "pair_id": (re.compile(_WORD, re.ASCII), "letters, digits and _ . + = @ , ( ) -, starting with a letter, digit "
                                            "or _, at most 200 characters (no / or ..)"),
    "camera": (re.compile(r"cam[0-9]{2,3}", re.ASCII), "camNN (cam01, cam02, ...)"),
    "video_name": (re.compile(r"[\w][\w .+=@,()\[\]-]{0,199}"), "a file name without / or \\, not starting with . "
                                                                 "or a space, at most 200 characters"),
    "scene_id": (re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,99}/scene[0-9]{1,9}", re.ASCII),
                 "<lens folder>/scene<N>, e.g. f18_aperture10/scene3"),
}


def is_valid_name(value: object, kind: str) -> bool:
    """True when ``value`` is a ``str`` matching :data:`PATTERNS` ``[kind]`` in full."""
    return isinstance(value, str) and PATTERNS[kind][0].fullmatch(value) is not None and ".." not in value.split("/")


def check_name(value: object, kind: str, where: str = "") -> str:
    """Return ``value`` if it is a valid ``kind`` name (``pair_id``, ``camera``, ``video_name``, ``scene_id``).

    Args:
        where: the file and field the value came from (``pairs.csv:3 pair_id``), put first in the message.

    Raises:
        UnsafePathError: names ``where``, the value and the expected pattern.
        KeyError: an unknown ``kind`` (a programming error).
    """
    if not is_valid_name(value, kind):
        prefix = f"{where}: " if where else ""
        raise UnsafePathError(f"{prefix}{kind.replace('_', ' ')} {value!r} is not allowed as a file name; expected "
                              f"{PATTERNS[kind][1]}")
    return value  # type: ignore[return-value]


def _inside(child: str, parent: str) -> bool:
    """Both absolute and normalised: is ``child`` ``parent`` or below it."""
    return child == parent or child.startswith(parent.rstrip(os.sep) + os.sep)


def safe_join(root: PathLike, *parts: PathLike, what: str = "path") -> Path:
    """``root / parts...`` after checking that the result stays inside ``root``.

    Each part may hold several ``/``-separated components (``f18_aperture10/scene3``). Refused: an absolute part,
    a ``..`` component, a NUL byte, an empty result, and any existing component that is a symbolic link resolving
    outside ``root`` (links inside ``root`` are allowed). Components that do not exist yet are fine (outputs).
    The returned path is ``root`` joined with the parts as given (not resolved), so messages keep the user's
    spelling.

    Raises:
        UnsafePathError: names ``what``, the offending part and the root.
    """
    root = Path(root)
    real_root = os.path.realpath(root)
    comps = []
    for part in parts:
        s = os.fspath(part)
        if "\x00" in s:
            raise UnsafePathError(f"{what} {s!r}: contains a NUL byte")
        if os.path.isabs(s) or PurePosixPath(s).is_absolute() or re.match(r"^[A-Za-z]:[\\/]", s):
            raise UnsafePathError(f"{what} {s!r}: an absolute path is not allowed; expected a name inside {root}")
        for c in re.split(r"[\\/]+", s):
            if c in ("", "."):
                continue
            if c == "..":
                raise UnsafePathError(f"{what} {s!r}: '..' is not allowed; expected a name inside {root}")
            comps.append(c)
    if not comps:
        raise UnsafePathError(f"{what} {'/'.join(map(os.fspath, parts))!r}: empty; expected a name inside {root}")
    cur = root
    for c in comps:
        cur = cur / c
        if os.path.islink(cur):
            target = os.path.realpath(cur)
            if not _inside(target, real_root):
                raise UnsafePathError(f"{cur}: is a symbolic link to {target}, outside {root}; refusing to use it "
                                      f"as {what}")
    if not _inside(os.path.realpath(cur), real_root):
        raise UnsafePathError(f"{what} {cur}: resolves outside {root}")
    return cur


def open_nofollow(path: PathLike, flags: int, mode: int = 0o644, what: str = "file") -> int:
    """``os.open(path, flags | O_NOFOLLOW | O_CLOEXEC, mode)``: a symbolic link at ``path`` is refused, not
    followed (a planted ``.locks/0of1.lock -> ~/.bashrc`` would otherwise be truncated and written).

    Returns the file descriptor (the caller closes it).

    Raises:
        UnsafePathError: ``path`` is a symbolic link (names it and where it points).
        OSError: any other error of ``os.open`` (e.g. FileNotFoundError without ``O_CREAT``).
    """
    try:
        return os.open(path, flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), mode)
    except OSError as e:
        if os.path.islink(path):  # ELOOP on Linux, EMLINK on some BSDs
            raise UnsafePathError(f"{path}: is a symbolic link (to {os.readlink(path)}); refusing to open it as "
                                  f"{what}: remove the link") from None
        raise


def read_text_nofollow(path: PathLike, what: str = "manifest", max_bytes: int = 64 << 20) -> str:
    """UTF-8 text of ``path`` opened with :func:`open_nofollow` (read-only), at most ``max_bytes``.

    Raises:
        UnsafePathError: a symbolic link, or larger than ``max_bytes``.
        OSError: unreadable (FileNotFoundError when missing). UnicodeDecodeError: not UTF-8.
    """
    fd = open_nofollow(path, os.O_RDONLY, what=what)
    with os.fdopen(fd, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UnsafePathError(f"{path}: larger than {max_bytes} bytes; expected a small {what}")
    return data.decode("utf-8")


def check_output_not_inside_inputs(out: PathLike, inputs: Iterable[Optional[PathLike]], option: str = "--out",
                                   input_option: str = "input") -> None:
    """Refuse an output path that equals an input path or lies inside an input folder (symlinks resolved).

    Called before any work: ``synth stats DS --json DS/metadata.csv`` would replace the dataset's index,
    ``recam infer`` results written over their own source video destroy it.

    Args:
        out: the output file or folder (need not exist).
        inputs: input files or folders (None entries skipped).

    Raises:
        UnsafePathError: names the option, the output and the input it would overwrite or write into.
    """
    o = os.path.realpath(out)
    for inp in inputs:
        if inp is None:
            continue
        i = os.path.realpath(inp)
        if o == i:
            raise UnsafePathError(f"{option} {out}: is the {input_option} {inp} itself; writing it would destroy the "
                                  f"input: choose an output outside it")
        if _inside(o, i) and os.path.isdir(i):
            raise UnsafePathError(f"{option} {out}: is inside the {input_option} {inp}; an output never goes into "
                                  f"an input dataset: choose an output outside it")


def enclosing_scene(path: PathLike) -> Optional[Path]:
    """The scene folder of an existing dataset that holds ``path`` (``path`` itself or a folder above it), or None.

    A scene folder is named ``scene<N>`` and holds ``cameras/camera_extrinsics.json`` or ``scene.json``
    (MultiCamVideo layout, :mod:`synth.core.layout`). Symlinks are resolved first.
    """
    p = Path(os.path.realpath(path))
    for d in (p, *p.parents):
        if SCENE_RE.match(d.name) and ((d / CAMERA_JSON).is_file() or (d / SCENE_JSON).is_file()):
            return d
    return None
