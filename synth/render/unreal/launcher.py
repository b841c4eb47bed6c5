"""Starting (or attaching to) a packaged UE5 game that runs the UnrealCV server.

``synth render --backend unreal --ue-binary PATH --map MAP``: writes ``unrealcv.ini`` (port, size) next to the
binary, starts the game off-screen (``-RenderOffScreen``: Vulkan without a display; never ``-nullrhi``, which
renders nothing; port and size also go on the command line, ``-UnrealCVPort=`` etc., which override the ini),
waits for UnrealCV's greeting, restarts the game if it dies, stops it at the end.
``--ue-endpoint HOST:PORT`` attaches to a running game instead. Unreal refuses to run as root. The run's lifecycle
(launch or attach, stop at the end) is the Unreal entry's ``session`` (:mod:`synth.render.backends.unreal`).
"""

from __future__ import annotations

import configparser
import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Optional, Sequence, Tuple

from ..backend import BackendSetupError
from .protocol import read_frame

__all__ = ["UnrealLaunchError", "UELauncher", "probe", "parse_endpoint", "write_unrealcv_ini"]

log = logging.getLogger(__name__)


class UnrealLaunchError(BackendSetupError):
    """The game could not be started or reached; the message says what to check."""


def parse_endpoint(text: str) -> Tuple[str, int]:
    """``HOST:PORT`` -> (host, port).

    Raises:
        UnrealLaunchError: malformed text.
    """
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UnrealLaunchError(f"--ue-endpoint must look like HOST:PORT (e.g. 127.0.0.1:9000), got {text!r}")
    return host, int(port)


def probe(endpoint: Tuple[str, int], timeout: float = 2.0) -> Optional[str]:
    """UnrealCV's greeting (``connected to <project>``) from ``endpoint``, or None if nothing (UnrealCV) answers.
    Note: this occupies the server's single client slot until it returns."""
    try:
        with socket.create_connection(endpoint, timeout=timeout) as s:
            s.settimeout(timeout)
            msg = read_frame(s)
    except (OSError, ValueError):
        return None
    if msg and msg.startswith(b"connected"):
        return msg.decode("utf-8", "replace")
    return None


def write_unrealcv_ini(folder: Path, port: int, width: int, height: int, fov: float = 90.0) -> Path:
    """``unrealcv.ini`` as UnrealCV reads it at start-up: ``[UnrealCV.Core] Port Width Height FOV``."""
    cp = configparser.ConfigParser()
    cp.optionxform = str  # keep UnrealCV's key case
    cp["UnrealCV.Core"] = {"Port": str(port), "Width": str(width), "Height": str(height), "FOV": f"{fov:g}",
                           "EnableInput": "True", "EnableRightEye": "False"}
    path = Path(folder) / "unrealcv.ini"
    with open(path, "w") as f:
        cp.write(f)
    return path


class UELauncher:
    """Owns a game process. ``ensure_running()`` restarts it if it died (at most ``max_restarts`` times)."""

    def __init__(self, binary: Path, ue_map: Optional[str], port: int, width: int, height: int,
                 extra_args: Sequence[str] = (), startup_timeout: float = 300.0, max_restarts: int = 5,
                 allow_root: bool = False, log_path: Optional[Path] = None):
        self.binary = Path(binary)
        self.map, self.port, self.width, self.height = ue_map, port, width, height
        self.extra_args, self.startup_timeout, self.max_restarts = list(extra_args), startup_timeout, max_restarts
        self.allow_root = allow_root
        self.log_path = Path(log_path) if log_path else self.binary.parent / "synth_ue.log"
        self.proc: Optional[subprocess.Popen] = None
        self.restarts = 0

    def command(self) -> list:
        args = [str(self.binary)] + ([self.map] if self.map else [])
        return args + ["-RenderOffScreen", "-unattended", "-nosplash", "-nosound", "-NoVSync", "-windowed",
                       f"-ResX={self.width}", f"-ResY={self.height}", f"-UnrealCVPort={self.port}",
                       f"-UnrealCVWidth={self.width}", f"-UnrealCVHeight={self.height}", "-log"] + self.extra_args

    def start(self) -> None:
        if not self.binary.is_file() or not os.access(self.binary, os.X_OK):
            raise UnrealLaunchError(f"{self.binary}: not an executable (expected the packaged Linux game, e.g. "
                                    f"LinuxNoEditor/<Project>.sh)")
        if hasattr(os, "geteuid") and os.geteuid() == 0 and not self.allow_root:
            raise UnrealLaunchError("Unreal Engine refuses to run as root; run synth render as a normal user")
        write_unrealcv_ini(self.binary.parent, self.port, self.width, self.height)
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), cwd=self.binary.parent, stdout=logf, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.time() + self.startup_timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise UnrealLaunchError(f"the game exited with code {self.proc.returncode} during start-up; see "
                                        f"{self.log_path}")
            if probe(("127.0.0.1", self.port), timeout=1.0):
                log.info("UE game up on port %d (pid %d)", self.port, self.proc.pid)
                return
            time.sleep(0.5)
        self.stop()
        raise UnrealLaunchError(f"no UnrealCV greeting on port {self.port} within {self.startup_timeout:g} s; is the "
                                f"UnrealCV plugin enabled in the packaged game? See {self.log_path}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ensure_running(self) -> None:
        if self.alive():
            return
        if self.proc is not None:
            if self.restarts >= self.max_restarts:
                raise UnrealLaunchError(f"the game died {self.restarts + 1} times; see {self.log_path}")
            self.restarts += 1
            log.warning("the game died (code %s); restarting (%d/%d)", self.proc.returncode, self.restarts,
                        self.max_restarts)
        self.start()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
