"""Describing scenes: the generator config, the asset catalog, the seeded sampler and its recipe extras.

Pure and seeded (Kubric's "scene description / sampling" half): :mod:`.config` (typed YAML recipe),
:mod:`.catalog` (environments, characters, animations), :mod:`.sampling` (scene ``k`` of seed ``s``),
:mod:`.framing` (roll, full-body start), :mod:`.captions`, :mod:`.splits` (eval split seeds). Nothing here
imports a renderer (import-linter contract in ``pyproject.toml``).
"""
