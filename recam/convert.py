"""Checkpoint formats of the ReCamMaster DiT: upstream/original-Wan key names <-> diffusers key names.

Two explicit key maps (top-level modules and per-block modules) in both directions, the config translation between
upstream's ``WanModel`` kwargs and diffusers' ``WanTransformer3DModel`` config, and the loaders/savers built on them.
``tests/test_model.py`` checks the map against diffusers' own ``convert_wan_transformer_to_diffusers``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional

import torch

__all__ = [
    "WAN21_T2V_1_3B",
    "original_to_diffusers",
    "diffusers_to_original",
    "config_from_official",
    "official_from_config",
    "load_official",
    "load_state_dict_file",
    "save_official",
    "save_diffusers",
    "cast_keep_fp32",
    "camera_keys",
]

#: upstream ``WanModel`` kwargs of Wan2.1-T2V-1.3B (REFERENCE §2)
WAN21_T2V_1_3B: Dict[str, Any] = {"dim": 1536, "in_dim": 16, "ffn_dim": 8960, "out_dim": 16, "text_dim": 4096,
                                  "freq_dim": 256, "eps": 1e-6, "patch_size": [1, 2, 2], "num_heads": 12,
                                  "num_layers": 30, "has_image_input": False}

# module renames (suffix .weight / .bias kept); original -> diffusers
_TOP_MODULES = {
    "patch_embedding": "patch_embedding",
    "text_embedding.0": "condition_embedder.text_embedder.linear_1",
    "text_embedding.2": "condition_embedder.text_embedder.linear_2",
    "time_embedding.0": "condition_embedder.time_embedder.linear_1",
    "time_embedding.2": "condition_embedder.time_embedder.linear_2",
    "time_projection.1": "condition_embedder.time_proj",
    "head.head": "proj_out",
    "img_emb.proj.0": "condition_embedder.image_embedder.norm1",
    "img_emb.proj.1": "condition_embedder.image_embedder.ff.net.0.proj",
    "img_emb.proj.3": "condition_embedder.image_embedder.ff.net.2",
    "img_emb.proj.4": "condition_embedder.image_embedder.norm2",
}
_TOP_PARAMS = {"head.modulation": "scale_shift_table"}
_BLOCK_MODULES = {
    "self_attn.q": "attn1.to_q", "self_attn.k": "attn1.to_k", "self_attn.v": "attn1.to_v",
    "self_attn.o": "attn1.to_out.0", "self_attn.norm_q": "attn1.norm_q", "self_attn.norm_k": "attn1.norm_k",
    "cross_attn.q": "attn2.to_q", "cross_attn.k": "attn2.to_k", "cross_attn.v": "attn2.to_v",
    "cross_attn.o": "attn2.to_out.0", "cross_attn.norm_q": "attn2.norm_q", "cross_attn.norm_k": "attn2.norm_k",
    "cross_attn.k_img": "attn2.add_k_proj", "cross_attn.v_img": "attn2.add_v_proj",
    "cross_attn.norm_k_img": "attn2.norm_added_k",
    "norm3": "norm2",
    "ffn.0": "ffn.net.0.proj", "ffn.2": "ffn.net.2",
    "cam_encoder": "cam_encoder", "projector": "projector",
    "cam_intrinsics_encoder": "cam_intrinsics_encoder",  # the optional intrinsics condition (model.intrinsics)
}
_BLOCK_PARAMS = {"modulation": "scale_shift_table"}
_CAMERA = ("cam_encoder", "projector")
#: prefixes seen around DiT state dicts (ComfyUI, Lightning/DeepSpeed wrappers of upstream's trainer)
_PREFIXES = ("model.diffusion_model.", "module.", "pipe.dit.", "dit.", "model.")
_BLOCK_RE = re.compile(r"^blocks\.(\d+)\.(.+)$")


def _invert(d: Mapping[str, str]) -> Dict[str, str]:
    return {v: k for k, v in d.items()}


def _rename(key: str, top_mod, top_par, blk_mod, blk_par) -> Optional[str]:
    m = _BLOCK_RE.match(key)
    if m:
        i, rest = m.groups()
        if rest in blk_par:
            return f"blocks.{i}.{blk_par[rest]}"
        mod, _, leaf = rest.rpartition(".")
        return f"blocks.{i}.{blk_mod[mod]}.{leaf}" if mod in blk_mod else None
    if key in top_par:
        return top_par[key]
    mod, _, leaf = key.rpartition(".")
    return f"{top_mod[mod]}.{leaf}" if mod in top_mod else None


def _convert(sd: Mapping[str, torch.Tensor], maps, what: str) -> Dict[str, torch.Tensor]:
    out, unknown = {}, []
    for k, v in sd.items():
        new = _rename(k, *maps)
        if new is None:
            unknown.append(k)
        else:
            out[new] = v
    if unknown:
        raise ValueError(f"{len(unknown)} keys have no {what} name (first: {unknown[:5]}); is this a Wan2.1 / "
                         f"ReCamMaster DiT state dict?")
    return out


def strip_prefixes(sd: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Drop a wrapper prefix shared by all keys (``module.``, ``pipe.dit.``, ``model.diffusion_model.`` ...)."""
    sd = dict(sd)
    for p in _PREFIXES:
        if sd and all(k.startswith(p) for k in sd):
            return {k[len(p):]: v for k, v in sd.items()}
    return sd


def original_to_diffusers(sd: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Original Wan / DiffSynth / upstream ReCamMaster key names -> diffusers (``ReCamMasterTransformer3DModel``)."""
    return _convert(strip_prefixes(sd), (_TOP_MODULES, _TOP_PARAMS, _BLOCK_MODULES, _BLOCK_PARAMS), "diffusers")


def diffusers_to_original(sd: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """diffusers key names -> upstream ReCamMaster (original Wan) key names, i.e. ``stepN.ckpt``'s."""
    return _convert(sd, (_invert(_TOP_MODULES), _invert(_TOP_PARAMS), _invert(_BLOCK_MODULES),
                         _invert(_BLOCK_PARAMS)), "upstream")


def camera_keys(keys) -> list:
    return [k for k in keys if any(f".{c}." in k for c in _CAMERA)]


def config_from_official(cfg: Mapping[str, Any]) -> Dict[str, Any]:
    """Upstream ``WanModel`` kwargs -> ``WanTransformer3DModel`` config.

    Raises:
        ValueError: missing keys or ``dim`` not divisible by ``num_heads``.
    """
    need = set(WAN21_T2V_1_3B)
    missing = sorted(need - set(cfg))
    if missing:
        raise ValueError(f"upstream config lacks {missing}; expected WanModel kwargs {sorted(need)}")
    if cfg["dim"] % cfg["num_heads"]:
        raise ValueError(f"dim {cfg['dim']} is not divisible by num_heads {cfg['num_heads']}")
    i2v = bool(cfg["has_image_input"])
    return {"patch_size": tuple(cfg["patch_size"]), "num_attention_heads": cfg["num_heads"],
            "attention_head_dim": cfg["dim"] // cfg["num_heads"], "in_channels": cfg["in_dim"],
            "out_channels": cfg["out_dim"], "text_dim": cfg["text_dim"], "freq_dim": cfg["freq_dim"],
            "ffn_dim": cfg["ffn_dim"], "num_layers": cfg["num_layers"], "cross_attn_norm": True,
            "qk_norm": "rms_norm_across_heads", "eps": cfg["eps"], "image_dim": 1280 if i2v else None,
            "added_kv_proj_dim": cfg["dim"] if i2v else None, "rope_max_seq_len": 1024}


def official_from_config(cfg: Mapping[str, Any]) -> Dict[str, Any]:
    """``WanTransformer3DModel`` config -> upstream ``WanModel`` kwargs (inverse of :func:`config_from_official`)."""
    dim = cfg["num_attention_heads"] * cfg["attention_head_dim"]
    return {"dim": dim, "in_dim": cfg["in_channels"], "ffn_dim": cfg["ffn_dim"], "out_dim": cfg["out_channels"],
            "text_dim": cfg["text_dim"], "freq_dim": cfg["freq_dim"], "eps": cfg["eps"],
            "patch_size": list(cfg["patch_size"]), "num_heads": cfg["num_attention_heads"],
            "num_layers": cfg["num_layers"], "has_image_input": cfg.get("image_dim") is not None}


def load_state_dict_file(path: Path | str) -> Dict[str, torch.Tensor]:
    """A state dict from ``.safetensors`` or a torch pickle (``weights_only=True``); Lightning-style
    ``{"state_dict": ...}`` / DeepSpeed ``{"module": ...}`` containers are unwrapped. A ``.safetensors`` header is
    checked before the file is mapped, and every weight must be floating point and finite
    (:mod:`recam.weight_files`).

    Raises:
        FileNotFoundError: no such file. ValueError (:class:`~recam.weight_files.WeightFileError` for the checks):
        not a state dict, a damaged or hostile file, integer-typed or non-finite weights (file and tensor named).
    """
    from .weight_files import WeightFileError, check_safetensors_file, check_weights

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found (expected upstream step*.ckpt, a Wan DiT "
                                f".safetensors, or a diffusers folder)")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        check_safetensors_file(path)
        try:
            obj = load_file(str(path))
        except Exception as e:  # safetensors' own errors (SafetensorError, OSError) after our header checks
            raise WeightFileError(f"{path}: unreadable safetensors file ({type(e).__name__}: {e})") from None
    else:
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as e:  # pickle errors vary
            raise ValueError(f"{path}: not a loadable torch checkpoint ({type(e).__name__}: {e})") from None
        for key in ("state_dict", "module", "model"):
            if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
                obj = obj[key]
        if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
            raise ValueError(f"{path}: expected a state dict of tensors")
    check_weights(obj, path)
    return obj


def cast_keep_fp32(model: torch.nn.Module, dtype: Optional[torch.dtype]) -> torch.nn.Module:
    """Cast to ``dtype`` except the modules diffusers keeps in float32 (norms, time embedder, modulation tables)."""
    if dtype is None:
        return model
    keep = getattr(model, "_keep_in_fp32_modules", None) or []
    for name, p in model.named_parameters():
        if p.is_floating_point():
            target = torch.float32 if any(k in name.split(".") for k in keep) and dtype in (
                torch.float16, torch.bfloat16) else dtype
            p.data = p.data.to(target)
    return model


def _assert_no_meta(model, source) -> None:
    meta = [n for n, p in list(model.named_parameters()) + list(model.named_buffers()) if p.is_meta]
    if meta:
        raise ValueError(f"{source}: parameters left uninitialised (meta device): {meta[:5]}")


def load_official(cls, path, config=None, torch_dtype=None, strict_camera=True):
    """See :meth:`recam.model.ReCamMasterTransformer3DModel.from_official`."""
    from accelerate import init_empty_weights

    path = Path(path)
    sd = original_to_diffusers(load_state_dict_file(path))
    upstream_cfg = dict(config) if config is not None else dict(WAN21_T2V_1_3B)
    dcfg = config_from_official(upstream_cfg)
    with init_empty_weights():
        model = cls.from_config(dcfg)
        if any("cam_intrinsics_encoder" in k for k in sd):  # trained with model.intrinsics (issue 24): keep them
            model.enable_intrinsics_condition()
    expected = model.state_dict()
    missing = sorted(set(expected) - set(sd))
    unexpected = sorted(set(sd) - set(expected))
    cam_missing = camera_keys(missing)
    if unexpected or len(missing) != len(cam_missing):
        raise ValueError(f"{path}: does not match the config {upstream_cfg if config else 'Wan2.1-T2V-1.3B (default)'}"
                         f": missing {[k for k in missing if k not in cam_missing][:5]}, unexpected {unexpected[:5]}."
                         f" Pass config= with upstream's WanModel kwargs.")
    bad = [(k, tuple(v.shape), tuple(expected[k].shape)) for k, v in sd.items() if v.shape != expected[k].shape]
    if bad:
        raise ValueError(f"{path}: shapes differ from the config (key, checkpoint, model): {bad[:3]}. Pass config= "
                         f"with upstream's WanModel kwargs (e.g. meta.json['dit_config']).")
    if cam_missing and strict_camera and path.suffix != ".safetensors":
        raise ValueError(f"{path}: camera modules missing ({cam_missing[:3]} ...); this is a base Wan checkpoint. "
                         f"Load it with strict_camera=False to initialise them.")
    model.load_state_dict(sd, strict=False, assign=True)
    fresh = {k.split(".")[1] for k in cam_missing}
    for i, block in enumerate(model.blocks):
        if str(i) in fresh:
            block.cam_encoder.to_empty(device="cpu")
            block.projector.to_empty(device="cpu")
            block.cam_encoder.to(next(block.attn1.parameters()).dtype)
            block.projector.to(next(block.attn1.parameters()).dtype)
            block.reset_camera_modules()
    _assert_no_meta(model, path)
    model.eval()
    return cast_keep_fp32(model, torch_dtype)


def from_pretrained_with_camera(super_from_pretrained: Callable, path, *args, **kwargs):
    """diffusers ``from_pretrained`` that also accepts a base Wan2.1 transformer folder: camera modules missing
    from it are created (zero/identity) on the CPU, so nothing stays on the meta device."""
    from .weight_files import WeightFileError, check_diffusers_folder, check_named_tensors

    check_diffusers_folder(path)  # always a local folder: nothing is downloaded
    try:
        model = super_from_pretrained(path, *args, **kwargs)
    except OSError as e:  # diffusers: unreadable files, missing weights
        raise WeightFileError(f"{path}: not a loadable diffusers transformer folder ({e})") from None
    for block in model.blocks:
        if any(p.is_meta for p in block.cam_encoder.parameters()) or any(
                p.is_meta for p in block.projector.parameters()):
            dtype = next(block.attn1.parameters()).dtype
            device = next(block.attn1.parameters()).device
            block.cam_encoder.to_empty(device=device).to(dtype)
            block.projector.to_empty(device=device).to(dtype)
            block.reset_camera_modules()
    _assert_no_meta(model, path)
    check_named_tensors(model.named_parameters(), path)
    return model


def save_official(model_or_state_dict, path: Path | str) -> Path:
    """Write a model (or its diffusers-named state dict) in upstream's checkpoint format (``torch.save`` of the
    original-key state dict, the container of ``step20000.ckpt``), atomically."""
    from synth.core.atomic import atomic_output_path

    path = Path(path)
    sd = model_or_state_dict if isinstance(model_or_state_dict, dict) else model_or_state_dict.state_dict()
    sd = diffusers_to_original({k: v.detach().cpu().contiguous() for k, v in sd.items()})
    with atomic_output_path(path) as tmp:
        torch.save(sd, str(tmp))
    return path


def save_diffusers(model_cls, config, state_dict: Dict[str, torch.Tensor], path: Path | str) -> Path:
    """``save_pretrained`` of a state dict without a second copy of the live model (built on the meta device)."""
    from accelerate import init_empty_weights

    with init_empty_weights():
        m = model_cls.from_config(config)
    m.load_state_dict({k: v.detach().cpu() for k, v in state_dict.items()}, strict=True, assign=True)
    m.save_pretrained(str(path))
    return Path(path)
