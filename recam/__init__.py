"""recam: ReCamMaster on diffusers' Wan2.1 — model, pipeline, cameras, data and training.

Submodules: :mod:`recam.model` (``ReCamMasterTransformer3DModel``), :mod:`recam.pipeline`
(``ReCamMasterPipeline``), :mod:`recam.cameras`, :mod:`recam.convert`, :mod:`recam.scheduler`.
"""

__version__ = "0.1.0"
