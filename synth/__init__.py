"""synth: synchronized multi-camera video generation following ReCamMaster's MultiCamVideo recipe.

Submodules: :mod:`synth.core.poses` (the camera-pose type, shared with recam), :mod:`synth.scenes.sampling` (pure
seeded scene sampling), :mod:`synth.core.multicam_format` (dataset format), :mod:`synth.render` (renderer backends),
:mod:`synth.cli`.
"""

__version__ = "0.1.0"
