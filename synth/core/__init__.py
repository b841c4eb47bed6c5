"""The shared core of ``synth`` and ``recam``: camera geometry and units, the MultiCamVideo format (file names,
camera JSON, ``metadata.csv``, the typed ``scene.json``), video I/O, atomic writes, progress, sharding, speed
profiles and config-error formatting.

This package imports nothing else of this project (an import-linter contract in ``pyproject.toml`` enforces it);
``recam`` depends on ``synth`` only through it. See ``docs/architecture.md``.
"""
