"""Errors a service function (``synth.render.run.run``, ``recam.infer.run`` ...) raises for its command to turn
into one message and an exit code, so that services never exit the process themselves."""

from __future__ import annotations

__all__ = ["UserError", "RunInterrupted"]


class UserError(Exception):
    """A message for the user (file, field, what was expected) and the command's exit code: 2 bad input (default),
    1 a failed check or a failed rank."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


class RunInterrupted(Exception):
    """Ctrl-C: the service has already said what was kept; the command exits 130."""
