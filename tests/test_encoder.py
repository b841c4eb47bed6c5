"""H.264 encoder choice (``--encoder auto|libx264|h264_nvenc``) and the render path's GPU flags.

NVENC tolerance (documented here, checked where NVENC runs: the test is skipped elsewhere, and
``benchmarks/gpu_check.sh --profile encode`` measures it on 1280 x 1280 rendered frames): decoded ``h264_nvenc``
frames (``cq`` = CRF 18, preset p4) against decoded libx264 frames (CRF 18) of the same smooth moving pattern
differ by at most 2.0 grey levels on average and are >= 35 dB PSNR from each other; each is >= 35 dB from the source.
"""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from synth.cli import app
from synth.core.video_io import (ENCODERS, VideoWriter, encoder_options, encoder_usable, probe_video, read_video,
                                 resolve_encoder, write_video)

NVENC, NVENC_WHY = encoder_usable("h264_nvenc")


def _pattern(frames=9, h=256, w=320):
    y, x = np.mgrid[0:h, 0:w].astype(np.float32) / max(h, w)
    out = np.empty((frames, h, w, 3), np.uint8)
    for f in range(frames):
        p = f / frames
        out[f, ..., 0] = 127 + 100 * np.sin(6.28 * (x * 2 + p))
        out[f, ..., 1] = 127 + 100 * np.cos(6.28 * (y * 2 - p))
        out[f, ..., 2] = 60 + 120 * ((x + y) / 2)
    return out


def _psnr(a, b):
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255 ** 2 / mse)


def test_resolve_encoder():
    assert ENCODERS == ("auto", "libx264", "h264_nvenc")
    assert resolve_encoder("libx264") == "libx264"
    assert resolve_encoder("auto") == ("h264_nvenc" if NVENC else "libx264")
    with pytest.raises(ValueError, match="unknown encoder 'x265'"):
        resolve_encoder("x265")
    if not NVENC:
        with pytest.raises(ValueError, match="h264_nvenc.*use --encoder libx264 or auto"):
            resolve_encoder("h264_nvenc")
    assert encoder_usable("libx264") == (True, "")


def test_encoder_options():
    assert encoder_options("libx264", 18, "veryfast") == {"crf": "18", "preset": "veryfast"}
    o = encoder_options("h264_nvenc", 23, "veryfast")
    assert o["cq"] == "23" and o["rc"] == "vbr" and o["preset"] == "p4"  # x264 preset names do not apply


def test_auto_writer_gives_a_decodable_h264_file(tmp_path):
    src = _pattern(5, 64, 96)
    with VideoWriter(tmp_path / "a.mp4", 15, 96, 64, encoder="auto") as w:
        for f in src:
            w.write(f)
    assert w.encoder == resolve_encoder("auto")
    info = probe_video(tmp_path / "a.mp4")
    assert (info.frames, info.width, info.height, info.codec, info.pix_fmt) == (5, 96, 64, "h264", "yuv420p")
    dec, _ = read_video(tmp_path / "a.mp4")
    assert _psnr(dec, src) > 30  # 4:2:0 chroma of a small, colourful frame


@pytest.mark.skipif(not NVENC, reason=f"NVENC not usable here: {NVENC_WHY}")
def test_nvenc_matches_libx264_within_tolerance(tmp_path):
    src = _pattern()
    write_video(tmp_path / "x.mp4", src, fps=15, encoder="libx264")
    write_video(tmp_path / "n.mp4", src, fps=15, encoder="h264_nvenc")
    x, _ = read_video(tmp_path / "x.mp4")
    n, _ = read_video(tmp_path / "n.mp4")
    assert probe_video(tmp_path / "n.mp4").frames == len(src)
    assert np.abs(x.astype(np.int16) - n.astype(np.int16)).mean() <= 2.0
    assert _psnr(n, x) >= 35 and _psnr(n, src) >= 35 and _psnr(x, src) >= 35


def _render_args(tmp_path, *extra):
    return ["render", "--scenes", "1", "--width", "32", "--height", "32", "--frames", "3", "--out",
            str(tmp_path / "o"), *extra]


@pytest.mark.skipif(NVENC, reason="NVENC is usable here: the refusal cannot be shown")
def test_render_refuses_nvenc_where_it_cannot_run(tmp_path):
    r = CliRunner().invoke(app, _render_args(tmp_path, "--encoder", "h264_nvenc"))
    out = " ".join(r.output.split())
    assert r.exit_code == 2 and "--encoder h264_nvenc" in out and "use --encoder libx264 or auto" in out, out
    assert not (tmp_path / "o").exists()


def test_render_gpu_without_nvidia_egl_exits_2_naming_what_was_found(tmp_path):
    from synth.render.embedded.panda_app import egl_devices

    if any(d.nvidia for d in egl_devices()):
        pytest.skip("this machine has an NVIDIA EGL device")
    r = CliRunner().invoke(app, _render_args(tmp_path, "--gpu", "0"))
    out = " ".join(r.output.split())
    assert r.exit_code == 2 and "--gpu 0: no NVIDIA EGL device" in out and "EGL devices found:" in out, out
    assert "Traceback" not in out and not (tmp_path / "o").exists()


def test_cuda_visible_devices_alone_keeps_mesa_without_nvidia_egl(monkeypatch):
    from synth.render.embedded import panda_app

    monkeypatch.setattr(panda_app, "egl_devices", lambda: [panda_app.EglDevice(0, "EGL_MESA_device_software", None,
                                                                               None)])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert panda_app.select_egl_device(None) == panda_app._EGL_NOTE  # unchanged: EGL's default display


def test_gpu_index_maps_through_cuda_visible_devices(monkeypatch):
    """CUDA_VISIBLE_DEVICES=2,3 and --gpu 1 -> physical GPU 3 -> the EGL device on its PCI address."""
    from synth.render.embedded import panda_app

    devs = [panda_app.EglDevice(i, "EGL_NV_device_cuda EGL_EXT_device_drm", None, f"0000:{0x10 + i:02x}:00.0")
            for i in range(4)] + [panda_app.EglDevice(4, "EGL_MESA_device_software", None, None)]
    smi = [{"index": i, "uuid": f"GPU-{i}", "pci": f"0000:{0x10 + (3 - i):02x}:00.0"} for i in range(4)]
    monkeypatch.setattr(panda_app, "egl_devices", lambda: devs)
    monkeypatch.setattr(panda_app, "_nvidia_smi_gpus", lambda: smi)
    monkeypatch.setattr(panda_app, "_BASE", None)
    monkeypatch.setattr(panda_app, "_EGL_INDEX", None)
    monkeypatch.setattr(panda_app, "_EGL_NOTE", "default")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    note = panda_app.select_egl_device(1)
    assert panda_app._EGL_INDEX == 0 and "CUDA device 3" in note and "PCI 0000:10:00.0" in note  # GPU 3 = bus 0x10
    with pytest.raises(panda_app.EglDeviceError, match="only 2 GPU"):
        panda_app.select_egl_device(2)
    # without nvidia-smi: EGL_CUDA_DEVICE_NV, else the position among NVIDIA EGL devices
    monkeypatch.setattr(panda_app, "_nvidia_smi_gpus", lambda: [])
    monkeypatch.setattr(panda_app, "_EGL_INDEX", None)
    assert "position 3" in panda_app.select_egl_device(1) and panda_app._EGL_INDEX == 3
