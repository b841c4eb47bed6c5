"""LoRA adapters on the ReCamMaster transformer (diffusers' ``PeftAdapterMixin`` + peft): ``recam infer --lora
PATH[:scale]`` and the peft-format export of ``recam train`` with ``model.lora``.

File format: diffusers' LoRA layout, a ``.safetensors`` file (or a folder holding
``pytorch_lora_weights.safetensors``) with keys ``transformer.<module>.lora_A.weight`` / ``lora_B.weight``
(peft names, what :func:`save_lora` writes and ``WanPipeline.save_lora_weights`` writes); original-Wan / musubi
key layouts (``diffusion_model.blocks.N.self_attn.q.lora_down.weight``, e.g. step-distilled Wan2.1 LoRAs) are
converted by diffusers' ``WanLoraLoaderMixin.lora_state_dict``. Only safetensors are read (never a pickle).
The LoRA's rank and alpha are read from the file by diffusers; ``scale`` multiplies the adapter's output
(1 = as trained).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

__all__ = ["LoraSpec", "parse_lora_spec", "lora_file", "load_loras", "save_lora", "LORA_WEIGHT_NAME",
           "lora_config", "add_lora", "strip_lora_names"]

#: the file name diffusers reads and writes in a LoRA folder
LORA_WEIGHT_NAME = "pytorch_lora_weights.safetensors"


@dataclass(frozen=True)
class LoraSpec:
    """One ``--lora``: the file or folder and the scale of its output (1 = as trained)."""

    path: Path
    scale: float = 1.0


def parse_lora_spec(text: str) -> LoraSpec:
    """``PATH`` or ``PATH:scale`` (the part after the last ``:`` is a scale only if it is a number, so a path with
    a colon still works).

    Raises:
        ValueError: an empty path or a scale that is not finite.
    """
    text = str(text)
    head, sep, tail = text.rpartition(":")
    scale = 1.0
    if sep and head:
        try:
            scale = float(tail)
            text = head
        except ValueError:
            pass
    if not text:
        raise ValueError(f"--lora {text!r}: expected PATH[:scale]")
    if not math.isfinite(scale):
        raise ValueError(f"--lora {text}: scale {tail!r} is not a finite number")
    return LoraSpec(Path(text), scale)


def lora_file(path: Path) -> Path:
    """The safetensors file of a ``--lora``: the file itself or ``<folder>/pytorch_lora_weights.safetensors``.

    Raises:
        FileNotFoundError: no such file / folder, or a folder without the file (named). ValueError: not a
            ``.safetensors`` file (pickles are never loaded).
    """
    path = Path(path)
    if path.is_dir():
        path = path / LORA_WEIGHT_NAME
    if not path.is_file():
        raise FileNotFoundError(f"--lora {path}: not found; expected a LoRA .safetensors file in diffusers/peft "
                                f"format or a folder with {LORA_WEIGHT_NAME}")
    if path.suffix != ".safetensors":
        raise ValueError(f"--lora {path}: expected a .safetensors file (pickled .bin / .pt LoRAs are not loaded)")
    return path


def load_loras(transformer, specs: Sequence[LoraSpec]) -> List[str]:
    """Load every LoRA of ``specs`` onto ``transformer`` (adapters ``lora0``, ``lora1``, ... active together with
    their scales). Returns the adapter names.

    Raises:
        FileNotFoundError, ValueError: a missing or non-safetensors file, or a LoRA whose modules or shapes do not
            match this transformer (diffusers' message, prefixed with the file).
    """
    from diffusers.loaders.lora_pipeline import WanLoraLoaderMixin

    names = []
    for i, spec in enumerate(specs):
        path = lora_file(spec.path)
        name = f"lora{i}"
        try:
            sd, metadata = WanLoraLoaderMixin.lora_state_dict(str(path), local_files_only=True,
                                                              return_lora_metadata=True)
            if not any(k.startswith("transformer.") for k in sd):
                raise ValueError("no transformer.* LoRA keys (expected diffusers/peft names such as "
                                 "transformer.blocks.0.attn1.to_q.lora_A.weight)")
            transformer.load_lora_adapter(sd, prefix="transformer", adapter_name=name, metadata=metadata or None)
        except (ValueError, KeyError, RuntimeError, OSError) as e:
            raise ValueError(f"--lora {path}: {e}") from None
        if not any(name in getattr(m, "lora_A", {}) for m in transformer.modules()):
            raise ValueError(f"--lora {path}: no module of this transformer matched the LoRA's keys")
        names.append(name)
    if names:
        transformer.set_adapters(names, [s.scale for s in specs])
    return names


# ---------------------------------------------------------------------------------------------------- training
def lora_config(rank: int, alpha: float, targets: Sequence[str]):
    """peft ``LoraConfig`` for training: rank ``rank``, ``lora_alpha = alpha`` (scaling alpha / rank), on the
    modules whose names match ``targets`` (peft's ``target_modules``: a regex over full module names when one
    string, else suffixes), LoRA B zero-initialised (the model starts unchanged)."""
    from peft import LoraConfig

    targets = list(targets)
    return LoraConfig(r=int(rank), lora_alpha=float(alpha),
                      target_modules=targets[0] if len(targets) == 1 else targets, init_lora_weights=True)


def add_lora(transformer, rank: int, alpha: float, targets: Sequence[str], adapter_name: str = "default") -> None:
    """Wrap ``transformer``'s target linears with a trainable LoRA (diffusers ``add_adapter``)."""
    transformer.add_adapter(lora_config(rank, alpha, targets), adapter_name=adapter_name)


def strip_lora_names(state_dict: Dict[str, "object"]) -> Dict[str, "object"]:
    """A LoRA-wrapped model's state dict with the base names back (``x.base_layer.weight`` -> ``x.weight``) and
    the LoRA tensors left out: the frozen base model, what ``stepN.ckpt`` holds next to the LoRA file."""
    return {k.replace(".base_layer.", "."): v for k, v in state_dict.items() if ".lora_" not in k}


def lora_state_dict(state_dict: Dict[str, "object"], adapter_name: str = "default") -> Dict[str, "object"]:
    """The LoRA tensors of a LoRA-wrapped model's state dict under diffusers' names
    (``transformer.<module>.lora_A.weight``): what :func:`save_lora` writes."""
    tag = f".{adapter_name}."
    return {"transformer." + k.replace(tag, "."): v for k, v in state_dict.items()
            if (".lora_A." in k or ".lora_B." in k) and tag in k}


def save_lora(path: Path, state_dict: Dict[str, "object"], adapter_config: Dict[str, "object"],
              adapter_name: str = "default") -> Path:
    """Write the LoRA ``adapter_name`` of a LoRA-wrapped model's ``state_dict`` as
    ``<path>/pytorch_lora_weights.safetensors`` (diffusers/peft format, loadable by :func:`load_loras` and
    diffusers' ``load_lora_weights``), atomically. ``adapter_config`` (``model.peft_config[name].to_dict()``: rank,
    alpha, targets) goes into the safetensors metadata under diffusers' ``lora_adapter_metadata`` key with the
    ``transformer.`` prefix, so the scaling ``alpha / rank`` survives the round trip. Returns the file.

    Raises:
        ValueError: the state dict has no LoRA tensors of that adapter.
    """
    import json

    from safetensors.torch import save_file

    from synth.core.atomic import atomic_output_path

    tensors = {k: v.detach().contiguous().cpu() for k, v in lora_state_dict(state_dict, adapter_name).items()}
    if not tensors:
        raise ValueError(f"the model has no tensors of LoRA adapter {adapter_name!r} to export")
    cfg = {f"transformer.{k}": (sorted(v) if isinstance(v, (set, frozenset)) else v)
           for k, v in adapter_config.items()}
    meta = {"format": "pt", "lora_adapter_metadata": json.dumps(cfg, sort_keys=True, default=str)}
    out = Path(path) / LORA_WEIGHT_NAME
    with atomic_output_path(out) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return out
