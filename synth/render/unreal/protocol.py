"""UnrealCV's wire protocol and command grammar (unrealcv/unrealcv branch 5.2; REFERENCE §4), in one place.

* Framing: ``uint32 0x9E2B83C1`` + ``uint32 length`` + payload (little endian); requests ``b"<id>:<command>"``,
  replies ``b"<id>:<body>"``; on connect the server sends ``connected to <project>``.
* Grammar: command templates with ``[str]`` = ``([^ ]*)``, ``[uint]`` = ``(\\d*)``, ``[float]`` =
  ``([-+]?\\d*[.]?\\d+)`` (no exponents, no trailing dot), matched after the verb (``vget``/``vset``/``vbp``/``vrun``);
  replies are ``ok``, a value, or ``error <message>``; at most 32 requests are handled per engine tick.
* ``vget /camera/N/lit bmp`` replies with BITMAPFILEHEADER + BITMAPINFOHEADER (32-bit, negative height = top-down)
  followed by a serialised ``TArray<uint8>`` (an int32 element count, then BGRA pixels).

Our plugin (``ue_plugin/SynthCV``) adds the ``/synth/...`` commands listed in :data:`SYNTH_COMMANDS`.
"""

from __future__ import annotations

import math
import re
import struct
from typing import List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["MAGIC", "MAX_REQUESTS_PER_TICK", "FLOAT_RE", "fmt_float", "check_str", "Grammar", "STOCK_COMMANDS",
           "SYNTH_COMMANDS", "CHARACTER_MASK_RGB", "map_package", "encode_bmp", "decode_bmp", "frame", "read_frame",
           "CHARACTER_NAME", "PLUGIN_VERSION", "CAPTURE_MODES", "rgb_hash"]

MAGIC = 0x9E2B83C1
MAX_REQUESTS_PER_TICK = 32
FLOAT_RE = r"[-+]?\d*[.]?\d+"
PLUGIN_VERSION = "1.1"
#: the name our backend gives the spawned character
CHARACTER_NAME = "synth_character"
#: the object-mask colour our backend gives it (UnrealCV annotates actors present at BeginPlay; a spawned one is
#: annotated by ``vset /object/NAME/color``)
CHARACTER_MASK_RGB = (217, 33, 129)

STOCK_COMMANDS: List[Tuple[str, str]] = [
    ("vget /unrealcv/help", "list command templates and their help (there is no vget /unrealcv/commands)"),
    ("vget /unrealcv/status", "server status"),
    ("vset /action/game/pause", "pause the game"),
    ("vset /action/game/resume", "resume the game"),
    ("vget /action/game/is_paused", "true | false"),
    ("vset /action/game/level [str]", "open a map"),
    ("vget /cameras", "list cameras"),
    ("vset /cameras/spawn", "spawn a camera (returns its name)"),
    ("vget /camera/[uint]/location", "camera location (cm)"),
    ("vset /camera/[uint]/location [float] [float] [float]", "set camera location (cm)"),
    ("vget /camera/[uint]/rotation", "camera rotation (pitch yaw roll, deg)"),
    ("vset /camera/[uint]/rotation [float] [float] [float]", "set camera rotation (pitch yaw roll, deg)"),
    ("vget /camera/[uint]/fov", "horizontal FOV (deg)"),
    ("vset /camera/[uint]/fov [float]", "set horizontal FOV (deg)"),
    ("vget /camera/[uint]/size", "image size"),
    ("vset /camera/[uint]/size [uint] [uint]", "set image size"),
    ("vget /camera/[uint]/lit [str]", "lit image: bmp | png -> binary; a file name -> saved on the server"),
    ("vget /camera/[uint]/depth [str]", "planar depth in cm read from half floats: npy -> binary float32"),
    ("vget /camera/[uint]/object_mask [str]", "object mask: png | bmp -> binary"),
    ("vget /object/[str]/color", "an object's mask colour, FColor::ToString()"),
    ("vset /object/[str]/color [uint] [uint] [uint]", "set an object's mask colour (annotates a spawned actor)"),
]

SYNTH_COMMANDS: List[Tuple[str, str]] = [
    ("vget /synth/version", "plugin version"),
    ("vset /synth/map [str]", "open a map (package path); stock level loading replies before the new world exists"),
    ("vget /synth/map", "the current world's package path and 'ready' once the new world has begun play and level "
                        "streaming, async loading, texture / Nanite streaming and shader compilation are done"),
    ("vset /synth/lighting [str]", "apply a lighting preset (calls the level's SynthSetLighting event)"),
    ("vset /synth/character/spawn [str] [str] [float] [float] [float] [float]",
     "spawn a character: name, asset (skeletal mesh or Blueprint class path), x y z (cm), yaw (deg)"),
    ("vset /synth/character/[str]/animation [str]", "set the character's animation sequence (asset path)"),
    ("vset /synth/character/[str]/time [float]", "pose the character at an animation time (s), game paused"),
    ("vget /synth/character/[str]/bones", "bone world positions: one 'name x y z' (cm) per line"),
    ("vset /synth/character/[str]/destroy", "remove the character"),
    ("vset /synth/camera/[uint]/lens [float] [float] [float] [float]",
     "lens: focal length (mm), sensor width and height (mm), aperture (f-number)"),
    ("vset /synth/capture_mode [str] [uint]",
     "determinism: 'paused' (posed at absolute times) or 'step' (world stepped per frame with a fixed time step), "
     "settle renders per camera and frame (0: temporal effects off)"),
    ("vset /synth/cameras/prepare [str]",
     "every capture camera: focus distance on the named character, then the settle renders (temporal warm-up)"),
    ("vset /synth/step [float]", "step mode: advance the world by one fixed time step of that many seconds (on the "
                                 "next tick; paused again after)"),
    ("vget /synth/step", "fixed time steps still to run (0: done)"),
    ("vget /synth/camera/[uint]/lit_hash", "SHA-1 (hex) of the RGB bytes of a fresh lit capture (determinism check)"),
]

#: ``vset /synth/capture_mode`` modes: the world paused and posed at absolute times, or stepped by 1/fps per frame
CAPTURE_MODES = ("paused", "step")

_TYPES = {"str": r"([^ ]*)", "uint": r"(\d*)", "float": "(" + FLOAT_RE + ")"}


def fmt_float(v: float) -> str:
    """A number in UnrealCV's float grammar (``%.4f``: never an exponent or a trailing dot).

    Raises:
        ValueError: NaN or infinite values (they would never parse).
    """
    v = float(v)
    if not math.isfinite(v):
        raise ValueError(f"cannot send a non-finite number ({v}) to UnrealCV")
    s = f"{v:.4f}"
    return "0.0000" if s == "-0.0000" else s


def check_str(s: str, what: str = "argument") -> str:
    """A string argument must not contain spaces (UnrealCV splits on them) or be empty."""
    if not s or any(c.isspace() for c in s):
        raise ValueError(f"UnrealCV {what} {s!r} must be non-empty without whitespace")
    return s


class Grammar:
    """UnrealCV's command dispatcher: templates -> regexes; ``match(command)`` -> (template, args) or None."""

    def __init__(self, templates: Sequence[str]):
        self.entries = []
        for t in templates:
            verb = t.split(" ", 1)[0]
            rx = re.sub(r"\[(str|uint|float)\]", lambda m: _TYPES[m.group(1)],
                        re.escape(t).replace(r"\[", "[").replace(r"\]", "]"))
            self.entries.append((t, verb, re.compile(rx + r"[ ]*$")))

    def match(self, command: str) -> Optional[Tuple[str, List[str]]]:
        verb = command.split(" ", 1)[0]
        for t, v, rx in reversed(self.entries):  # later registrations win, like UnrealCV
            if v != verb:
                continue
            m = rx.search(command)
            if m:
                return t, list(m.groups())
        return None


def encode_bmp(rgb: np.ndarray) -> bytes:
    """UnrealCV's BMP reply of an ``(H, W, 3)`` uint8 RGB image (see module docstring)."""
    h, w, _ = rgb.shape
    bgra = np.empty((h, w, 4), np.uint8)
    bgra[..., 0], bgra[..., 1], bgra[..., 2], bgra[..., 3] = rgb[..., 2], rgb[..., 1], rgb[..., 0], 255
    pixels = bgra.tobytes()
    file_header = struct.pack("<2sIHHI", b"BM", 14 + 40 + len(pixels), 0, 0, 14 + 40)
    info = struct.pack("<IiiHHIIiiII", 40, w, -h, 1, 32, 0, 0, 1024, 1024, 0, 0)
    return file_header + info + struct.pack("<i", len(pixels)) + pixels


def decode_bmp(data: bytes) -> np.ndarray:
    """UnrealCV BMP reply -> ``(H, W, 3)`` uint8 RGB.

    Accepts UnrealCV's layout (54-byte header, int32 element count, BGRA pixels; ``FImageUtil::ConvertToBmp``) and a
    plain 32-bit BMP (header then pixels, bottom-up when the height is positive).

    Raises:
        ValueError: not a 32-bit BMP, or a size that matches neither layout (truncated or padded reply).
    """
    if len(data) < 54 or data[:2] != b"BM":
        head = data[:60].decode("utf-8", "replace") if isinstance(data, (bytes, bytearray)) else str(data)[:60]
        raise ValueError(f"not a BMP reply: {head!r}")
    w, h = struct.unpack_from("<ii", data, 18)
    bpp = struct.unpack_from("<H", data, 28)[0]
    if bpp != 32 or w <= 0 or h == 0:
        raise ValueError(f"unsupported BMP ({w}x{h}, {bpp} bpp); expected 32-bit BGRA")
    n = w * abs(h) * 4
    if len(data) == 58 + n and struct.unpack_from("<i", data, 54)[0] == n:
        offset = 58
    elif len(data) == 54 + n:
        offset = 54
    else:
        raise ValueError(f"BMP reply of {len(data)} bytes does not hold {w}x{abs(h)} BGRA pixels "
                         f"({54 + n} or {58 + n} bytes expected): truncated or corrupt")
    px = np.frombuffer(data, np.uint8, count=n, offset=offset).reshape(abs(h), w, 4)
    if h > 0:  # bottom-up
        px = px[::-1]
    return np.ascontiguousarray(px[..., 2::-1])  # BGRA -> RGB


def frame(payload: bytes) -> bytes:
    """One framed message."""
    return struct.pack("<II", MAGIC, len(payload)) + payload


def read_frame(sock) -> Optional[bytes]:
    """Read one framed message from a blocking socket; None at EOF.

    Raises:
        ValueError: wrong magic number.
    """
    head = _recv_exact(sock, 8)
    if head is None:
        return None
    magic, n = struct.unpack("<II", head)
    if magic != MAGIC:
        raise ValueError(f"bad magic {magic:#x}")
    return _recv_exact(sock, n)


def _recv_exact(sock, n: int) -> Optional[bytes]:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def map_package(asset: str) -> str:
    """``/Game/Maps/Foo.Foo`` or ``/Game/Maps/Foo`` -> ``/Game/Maps/Foo`` (what ``vget /synth/map`` reports)."""
    return asset.split(".", 1)[0]


def parse_bones(reply: str) -> Tuple[List[str], np.ndarray]:
    """``vget /synth/character/NAME/bones`` reply -> (names, ``(J, 3)`` cm)."""
    names, pts = [], []
    for line in reply.splitlines():
        parts = line.split()
        if len(parts) != 4:
            continue
        names.append(parts[0])
        pts.append([float(v) for v in parts[1:]])
    return names, np.asarray(pts, float).reshape(-1, 3)


def rgb_hash(rgb: np.ndarray) -> str:
    """SHA-1 (lower-case hex) of an ``(H, W, 3)`` uint8 RGB image's bytes, rows top to bottom: what
    ``vget /synth/camera/N/lit_hash`` reports for a capture (``FSHA1`` over R, G, B per pixel)."""
    import hashlib

    return hashlib.sha1(np.ascontiguousarray(rgb, np.uint8).tobytes()).hexdigest()
