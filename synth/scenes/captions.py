"""Captions generated from a scene's semantics (character, action, environment, camera motion).

Upstream's MultiCamVideo ships no captions; ``metadata.csv`` rows get ``<scene caption> <camera caption>``.
"""

from __future__ import annotations

from typing import Any, Dict

from ..families import get_family
from ..families.base import sentence
from .outfit import character_phrase

__all__ = ["scene_caption", "camera_caption", "speed_phrase", "character_subject"]

_LIGHTING = {
    "default": "",
    "noon": "under bright midday sun",
    "evening": "in warm evening light",
    "overcast": "under an overcast sky",
    "warm_lamp": "lit by warm lamps",
    "daylight_window": "in soft daylight",
    "cool_ceiling": "under cool ceiling lights",
    "industrial": "under industrial lights",
    "dim": "in dim light",
}

def scene_caption(character: str, action: str, environment: str, lighting: str = "default") -> str:
    """``"A tall man in a red jacket waves one arm in a small living room, lit by warm lamps."``"""
    light = _LIGHTING.get(lighting, lighting.replace("_", " "))
    return sentence(f"{character} {action} in {environment}" + (f", {light}" if light else ""))


def character_subject(description: str, params: Dict[str, Any]) -> str:
    """A character's caption subject: for a dressed body (``params.person`` and ``params.look``, see
    :mod:`synth.scenes.outfit`) the hair, clothing and shoe words come from the look the renderer dresses it with;
    other characters use their catalog ``description``."""
    if isinstance(params.get("look"), dict) and isinstance(params.get("person"), str):
        return character_phrase(params["person"], params["look"])
    return description


def speed_phrase(speed: Dict[str, Any]) -> str:
    """``scene.json`` speed entry -> phrase: ``at a constant speed`` / ``starting fast and slowing down`` (a > 0) /
    ``starting slowly and speeding up`` (a < 0)."""
    if speed["profile"] == "constant":
        return "at a constant speed"
    return "starting fast and slowing down" if speed["a"] > 0 else "starting slowly and speeding up"


def camera_caption(family: str, params: Dict[str, Any], speed: Dict[str, Any]) -> str:
    """One sentence describing a camera's motion, from its ``scene.json`` entry (the family's own phrase).

    Raises:
        UnknownFamilyError: (a ``KeyError``) ``family`` is not registered.
    """
    return get_family(family).caption(params, speed_phrase(speed))
