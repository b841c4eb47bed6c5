"""``recam infer``: re-capture videos along a preset or custom camera trajectory.

Inputs are upstream's layout (``DIR/metadata.csv`` with ``file_name,text`` and ``DIR/videos/<file_name>``) or one
video and its prompt. Outputs: ``<out>/<trajectory>/<name>.mp4`` at the source frame rate, and
``<name>_side_by_side.mp4`` (source | result).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List

import numpy as np
import torch

from synth.core.multicam_format import read_metadata_csv
from synth.core.video_io import read_video, write_video

from .cameras import inference_cam_emb
from .video import frames_to_tensor, resize_center_crop

__all__ = ["InferJob", "LoadedJob", "jobs_from_dataset", "load_jobs", "run_inference", "resolve_device_dtype"]


@dataclass(frozen=True)
class InferJob:
    name: str
    video: Path
    prompt: str


def jobs_from_dataset(dataset_path: Path) -> List[InferJob]:
    """Jobs from upstream's inference layout: ``metadata.csv`` rows ``file_name,text`` -> ``videos/<file_name>``.

    Raises:
        FileNotFoundError: no ``metadata.csv``. DatasetFormatError: malformed CSV.
    """
    dataset_path = Path(dataset_path)
    meta = dataset_path / "metadata.csv"
    if not meta.is_file():
        raise FileNotFoundError(f"{meta}: not found; --dataset_path expects metadata.csv (file_name,text) and "
                                f"videos/ (upstream's example_test_data layout)")
    return [InferJob(Path(r.file_name).stem, dataset_path / "videos" / r.file_name, r.text)
            for r in read_metadata_csv(meta)]


def resolve_device_dtype(device: str, dtype: str):
    """``auto`` device: CUDA if available else CPU; ``auto`` dtype: bf16 on CUDA, fp32 on CPU."""
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
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


def run_inference(pipe, loaded: List[LoadedJob], trajectory: np.ndarray, out_dir: Path, *, steps: int,
                  guidance: float, seed: int, log: Callable[[str], None] = print) -> List[Path]:
    """Run ``pipe`` on each loaded job with the target ``trajectory`` ``(num_frames, 4, 4)``; writes the result and
    a side-by-side (source | result) video at the source frame rate; returns the result paths."""
    out_dir = Path(out_dir)
    cam = torch.from_numpy(inference_cam_emb(trajectory))
    written = []
    for item in loaded:
        t0 = time.perf_counter()
        result = pipe(frames_to_tensor(item.frames)[None], item.job.prompt, cam, num_inference_steps=steps,
                      guidance_scale=guidance, seed=seed).frames[0]
        path = write_video(out_dir / f"{item.job.name}.mp4", result, item.fps)
        write_video(out_dir / f"{item.job.name}_side_by_side.mp4", np.concatenate([item.frames, result], axis=2),
                    item.fps)
        log(f"{item.job.video.name} -> {path} ({time.perf_counter() - t0:.1f} s, {item.fps:g} fps)")
        written.append(path)
    return written
