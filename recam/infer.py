"""``recam infer``: re-capture videos along a preset or custom camera trajectory.

Inputs are upstream's layout (``DIR/metadata.csv`` with ``file_name,text`` and ``DIR/videos/<file_name>``) or one
video and its prompt. Outputs: ``<out>/<trajectory>/<name>.mp4`` at the source frame rate, and
``<name>_side_by_side.mp4`` (source | result).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional

import numpy as np
import torch

from synth.core.multicam_format import DatasetFormatError, read_metadata_csv
from synth.core.output_space import check_free_space, check_writable
from synth.core.paths import UnsafePathError, check_name, safe_join
from synth.core.run_errors import UserError
from synth.core.signals import sigterm_as_interrupt
from synth.core.video_io import read_video, write_video

from .cameras import inference_cam_emb, latent_frame_indices, zoom_intrinsics
from .devices import resolve_device_dtype  # also recam.infer.resolve_device_dtype, as before
from .infer_settings import (CPU_FLOPS, MAX_FRAMES, MAX_GUIDANCE, MAX_SIDE, MAX_STEPS, OFFLOAD_MODES, InferSettings,
                             estimate_flops)
from .video import frames_to_tensor, resize_center_crop

__all__ = ["run", "InferSettings", "InferJob", "LoadedJob", "jobs_from_dataset", "load_jobs", "run_inference",
           "resolve_device_dtype", "OFFLOAD_MODES", "place_pipeline", "output_dir_name", "unique_job_names",
           "check_outputs", "OutputExistsError", "write_result_pair", "check_output_room",
           "MAX_SIDE", "MAX_FRAMES", "MAX_STEPS", "MAX_GUIDANCE", "output_paths"]

#: Estimated seconds on the CPU above which ``recam infer`` says what a run will cost and how to make it smaller.
CPU_WARN_S = 600.0


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
                  guidance: float, seed: int, log: Callable[[str], None] = print, write: bool = True,
                  zoom: Optional[np.ndarray] = None) -> List[Path]:
    """Run ``pipe`` on each loaded job with the target ``trajectory`` ``(num_frames, 4, 4)``; writes the result and
    a side-by-side (source | result) video at the source frame rate; returns the result paths. ``write=False``
    (the other ranks of a context-parallel group) runs the pipeline but writes nothing. Each result is written
    with its side-by-side or not at all (:func:`write_result_pair`), also when SIGTERM stops the run."""
    out_dir = Path(out_dir)
    cam = torch.from_numpy(inference_cam_emb(trajectory))
    intr = None
    if zoom is not None:  # (num_frames,) target focal / source focal (--zoom, or the trajectory's intrinsics file)
        r = np.asarray(zoom, np.float64)[latent_frame_indices(len(trajectory))]
        intr = torch.from_numpy(np.stack([np.log(r), np.log(r), 0 * r, 0 * r], -1).astype(np.float32))
    with sigterm_as_interrupt():  # SIGTERM (a time limit) like Ctrl-C: the pair being written is removed
        return _run_inference(pipe, loaded, cam, out_dir, steps=steps, guidance=guidance, seed=seed, log=log,
                              write=write, intr=intr)


def _run_inference(pipe, loaded: List[LoadedJob], cam: torch.Tensor, out_dir: Path, *, steps: int, guidance: float,
                   seed: int, log: Callable[[str], None], write: bool, intr=None) -> List[Path]:
    written = []
    extra = {} if intr is None else {"cam_intrinsics": intr}
    for item in loaded:
        t0 = time.perf_counter()
        result = pipe(frames_to_tensor(item.frames)[None], item.job.prompt, cam, num_inference_steps=steps,
                      guidance_scale=guidance, seed=seed, **extra).frames[0]
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


#: generous estimate of the H.264 bytes per pixel and frame of a result (and of its side-by-side, twice as wide)
_RESULT_BPP = 0.1


def check_output_room(out_dir: Path, jobs: List[InferJob], *, num_frames: int, height: int, width: int) -> None:
    """Before any compute: ``out_dir`` can be written (a probe file) and its file system has room for every result
    and side-by-side (a generous estimate).

    Raises:
        OutputSpaceError: (a ``ValueError``) names the folder, and for space the bytes needed and free.
    """
    check_writable(out_dir)
    per_job = int(num_frames * height * width * 3 * _RESULT_BPP) + (1 << 20)  # result + side-by-side (2x wide)
    check_free_space(out_dir, per_job * len(jobs) + (64 << 20), f"{len(jobs)} result(s) with their side-by-side")


def run(s: InferSettings, log: Callable[[str], None] = print) -> List[Path]:
    """``recam infer``: re-capture the source video(s) along the requested trajectory into
    ``<s.out>/<trajectory name>/``.

    Returns:
        the result videos written (none on the ranks > 0 of a context-parallel group).

    Raises:
        UserError: a bad trajectory, source video or dataset folder, an existing output without ``--overwrite``,
            an unusable device, a missing or incomplete ``--model-dir``, a context-parallel launch outside
            torchrun (exit 2).
    """
    from synth.core.video_io import VideoReadError

    from .cameras import PRESET_NAMES, TrajectoryError, load_trajectory, trajectory_zoom

    try:
        traj = load_trajectory(s.cam_type if s.cam_type is not None else s.trajectory, s.num_frames, s.camera)
        zoom = zoom_intrinsics(s.zoom, s.num_frames) if s.zoom else \
            trajectory_zoom(s.trajectory, s.num_frames, s.camera) if s.trajectory else None
        out_dir = s.out / output_dir_name(s.cam_type, s.trajectory, s.camera)
        jobs = unique_job_names(jobs_from_dataset(s.dataset_path) if s.dataset_path else
                                [InferJob(s.video.stem, s.video, s.prompt)])
        check_outputs(jobs, out_dir, s.overwrite)
        check_output_room(out_dir, jobs, num_frames=s.num_frames, height=s.height, width=s.width)
        dev, dt = resolve_device_dtype(s.device, s.dtype)
        loaded = load_jobs(jobs, num_frames=s.num_frames, height=s.height, width=s.width, start_frame=s.start_frame,
                           stride=s.stride)
    except (ValueError, TrajectoryError, FileNotFoundError, VideoReadError, OutputExistsError) as e:
        raise UserError(str(e)) from None
    rank, dev = _context_parallel(s, dev)
    if s.cam_type is not None:
        log(f"trajectory {s.cam_type}: {PRESET_NAMES[s.cam_type]}")
    pipe = _pipeline(s, dt, log)
    if zoom is not None and not pipe.transformer.has_intrinsics_condition:
        if s.zoom is not None:
            raise UserError(f"--zoom {s.zoom}: the weights ({s.ckpt or 'none: base Wan2.1'}) have no intrinsics "
                            f"condition; train with model.intrinsics: true (its checkpoints and exports keep it)")
        log("[yellow]warning:[/yellow] the trajectory's focal-length changes (camera_intrinsics.json) are ignored: "
            "the weights have no intrinsics condition")
        zoom = None
    if dev.type == "cpu":
        _warn_cpu_cost(s, pipe.transformer, len(loaded), log)
    recorder = _fast_options(pipe, s, log)
    place_pipeline(pipe, dev, s.offload, vae_tiling=s.vae_tiling, compile=s.compile)
    written = run_inference(pipe, loaded, traj, out_dir, steps=s.steps, guidance=s.guidance, seed=s.seed, log=log,
                            write=rank == 0, zoom=zoom)
    if recorder is not None and rank == 0:
        from .caches import write_mag_ratios

        path = write_mag_ratios(safe_join(out_dir, "mag_ratios.json", what="MagCache ratios"), recorder.ratios,
                                s.steps)
        log(f"MagCache ratios of this checkpoint ({len(recorder.ratios)} steps): {path} (use --cache magcache "
            f"--mag-ratios {path})")
    if s.cp > 1:
        del pipe  # its device mesh holds the gloo/NCCL groups: free it before the group is destroyed
        _leave_context_parallel()
    if rank > 0:
        return []
    log(f"wrote {len(written)} video(s) to [bold]{out_dir.resolve()}[/bold]")
    return written


def _leave_context_parallel() -> None:
    """Tear the process group down in an order that cannot abort at exit: collect the model (its device mesh and
    process groups sit in reference cycles, which otherwise outlive ``destroy_process_group`` and are freed during
    interpreter shutdown with their worker threads still running: "terminate called without an active
    exception"), wait for every rank, then destroy the group (the cause found in ``tests/cp_worker.py``)."""
    import gc

    import torch.distributed as dist

    gc.collect()
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def _context_parallel(s: InferSettings, dev: torch.device):
    """Join the torchrun process group when ``s.cp > 1``: ``(rank, this rank's device)``; ``(0, dev)`` otherwise."""
    if s.cp == 1:
        return 0, dev
    import os

    import torch.distributed as dist

    if not dist.is_initialized():
        if "RANK" not in os.environ:
            raise UserError(f"--cp-ulysses {s.cp_ulysses} --cp-ring {s.cp_ring}: run under torchrun with a "
                            f"multiple of {s.cp} processes (torchrun --nproc_per_node {s.cp} -m recam.cli infer ...)")
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    if dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return dist.get_rank(), dev


def _pipeline(s: InferSettings, dtype: torch.dtype, log: Callable[[str], None]):
    """The ReCamMaster pipeline from ``--model-dir`` and ``--ckpt`` with the attention and context-parallel
    settings (still on the CPU)."""
    from .pipeline import ReCamMasterPipeline

    if not s.model_dir.is_dir():
        raise UserError(f"--model-dir {s.model_dir}: {'is a file' if s.model_dir.exists() else 'does not exist'}; "
                        f"expected a local Wan2.1-T2V-1.3B in diffusers layout (model_index.json, tokenizer/, "
                        f"text_encoder/, vae/, transformer/), e.g. Wan-AI/Wan2.1-T2V-1.3B-Diffusers downloaded "
                        f"beforehand, or `recam init-tiny DIR` for a tiny random one. Nothing is downloaded.")
    try:
        pipe = ReCamMasterPipeline.from_wan(s.model_dir, s.ckpt, torch_dtype=dtype)
    except (FileNotFoundError, ValueError, OSError) as e:
        raise UserError(str(e)) from None
    if s.ckpt is None:
        log("[yellow]warning:[/yellow] no --ckpt: camera modules are zero/identity (base Wan2.1, not trained to "
            "follow cameras)")
    if s.attention_backend:
        pipe.transformer.set_attention_backend(s.attention_backend)
    if s.cp > 1:
        try:
            pipe.transformer.enable_context_parallel(s.cp_ulysses, s.cp_ring)
        except (ValueError, RuntimeError) as e:
            raise UserError(str(e)) from None
    return pipe


def _fast_options(pipe, s: InferSettings, log: Callable[[str], None]):
    """``--lora`` (adapters loaded onto the transformer with their scales) and ``--cache`` (diffusers' hooks,
    :mod:`recam.caches`). Returns the MagCache ratio recorder of ``--cache magcache:calibrate``, else None."""
    from .caches import enable_cache, parse_cache_spec, read_mag_ratios
    from .lora import load_loras, parse_lora_spec

    specs = [parse_lora_spec(t) for t in s.lora]
    spec = parse_cache_spec(s.cache)
    try:
        names = load_loras(pipe.transformer, specs)
        ratios = read_mag_ratios(s.mag_ratios) if s.mag_ratios is not None and spec.kind == "magcache" else None
        recorder = enable_cache(pipe.transformer, spec, steps=s.steps, mag_ratios=ratios, cfg=s.guidance != 1)
    except (FileNotFoundError, ValueError) as e:
        raise UserError(str(e)) from None
    for name, lspec in zip(names, specs):
        log(f"LoRA {lspec.path} (scale {lspec.scale:g}) as adapter {name}")
    if spec.kind != "none":
        log(f"cache: {spec.label} (approximate; docs/evaluation.md, Fast re-capture, gives its measured "
            f"speed-up and error)")
    return recorder


def _warn_cpu_cost(s: InferSettings, transformer, videos: int, log: Callable[[str], None]) -> None:
    """Before a long CPU run: one line with its estimated cost (:func:`estimate_flops` at :data:`CPU_FLOPS`) and
    the flags that make it smaller, when it exceeds :data:`CPU_WARN_S`."""
    cfg = transformer.config
    flops = videos * estimate_flops(s, sum(p.numel() for p in transformer.parameters()), cfg.num_layers,
                                    cfg.num_attention_heads * cfg.attention_head_dim)
    seconds = flops / CPU_FLOPS
    if seconds < CPU_WARN_S:
        return
    from synth.core.progress import format_eta

    log(f"[yellow]warning:[/yellow] {videos} video(s) of {s.num_frames}x{s.height}x{s.width}, {s.steps} steps on the "
        f"CPU: about {flops:.1e} FLOP, roughly {format_eta(seconds)} at {CPU_FLOPS / 1e12:g} TFLOP/s; smaller: "
        f"--num-frames 17 --height 256 --width 256 --steps 10, or --device cuda")
