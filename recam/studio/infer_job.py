"""The studio's run button: ``recam infer --trajectory`` on the exported YAML, in a child process.

The child is the ordinary command (``python -m recam.cli infer``), so what the button runs is what a user would
type; its last lines of output are kept for the studio to show.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from synth.core.paths import safe_join

__all__ = ["RunConfig", "infer_command", "run_infer", "result_paths"]


@dataclass(frozen=True)
class RunConfig:
    """What the run button passes to ``recam infer`` beside the video, prompt and trajectory: the model folder,
    weights (``None``: untrained camera modules), output size in pixels (multiples of 16), denoising steps,
    device, output folder."""

    model_dir: Path
    ckpt: Optional[Path] = None
    height: int = 480
    width: int = 832
    steps: int = 50
    device: str = "auto"
    out: Path = Path("results")


def infer_command(cfg: RunConfig, video: Path, prompt: str, trajectory: Path, num_frames: int) -> List[str]:
    """The ``recam infer`` argument list the run button executes."""
    cmd = [sys.executable, "-m", "recam.cli", "infer", "--model-dir", str(cfg.model_dir), "--video", str(video),
           "--prompt", prompt, "--trajectory", str(trajectory), "--num-frames", str(num_frames),
           "--height", str(cfg.height), "--width", str(cfg.width), "--steps", str(cfg.steps),
           "--device", cfg.device, "--out", str(cfg.out), "--overwrite"]
    if cfg.ckpt is not None:
        cmd += ["--ckpt", str(cfg.ckpt)]
    return cmd


def result_paths(cfg: RunConfig, video: Path, trajectory: Path) -> List[Path]:
    """``[result.mp4, side_by_side.mp4]`` that ``recam infer`` writes for this video and trajectory."""
    sub = safe_join(cfg.out, Path(trajectory).stem, what="results folder")
    return [safe_join(sub, f"{Path(video).stem}.mp4"), safe_join(sub, f"{Path(video).stem}_side_by_side.mp4")]


def run_infer(cfg: RunConfig, video: Path, prompt: str, trajectory: Path, num_frames: int,
              timeout: float = 3600.0) -> subprocess.CompletedProcess:
    """Run ``recam infer`` and wait (stdout and stderr captured together, text)."""
    return subprocess.run(infer_command(cfg, video, prompt, trajectory, num_frames), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)
