"""``--device`` / ``--dtype`` of the recam commands resolved to torch objects (shared by ``infer``, ``prepare`` and
``eval`` without importing one another)."""

from __future__ import annotations

import torch

__all__ = ["resolve_device_dtype"]


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
