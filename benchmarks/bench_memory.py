"""Kept activation memory of the ReCamMaster DiT per token per block, and the per-GPU memory it implies.

    nice python benchmarks/bench_memory.py                     # 1.3B widths, about a minute on 2 CPU cores
    nice python benchmarks/bench_memory.py --models 1.3b,14b   # 14B widths too (4 blocks of 14B: ~3 GB of RAM)

What a training step keeps for backward is counted with ``torch.autograd.graph.saved_tensors_hooks`` (every tensor
autograd saves, counted once per storage) at the real widths in bf16 on the CPU, with upstream's trainable set
(self-attention, cam_encoder, projector). The per-block, per-token figure is separated from the constant parts by
differencing: 4 blocks minus 2 blocks (per block), at two token counts (per token). With gradient checkpointing a
block keeps its inputs only; the measurement uses re-entrant checkpointing, which saves its inputs through
``save_for_backward`` (so the hooks see them), where the training code's non-re-entrant checkpointing holds the
same inputs by reference.

The per-GPU estimate at 81 frames x 480 x 832 (21 latent frames of 30 x 52 tokens, target + source = 65,520 tokens,
batch 1 per GPU, 8 GPUs) adds, in bytes: bf16 weights 2 P; trainable T: bf16 grads 2 T, fp32 master 4 T, AdamW
8 T (ZeRO-1: master + AdamW sharded over 8 GPUs; FSDP full shard: everything over 8); activations = kept per token
per block x tokens per GPU x layers, plus one block's full activations (the block being recomputed in backward).
Context parallelism of degree c divides the tokens per GPU by c. Prints a table (GiB = 2^30 bytes).
"""

from __future__ import annotations

import argparse
import functools

MODELS = {
    "1.3b": dict(patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16,
                 out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30),
    "14b": dict(patch_size=(1, 2, 2), num_attention_heads=40, attention_head_dim=128, in_channels=16,
                out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=13824, num_layers=40),
}
TRAINABLE = ("attn1", "cam_encoder", "projector")
#: 81 frames at 480 x 832: (81 - 1) / 4 + 1 = 21 latent frames of 60 x 104 latents = 30 x 52 tokens, target + source
TOKENS_81x480x832 = 2 * 21 * 30 * 52


def kept_bytes(cfg: dict, num_blocks: int, frames: int, h: int, w: int, checkpointing: bool,
               text_len: int = 16, dtype=None) -> int:
    """Bytes autograd keeps for backward after one forward of a ``num_blocks``-block model on ``[1, 16, frames, h,
    w]`` latents (target + source halves) in ``dtype`` (bf16), counted once per storage."""
    import torch

    from recam.model import ReCamMasterTransformer3DModel

    dtype = dtype or torch.bfloat16
    torch.manual_seed(0)
    model = ReCamMasterTransformer3DModel(**{**cfg, "num_layers": num_blocks}).to(dtype)
    model.requires_grad_(False)
    for n, p in model.named_parameters():
        if any(k in n for k in TRAINABLE):
            p.requires_grad_(True)
    if checkpointing:
        model.enable_gradient_checkpointing(
            gradient_checkpointing_func=functools.partial(torch.utils.checkpoint.checkpoint, use_reentrant=True))
    model.train()
    # the input requires grad so that re-entrant checkpointing keeps the graph (and saves its inputs)
    x = torch.randn(1, cfg["in_channels"], frames, h, w, dtype=dtype, requires_grad=True)
    ctx = torch.randn(1, text_len, cfg["text_dim"], dtype=dtype)
    cam = torch.randn(1, frames // 2, 12, dtype=dtype)
    seen = {}

    def pack(t):
        try:
            st = t.untyped_storage()
            seen[(st.data_ptr(), st.nbytes())] = st.nbytes()
        except (RuntimeError, NotImplementedError):
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(x, torch.tensor([500.0]), ctx, cam).sample
    del out
    return sum(seen.values())


def per_token_per_block(cfg: dict, checkpointing: bool, sizes=((4, 8, 8), (4, 16, 16))) -> float:
    """Kept bytes per token per block: ``(kept(4 blocks) - kept(2 blocks)) / 2``, differenced over two token
    counts. ``sizes``: two latent shapes ``(frames, h, w)``."""
    p_t, p_h, p_w = cfg["patch_size"]
    per_block = []
    tokens = []
    for f, h, w in sizes:
        k2 = kept_bytes(cfg, 2, f, h, w, checkpointing)
        k4 = kept_bytes(cfg, 4, f, h, w, checkpointing)
        per_block.append((k4 - k2) / 2)
        tokens.append((f // p_t) * (h // p_h) * (w // p_w))
    return (per_block[1] - per_block[0]) / (tokens[1] - tokens[0])


def param_counts(cfg: dict):
    """(all parameters P, trainable T) of the full model, counted on the meta device."""
    import torch

    from recam.model import ReCamMasterTransformer3DModel

    with torch.device("meta"):
        m = ReCamMasterTransformer3DModel(**cfg)
    total = sum(p.numel() for p in m.parameters())
    train = sum(p.numel() for n, p in m.named_parameters() if any(k in n for k in TRAINABLE))
    return total, train


def estimate(P: int, T: int, layers: int, kept: float, full: float, tokens: int, cp: int, gpus: int = 8,
             strategy: str = "zero1") -> dict:
    """Per-GPU bytes (see module docstring)."""
    tok = tokens / cp
    if strategy == "zero1":
        states = 2 * P + 2 * T + (4 * T + 8 * T) / gpus
    else:  # fsdp full shard
        states = (2 * P + 2 * T + 12 * T) / gpus
    act = kept * tok * layers + full * tok
    return {"states": states, "activations": act, "total": states + act}


def main() -> None:
    from diffusers.utils import logging as dlog

    dlog.set_verbosity_error()  # the bf16 cast of float32-preferring modules is intended here
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="1.3b")
    ap.add_argument("--gpus", type=int, default=8)
    a = ap.parse_args()
    gib = 2 ** 30
    rows = []
    for name in a.models.split(","):
        cfg = MODELS[name]
        dim = cfg["num_attention_heads"] * cfg["attention_head_dim"]
        k_ckpt = per_token_per_block(cfg, True)
        k_full = per_token_per_block(cfg, False)
        P, T = param_counts(cfg)
        print(f"{name}: dim {dim}, {P / 1e9:.2f} B parameters ({T / 1e9:.2f} B trainable); kept per token per block: "
              f"{k_ckpt:.0f} B with checkpointing ({k_ckpt / (dim * 2):.2f} x dim x 2 bytes), {k_full:.0f} B without")
        for ckpt in (True, False):
            for cp in (1, 2, 4, 8):
                for strat in ("zero1", "fsdp"):
                    e = estimate(P, T, cfg["num_layers"], k_ckpt if ckpt else k_full, k_full if ckpt else 0.0,
                                 TOKENS_81x480x832, cp, a.gpus, strat)
                    rows.append((name, "yes" if ckpt else "no", cp, strat, e))
    print(f"\nper-GPU memory estimate, 81 x 480 x 832, batch 1 per GPU, {a.gpus} GPUs (GiB)")
    print("| model | checkpointing | context parallel | strategy | weights + optimizer | activations | total |")
    print("|---|---|---|---|---|---|---|")
    for name, ck, cp, strat, e in rows:
        print(f"| {name} | {ck} | {cp} | {strat} | {e['states'] / gib:.1f} | {e['activations'] / gib:.1f} | "
              f"{e['total'] / gib:.1f} |")


if __name__ == "__main__":
    main()
