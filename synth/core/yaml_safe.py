"""YAML loading with limits: every config, catalog, moves and training YAML of the project is read here.

``yaml.safe_load`` never runs code, but it still expands aliases without bound: a 400-byte "billion laughs"
document (``a: &a [x, x, ...]``, ``b: &b [*a, *a, ...]``, ...) becomes billions of nodes once a consumer walks it
(pydantic, ``json.dumps``), and an anchor that refers to itself (``&a [*a]``) builds a recursive list that ends in
``RecursionError`` far from the file. :func:`load_yaml` refuses both, and files larger than :data:`MAX_YAML_BYTES`,
with a :class:`YamlLimitError` naming the file and the limit.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

__all__ = ["MAX_YAML_BYTES", "MAX_ALIASES", "MAX_DEPTH", "MAX_EXPANDED_NODES", "YamlLimitError", "LimitedSafeLoader",
           "load_yaml", "load_yaml_text"]

#: largest YAML file read (bytes): the biggest shipped catalog is ~30 kB; a config is ~3 kB
MAX_YAML_BYTES = 4 * 1024 * 1024
#: aliases (``*name``) a document may use in all; the shipped files use none
MAX_ALIASES = 1000
#: deepest nesting of collections (a config is ~5 levels deep)
MAX_DEPTH = 64
#: nodes of the document once every alias is expanded (what a consumer walking it visits); a config has ~300
MAX_EXPANDED_NODES = 1_000_000


class YamlLimitError(yaml.YAMLError):
    """A YAML document exceeds a limit (size, aliases, nesting) or holds a recursive anchor. A ``YAMLError``, so
    callers that report ``not valid YAML`` report it too; the message states the limit."""


class LimitedSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that counts alias uses (at most :data:`MAX_ALIASES`), refuses an alias that refers to an
    anchor still being built (a recursive structure) and nesting deeper than :data:`MAX_DEPTH`."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._open_anchors: set = set()
        self._depth = 0

    def compose_node(self, parent, index):  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise YamlLimitError(f"more than {MAX_ALIASES} aliases (*name); refusing a document that may expand "
                                     f"without bound (line {event.start_mark.line + 1})")
            if event.anchor in self._open_anchors:
                raise YamlLimitError(f"alias *{event.anchor} refers to its own anchor &{event.anchor} (a recursive "
                                     f"structure; line {event.start_mark.line + 1})")
            return super().compose_node(parent, index)  # a finished anchor: counted by _expanded_size
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise YamlLimitError(f"nested deeper than {MAX_DEPTH} levels (line {event.start_mark.line + 1})")
        if anchor is not None:
            self._open_anchors.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            if anchor is not None:
                self._open_anchors.discard(anchor)


    def compose_document(self):  # type: ignore[override]
        node = super().compose_document()
        _expanded_size(node)
        return node


# YAML 1.1 (PyYAML) reads ``1e-4`` as a string; YAML 1.2 and every other reader as a number. The configs are
# validated strictly (a string is not a number), so resolve exponent floats without a dot as floats too.
LimitedSafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def _expanded_size(root: yaml.Node) -> int:
    """Nodes of ``root`` with every alias expanded (shared nodes counted once per use), without expanding: each
    node's size is computed once (the graph is acyclic: recursive anchors are refused while composing).

    Raises:
        YamlLimitError: more than :data:`MAX_EXPANDED_NODES`.
    """
    sizes: dict = {}
    stack = [(root, False)]
    while stack:  # iterative post-order (no recursion limit)
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.SequenceNode):
            kids = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            kids = [x for kv in node.value for x in kv]
        else:
            sizes[id(node)] = 1
            continue
        if children_done:
            n = 1 + sum(sizes[id(k)] for k in kids)
            if n > MAX_EXPANDED_NODES:
                raise YamlLimitError(f"expands to more than {MAX_EXPANDED_NODES} values once its aliases are "
                                     f"resolved (line {node.start_mark.line + 1}); refusing an alias bomb")
            sizes[id(node)] = n
        else:
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in sizes)
    return sizes[id(root)]


def load_yaml_text(text: str) -> Any:
    """Parse one YAML document with :class:`LimitedSafeLoader` (size checked: at most :data:`MAX_YAML_BYTES`).

    Raises:
        yaml.YAMLError: invalid YAML; :class:`YamlLimitError` for a limit (the message states it).
    """
    if len(text) > MAX_YAML_BYTES:
        raise YamlLimitError(f"{len(text)} characters; at most {MAX_YAML_BYTES} bytes are read")
    loader = LimitedSafeLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def load_yaml(path: Path | str) -> Any:
    """Read and parse the YAML file ``path`` (UTF-8) with limits: at most :data:`MAX_YAML_BYTES` bytes (checked
    before reading), :data:`MAX_ALIASES` aliases, no recursive anchors, :data:`MAX_DEPTH` levels.

    Raises:
        FileNotFoundError, IsADirectoryError, OSError: the file cannot be read.
        UnicodeDecodeError: not UTF-8.
        yaml.YAMLError: invalid YAML; :class:`YamlLimitError` for a limit (the message states it).
    """
    path = Path(path)
    with open(path, "rb") as f:
        data = f.read(MAX_YAML_BYTES + 1)
    if len(data) > MAX_YAML_BYTES:
        raise YamlLimitError(f"larger than {MAX_YAML_BYTES} bytes (the limit for a YAML file)")
    return load_yaml_text(data.decode("utf-8"))
