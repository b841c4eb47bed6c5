"""Checking a TCP port before a server starts on it (the studios: viser would silently move to another port)."""

from __future__ import annotations

import errno
import socket

from .run_errors import UserError

__all__ = ["check_port"]


def check_port(host: str, port: int) -> None:
    """Raise :class:`UserError` (exit 2) naming ``--port`` and ``host:port`` when it cannot be bound (in use, or not
    an address of this machine)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as e:
            why = "is in use" if e.errno == errno.EADDRINUSE else f"cannot be used ({e.strerror})"
            raise UserError(f"--port {port}: {host}:{port} {why}; choose another --port") from None
