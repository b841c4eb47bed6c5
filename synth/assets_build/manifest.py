"""The asset manifest, for ``synth assets list``: it lives in :mod:`synth.scenes.asset_manifest` (the dataset
writer records it in ``synth_run.json`` and must not import this package, which imports the embedded renderer)."""

from __future__ import annotations

from ..scenes.asset_manifest import asset_manifest, built_manifest

__all__ = ["asset_manifest", "built_manifest"]
