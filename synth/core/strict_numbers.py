"""Number types of every config model: strict (a YAML ``true`` or ``'23.76'`` is not a number) and finite.

pydantic's default ("lax") mode turns ``max_tries: true`` into 1 and ``sensor_mm: '23.76'`` into 23.76 without a
word, and accepts ``.inf`` / ``.nan`` for any float. These annotated types refuse all three with pydantic's own
messages (``Input should be a valid integer``, ``Input should be a finite number``); an ``int`` is still accepted
where a float is expected (``fps: 15``). Bounds stay on the fields (``Field(ge=..., le=...)``), so the message
states them.
"""

from __future__ import annotations

from typing import Annotated, Tuple

from pydantic import AllowInfNan, Strict

__all__ = ["Float", "Int", "FloatPair"]

#: a finite float; ints accepted, bools and strings refused
Float = Annotated[float, Strict(), AllowInfNan(False)]
#: an int; bools, floats and strings refused
Int = Annotated[int, Strict()]
#: ``(lo, hi)`` of two :data:`Float` (a YAML list of two numbers)
FloatPair = Tuple[Float, Float]
