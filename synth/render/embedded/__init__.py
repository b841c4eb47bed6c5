"""The embedded renderer: Panda3D offscreen through EGL (see ``backend``); its layers are an import-linter contract
(pyproject.toml)."""
