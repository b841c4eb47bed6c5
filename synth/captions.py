"""Captions generated from a scene's semantics (character, action, environment, camera motion).

Upstream's MultiCamVideo ships no captions; ``metadata.csv`` rows get ``<scene caption> <camera caption>``.
"""

from __future__ import annotations

from typing import Any, Dict

__all__ = ["scene_caption", "camera_caption", "speed_phrase"]

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

_MOVE_WORDS = {("camera", "x", 1): "right", ("camera", "x", -1): "left", ("camera", "y", 1): "down",
               ("camera", "y", -1): "up", ("camera", "z", 1): "forward", ("camera", "z", -1): "backward"}


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def scene_caption(character: str, action: str, environment: str, lighting: str = "default") -> str:
    """``"A tall man in a red jacket waves one arm in a small living room, lit by warm lamps."``"""
    light = _LIGHTING.get(lighting, lighting.replace("_", " "))
    return _sentence(f"{character} {action} in {environment}" + (f", {light}" if light else ""))


def speed_phrase(speed: Dict[str, Any]) -> str:
    if speed["profile"] == "constant":
        return "at a constant speed"
    return "starting fast and slowing down" if speed["a"] > 0 else "starting slowly and speeding up"


def camera_caption(family: str, params: Dict[str, Any], speed: Dict[str, Any]) -> str:
    """One sentence describing a camera's motion, from its ``scene.json`` entry."""
    sp = speed_phrase(speed)
    if family == "static":
        return "The camera is static."
    if family == "pan":
        return _sentence(f"the camera pans {params['direction']} by {params['angle_deg']:.0f} degrees {sp}")
    if family == "tilt":
        return _sentence(f"the camera tilts {params['direction']} by {params['angle_deg']:.0f} degrees {sp}")
    if family == "translate":
        word = _MOVE_WORDS.get((params["frame"], params["axis"], params["direction"]))
        if word is None:
            word = f"along {'+' if params['direction'] > 0 else '-'}{params['axis'].upper()}"
        return _sentence(f"the camera moves {word} by {params['distance_m']:.1f} metres {sp}")
    if family == "arc":
        return _sentence(f"the camera arcs {params['angle_deg']:.0f} degrees to the {params['direction']} around "
                         f"the subject {sp}, keeping it in view")
    if family == "random":
        n = params["num_waypoints"]
        return _sentence(f"the camera glides along a smooth {params['length_m']:.1f} metre path through {n} "
                         f"waypoint{'s' if n > 1 else ''} {sp}"
                         + (", keeping the subject in view" if params.get("orientation") == "look_at" else ""))
    raise ValueError(f"unknown trajectory family {family!r}")
