"""How UnrealCV 5.2 (HEAD ec12043) and our SynthCV plugin format their replies: one table, used by the test server
to answer and by the backend to parse, so that the two cannot drift apart.

Each :class:`ReplyFormat` holds the C ``printf`` format of the value reply (Python's ``%`` operator formats numbers
as C's ``Printf`` does for ``%f``, ``%.3f``, ``%d``, ``%s``) and parses it back. Sources (UnrealCV branch 5.2):

* ``vget /camera/N/location|rotation``: ``FStrFormatter`` (``Utils/StrFormatter.h``) ``"%.3f %.3f %.3f"``;
* ``vget /camera/N/fov``: ``CameraHandler.cpp`` ``Printf("%f")`` (six decimals);
* ``vget /camera/N/size``: ``"%d %d"``;
* ``vget /cameras``: ``"%s "`` per sensor *component* name (the pawn's sensors first, then the others in UObject hash
  order: ``SensorBPLib.cpp GetFusionSensorList``), so a spawned camera is listed as ``FusionCameraSensor``;
* ``vget /object/NAME/color``: ``FColor::ToString()`` ``"(R=%d,G=%d,B=%d,A=%d)"``;
* ``vget /unrealcv/help``: ``"%s\\n%s\\n"`` per (template, help) pair (``PluginHandler.cpp``);
* error texts in :data:`ERRORS` (``FExecStatus::InvalidArgument`` is ``Argument Invalid``).

Units: locations in cm, rotations in degrees (pitch yaw roll), fov horizontal in degrees, sizes in pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence, Tuple

__all__ = ["ReplyFormat", "REPLIES", "ERRORS", "reply", "parse_reply", "error_text", "MapState", "parse_map_state"]


@dataclass(frozen=True)
class ReplyFormat:
    """A value reply: ``item`` formatted once per element with ``sep`` after each (``repeat``) or once (not)."""

    template: str
    item: str
    parse_item: Callable[[str], object]
    repeat: bool = False

    def format(self, *values) -> str:
        """Values -> reply text (one tuple of values per element when ``repeat``)."""
        if self.repeat:
            return "".join(self.item % tuple(v if isinstance(v, tuple) else (v,)) for v in values[0])
        return self.item % values

    def parse(self, text: str):
        """Reply text -> the value (a list of elements when ``repeat``).

        Raises:
            ValueError: the text does not have this format (e.g. an ``error ...`` reply).
        """
        if text.startswith("error"):
            raise ValueError(f"{self.template}: the server replied {text[:120]!r}")
        return self.parse_item(text)


def _floats(n: int) -> Callable[[str], Tuple[float, ...]]:
    def parse(text: str) -> Tuple[float, ...]:
        parts = text.split()
        if len(parts) != n:
            raise ValueError(f"expected {n} numbers, got {text[:80]!r}")
        return tuple(float(p) for p in parts)
    return parse


def _ints(n: int) -> Callable[[str], Tuple[int, ...]]:
    def parse(text: str) -> Tuple[int, ...]:
        parts = text.split()
        if len(parts) != n:
            raise ValueError(f"expected {n} integers, got {text[:80]!r}")
        return tuple(int(p) for p in parts)
    return parse


def _words(text: str) -> List[str]:
    return text.split()


def _color(text: str) -> Tuple[int, int, int, int]:
    inner = text.strip()
    if not (inner.startswith("(") and inner.endswith(")")):
        raise ValueError(f"not an FColor string: {text[:80]!r}")
    vals = dict(kv.split("=", 1) for kv in inner[1:-1].split(","))
    return tuple(int(vals[k]) for k in "RGBA")


def _lines(fields: int) -> Callable[[str], List[List[str]]]:
    def parse(text: str) -> List[List[str]]:
        return [ln.split() for ln in text.splitlines() if len(ln.split()) == fields]
    return parse


def _help(text: str) -> Dict[str, str]:
    lines = text.split("\n")
    return {lines[i]: lines[i + 1] for i in range(0, len(lines) - 1, 2) if lines[i]}


#: command template -> its value reply. Commands not listed reply ``ok`` (or binary data for captures).
REPLIES: Dict[str, ReplyFormat] = {r.template: r for r in [
    ReplyFormat("vget /unrealcv/help", "%s\n%s\n", _help, repeat=True),
    ReplyFormat("vget /cameras", "%s ", _words, repeat=True),
    ReplyFormat("vset /cameras/spawn", "%s", str),
    ReplyFormat("vget /camera/[uint]/location", "%.3f %.3f %.3f", _floats(3)),
    ReplyFormat("vget /camera/[uint]/rotation", "%.3f %.3f %.3f", _floats(3)),
    ReplyFormat("vget /camera/[uint]/fov", "%f", lambda t: _floats(1)(t)[0]),
    ReplyFormat("vget /camera/[uint]/size", "%d %d", _ints(2)),
    ReplyFormat("vget /object/[str]/color", "(R=%d,G=%d,B=%d,A=%d)", _color),
    ReplyFormat("vget /action/game/is_paused", "%s", lambda t: t.strip() == "true"),
    # ours (ue_plugin/SynthCV)
    ReplyFormat("vget /synth/version", "%s", str.strip),
    ReplyFormat("vget /synth/map", "%s %s", lambda t: parse_map_state(t)),
    ReplyFormat("vget /synth/character/[str]/bones", "%s %.4f %.4f %.4f\n", _lines(4), repeat=True),
    ReplyFormat("vget /synth/step", "%d", lambda t: _ints(1)(t)[0]),
    ReplyFormat("vget /synth/camera/[uint]/lit_hash", "%s", str.strip),
]}

#: error texts (after ``error ``), from UnrealCV's handlers and our plugin
ERRORS: Dict[str, str] = {
    "no_handler": "No handler found for URI '%s'",
    "invalid_sensor": "Invalid sensor id",
    "invalid_argument": "Argument Invalid",
    "invalid_filename": "Invalid filename type, filename %s",
    "no_world": "No valid world",
    "no_player_controller": "No player controller",
    "no_object": "Cannot find object",
    "empty_capture": "Captured data is empty",
}


def reply(template: str, *values) -> str:
    """The reply text ``template``'s handler gives for ``values`` (see :data:`REPLIES`)."""
    return REPLIES[template].format(*values)


def parse_reply(template: str, text) -> object:
    """Parse a value reply of ``template`` (bytes are decoded as UTF-8).

    Raises:
        ValueError: an ``error`` reply or a malformed one.
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    return REPLIES[template].parse(str(text))


def error_text(key: str, *args) -> str:
    """``error <message>`` for :data:`ERRORS` ``[key]``."""
    return "error " + (ERRORS[key] % args if args else ERRORS[key])


@dataclass(frozen=True)
class MapState:
    """``vget /synth/map``: the current world's package path and whether it is ready to capture."""

    package: str
    ready: bool


def parse_map_state(text: str) -> MapState:
    parts = str(text).split()
    if len(parts) != 2 or parts[1] not in ("ready", "loading"):
        raise ValueError(f"vget /synth/map: expected '<package> ready|loading', got {str(text)[:80]!r}")
    return MapState(parts[0], parts[1] == "ready")


def format_help(pairs: Sequence[Tuple[str, str]]) -> str:
    """``vget /unrealcv/help``'s reply for (template, help) pairs."""
    return REPLIES["vget /unrealcv/help"].format(list(pairs))
