"""``recam init-tiny``: a complete, tiny, random-weight Wan2.1 + ReCamMaster model folder, built in code.

Same layout as ``Wan-AI/Wan2.1-T2V-1.3B-Diffusers`` (``model_index.json``, ``tokenizer/``, ``text_encoder/``,
``vae/``, ``transformer/``, ``scheduler/``) plus ``recammaster_tiny.ckpt`` in upstream's checkpoint format, so every
loading path of the real model is exercised. Sizes follow diffusers' own tiny test configs (REFERENCE §2), with the
transformer widened to 64; nothing is downloaded. For tests and demos only: the outputs are noise-like.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import torch

__all__ = ["TINY_TRANSFORMER", "TINY_VAE", "TINY_TEXT", "build_tiny_model_dir", "tiny_tokenizer", "tiny_transformer"]

# dim 64 (not diffusers' test value 24): a token's output is 16 channels x 2x2 patch = 64 values, and a narrower
# model cannot represent arbitrary outputs (it could never overfit a batch)
TINY_TRANSFORMER: Dict = dict(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=32, in_channels=16,
                              out_channels=16, text_dim=32, freq_dim=256, ffn_dim=128, num_layers=2,
                              cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024)
TINY_VAE: Dict = dict(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                      temperal_downsample=[False, True, True])
TINY_TEXT: Dict = dict(d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, relative_attention_num_buckets=8,
                       relative_attention_max_distance=32, dropout_rate=0.0, feed_forward_proj="gated-gelu")

_WORDS = """a an the and or of in on at to with by from for is are was be it its this that as while then than
man woman girl boy person people child old young tall short slim stocky elderly cartoon panda character subject
red green blue yellow orange purple pink brown beige white black grey gray dark light bright striped checked
polka dot shirt jacket jeans trousers dress hoodie shorts coat sweater top hair shoes
wave waves walk walks dance dances cheer cheers jump jumps squat squats stand stands turn turns breathe breathes
calmly around up down one both arm arms raised place spot on
room living wooden floor plain walls warehouse concrete crates stacked street city lined buildings plaza stone
sunny benches planters park grassy trees courtyard brick enclosed rocky meadow large small
lit warm lamps soft daylight cool ceiling lights industrial dim under midday sun evening light overcast sky
camera pans tilts moves arcs glides static left right forward backward along smooth path metre metres degrees
waypoint waypoints through keeping view starting fast slowly slowing speeding constant speed at by
video scene shot footage outdoor indoor daytime night background foreground""".split()


def tiny_tokenizer():
    """A word-level ``PreTrainedTokenizerFast`` (lower-cased, whitespace/punctuation split, ``</s>`` appended like
    UMT5; ``<pad>`` = 0)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for w in dict.fromkeys(_WORDS):
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.Punctuation()])
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=512, padding_side="right")


def tiny_transformer(seed: int = 0, base: bool = False):
    """Tiny ``ReCamMasterTransformer3DModel`` (or the base ``WanTransformer3DModel`` with ``base=True``)."""
    from diffusers import WanTransformer3DModel

    from .model import ReCamMasterTransformer3DModel

    torch.manual_seed(seed)
    return (WanTransformer3DModel if base else ReCamMasterTransformer3DModel)(**TINY_TRANSFORMER)


def build_tiny_model_dir(out: Path, seed: int = 0) -> Path:
    """Write the tiny model folder (see module docstring). Returns ``out``.

    ``recammaster_tiny.ckpt`` carries random (not zero/identity) camera modules so that the camera actually
    changes the output.
    """
    from diffusers import AutoencoderKLWan, WanPipeline
    from transformers import UMT5Config, UMT5EncoderModel

    from .convert import save_official
    from .scheduler import make_inference_scheduler

    out = Path(out)
    tokenizer = tiny_tokenizer()
    torch.manual_seed(seed)
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=len(tokenizer), pad_token_id=0, eos_token_id=1,
                                               decoder_start_token_id=0, **TINY_TEXT)).eval()
    torch.manual_seed(seed + 1)
    vae = AutoencoderKLWan(**TINY_VAE).eval()
    base = tiny_transformer(seed + 2, base=True).eval()
    pipe = WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=base,
                       scheduler=make_inference_scheduler())
    out.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(str(out))
    recam = tiny_transformer(seed + 2)
    recam.load_state_dict(base.state_dict(), strict=False)
    g = torch.Generator().manual_seed(seed + 3)
    with torch.no_grad():
        for p in recam.camera_parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    save_official(recam, out / "recammaster_tiny.ckpt")
    return out
