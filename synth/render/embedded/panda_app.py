"""The process-wide Panda3D ``ShowBase`` of the embedded renderer (offscreen through EGL, no window, no audio).

Its own module because both the backend (scene graph, buffers) and the character loader (GLB -> BAM conversion)
need it: kept in ``backend.py`` it made ``characters`` import the backend that imports ``characters`` (a cycle).
"""

from __future__ import annotations

from ..backend import RenderError

__all__ = ["panda_base"]

_BASE = None


def panda_base():
    """The process-wide Panda3D ``ShowBase`` (offscreen, no window, no audio)."""
    global _BASE
    if _BASE is not None:
        return _BASE
    from panda3d.core import loadPrcFileData

    loadPrcFileData("synth", "\n".join([
        "load-display p3headlessgl", "window-type none", "audio-library-name null", "sync-video false",
        "notify-level-display error", "notify-level-device fatal", "notify-level-glgsg error",
        "notify-level-gltf error", "notify-level-gobj error", "notify-level-egldisplay error",
        "textures-power-2 none", "default-model-extension .egg", "model-cache-dir", "framebuffer-srgb true",
        "gl-coordinate-system default", "support-threads false",
        "print-pipe-types false",  # makeDefaultPipe prints "Known pipe types:" to stdout (into logs) otherwise
    ]))
    from direct.showbase.ShowBase import ShowBase

    try:
        _BASE = ShowBase(windowType="none")
        _BASE.makeDefaultPipe()
    except Exception as e:  # noqa: BLE001
        raise RenderError(f"cannot start Panda3D offscreen rendering through EGL ({e}); the embedded renderer "
                          f"needs libEGL (Mesa or NVIDIA)") from None
    if _BASE.pipe is None:
        raise RenderError("Panda3D found no graphics pipe (p3headlessgl/EGL); install Mesa's libEGL (libegl1)")
    try:  # the glTF loader registers itself through an entry point; make sure it is active
        import gltf

        gltf.patch_loader(_BASE.loader)
    except Exception:  # noqa: BLE001 - older/newer panda3d-gltf register automatically
        pass
    return _BASE
