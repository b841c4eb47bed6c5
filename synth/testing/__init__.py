"""Test support shipped with the package but outside the runtime path: nothing under ``synth.render`` imports it.

* :mod:`synth.testing.fake_unrealcv`: a server speaking UnrealCV's protocol that renders with the embedded backend,
  for testing the Unreal backend without Unreal (``python -m synth.testing.fake_unrealcv --port 9000``).
"""
