"""A problem found in a dataset or an input file: where (the file, ``file:line`` or ``file[record]``) and what (a
message that starts with the field it concerns and says what was expected). ``synth validate`` and the recam dataset
readers report these instead of raising, so one run lists every broken sample."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Problem"]


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"
