"""``FMatrix::ToString()`` text: Unreal's 4x4 matrix string as written in ``camera_extrinsics.json``.

``"[%g %g %g %g] "`` four times (note the trailing space), rows forward, right, up (each padded with 0) and location in
cm (padded with 1); see :mod:`synth.core.unreal` for what the rows mean and REFERENCE §1. A tolerant parser for
readers and a strict one (the exact grammar Unreal writes) for ``synth validate``.
"""

from __future__ import annotations

import re

import numpy as np

__all__ = ["format_fmatrix", "parse_fmatrix", "parse_fmatrix_strict", "strict_fmatrix_problem", "FMATRIX_STRICT_RE",
           "FMatrixParseError"]

_ROW_FMT = "[%g %g %g %g] "
_MATRIX_FMT = _ROW_FMT * 4
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:inf|nan)"
_ROW_RE = re.compile(r"\[\s*(" + _NUM + r")[\s,]+(" + _NUM + r")[\s,]+(" + _NUM + r")[\s,]+(" + _NUM + r")\s*\]",
                     re.IGNORECASE)


class FMatrixParseError(ValueError):
    """A matrix string is not four bracketed rows of four numbers."""


def format_fmatrix(m: np.ndarray) -> str:
    """4x4 FMatrix -> string exactly as Unreal's ``FMatrix::ToString()`` (``"[%g %g %g %g] "`` x 4).

    Example: identity rotation at (3390, 1380, 240) cm from Unreal's transform path gives
    ``"[1 0 0 0] [-0 1 0 0] [0 -0 1 0] [3390 1380 240 1] "``.
    """
    m = np.asarray(m, dtype=np.float64)
    if m.shape != (4, 4):
        raise ValueError(f"format_fmatrix expects a (4, 4) matrix, got shape {m.shape}")
    return _MATRIX_FMT % tuple(m.ravel().tolist())


def parse_fmatrix(text: str) -> np.ndarray:
    """Parse an ``FMatrix::ToString()`` string (tolerant of spacing, commas, exponents) -> ``(4, 4)`` float64.

    Raises:
        FMatrixParseError: if the text is not exactly four bracketed rows of four numbers.
    """
    if not isinstance(text, str):
        raise FMatrixParseError(f"expected a matrix string, got {type(text).__name__}")
    rows = _ROW_RE.findall(text)
    rest = _ROW_RE.sub("", text).strip()
    if len(rows) != 4 or rest:
        raise FMatrixParseError(
            f"expected four rows '[a b c d]' as written by FMatrix::ToString(), got {text[:120]!r}")
    return np.array([[float(v) for v in row] for row in rows], dtype=np.float64)


#: One number as C's ``%g`` writes it (no ``+``, no leading ``.``, lower-case exponent of >= 2 digits, inf/nan).
_G_NUM = r"-?(?:\d+(?:\.\d+)?(?:e[-+]\d{2,})?|inf|nan)"
_G_ROW = r"\[" + _G_NUM + " " + _G_NUM + " " + _G_NUM + " " + _G_NUM + r"\] "
#: The exact ``FMatrix::ToString()`` grammar: ``"[%g %g %g %g] "`` four times, single spaces, trailing space.
FMATRIX_STRICT_RE = re.compile("(?:" + _G_ROW + "){4}", re.ASCII)
_STRICT_EXPECTED = ("expected exactly '[%g %g %g %g] ' four times as written by FMatrix::ToString() (single spaces, "
                    "no commas or tabs, a space after each ']')")


def strict_fmatrix_problem(text) -> str | None:
    """Why ``text`` is not exactly an ``FMatrix::ToString()`` string, or None if it is.

    Upstream's reader (``parse_matrix``: ``strip().split('] [')`` then ``float`` of whitespace-split fields) cannot
    read commas, and misreads double spaces or tabs between rows; ``synth validate`` therefore insists on the exact
    grammar Unreal writes. The message names the first offending character.
    """
    if not isinstance(text, str):
        return f"expected a matrix string, got {type(text).__name__}"
    if FMATRIX_STRICT_RE.fullmatch(text):
        return None
    pos = 0
    row_re = re.compile(_G_ROW, re.ASCII)
    for _ in range(4):
        m = row_re.match(text, pos)
        if not m:
            break
        pos = m.end()
    what = ("a comma" if "," in text else "a tab" if "\t" in text else "a double space" if "  " in text else
            "no space after the last ']'" if FMATRIX_STRICT_RE.fullmatch(text + " ") else
            f"{text[pos:pos + 12]!r} at character {pos}")
    return f"{_STRICT_EXPECTED}; found {what} in {text[:120]!r}"


def parse_fmatrix_strict(text: str) -> np.ndarray:
    """Parse a string that must follow the exact ``FMatrix::ToString()`` grammar -> ``(4, 4)`` float64.

    Used by ``synth validate``; readers keep the tolerant :func:`parse_fmatrix`.

    Raises:
        FMatrixParseError: any deviation (commas, tabs, double spaces, missing trailing space, ``+1``, ``1.``,
            ``1E5``, wrong row count); the message says what was found.
    """
    problem = strict_fmatrix_problem(text)
    if problem is not None:
        raise FMatrixParseError(problem)
    return np.array([float(v) for v in text.replace("[", "").replace("]", "").split()]).reshape(4, 4)

