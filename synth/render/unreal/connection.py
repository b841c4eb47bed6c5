"""A guarded ``unrealcv.Client``: batches with a timeout, ``error`` replies as exceptions, discard on any fault.

UnrealCV's client answers requests strictly in order; after a timeout the late reply would be taken as the answer
to the *next* request (REFERENCE §4). So after any timeout or connection error the client is disconnected and
dropped, and the caller reconnects with a new one.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import queue
import threading
import warnings
from typing import List, Optional, Sequence, Tuple, Union

from ..backend import RetryableRenderError
from .protocol import MAX_REQUESTS_PER_TICK

__all__ = ["Connection", "UnrealCVError", "UnrealCVFault", "RetryableRenderError"]

log = logging.getLogger(__name__)
Reply = Union[str, bytes]


class UnrealCVFault(RetryableRenderError):
    """Timeout, dropped connection or a server restart."""


class UnrealCVError(RetryableRenderError):
    """The server replied ``error ...``; carries the command and the reply."""

    def __init__(self, command: str, reply: str):
        super().__init__(f"UnrealCV rejected {command!r}: {reply}")
        self.command, self.reply = command, reply


@functools.lru_cache(maxsize=None)
def _client_class():
    """``unrealcv.Client`` whose receive thread ends quietly when the connection ends (imported on first use).

    The stock client, on a read that returns nothing (the server closed the socket, or :meth:`Connection.discard`
    shut it down), reads the same blocking socket again 10 times with a backoff of up to 8 s (~56 s) and then raises
    ``ConnectionError('Failed to reconnect ...')`` in its receive thread: a thread that outlives the connection by a
    minute and ends in an unhandled exception (pytest reports it in whatever test runs then). Re-reading a closed
    socket never succeeds (it has no timeout: an empty read means end of stream), and a fault here is handled by
    discarding the client and connecting a new one, so: no retries, and the receive loop's exception is handed to
    the request waiting on the reply queue (the stock client already queues it) instead of escaping the thread.
    """
    from unrealcv import Client

    class _Client(Client):
        RECONNECT_ATTEMPTS = 0

        def receive_loop_queue(self):
            try:
                super().receive_loop_queue()
            except ConnectionError:  # the end of this connection, already queued for the waiting request
                pass
            except Exception as e:  # noqa: BLE001 - e.g. a reply id mismatch: queued; Connection.batch raises the fault
                self.recv_data_q.put(ConnectionError(f"{type(e).__name__}: {e}"))

    return _Client


class Connection:
    """One client connection to an UnrealCV server at ``endpoint = (host, port)``."""

    def __init__(self, endpoint: Tuple[str, int], timeout: float = 30.0):
        self.endpoint, self.timeout = endpoint, timeout
        self.client = None

    def connect(self) -> None:
        """Connect (the server greets with ``connected to <project>``).

        Raises:
            UnrealCVFault: nothing answers at the endpoint.
        """
        logging.getLogger("unrealcv").setLevel(logging.WARNING)  # its INFO lines would flood the progress output
        client = _client_class()(self.endpoint)
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ok = client.connect(timeout=min(self.timeout, 10.0))
        if not ok:
            raise UnrealCVFault(f"no UnrealCV server answers at {self.endpoint[0]}:{self.endpoint[1]}")
        self.client = client

    @property
    def connected(self) -> bool:
        return self.client is not None and self.client.isconnected()

    def discard(self) -> None:
        """Drop the client; wake a thread blocked on its reply queue."""
        client, self.client = self.client, None
        if client is None:
            return
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                client.disconnect()
        except OSError:
            pass
        for _ in range(MAX_REQUESTS_PER_TICK):
            client.recv_data_q.put(ConnectionError("connection discarded"))

    def batch(self, commands: Sequence[str], timeout: Optional[float] = None) -> List[Reply]:
        """Send commands as one batch and return the replies in order.

        Raises:
            UnrealCVFault: no (complete) reply within ``timeout`` seconds or a dropped connection (the client is
                discarded). UnrealCVError: a reply ``error ...`` (names the command).
        """
        if not self.connected:
            raise UnrealCVFault("not connected")
        if len(commands) > MAX_REQUESTS_PER_TICK:
            raise ValueError(f"{len(commands)} commands in one batch; UnrealCV handles {MAX_REQUESTS_PER_TICK} per tick")
        timeout = self.timeout if timeout is None else timeout
        result: "queue.Queue" = queue.Queue()
        client = self.client

        def work():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    result.put(client.request_batch(list(commands)))
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                result.put(e)

        threading.Thread(target=work, daemon=True, name="unrealcv-batch").start()
        try:
            replies = result.get(timeout=timeout)
        except queue.Empty:
            self.discard()
            raise UnrealCVFault(f"no reply within {timeout:g} s to {commands[0]!r} (+{len(commands) - 1} more); "
                                f"connection discarded") from None
        if isinstance(replies, BaseException):
            self.discard()
            raise UnrealCVFault(f"connection lost during {commands[0]!r}: {replies}") from None
        for cmd, rep in zip(commands, replies):
            if rep is None:
                self.discard()
                raise UnrealCVFault(f"connection lost during {cmd!r}")
            if isinstance(rep, str) and rep.startswith("error"):
                raise UnrealCVError(cmd, rep)
        return replies

    def request(self, command: str, timeout: Optional[float] = None) -> Reply:
        return self.batch([command], timeout)[0]

    def close(self) -> None:
        self.discard()
