"""The outfit record of a body: what the embedded renderer dresses an ``anny:`` character with and what its caption
says, both read from the catalog entry's ``params.look`` through :func:`outfit` (one record, so a caption can only
name what is drawn).

``params.look`` keys read here (written by ``synth assets build``, :mod:`synth.assets_build.bodies`):
``top_style`` / ``top_name`` / ``pattern``, ``bottom_style`` / ``bottom_name``, ``shoes_name``, ``hair_style`` /
``hair_name``. Coverage values are fractions along a limb: sleeves from the shoulder (0) to the wrist (1), legs from
the hip (0) to the ankle (1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

__all__ = ["Garment", "Outfit", "TOP_SLEEVE", "BOTTOM_LEG", "HANGING", "HAIR_STYLES", "outfit", "outfit_phrase",
           "character_phrase", "PATTERN_WORDS"]

#: top style -> sleeve length (fraction of shoulder -> wrist)
TOP_SLEEVE = {"t-shirt": 0.38, "long-sleeved shirt": 0.97, "sweater": 1.0, "tank top": 0.0}
#: bottom style -> leg length covered (fraction of hip -> ankle); a hanging garment's hem
BOTTOM_LEG = {"trousers": 1.0, "jeans": 1.0, "shorts": 0.42, "skirt": 0.5, "dress": 0.55}
#: bottoms drawn as one hanging tube around both legs (not a sleeve per leg)
HANGING = frozenset({"skirt", "dress"})
#: hair styles and whether the hair over the scalp reaches below the ears (a ponytail's or bun's hair is combed up
#: to the tie: its tail is a card bundle of its own)
HAIR_STYLES = {"bald": None, "short": False, "long": True, "ponytail": False, "bun": False, "curly": False}
PATTERN_WORDS = {"plain": "", "stripes": "striped", "checks": "checked", "dots": "polka-dot"}


@dataclass(frozen=True)
class Garment:
    """One garment: ``slot`` (``top``, ``bottom``, ``shoes``, ``hair``), ``style`` (e.g. ``t-shirt``, ``skirt``,
    ``long``), ``colour`` (a colour word of the bank's tables), ``pattern`` (``plain`` / ``stripes`` / ``checks`` /
    ``dots``), ``coverage`` (sleeve or leg fraction, see the module docstring; 1.0 for shoes and hair) and
    ``hanging`` (a skirt or dress: one tube around both legs)."""

    slot: str
    style: str
    colour: str
    pattern: str = "plain"
    coverage: float = 1.0
    hanging: bool = False


@dataclass(frozen=True)
class Outfit:
    """A body's garments: ``top`` (for a dress: its bodice), ``bottom`` (trousers, jeans, shorts, skirt, or the
    dress's skirt), ``shoes`` and ``hair`` (``None`` when bald)."""

    top: Garment
    bottom: Garment
    shoes: Garment
    hair: Optional[Garment]

    @property
    def dress(self) -> bool:
        return self.bottom.style == "dress"

    def garments(self) -> Tuple[Garment, ...]:
        return tuple(g for g in (self.top, self.bottom, self.shoes, self.hair) if g is not None)


def outfit(look: Mapping) -> Outfit:
    """The outfit of ``params.look`` (see the module docstring).

    Raises:
        ValueError: an unknown top, bottom or hair style (names the key and the known styles).
    """
    def pick(key, table, default):
        v = str(look.get(key, default))
        if v not in table:
            raise ValueError(f"params.look.{key}: unknown style {v!r}; expected one of {sorted(table)}")
        return v

    top_style = pick("top_style", TOP_SLEEVE, "long-sleeved shirt")
    bottom_style = pick("bottom_style", BOTTOM_LEG, "trousers")
    hair_style = pick("hair_style", HAIR_STYLES, "short")
    pattern = str(look.get("pattern", "plain"))
    if pattern not in PATTERN_WORDS:
        raise ValueError(f"params.look.pattern: unknown pattern {pattern!r}; expected one of {sorted(PATTERN_WORDS)}")
    dress = bottom_style == "dress"
    top = Garment("top", top_style, str(look.get("top_name", "grey")), pattern, TOP_SLEEVE[top_style])
    bottom = Garment("bottom", bottom_style, str(look.get("top_name" if dress else "bottom_name", "grey")),
                     pattern if dress else "plain", BOTTOM_LEG[bottom_style], bottom_style in HANGING)
    shoes = Garment("shoes", "shoes", str(look.get("shoes_name", "black")))
    hair = None if hair_style == "bald" else Garment("hair", hair_style, str(look.get("hair_name", "brown")))
    return Outfit(top, bottom, shoes, hair)


def _a(phrase: str) -> str:
    return f"{'an' if phrase[0] in 'aeiou' else 'a'} {phrase}"


def outfit_phrase(look: Mapping) -> str:
    """Caption words of an outfit: ``"with short brown hair, in a checked green t-shirt, denim jeans and black
    shoes"`` (bald: ``"in ..."`` only; a dress: ``"in a striped yellow dress and white shoes"``; tied hair: ``"with
    brown hair in a ponytail, in ..."``)."""
    o = outfit(look)
    hair = ""
    if o.hair is not None and o.hair.style in ("ponytail", "bun"):
        hair = f"with {o.hair.colour} hair in a {o.hair.style}, "
    elif o.hair is not None:
        hair = f"with {o.hair.style} {o.hair.colour} hair, "
    pat = PATTERN_WORDS[o.top.pattern]
    pat = pat + " " if pat else ""
    if o.dress:
        clothes = _a(f"{pat}{o.bottom.colour} dress")
    else:
        bottom = f"{o.bottom.colour} {o.bottom.style}"
        clothes = f"{_a(f'{pat}{o.top.colour} {o.top.style}')}, {_a(bottom) if o.bottom.hanging else bottom}"
    return f"{hair}in {clothes} and {o.shoes.colour} shoes"


def character_phrase(person: str, look: Mapping) -> str:
    """A body's caption subject from its ``params.person`` (``"tall elderly woman"``) and ``params.look``:
    ``"a tall elderly woman with long grey hair, in a red tank top, black jeans and white shoes"`` (bald:
    ``"a bald man in ..."``)."""
    o = outfit(look)
    return f"{_a(('bald ' if o.hair is None else '') + person)} {outfit_phrase(look)}"
