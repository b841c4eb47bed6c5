"""CLIP-V (view synchronisation with the source), CLIP-T (agreement with the prompt) and CLIP-F (consistency of
consecutive frames) of the generated video, from a local ``transformers`` CLIP folder only (nothing is downloaded).
The three share one model and one ``--clip-model`` flag, so they are one metric (ReCamMaster's Table 1 columns
CLIP-V, CLIP-T, CLIP-F)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from .base import Column, Metric, MetricOptions, MissingWeightsError, PairContext, option, register_metric

__all__ = ["load_clip", "clip_scores", "CLIP", "CLIPOptions"]

_CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
_CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)


def load_clip(model_dir: Optional[Path]):
    """``(model, tokenizer or None)`` from a local ``transformers`` CLIP folder (the tokenizer only when the folder
    holds ``tokenizer.json`` or ``vocab.json``).

    Raises:
        MissingWeightsError: no folder given or it holds no CLIP model (nothing is downloaded).
    """
    if model_dir is None:
        raise MissingWeightsError("CLIP scores need --clip-model DIR: a local transformers CLIP folder (e.g. "
                                  "openai/clip-vit-large-patch14 fetched once); nothing is downloaded")
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise MissingWeightsError(f"{model_dir}: no CLIP model (config.json + weights) there")
    from transformers import CLIPModel

    model = CLIPModel.from_pretrained(str(model_dir), local_files_only=True).eval()
    tok = None
    if any((model_dir / f).is_file() for f in ("tokenizer.json", "vocab.json")):
        from transformers import CLIPTokenizer

        tok = CLIPTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    return model, tok


def _scores(loaded, gen: np.ndarray, src: Optional[np.ndarray], prompt: Optional[str]) -> Dict[str, float]:
    import torch

    from ...video import resize_center_crop

    model, tok = loaded
    size = model.config.vision_config.image_size

    def feats(frames):
        x = resize_center_crop(np.asarray(frames), size, size).astype(np.float32) / 255.0
        x = torch.from_numpy((x - _CLIP_MEAN) / _CLIP_STD).permute(0, 3, 1, 2)
        with torch.no_grad():
            out = model.get_image_features(pixel_values=x)
        out = out if isinstance(out, torch.Tensor) else out.pooler_output
        return torch.nn.functional.normalize(out.float(), dim=-1)

    g = feats(gen)
    scores: Dict[str, float] = {}
    if len(g) >= 2:
        scores["clip_f"] = float(100 * (g[1:] * g[:-1]).sum(-1).mean())
    if src is not None:
        n = min(len(gen), len(src))
        scores["clip_v"] = float(100 * (g[:n] * feats(src[:n])).sum(-1).mean())
    if prompt and tok is not None:
        ids = tok([prompt], padding=True, truncation=True, return_tensors="pt")
        with torch.no_grad():
            t = model.get_text_features(**ids)
        t = t if isinstance(t, torch.Tensor) else t.pooler_output
        t = torch.nn.functional.normalize(t.float(), dim=-1)
        scores["clip_t"] = float(100 * (g @ t.T).mean())
    return scores


def clip_scores(gen: np.ndarray, src: Optional[np.ndarray], model_dir: Optional[Path],
                prompt: Optional[str] = None) -> Dict[str, float]:
    """CLIP scores of a generated video, x100 as in the papers, from a local ``transformers`` CLIP folder.

    * ``clip_v``: mean cosine similarity of corresponding frames of ``gen`` and ``src`` (view synchronisation,
      SynCamMaster / ReCamMaster's CLIP-V); needs ``src``.
    * ``clip_t``: mean cosine similarity of the frames with ``prompt`` (only when the folder holds its tokenizer,
      ``tokenizer.json`` or ``vocab.json``).
    * ``clip_f``: mean cosine similarity of consecutive frames of ``gen`` (temporal consistency, ReCamMaster's
      CLIP-F); needs two frames.

    Frames ``(F, H, W, 3)`` uint8 are resized (shorter side) and centre-cropped to the model's image size and
    normalised with CLIP's mean / std.

    Raises:
        MissingWeightsError: no folder given or it holds no CLIP model (nothing is downloaded).
    """
    return _scores(load_clip(model_dir), gen, src, prompt)


class CLIPOptions(MetricOptions):
    clip_model: Optional[Path] = option(None, help="Local transformers CLIP folder: CLIP-V (source/result frame "
                                        "similarity) and CLIP-T (optional).")


@register_metric
class CLIP(Metric):
    name = "clip"
    label = "CLIP"
    help = "CLIP-V (source / result frame similarity), CLIP-T (frames / prompt), CLIP-F (consecutive frames), x100"
    columns = (Column("clip_v", "x100 mean cosine similarity of source / result frames"),
               Column("clip_t", "x100 mean cosine similarity of frames / prompt"),
               Column("clip_f", "x100 mean cosine similarity of consecutive result frames"))
    Options = CLIPOptions
    needs = frozenset({"source", "weights"})
    order = 30

    def enabled(self, options: CLIPOptions) -> bool:
        return options.clip_model is not None

    def setup(self, options: CLIPOptions, device: str) -> Any:
        try:  # missing weights do not stop the run (the summary names what is missing)
            return load_clip(options.clip_model)
        except MissingWeightsError as e:
            return e

    def score(self, ctx: PairContext, state) -> Dict[str, float]:
        if isinstance(state, MissingWeightsError):
            raise state
        return _scores(state, ctx.generated, ctx.source, ctx.pair.prompt)
