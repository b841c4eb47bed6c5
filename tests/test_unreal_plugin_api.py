"""The SynthCV plugin uses only UE / UnrealCV symbols and headers listed in ``ue_plugin/api_symbols.txt`` (each
with where it comes from and the versions it was checked on), and the list has no stale entries; the plugin builds
on UnrealCV with and without ``GetCommandDispatcher()``; the posing, determinism and map-ready code paths exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Optional, Set

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "ue_plugin/SynthCV/Source"
LIST = REPO / "ue_plugin/api_symbols.txt"


def plugin_code(text: Optional[str] = None) -> str:
    """The plugin's C++ (or ``text``) without comments and string literals."""
    if text is None:
        text = "\n".join(p.read_text() for p in sorted(SRC.rglob("*.cpp")) + sorted(SRC.rglob("*.h")))
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r'"(?:[^"\\\n]|\\.)*"', '""', text)


def used_includes() -> Set[str]:
    text = "\n".join(p.read_text() for p in sorted(SRC.rglob("*.cpp")) + sorted(SRC.rglob("*.h")))
    return set(re.findall(r'#include\s+[<"]([^>"]+)[>"]', text))


def used_symbols(text: Optional[str] = None) -> Set[str]:
    """Names the plugin calls (free, ``->``, ``.``, ``::``), engine-style type names (A/U/F/I/E/T + capital),
    engine globals (G + capital) and enumerators written Type::Value or PREFIX_Value."""
    code = plugin_code(text)
    called = re.findall(r"\b([A-Za-z_]\w*)\s*(?:<[^;(){}]*>)?\s*\(", code)
    types = re.findall(r"\b([AUFIET][A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*)\b", code)
    globals_ = re.findall(r"\b(G[A-Z][A-Za-z]+)\b", code)
    enumerators = (re.findall(r"::([A-Z][A-Za-z0-9_]*)\b(?!\s*\()", code)
                   + re.findall(r"\b([A-Z]+_[A-Z][A-Za-z]+)\b", code))
    keywords = {"if", "for", "while", "return", "switch", "sizeof", "decltype", "static_cast", "constexpr", "auto"}
    return {s for s in called + types + globals_ + enumerators if s not in keywords and not s[0].islower()}


def listed() -> Dict[str, Dict[str, str]]:
    sections: Dict[str, Dict[str, str]] = {}
    current = None
    for line in LIST.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        name, origin = line.split()
        assert current is not None, "entry before a section"
        assert origin in ("ue", "unrealcv", "std", "own"), (name, origin)
        current[name] = origin
    return sections


def test_every_symbol_and_header_the_plugin_uses_is_listed_and_none_is_stale():
    lst = listed()
    header = LIST.read_text()
    assert "ec12043" in header and "UE 5.3" in header  # the UnrealCV commit and UE versions checked on
    inc, sym = lst["include"], lst["symbol"]
    assert sorted(used_includes() - set(inc)) == [], "headers not in ue_plugin/api_symbols.txt"
    assert sorted(set(inc) - used_includes()) == [], "stale headers in ue_plugin/api_symbols.txt"
    used = used_symbols()
    assert sorted(used - set(sym)) == [], "symbols not in ue_plugin/api_symbols.txt (check them, then add them)"
    assert sorted(set(sym) - used) == [], "stale symbols in ue_plugin/api_symbols.txt"


def test_the_check_sees_what_a_change_would_add():
    code = 'void F(UWorld* W) { W->SetFooBar(1); UNewThing::Make(); int x = GNewGlobal; // Hidden()\n auto s = TEXT("Q()"); }'
    got = used_symbols(code)
    assert {"SetFooBar", "UNewThing", "Make", "GNewGlobal", "UWorld"} <= got and not {"Hidden", "Q"} & got


def test_plugin_builds_with_and_without_the_dispatcher_getter_and_includes_what_it_uses():
    module = (SRC / "SynthCV/Private/SynthCVModule.cpp").read_text()
    assert "GetCommandDispatcher()" in module and "Server.CommandDispatcher" in module and "if constexpr" in module
    cmds = (SRC / "SynthCV/Private/SynthCommands.cpp").read_text()
    assert "GetPackage()" in cmds and '#include "UObject/Package.h"' in cmds


def test_posing_determinism_and_map_ready_paths_exist():
    code = plugin_code()
    sequence = ["TickAnimation", "RefreshBoneTransforms", "RefreshFollowerComponents", "UpdateComponentToWorld",
                "FinalizeBoneTransform", "MarkRenderTransformDirty", "MarkRenderDynamicDataDirty"]
    pos = [code.index(s + "(") for s in sequence]
    assert pos == sorted(pos), "UE's paused-posing sequence out of order"
    for needed in ["GetMesh()", "bEnableUpdateRateOptimizations = false", "SetForcedLOD(", "SetUseFixedTimeStep(true)",
                   "SetFixedDeltaTime(", "bAlwaysPersistRenderingState", "CaptureScene()", "FSHA1::HashBuffer",
                   "BlockTillLevelStreamingCompleted()", "FlushAsyncLoading()", "FinishAllCompilation()",
                   "BlockTillAllRequestsFinished(", "SetFocalParams(", "OldWorld"]:
        assert needed in code, needed
    find = code[code.index("AActor* FSynthCommands::FindCharacter("):]
    find = find[:find.index("\n}\n")]
    assert "TActorIterator" not in find  # only actors the plugin spawned
