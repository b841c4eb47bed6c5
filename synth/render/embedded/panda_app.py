"""The process-wide Panda3D ``ShowBase`` of the embedded renderer (offscreen through EGL, no window, no audio).

Its own module because both the backend (scene graph, buffers) and the character loader (GLB -> BAM conversion)
need it: kept in ``backend.py`` it made ``characters`` import the backend that imports ``characters`` (a cycle).
"""

from __future__ import annotations

import ctypes
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from ..backend import RenderError

__all__ = ["panda_base", "EglDevice", "egl_devices", "select_egl_device", "EglDeviceError"]

_BASE = None
_EGL_INDEX: Optional[int] = None  # the EGL device index chosen by select_egl_device (None: EGL's default display)
_EGL_NOTE = "default"

# EGL_EXT_device_query / EGL_EXT_device_drm / EGL_NV_device_cuda
_EGL_EXTENSIONS, _EGL_DRM_DEVICE_FILE_EXT, _EGL_CUDA_DEVICE_NV = 0x3055, 0x3233, 0x323A


class EglDeviceError(ValueError):
    """``--gpu N`` names no NVIDIA EGL device here; the message lists what EGL found."""


@dataclass(frozen=True)
class EglDevice:
    """One EGL device (``eglQueryDevicesEXT`` order = Panda3D's ``egl-device-index``).

    Attributes:
        index: position in EGL's list.
        extensions: the device's extension string.
        cuda: its CUDA device ordinal (``EGL_CUDA_DEVICE_NV``; NVIDIA only), else None.
        pci: its PCI address (``0000:3b:00.0``, from its DRM node in sysfs), else None.
    """

    index: int
    extensions: str
    cuda: Optional[int]
    pci: Optional[str]

    @property
    def nvidia(self) -> bool:
        return "EGL_NV_device_cuda" in self.extensions

    @property
    def kind(self) -> str:
        if self.nvidia:
            return "NVIDIA"
        return "software (Mesa)" if "EGL_MESA_device_software" in self.extensions else "other"


def egl_devices() -> List[EglDevice]:
    """Every EGL device of this machine (``libEGL.so.1`` through ctypes; Panda3D is not started). Empty when
    libEGL or its device extensions are missing."""
    try:
        egl = ctypes.CDLL("libEGL.so.1")
    except OSError:
        return []
    gpa = egl.eglGetProcAddress
    gpa.restype, gpa.argtypes = ctypes.c_void_p, [ctypes.c_char_p]

    def fn(name, restype, *argtypes):
        addr = gpa(name.encode())
        return ctypes.CFUNCTYPE(restype, *argtypes)(addr) if addr else None

    query = fn("eglQueryDevicesEXT", ctypes.c_uint, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p),
               ctypes.POINTER(ctypes.c_int))
    qstr = fn("eglQueryDeviceStringEXT", ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int)
    qattr = fn("eglQueryDeviceAttribEXT", ctypes.c_uint, ctypes.c_void_p, ctypes.c_int,
               ctypes.POINTER(ctypes.c_ssize_t))
    if not (query and qstr):
        return []
    n = ctypes.c_int(0)
    if not query(0, None, ctypes.byref(n)) or n.value <= 0:
        return []
    arr = (ctypes.c_void_p * n.value)()
    if not query(n.value, arr, ctypes.byref(n)):
        return []
    out = []
    for i in range(n.value):
        ext = (qstr(arr[i], _EGL_EXTENSIONS) or b"").decode(errors="replace")
        cuda = None
        if "EGL_NV_device_cuda" in ext and qattr:
            v = ctypes.c_ssize_t(-1)
            if qattr(arr[i], _EGL_CUDA_DEVICE_NV, ctypes.byref(v)) and v.value >= 0:
                cuda = int(v.value)
        pci = None
        drm = qstr(arr[i], _EGL_DRM_DEVICE_FILE_EXT) if "EGL_EXT_device_drm" in ext else None
        if drm:
            link = Path("/sys/class/drm") / Path(drm.decode()).name / "device"
            pci = link.resolve().name.lower() if link.exists() else None
        out.append(EglDevice(i, ext, cuda, pci))
    return out


def _nvidia_smi_gpus() -> List[dict]:
    """``[{index, uuid, pci}]`` of every NVIDIA GPU (nvidia-smi; empty without it)."""
    try:
        r = subprocess.run(["nvidia-smi", "--query-gpu=index,uuid,pci.bus_id", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in r.stdout.splitlines() if r.returncode == 0 else []:
        idx, uuid, bus = (x.strip() for x in line.split(","))
        dom, rest = bus.lower().split(":", 1)
        gpus.append({"index": int(idx), "uuid": uuid, "pci": f"{int(dom, 16):04x}:{rest}"})
    return gpus


def select_egl_device(gpu: Optional[int]) -> str:
    """Choose the EGL device the embedded renderer will use (call before :func:`panda_base` starts Panda3D).

    ``gpu`` is a CUDA device index among the visible ones, as torch counts them (``CUDA_VISIBLE_DEVICES=2,3``:
    ``gpu=0`` is physical GPU 2). With ``gpu=None``, ``CUDA_VISIBLE_DEVICES`` alone picks its first device when
    this machine has NVIDIA EGL devices, else EGL's default display (Mesa) is kept. The physical GPU is matched to
    an EGL device by PCI address (nvidia-smi vs the EGL device's DRM node), else by ``EGL_CUDA_DEVICE_NV``, else
    by position among the NVIDIA EGL devices; the method is part of the returned description. Not yet run on a
    multi-GPU node (no GPU was available when this was written).

    Returns:
        a one-line description of the choice (recorded by the GPU check).

    Raises:
        EglDeviceError: ``gpu`` given and no NVIDIA EGL device matches (the message lists EGL's devices).
        RenderError: Panda3D already started on another device in this process.
    """
    global _EGL_INDEX, _EGL_NOTE
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if gpu is None and not visible:
        return _EGL_NOTE
    devices = egl_devices()
    nvidia = [d for d in devices if d.nvidia]
    found = ", ".join(f"#{d.index} {d.kind}" for d in devices) or "none (no libEGL device extensions)"
    want = 0 if gpu is None else gpu
    ids = [v.strip() for v in visible.split(",") if v.strip()] if visible else None
    if not nvidia:
        if gpu is not None:
            raise EglDeviceError(f"--gpu {gpu}: no NVIDIA EGL device on this machine (EGL devices found: {found}); "
                                 f"the NVIDIA driver's libEGL_nvidia and its EGL vendor file are needed")
        return _EGL_NOTE
    if ids is not None and want >= len(ids):
        raise EglDeviceError(f"--gpu {want}: CUDA_VISIBLE_DEVICES={visible} makes only {len(ids)} GPU(s) visible")
    phys = ids[want] if ids is not None else str(want)
    smi = _nvidia_smi_gpus()
    row = next((g for g in smi if phys in (str(g["index"]), g["uuid"]) or g["uuid"].startswith(phys)), None)
    chosen, how = None, ""
    if row is not None:
        chosen = next((d for d in nvidia if d.pci and d.pci == row["pci"]), None)
        how = f"PCI {row['pci']}"
    if chosen is None and phys.isdigit():
        chosen = next((d for d in nvidia if d.cuda == int(phys)), None)
        how = f"EGL_CUDA_DEVICE_NV {phys}"
        if chosen is None and int(phys) < len(nvidia):
            chosen, how = nvidia[int(phys)], f"position {phys} among NVIDIA EGL devices"
    if chosen is None:
        raise EglDeviceError(f"--gpu {want}: no NVIDIA EGL device matches CUDA device {phys} (EGL devices found: "
                             f"{found})")
    note = f"EGL device #{chosen.index} (NVIDIA) for CUDA device {phys}, matched by {how}"
    if _BASE is not None and _EGL_INDEX != chosen.index:
        raise RenderError(f"Panda3D already renders on {_EGL_NOTE}; cannot switch to {note} in this process")
    _EGL_INDEX, _EGL_NOTE = chosen.index, note
    return note


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
    ] + ([f"egl-device-index {_EGL_INDEX}"] if _EGL_INDEX is not None else [])))
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
