"""Checks of model weight files before and after they are loaded: a ``.safetensors`` header is read and checked
(length, JSON, dtypes, offsets) before ``safetensors`` maps the file, and loaded weights are checked to be floating
point and finite, so a damaged or hostile file ends in one message naming the file (and the tensor), never in a
traceback, a multi-terabyte allocation or a video of NaNs.

The safetensors format (https://github.com/huggingface/safetensors): 8 bytes little-endian header length ``N``,
``N`` bytes of JSON ``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}``, then the
data; offsets are relative to the end of the header.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Dict, Iterable, Mapping, Tuple

import torch

__all__ = ["WeightFileError", "MAX_HEADER_BYTES", "WEIGHT_DTYPES", "check_safetensors_file", "check_weights",
           "check_named_tensors", "check_diffusers_folder"]

#: safetensors' own limit on the JSON header (``MAX_HEADER_SIZE`` of the Rust crate), bytes
MAX_HEADER_BYTES = 100_000_000
#: safetensors dtype -> bytes per element, for the dtypes model weights may have
WEIGHT_DTYPES: Dict[str, int] = {"F16": 2, "BF16": 2, "F32": 4, "F64": 8}


class WeightFileError(ValueError):
    """A weight file that is not what it claims to be, or holds weights that cannot be used (named)."""


def check_safetensors_file(path: Path | str) -> Dict[str, Tuple[str, Tuple[int, ...]]]:
    """Check a ``.safetensors`` file's header without loading its data.

    Returns:
        tensor name -> (safetensors dtype, shape).

    Raises:
        FileNotFoundError: no such file. WeightFileError: a header length beyond :data:`MAX_HEADER_BYTES` or the
        file, a header that is not the JSON object of the format, a tensor whose dtype is not a floating-point
        weight dtype (:data:`WEIGHT_DTYPES`; e.g. integer-typed weights) or whose offsets do not match its shape
        and the file (each named).
    """
    path = Path(path)
    size = path.stat().st_size
    expect = ("expected a safetensors file: 8-byte header length, JSON header, tensor data")
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise WeightFileError(f"{path}: {size} bytes, too short for a safetensors file ({expect})")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER_BYTES or n > size - 8:
            raise WeightFileError(f"{path}: header length {n} bytes exceeds "
                                  f"{'the limit of %d bytes' % MAX_HEADER_BYTES if n > MAX_HEADER_BYTES else 'the file (%d bytes)' % size}"
                                  f"; not a safetensors file or damaged ({expect})")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WeightFileError(f"{path}: the header is not JSON ({e}); not a safetensors file or damaged "
                              f"({expect})") from None
    if not isinstance(header, dict):
        raise WeightFileError(f"{path}: the header is a JSON {type(header).__name__}, expected an object ({expect})")
    data_bytes = size - 8 - n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = info["dtype"], tuple(info["shape"]), info["data_offsets"]
            ok = all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (*shape, begin, end))
        except (TypeError, KeyError, ValueError):
            ok = False
        if not ok:
            raise WeightFileError(f"{path}: tensor {name!r}: malformed header entry {str(info)[:200]} (expected "
                                  f"dtype, shape and data_offsets)")
        if dtype not in WEIGHT_DTYPES:
            raise WeightFileError(f"{path}: tensor {name!r} has dtype {dtype}; model weights must be floating point "
                                  f"({', '.join(WEIGHT_DTYPES)})")
        if end - begin != math.prod(shape) * WEIGHT_DTYPES[dtype] or end > data_bytes or begin > end:
            raise WeightFileError(f"{path}: tensor {name!r}: data_offsets [{begin}, {end}] do not hold shape "
                                  f"{list(shape)} of {dtype} within the file's {data_bytes} data bytes (damaged or "
                                  f"truncated file)")
        out[name] = (dtype, shape)
    return out


def check_named_tensors(named: Iterable[Tuple[str, torch.Tensor]], source: object) -> None:
    """Refuse weights that are not floating point or not finite, naming the first bad tensor.

    Args:
        named: ``(name, tensor)`` pairs (a state dict's items, ``model.named_parameters()``).
        source: the file or folder they came from (for the message).

    Raises:
        WeightFileError: a tensor of an integer / bool dtype, or one with NaN or infinite values.
    """
    for name, t in named:
        if not isinstance(t, torch.Tensor):
            raise WeightFileError(f"{source}: {name!r} is a {type(t).__name__}, expected a tensor")
        if not t.is_floating_point():
            raise WeightFileError(f"{source}: tensor {name!r} has dtype {t.dtype}; model weights must be floating "
                                  f"point")
        if t.is_meta or t.numel() == 0:
            continue
        finite = torch.isfinite(t)
        if not bool(finite.all()):
            bad = int((~finite).sum())
            raise WeightFileError(f"{source}: tensor {name!r} has {bad} non-finite value(s) (NaN or inf) of "
                                  f"{t.numel()}; the checkpoint is damaged or diverged")


def check_weights(sd: Mapping[str, torch.Tensor], source: object) -> None:
    """:func:`check_named_tensors` over a state dict."""
    check_named_tensors(sd.items(), source)


def check_diffusers_folder(path: Path | str) -> None:
    """Check a diffusers model folder before ``from_pretrained``: a folder (not a file) with ``config.json``, whose
    ``.safetensors`` files pass :func:`check_safetensors_file`.

    Raises:
        FileNotFoundError: no such folder. WeightFileError: a file where a folder is expected, no ``config.json``,
        or a bad ``.safetensors`` (named).
    """
    path = Path(path)
    if path.is_file():
        raise WeightFileError(f"{path}: a file, expected a diffusers transformer folder (config.json + "
                              f"diffusion_pytorch_model*.safetensors); an upstream step*.ckpt or a Wan DiT "
                              f".safetensors file is read as upstream weights (`recam convert SRC DST --to diffusers`,"
                              f" or --ckpt of infer / eval)")
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: not found (expected a diffusers transformer folder with config.json)")
    if not (path / "config.json").is_file():
        raise WeightFileError(f"{path}: no config.json; expected a diffusers transformer folder (config.json + "
                              f"diffusion_pytorch_model*.safetensors)")
    for f in sorted(path.glob("*.safetensors")):
        check_safetensors_file(f)
