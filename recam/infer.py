"""``recam infer``: re-capture videos along a preset or custom camera trajectory.

Inputs are upstream's layout (``DIR/metadata.csv`` with ``file_name,text`` and ``DIR/videos/<file_name>``) or one
video and its prompt. Outputs: ``<out>/<trajectory>/<name>.mp4`` at the source frame rate, and
``<name>_side_by_side.mp4`` (source | result).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List

import numpy as np
import torch

from synth.core.multicam_format import DatasetFormatError, read_metadata_csv
from synth.core.output_space import check_free_space, check_writable
from synth.core.paths import UnsafePathError, check_name, safe_join
from synth.core.signals import sigterm_as_interrupt
from synth.core.video_io import read_video, write_video

from .cameras import inference_cam_emb
from .video import frames_to_tensor, resize_center_crop

__all__ = ["InferJob", "LoadedJob", "jobs_from_dataset", "load_jobs", "run_inference", "resolve_device_dtype",
           "OFFLOAD_MODES", "place_pipeline", "output_dir_name", "unique_job_names", "check_outputs",
           "OutputExistsError", "write_result_pair", "check_infer_request", "check_output_room", "MAX_SIDE",
           "MAX_FRAMES", "MAX_STEPS", "MAX_GUIDANCE", "output_paths"]

#: ``--offload``: none (everything on the device), model (diffusers' model CPU offload: one component at a time),
#: group (diffusers' group offloading, one transformer block at a time), sequential (accelerate, layer by layer)
OFFLOAD_MODES = ("none", "model", "group", "sequential")


class OutputExistsError(FileExistsError):
    """An output file exists and ``--overwrite`` was not given."""


@dataclass(frozen=True)
class InferJob:
    name: str
    video: Path
    prompt: str


def jobs_from_dataset(dataset_path: Path) -> List[InferJob]:
    """Jobs from upstream's inference layout: ``metadata.csv`` rows ``file_name,text`` -> ``videos/<file_name>``.
    Every ``file_name`` must stay inside ``videos/`` (the check of ``recam prepare``:
    :func:`recam.data.formats.safe_join`); the whole file is checked before any job runs.

    Raises:
        FileNotFoundError: no ``metadata.csv``. DatasetFormatError: malformed CSV, or a row whose ``file_name`` is
        absolute or leaves ``videos/`` (``..``, a symlink out), naming the row.
    """
    from .data.formats import safe_join

    dataset_path = Path(dataset_path)
    meta = dataset_path / "metadata.csv"
    if not meta.is_file():
        raise FileNotFoundError(f"{meta}: not found; --dataset_path expects metadata.csv (file_name,text) and "
                                f"videos/ (upstream's example_test_data layout)")
    jobs = []
    for i, r in enumerate(read_metadata_csv(meta)):
        video = safe_join(dataset_path / "videos", r.file_name)
        if video is None:
            raise DatasetFormatError(f"{meta}: row {i + 2}: file_name {r.file_name!r} escapes the dataset's videos/ "
                                     f"folder (absolute or with ..); expected a path relative to videos/")
        jobs.append(InferJob(Path(r.file_name).stem, video, r.text))
    return jobs


def resolve_device_dtype(device: str, dtype: str):
    """``auto`` device: CUDA if available else CPU; ``auto`` dtype: bf16 on CUDA, fp32 on CPU.

    Raises:
        ValueError: an unknown device or dtype, or a CUDA device on a machine without CUDA (or without that GPU).
    """
    try:
        dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                           ("cpu" if device == "auto" else device))
    except RuntimeError:
        raise ValueError(f"--device must be auto, cpu, cuda or cuda:N; got {device!r}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {device}: CUDA is not available on this machine (torch "
                             f"{torch.__version__}); use --device cpu or install a CUDA build of torch")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) visible")
    table = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
    if dtype == "auto":
        return dev, (torch.bfloat16 if dev.type == "cuda" else torch.float32)
    if dtype not in table:
        raise ValueError(f"--dtype must be one of auto, {', '.join(table)}; got {dtype!r}")
    return dev, table[dtype]


@dataclass(frozen=True)
class LoadedJob:
    job: InferJob
    frames: np.ndarray  # [F, H, W, 3] uint8, resized and centre-cropped
    fps: float


def load_jobs(jobs: List[InferJob], *, num_frames: int, height: int, width: int, start_frame: int = 0,
              stride: int = 1) -> List[LoadedJob]:
    """Read and preprocess every input before any model is loaded, so bad inputs fail fast.

    Raises:
        VideoReadError: an input is unreadable or shorter than ``start_frame + (num_frames - 1) * stride + 1``.
    """
    loaded = []
    for job in jobs:
        frames, fps = read_video(job.video, num_frames, start=start_frame, stride=stride)
        loaded.append(LoadedJob(job, resize_center_crop(frames, height, width), fps / stride))
    return loaded


def output_dir_name(cam_type=None, trajectory: Path = None, camera: str = None) -> str:
    """The results sub-folder of a trajectory source: ``cam_typeN``, the trajectory file's stem, plus ``_<camera>``
    for one camera of a multi-camera JSON (so ``--camera cam09`` and ``--camera cam01`` never share a path).

    Raises:
        UnsafePathError: ``camera`` is not ``camNN`` or the stem is not a plain file name (path policy,
            :mod:`synth.core.paths`: the name becomes a folder under ``--out``).
    """
    name = f"cam_type{cam_type}" if cam_type is not None else check_name(Path(trajectory).stem, "video_name",
                                                                         f"--trajectory {trajectory}: file name")
    return f"{name}_{check_name(camera, 'camera', '--camera')}" if camera else name


def unique_job_names(jobs: List[InferJob]) -> List[InferJob]:
    """Jobs whose videos share a stem (``s0/videos/cam01.mp4``, ``s1/videos/cam01.mp4``) are named by their path
    below the group's common folder, ``videos`` left out (``s0_cam01``), so no result of a run overwrites another.

    Raises:
        ValueError: two jobs read the same video (they would still collide).
    """
    import os
    from collections import defaultdict

    groups = defaultdict(list)
    for j in jobs:
        groups[j.name].append(j)
    rename = {}
    for name, group in groups.items():
        if len(group) < 2:
            continue
        paths = [os.path.abspath(j.video) for j in group]
        if len(set(paths)) < len(paths):
            raise ValueError(f"the same video is listed twice: {group[0].video}")
        common = os.path.commonpath(paths)
        for j, path in zip(group, paths):
            parts = [q for q in Path(os.path.relpath(path, common)).with_suffix("").parts if q != "videos"]
            rename[id(j)] = "_".join(parts)
    return [InferJob(rename.get(id(j), j.name), j.video, j.prompt) for j in jobs]


def output_paths(job: InferJob, out_dir: Path) -> List[Path]:
    """The result and side-by-side paths of ``job`` in ``out_dir``, joined by the path policy.

    Raises:
        UnsafePathError: the job's name is not a plain file name, or a path would leave ``out_dir``.
    """
    return _result_files(job.name, Path(out_dir), f"{job.video}: output name")


def _result_files(name: str, out_dir: Path, where: str) -> List[Path]:
    """``<out_dir>/<name>.mp4`` and ``<name>_side_by_side.mp4`` after the path policy's name check and safe_join."""
    check_name(name, "video_name", where)
    return [safe_join(out_dir, f"{name}.mp4", what="output video"),
            safe_join(out_dir, f"{name}_side_by_side.mp4", what="output video")]


def check_outputs(jobs: List[InferJob], out_dir: Path, overwrite: bool) -> None:
    """Refuse output names that break the path policy, an output that would replace one of the input videos (even
    with ``overwrite``: that destroys the source), and existing results unless ``overwrite``.

    Raises:
        UnsafePathError: a bad name, or an output path equal to an input video (named).
        OutputExistsError: names the first existing file.
    """
    import os

    inputs = {os.path.realpath(j.video): j.video for j in jobs}
    for j in jobs:
        for f in output_paths(j, out_dir):
            if os.path.realpath(f) in inputs:
                raise UnsafePathError(f"--out {out_dir}: the output {f} is the input video "
                                      f"{inputs[os.path.realpath(f)]}; writing it would destroy the source: choose "
                                      f"another --out")
    if overwrite:
        return
    for j in jobs:
        for f in output_paths(j, out_dir):
            if f.exists():
                raise OutputExistsError(f"{f} exists (from an earlier run); pass --overwrite to replace it or "
                                        f"choose another --out")


def place_pipeline(pipe, device: torch.device, offload: str = "none", vae_tiling: bool = False,
                   compile: bool = False) -> None:
    """Put ``pipe`` on ``device`` with diffusers' memory options; the outputs equal ``offload="none"``.

    ``model``: ``enable_model_cpu_offload`` (a whole component on the device while it runs); ``group``:
    ``enable_group_offload`` block level, one transformer block at a time (the VAE and text encoder too); ``sequential``:
    ``enable_group_offload`` leaf level (parameters streamed layer by layer: least memory, slowest). ``vae_tiling``:
    tiled VAE encode/decode. ``compile``: ``torch.compile`` of the repeated transformer blocks.

    Raises:
        ValueError: an unknown ``offload``.
    """
    if offload not in OFFLOAD_MODES:
        raise ValueError(f"--offload must be one of {', '.join(OFFLOAD_MODES)}; got {offload!r}")
    if vae_tiling:
        pipe.vae.enable_tiling()
    if offload == "none":
        pipe.to(device)
    elif offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif offload == "sequential":
        # diffusers' leaf-level group offloading: accelerate's sequential offload, layer by layer, with diffusers'
        # hooks (accelerate's own enable_sequential_cpu_offload breaks inside transformers' UMT5 here)
        pipe.enable_group_offload(onload_device=device, offload_device=torch.device("cpu"), offload_type="leaf_level")
    else:
        pipe.enable_group_offload(onload_device=device, offload_device=torch.device("cpu"),
                                  offload_type="block_level", num_blocks_per_group=1)
    if compile:
        pipe.transformer.compile_repeated_blocks()


def run_inference(pipe, loaded: List[LoadedJob], trajectory: np.ndarray, out_dir: Path, *, steps: int,
                  guidance: float, seed: int, log: Callable[[str], None] = print, write: bool = True) -> List[Path]:
    """Run ``pipe`` on each loaded job with the target ``trajectory`` ``(num_frames, 4, 4)``; writes the result and
    a side-by-side (source | result) video at the source frame rate; returns the result paths. ``write=False``
    (the other ranks of a context-parallel group) runs the pipeline but writes nothing. Each result is written
    with its side-by-side or not at all (:func:`write_result_pair`), also when SIGTERM stops the run."""
    out_dir = Path(out_dir)
    cam = torch.from_numpy(inference_cam_emb(trajectory))
    with sigterm_as_interrupt():  # SIGTERM (a time limit) like Ctrl-C: the pair being written is removed
        return _run_inference(pipe, loaded, cam, out_dir, steps=steps, guidance=guidance, seed=seed, log=log,
                              write=write)


def _run_inference(pipe, loaded: List[LoadedJob], cam: torch.Tensor, out_dir: Path, *, steps: int, guidance: float,
                   seed: int, log: Callable[[str], None], write: bool) -> List[Path]:
    written = []
    for item in loaded:
        t0 = time.perf_counter()
        result = pipe(frames_to_tensor(item.frames)[None], item.job.prompt, cam, num_inference_steps=steps,
                      guidance_scale=guidance, seed=seed).frames[0]
        path = output_paths(item.job, out_dir)[0]
        if write:
            write_result_pair(out_dir, item.job.name, result, np.concatenate([item.frames, result], axis=2),
                              item.fps)
            log(f"{item.job.video.name} -> {path} ({time.perf_counter() - t0:.1f} s, {item.fps:g} fps)")
        written.append(path)
    return written


def write_result_pair(out_dir: Path, name: str, result: np.ndarray, side_by_side: np.ndarray, fps: float) -> None:
    """Write ``<name>.mp4`` and ``<name>_side_by_side.mp4`` together or not at all: both are encoded to hidden
    temporary files first and renamed into place only when both are complete, so a full disk or an interrupt never
    leaves a result without its side-by-side (nor replaces an earlier pair with half a new one).

    Args:
        result: ``(F, H, W, 3)`` uint8 RGB; ``side_by_side``: ``(F, H, 2W, 3)`` uint8 RGB; ``fps``: frame rate (Hz).
    """
    finals = _result_files(name, Path(out_dir), "output name")
    temps = [f.with_name(f".{f.stem}.pending.mp4") for f in finals]
    try:
        write_video(temps[0], result, fps)
        write_video(temps[1], side_by_side, fps)
        for t, f in zip(temps[::-1], finals[::-1]):  # side-by-side first: the result's presence means both are there
            os.replace(t, f)
    finally:
        for t in temps:
            t.unlink(missing_ok=True)


#: ``recam infer`` bounds: sizes (pixels), frames and steps the pipeline is meant for, a finite guidance scale
MAX_SIDE = 2048
MAX_FRAMES = 1025
MAX_STEPS = 1000
MAX_GUIDANCE = 100.0
#: generous estimate of the H.264 bytes per pixel and frame of a result (and of its side-by-side, twice as wide)
_RESULT_BPP = 0.1


def check_infer_request(*, height: int, width: int, num_frames: int, steps: int, guidance: float) -> None:
    """Refuse sizes, frame counts, steps and guidance outside what the pipeline is for, before any allocation
    (``--height 100000 --width 100000`` asked for a 251 GiB frame buffer).

    Raises:
        ValueError: names the option, the value and the bound.
    """
    for opt, v in (("--height", height), ("--width", width)):
        if not 16 <= v <= MAX_SIDE:
            raise ValueError(f"{opt} {v}: expected 16 to {MAX_SIDE} pixels")
    if not 5 <= num_frames <= MAX_FRAMES:
        raise ValueError(f"--num_frames {num_frames}: expected 5 to {MAX_FRAMES} frames (4k + 1)")
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"--steps {steps}: expected 1 to {MAX_STEPS}")
    if not (math.isfinite(guidance) and 0 <= guidance <= MAX_GUIDANCE):
        raise ValueError(f"--guidance {guidance}: expected a finite number from 0 to {MAX_GUIDANCE:g} (1 = off)")


def check_output_room(out_dir: Path, jobs: List[InferJob], *, num_frames: int, height: int, width: int) -> None:
    """Before any compute: ``out_dir`` can be written (a probe file) and its file system has room for every result
    and side-by-side (a generous estimate).

    Raises:
        OutputSpaceError: (a ``ValueError``) names the folder, and for space the bytes needed and free.
    """
    check_writable(out_dir)
    per_job = int(num_frames * height * width * 3 * _RESULT_BPP) + (1 << 20)  # result + side-by-side (2x wide)
    check_free_space(out_dir, per_job * len(jobs) + (64 << 20), f"{len(jobs)} result(s) with their side-by-side")
