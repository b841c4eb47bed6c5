"""Training-free caches of ``recam infer --cache``: diffusers' hooks (``CacheMixin.enable_cache``) on our
transformer, no own re-implementation.

``--cache`` spellings (:func:`parse_cache_spec`; light, no torch, checked by ``recam.infer_settings``):

* ``none`` (the default: no GPU measurement with real weights has said otherwise yet);
* ``fbc[:threshold]``: First-Block Cache (``FirstBlockCacheConfig``): when the first block's residual changed by
  less than ``threshold`` (relative L1, default 0.05) since the last full step, the other blocks are skipped and
  their cached residual is added;
* ``magcache[:threshold]``: MagCache (``MagCacheConfig``, threshold default 0.06, at most 3 steps skipped in a row,
  the first 20 % of steps always computed). Its per-step magnitude ratios depend on the checkpoint: ``--mag-ratios
  FILE`` (a JSON list of floats, one per step: interpolated to ``--steps``), written by ``--cache
  magcache:calibrate`` (an uncached run that records them in ``<out>/mag_ratios.json``);
* ``taylorseer[:interval]``: TaylorSeer (``TaylorSeerCacheConfig``): every block's ``attn1``, ``attn2`` and
  ``ffn`` outputs computed every ``interval`` steps (default 5) after 3 warm-up steps, first-order Taylor
  predictions between;
* ``fastercache``: FasterCache (``FasterCacheConfig``): attention outputs reused every other step below timestep
  681, and the unconditional CFG branch approximated from the conditional one (frequency-domain deltas) on 4 of 5
  steps below timestep 641. Needs the batched CFG of :func:`recam.pipeline.denoise` (``[uncond | cond]``).

Every cache is approximate: ``benchmarks/bench_infer_cache.py`` measures the speed-up against the relative L2 of
the final latents to the uncached run (``docs/evaluation.md``, "Fast re-capture", gives the table).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

__all__ = ["CACHE_KINDS", "CacheSpec", "parse_cache_spec", "enable_cache", "MagRatioRecorder", "read_mag_ratios",
           "write_mag_ratios", "TAYLORSEER_TARGETS"]

#: the ``--cache`` kinds
CACHE_KINDS = ("none", "fbc", "magcache", "taylorseer", "fastercache")
#: defaults of the optional ``:value`` (diffusers' own defaults)
_DEFAULTS = {"fbc": 0.05, "magcache": 0.06, "taylorseer": 5}
#: the modules TaylorSeer predicts in every block (diffusers' default patterns ``^blocks.*attn`` never fullmatch
#: Wan's ``attn1`` / ``attn2``, so nothing would be cached)
TAYLORSEER_TARGETS = [r"blocks\.\d+\.attn1", r"blocks\.\d+\.attn2", r"blocks\.\d+\.ffn"]


@dataclass(frozen=True)
class CacheSpec:
    """A parsed ``--cache``: ``kind`` in :data:`CACHE_KINDS`; ``value`` the threshold (fbc, magcache) or the
    interval in steps (taylorseer), None for the default; ``calibrate`` for ``magcache:calibrate``."""

    kind: str = "none"
    value: Optional[float] = None
    calibrate: bool = False

    @property
    def label(self) -> str:
        """``kind`` or ``kind:value`` as given (for logs and tables)."""
        if self.calibrate:
            return f"{self.kind}:calibrate"
        return self.kind if self.value is None else f"{self.kind}:{self.value:g}"

    def resolved(self) -> Optional[float]:
        """``value`` or the kind's default."""
        return self.value if self.value is not None else _DEFAULTS.get(self.kind)


def parse_cache_spec(text: str) -> CacheSpec:
    """``none | fbc[:threshold] | magcache[:threshold|:calibrate] | taylorseer[:interval] | fastercache``.

    Raises:
        ValueError: an unknown kind, a value where the kind takes none, or a value out of range (thresholds in
            (0, 1], intervals integers >= 2), naming ``--cache`` and what was expected.
    """
    kind, sep, raw = str(text).strip().partition(":")
    kind = kind.lower()
    expected = "expected none, fbc[:threshold], magcache[:threshold|:calibrate], taylorseer[:interval] or fastercache"
    if kind not in CACHE_KINDS:
        raise ValueError(f"--cache {text!r}: unknown cache; {expected}")
    if not sep:
        return CacheSpec(kind)
    if kind in ("none", "fastercache"):
        raise ValueError(f"--cache {text!r}: {kind} takes no value; {expected}")
    if kind == "magcache" and raw == "calibrate":
        return CacheSpec(kind, calibrate=True)
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"--cache {text!r}: {raw!r} is not a number; {expected}") from None
    if kind == "taylorseer":
        if value != int(value) or value < 2:
            raise ValueError(f"--cache {text!r}: the TaylorSeer interval is a whole number of steps >= 2")
        return CacheSpec(kind, int(value))
    if not 0 < value <= 1:
        raise ValueError(f"--cache {text!r}: the {kind} threshold must be in (0, 1] (default {_DEFAULTS[kind]})")
    return CacheSpec(kind, value)


def read_mag_ratios(path: Path) -> List[float]:
    """MagCache ratios from a JSON file: a list of positive finite floats (one per denoising step), or an object
    with that list under ``"mag_ratios"`` (what :func:`write_mag_ratios` writes).

    Raises:
        FileNotFoundError: no such file. ValueError: not that JSON (names the file and what was expected).
    """
    import math

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--mag-ratios {path}: not found; expected the JSON written by "
                                f"`recam infer --cache magcache:calibrate` (<out>/mag_ratios.json)")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"--mag-ratios {path}: not JSON ({e})") from None
    ratios = data.get("mag_ratios") if isinstance(data, dict) else data
    if (not isinstance(ratios, list) or len(ratios) < 2
            or not all(isinstance(r, (int, float)) and not isinstance(r, bool) and math.isfinite(r) and r > 0
                       for r in ratios)):
        raise ValueError(f"--mag-ratios {path}: field mag_ratios: expected a list of at least 2 positive numbers "
                         f"(one per denoising step)")
    return [float(r) for r in ratios]


def write_mag_ratios(path: Path, ratios: Sequence[float], steps: int) -> Path:
    """Write ``{"mag_ratios": [...], "steps": steps}`` atomically; returns ``path``."""
    from synth.core.atomic import atomic_write_text

    atomic_write_text(Path(path), json.dumps({"mag_ratios": [float(r) for r in ratios], "steps": int(steps)},
                                             indent=1) + "\n")
    return Path(path)


class MagRatioRecorder:
    """Keeps the magnitude ratios that MagCache's calibration mode computes (diffusers only prints them and resets
    its state at the last step): a forward hook on the tail block holds on to the state's ratio list of each cache
    context; :attr:`ratios` is the longest one (one ratio per step)."""

    def __init__(self, transformer) -> None:
        from diffusers.hooks.mag_cache import _MAG_CACHE_BLOCK_HOOK

        tail = transformer.blocks[-1]
        self._manager = tail._diffusers_hook.get_hook(_MAG_CACHE_BLOCK_HOOK).state_manager
        self._lists = {}
        self._handle = tail.register_forward_hook(self._record)

    def _record(self, module, args, output) -> None:
        for name, state in self._manager._state_cache.items():
            held = self._lists.get(name)
            if held is None or (held is not state.calibration_ratios and len(state.calibration_ratios) > len(held)):
                self._lists[name] = state.calibration_ratios

    @property
    def ratios(self) -> List[float]:
        return max((list(v) for v in self._lists.values()), key=len, default=[])

    def remove(self) -> None:
        self._handle.remove()


def enable_cache(transformer, spec: CacheSpec, *, steps: int, mag_ratios: Optional[Sequence[float]] = None,
                 cfg: bool = True):
    """Enable ``spec`` on ``transformer`` (a diffusers ``CacheMixin`` model: :class:`recam.model.
    ReCamMasterTransformer3DModel`) through ``transformer.enable_cache``; ``none`` does nothing. Call it once,
    before sampling (:func:`recam.pipeline.denoise` opens the cache contexts and resets the state per run).

    Args:
        steps: denoising steps of the run (MagCache interpolates its ratios to them).
        mag_ratios: MagCache's per-step ratios (required for ``magcache`` unless calibrating).
        cfg: the run uses classifier-free guidance (guidance != 1); FasterCache then skips the unconditional
            branch on some steps (it must be batched: ``denoise(cfg_batch=True)``, what ``recam infer`` does).

    Returns:
        a :class:`MagRatioRecorder` for ``magcache:calibrate``, else None.

    Raises:
        ValueError: ``magcache`` without ratios.
    """
    import torch
    from diffusers import FasterCacheConfig, FirstBlockCacheConfig, MagCacheConfig, TaylorSeerCacheConfig

    if spec.kind == "none":
        return None
    if spec.kind == "fbc":
        transformer.enable_cache(FirstBlockCacheConfig(threshold=spec.resolved()))
    elif spec.kind == "magcache":
        if spec.calibrate:
            transformer.enable_cache(MagCacheConfig(calibrate=True, num_inference_steps=steps))
            return MagRatioRecorder(transformer)
        if not mag_ratios:
            raise ValueError("--cache magcache needs --mag-ratios FILE (this checkpoint's per-step ratios: run "
                             "`recam infer --cache magcache:calibrate` once, it writes <out>/mag_ratios.json)")
        transformer.enable_cache(MagCacheConfig(threshold=spec.resolved(), num_inference_steps=steps,
                                                mag_ratios=torch.tensor(list(mag_ratios), dtype=torch.float32)))
    elif spec.kind == "taylorseer":
        transformer.enable_cache(TaylorSeerCacheConfig(cache_interval=int(spec.resolved()),
                                                       cache_identifiers=list(TAYLORSEER_TARGETS),
                                                       taylor_factors_dtype=transformer.dtype))
    elif spec.kind == "fastercache":
        transformer.enable_cache(FasterCacheConfig(
            current_timestep_callback=_timestep_tracker(transformer), tensor_format="BCFHW",
            is_guidance_distilled=not cfg,
            attention_weight_callback=lambda _: 0.5,
            _unconditional_conditional_input_kwargs_identifiers=["hidden_states", "encoder_hidden_states",
                                                                 "timestep", "cam_emb"]))
    return None


def _timestep_tracker(transformer):
    """FasterCache asks a callback for the current timestep: a forward pre-hook (which runs before diffusers'
    hooks) records the first ``timestep`` of each call."""
    current = {"t": 1000.0}

    def pre_hook(module, args, kwargs):
        t = kwargs.get("timestep", args[1] if len(args) > 1 else None)
        if t is not None:
            current["t"] = float(t.reshape(-1)[0])

    transformer.register_forward_pre_hook(pre_hook, with_kwargs=True)
    return lambda: current["t"]
