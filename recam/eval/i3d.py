"""The I3D network of FVD defined in this project, loaded from a safetensors state dict (no file runs code).

Why: the field's FVD feature extractor is distributed as TorchScript (``i3d_torchscript.pt`` of StyleGAN-V), and a
TorchScript file is a program: its ``forward`` can open and overwrite files (issue hardening-2). Here the network
is ours and the file holds only tensors:

* :class:`InceptionI3d`: Inception-v1 I3D (Carreira & Zisserman 2017, "Quo Vadis, Action Recognition?") with the
  module and parameter names of the PyTorch port ``piergiaj/pytorch-i3d`` (``Conv3d_1a_7x7.conv3d.weight``,
  ``Mixed_3b.b1b.bn.running_mean``, ..., ``logits.conv3d.bias``), which the PyTorch FVD implementations (VideoGPT,
  TATS, StyleGAN-V's port of the TensorFlow FVD) share; TensorFlow "SAME" padding computed per input, batch norm
  with eps 1e-3;
* the features of FVD are the 400 Kinetics logits averaged over time (the TensorFlow FVD's ``averaged_logits``),
  called with the TorchScript file's contract ``model(x, rescale=False, resize=False, return_features=True)``,
  ``x`` float32 ``(B, 3, T, 224, 224)`` in [-1, 1], T >= 9 (the final 2 x 7 x 7 average pool needs 2 time steps
  after the 8x temporal downsampling);
* :func:`load_i3d_safetensors` reads ``.safetensors`` only (header size capped, float tensors only, every value
  finite, exact names and shapes); the architecture's width and class count are read from the tensor shapes
  (``width`` divides every channel count: tests use tiny instances of the same topology, ``width=8``).

Trusted one-off conversion (runs the TorchScript file's code: do it only for a file you trust, once)::

    python -m recam.eval.i3d i3d_torchscript.pt i3d.safetensors --trust-model-code

copies the TorchScript module's state dict into :class:`InceptionI3d` (refused unless every name and shape
matches) and writes the safetensors file that ``recam eval --fvd-i3d i3d.safetensors`` then uses.
"""

from __future__ import annotations

import json
import os
import struct
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["InceptionI3d", "I3DFileError", "MAX_HEADER_BYTES", "sniff_model_file", "load_i3d_safetensors",
           "save_i3d_safetensors", "convert_torchscript_to_safetensors", "main"]

#: safetensors header cap: the real I3D's header is ~30 KB; a forged 8-byte length must not allocate gigabytes
MAX_HEADER_BYTES = 1 << 24
#: channel counts of the Inception modules (pytorch-i3d): b0, b1a, b1b, b2a, b2b, b3b
_MIXED: Sequence[Tuple[str, Tuple[int, int, int, int, int, int]]] = (
    ("Mixed_3b", (64, 96, 128, 16, 32, 32)), ("Mixed_3c", (128, 128, 192, 32, 96, 64)),
    ("Mixed_4b", (192, 96, 208, 16, 48, 64)), ("Mixed_4c", (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", (128, 128, 256, 24, 64, 64)), ("Mixed_4e", (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", (256, 160, 320, 32, 128, 128)), ("Mixed_5b", (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", (384, 192, 384, 48, 128, 128)))


class I3DFileError(ValueError):
    """An I3D weights file is refused or malformed; the message names the file and what was expected."""


def _same_pad(x: torch.Tensor, kernel: List[int], stride: List[int]) -> torch.Tensor:
    """TensorFlow "SAME" padding of a ``(B, C, T, H, W)`` tensor: total ``max(k - s, 0)`` (``max(k - n % s, 0)``
    when ``s`` does not divide ``n``), the extra element at the back."""
    pads: List[int] = []
    for d in (2, 1, 0):  # F.pad takes the last dimension first
        n = x.shape[2 + d]
        total = max(kernel[d] - stride[d], 0) if n % stride[d] == 0 else max(kernel[d] - n % stride[d], 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class _Unit3D(nn.Module):
    """Conv3d (no bias unless ``bias``) + optional batch norm (eps 1e-3) + optional ReLU, "SAME" padded."""

    def __init__(self, cin: int, cout: int, kernel: Sequence[int] = (1, 1, 1), stride: Sequence[int] = (1, 1, 1),
                 bn: bool = True, relu: bool = True, bias: bool = False):
        super().__init__()
        self.kernel, self.stride, self.relu = list(kernel), list(stride), relu
        self.conv3d = nn.Conv3d(cin, cout, tuple(kernel), tuple(stride), padding=0, bias=bias)
        self.bn = nn.BatchNorm3d(cout, eps=1e-3, momentum=0.01) if bn else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv3d(_same_pad(x, self.kernel, self.stride)))
        return F.relu(x) if self.relu else x


class _Pool(nn.Module):
    """Max pooling with "SAME" padding (zeros, as pytorch-i3d: inputs after ReLU are >= 0)."""

    def __init__(self, kernel: Sequence[int], stride: Sequence[int]):
        super().__init__()
        self.kernel, self.stride = list(kernel), list(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool3d(_same_pad(x, self.kernel, self.stride), self.kernel, self.stride)


class _Mixed(nn.Module):
    """Inception module: 1x1 | 1x1 -> 3x3x3 | 1x1 -> 3x3x3 | 3x3x3 max pool -> 1x1, concatenated on channels."""

    def __init__(self, cin: int, c: Sequence[int]):
        super().__init__()
        self.b0 = _Unit3D(cin, c[0])
        self.b1a, self.b1b = _Unit3D(cin, c[1]), _Unit3D(c[1], c[2], (3, 3, 3))
        self.b2a, self.b2b = _Unit3D(cin, c[3]), _Unit3D(c[3], c[4], (3, 3, 3))
        self.b3a, self.b3b = _Pool((3, 3, 3), (1, 1, 1)), _Unit3D(cin, c[5])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], 1)


class InceptionI3d(nn.Module):
    """Inception-v1 I3D (RGB stream) with pytorch-i3d's parameter names.

    Args:
        num_classes: logits (400 for Kinetics-400, the FVD features).
        width: every channel count is divided by it (1: the standard network; 2, 4 or 8: a smaller network of the
            same topology, for tests).

    ``forward(x, rescale=False, resize=False, return_features=True)``: ``x`` float32 ``(B, 3, T, 224, 224)`` in
    [-1, 1] with T >= 9 -> ``(B, num_classes)`` logits averaged over time (``return_features``), else their
    softmax. ``rescale`` / ``resize`` must be False: callers preprocess (:func:`recam.eval.fvd.preprocess_videos`).
    """

    def __init__(self, num_classes: int = 400, width: int = 1):
        super().__init__()
        if num_classes < 1 or width < 1 or any(ch % width for _, cs in _MIXED for ch in cs) or 64 % width:
            raise ValueError(f"InceptionI3d: num_classes >= 1 and a width dividing every channel count (1, 2, 4 or "
                             f"8) expected; got num_classes={num_classes}, width={width}")
        self.num_classes, self.width = int(num_classes), int(width)
        w = width
        self.Conv3d_1a_7x7 = _Unit3D(3, 64 // w, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = _Pool((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = _Unit3D(64 // w, 64 // w)
        self.Conv3d_2c_3x3 = _Unit3D(64 // w, 192 // w, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = _Pool((1, 3, 3), (1, 2, 2))
        cin = 192 // w
        mixed = {}
        for name, cs in _MIXED:
            cs = tuple(ch // w for ch in cs)
            mixed[name] = _Mixed(cin, cs)
            cin = cs[0] + cs[2] + cs[4] + cs[5]
        self.Mixed_3b, self.Mixed_3c = mixed["Mixed_3b"], mixed["Mixed_3c"]
        self.MaxPool3d_4a_3x3 = _Pool((3, 3, 3), (2, 2, 2))
        self.Mixed_4b, self.Mixed_4c, self.Mixed_4d = mixed["Mixed_4b"], mixed["Mixed_4c"], mixed["Mixed_4d"]
        self.Mixed_4e, self.Mixed_4f = mixed["Mixed_4e"], mixed["Mixed_4f"]
        self.MaxPool3d_5a_2x2 = _Pool((2, 2, 2), (2, 2, 2))
        self.Mixed_5b, self.Mixed_5c = mixed["Mixed_5b"], mixed["Mixed_5c"]
        self.logits = _Unit3D(cin, num_classes, bn=False, relu=False, bias=True)

    def logits_over_time(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, T, 224, 224)`` -> ``(B, num_classes, T')`` logits per time step (T' = ceil(T / 8) - 1)."""
        x = self.MaxPool3d_2a_3x3(self.Conv3d_1a_7x7(x))
        x = self.MaxPool3d_3a_3x3(self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(x)))
        x = self.MaxPool3d_4a_3x3(self.Mixed_3c(self.Mixed_3b(x)))
        x = self.Mixed_4f(self.Mixed_4e(self.Mixed_4d(self.Mixed_4c(self.Mixed_4b(x)))))
        x = self.Mixed_5c(self.Mixed_5b(self.MaxPool3d_5a_2x2(x)))
        x = F.avg_pool3d(x, [2, 7, 7], [1, 1, 1])  # 7 x 7 = 224 / 32: the network's input size is fixed
        return self.logits(x).squeeze(4).squeeze(3)

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False,
                return_features: bool = True) -> torch.Tensor:
        if rescale or resize:
            raise ValueError("InceptionI3d: preprocess the videos first (rescale=False, resize=False)")
        if x.dim() != 5 or x.shape[1] != 3 or x.shape[3] != 224 or x.shape[4] != 224 or x.shape[2] < 9:
            raise ValueError(f"InceptionI3d: expected (B, 3, T >= 9, 224, 224), got {list(x.shape)}")
        f = self.logits_over_time(x).mean(dim=2)
        return f if return_features else torch.softmax(f, dim=-1)


# ------------------------------------------------------------------------------------------------------------------
# Files
# ------------------------------------------------------------------------------------------------------------------


def sniff_model_file(path: Path) -> str:
    """What a weights file is, from its bytes and zip listing only (nothing is loaded or run):
    ``safetensors``, ``torchscript`` (a zip with ``code/``), ``pickle`` (a ``torch.save`` zip or a raw pickle) or
    ``unknown``."""
    import zipfile

    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) == 9 and head[8:9] == b"{":
        return "safetensors"
    if head[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, OSError):
            return "unknown"
        if any("/code/" in n or n.startswith("code/") for n in names):
            return "torchscript"
        return "pickle" if any(n.endswith(".pkl") for n in names) else "unknown"
    return "pickle" if head[:1] == b"\x80" else "unknown"


def _read_header(path: Path) -> Dict[str, dict]:
    """The JSON header of a safetensors file, size-checked before it is read."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise I3DFileError(f"{path}: {size} bytes; not a safetensors file")
        n = struct.unpack("<Q", raw)[0]
        if n > MAX_HEADER_BYTES or 8 + n > size:
            raise I3DFileError(f"{path}: safetensors header of {n} bytes (file {size} bytes); expected at most "
                               f"{MAX_HEADER_BYTES} bytes inside the file")
        try:
            header = json.loads(f.read(n))
        except ValueError as e:
            raise I3DFileError(f"{path}: safetensors header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise I3DFileError(f"{path}: safetensors header is not an object")
    header.pop("__metadata__", None)
    return header


def load_i3d_safetensors(path: Path, device: str = "cpu") -> InceptionI3d:
    """:class:`InceptionI3d` (eval mode, on ``device``) with the state dict of a ``.safetensors`` file.

    The width and class count come from ``Conv3d_1a_7x7.conv3d.weight`` ``(64 / width, 3, 7, 7, 7)`` and
    ``logits.conv3d.weight`` ``(num_classes, C, 1, 1, 1)``.

    Raises:
        I3DFileError: not safetensors, a header over :data:`MAX_HEADER_BYTES`, non-float or non-finite tensors
            (named), missing / unexpected names or wrong shapes (named).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    header = _read_header(path)
    for name, info in header.items():
        if name.endswith(".num_batches_tracked") and isinstance(info, dict) and info.get("dtype") == "I64" \
                and info.get("shape") == []:
            continue  # batch-norm's step counter (unused in eval mode): the one integer a state dict may hold
        if not isinstance(info, dict) or info.get("dtype") not in ("F16", "BF16", "F32", "F64"):
            raise I3DFileError(f"{path}: tensor {name}: dtype {info.get('dtype') if isinstance(info, dict) else info!r}"
                               f"; expected floating point weights")
    try:
        first, logits = header["Conv3d_1a_7x7.conv3d.weight"]["shape"], header["logits.conv3d.weight"]["shape"]
        width, num_classes = 64 // int(first[0]), int(logits[0])
        model = InceptionI3d(num_classes, width)
    except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError) as e:
        raise I3DFileError(f"{path}: not an InceptionI3d state dict (pytorch-i3d names: Conv3d_1a_7x7.conv3d.weight, "
                           f"..., logits.conv3d.weight; {type(e).__name__}: {e})") from None
    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise I3DFileError(f"{path}: unreadable safetensors file ({e})") from None
    state = {k: v for k, v in state.items() if not k.endswith(".num_batches_tracked")}
    for name, t in state.items():
        if not torch.isfinite(t).all():
            raise I3DFileError(f"{path}: tensor {name} holds NaN or inf values; expected finite weights")
    want = {k: v for k, v in model.state_dict().items() if not k.endswith(".num_batches_tracked")}
    missing, extra = sorted(set(want) - set(state)), sorted(set(state) - set(want))
    bad = [f"{k} {tuple(state[k].shape)} (expected {tuple(want[k].shape)})" for k in want
           if k in state and state[k].shape != want[k].shape]
    if missing or extra or bad:
        raise I3DFileError(f"{path}: does not match InceptionI3d(num_classes={num_classes}, width={width}): "
                           f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, unexpected "
                           f"{extra[:5]}{'...' if len(extra) > 5 else ''}, wrong shapes {bad[:5]}")
    model.load_state_dict({k: v.to(want[k].dtype) for k, v in state.items()}, strict=False)  # all checked above
    return model.eval().to(device)


def save_i3d_safetensors(model: InceptionI3d, path: Path) -> None:
    """Write ``model``'s state dict (float32, contiguous) to ``path`` as safetensors, atomically."""
    from safetensors.torch import save_file

    from synth.core.atomic import atomic_output_path

    state = {k: v.detach().float().contiguous().cpu() for k, v in model.state_dict().items()
             if not k.endswith("num_batches_tracked")}
    with atomic_output_path(path) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", "architecture": "InceptionI3d (pytorch-i3d names)"})


def convert_torchscript_to_safetensors(src: Path, dst: Path, trust_model_code: bool = False) -> InceptionI3d:
    """The trusted one-off conversion: TorchScript I3D -> safetensors state dict of :class:`InceptionI3d`.

    Loading TorchScript runs code from the file (its methods; ``forward`` is never called here), so this runs only
    with ``trust_model_code=True``.

    Raises:
        I3DFileError: without ``trust_model_code``; a file that is not TorchScript; a state dict whose names or
            shapes do not match :class:`InceptionI3d` (named).
    """
    import warnings

    src, dst = Path(src), Path(dst)
    if not trust_model_code:
        raise I3DFileError(f"{src}: converting TorchScript loads code from the file; pass --trust-model-code if "
                           f"you trust it")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            scripted = torch.jit.load(str(src), map_location="cpu")
    except (RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise I3DFileError(f"{src}: not a TorchScript file ({first})") from None
    state = {k: v for k, v in scripted.state_dict().items() if not k.endswith("num_batches_tracked")}
    try:
        first, logits = state["Conv3d_1a_7x7.conv3d.weight"].shape, state["logits.conv3d.weight"].shape
        model = InceptionI3d(int(logits[0]), 64 // int(first[0]))
        model.load_state_dict(state, strict=False)
        missing = sorted(set(k for k in model.state_dict() if not k.endswith("num_batches_tracked")) - set(state))
        extra = sorted(set(state) - set(model.state_dict()))
        if missing or extra:
            raise ValueError(f"missing {missing[:5]}, unexpected {extra[:5]}")
    except (KeyError, IndexError, RuntimeError, ValueError, ZeroDivisionError) as e:
        raise I3DFileError(f"{src}: its state dict does not match InceptionI3d (pytorch-i3d names) "
                           f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    save_i3d_safetensors(model, dst)
    return model.eval()


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m recam.eval.i3d SRC.pt DST.safetensors --trust-model-code``; exit 0, or 2 with one message."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m recam.eval.i3d",
                                 description="Trusted one-off conversion of a TorchScript I3D (e.g. StyleGAN-V's "
                                             "i3d_torchscript.pt) to a safetensors state dict for recam eval "
                                             "--fvd-i3d. Loading TorchScript runs code from the file.")
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--trust-model-code", action="store_true", help="I trust SRC: load its code to read its weights.")
    a = ap.parse_args(argv)
    if not a.src.is_file():
        print(f"error: {a.src}: not found; expected a TorchScript I3D file", file=sys.stderr)
        return 2
    try:
        model = convert_torchscript_to_safetensors(a.src, a.dst, a.trust_model_code)
    except (I3DFileError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {a.dst} (InceptionI3d num_classes={model.num_classes}, width={model.width})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
