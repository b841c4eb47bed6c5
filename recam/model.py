"""ReCamMaster on diffusers' Wan2.1 transformer.

:class:`ReCamMasterTransformer3DModel` is ``diffusers.WanTransformer3DModel`` plus, in **every** block, the two
modules of upstream ReCamMaster (KwaiVGI/ReCamMaster ``diffsynth/models/wan_video_dit.py``; REFERENCE §2):

* ``cam_encoder = Linear(12, dim)``, zero-initialised: maps the flattened relative camera pose (``cam_emb``, 3x4
  row-major) of each target latent frame to a vector added to every token of that frame after the self-attention
  input modulation, ``x_in = norm1(x) * (1 + scale) + shift + cam_encoder(cam_emb)``;
* ``projector = Linear(dim, dim)``, identity-initialised: applied to the self-attention output before the gate,
  ``x = x + gate * projector(self_attn(x_in))``.

The latent sequence is ``[target frames | source frames]`` along the frame axis; the target-camera embeddings are
tiled over both halves (upstream), and Wan's 3D RoPE gives the source frames temporal positions after the target
frames. Unlike upstream, any latent size works (no hard-coded 30x52 token grid).

Scale (issue 12): ``cam_encoder`` runs per latent frame ``[B, F_cam, dim]`` *inside* the (checkpointed) block and
is broadcast to the frame's tokens there, through a per-token frame index ``[1, L]`` (int64) made by
:class:`TokenFrameIndex`; no full-size ``[B, L, dim]`` camera tensor exists outside the block, so a checkpointed
block keeps only its bf16 hidden-state input. Under context parallelism (diffusers' ``_cp_plan``) the frame index
is split along the sequence exactly like the hidden states and RoPE, so each rank adds the right frame's camera to
its tokens. Dtypes: the model runs in its parameter dtype (inputs are cast at :meth:`forward`), which is what
DeepSpeed / FSDP / ``bf16-true`` give (module cast, no autocast); under ``bf16-mixed`` the parameters stay float32
and autocast does the matmuls.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import torch
import torch.nn as nn
from diffusers.configuration_utils import register_to_config
from diffusers.models.modeling_outputs import Transformer2DModelOutput
from diffusers.models._modeling_parallel import ContextParallelInput
from diffusers.models.transformers.transformer_wan import WanTransformer3DModel, WanTransformerBlock

__all__ = ["ReCamMasterTransformer3DModel", "ReCamMasterTransformerBlock", "TokenFrameIndex",
           "sinusoidal_timestep_embedding", "CAM_EMB_DIM", "CAM_INTR_DIM"]

#: per-frame camera embedding size: the top 3x4 of a relative c2w, row-major
CAM_EMB_DIM = 12
#: per-frame intrinsics condition size (optional, issue 24): ``[log(fx_t/fx_s), log(fy_t/fy_s), cx_t - cx_s,
#: cy_t - cy_s]`` of normalised intrinsics (:func:`recam.cameras.intrinsics_condition`)
CAM_INTR_DIM = 4


def sinusoidal_timestep_embedding(timestep: torch.Tensor, dim: int) -> torch.Tensor:
    """Wan's timestep embedding ``[cos(t w_i), sin(t w_i)]``, ``w_i = 10000^(-i / (dim/2))``, computed in float64
    as upstream (``sinusoidal_embedding_1d``); returns ``(B, dim)`` float64 (cast by the caller)."""
    half = dim // 2
    freqs = torch.pow(10000.0, -torch.arange(half, dtype=torch.float64, device=timestep.device).div(half))
    args = torch.outer(timestep.to(torch.float64), freqs)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class ReCamMasterTransformerBlock(WanTransformerBlock):
    """A Wan transformer block with ReCamMaster's ``cam_encoder`` and ``projector`` (see module docstring)."""

    def add_camera_modules(self, dim: int) -> None:
        self.cam_encoder = nn.Linear(CAM_EMB_DIM, dim)
        self.projector = nn.Linear(dim, dim)
        self.reset_camera_modules()

    @torch.no_grad()
    def reset_camera_modules(self) -> None:
        """Upstream's initialisation: ``cam_encoder`` zero, ``projector`` identity (the block is then exactly the
        pretrained Wan block)."""
        self.cam_encoder.weight.zero_()
        self.cam_encoder.bias.zero_()
        self.projector.weight.copy_(torch.eye(self.projector.weight.shape[0], dtype=self.projector.weight.dtype))
        self.projector.bias.zero_()

    def add_intrinsics_encoder(self, dim: int) -> None:
        """The optional intrinsics condition (issue 24): ``cam_intrinsics_encoder = Linear(4, dim, bias=False)``,
        zero-initialised, added to ``cam_encoder``'s output. Without a bias, intrinsics equal to the source's (ratios
        1, offsets 0: an input of zeros) add exactly zero whatever its weights, so the block is then exactly the
        upstream block."""
        self.cam_intrinsics_encoder = nn.Linear(CAM_INTR_DIM, dim, bias=False).to(self.cam_encoder.weight)
        with torch.no_grad():
            self.cam_intrinsics_encoder.weight.zero_()

    def forward(self, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor, temb: torch.Tensor,
                rotary_emb, cam_emb: torch.Tensor, frame_index: torch.Tensor,
                cam_intrinsics: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Args as ``WanTransformerBlock.forward`` plus ``cam_emb`` ``[B, F_cam, 12]`` (model dtype) and
        ``frame_index`` ``[1, L]`` int64: the camera frame of each token of ``hidden_states`` (``[B, L, dim]``; under
        context parallelism, this rank's tokens); ``cam_intrinsics`` ``[B, F_cam, 4]`` the optional intrinsics
        condition (used only when :meth:`add_intrinsics_encoder` was called)."""
        # cam_encoder per latent frame, broadcast to the tokens here (inside the checkpointed region: ReCamMaster's
        # [B, L, dim] camera tensor is recomputed in backward instead of kept)
        cam_frames = self.cam_encoder(cam_emb.to(self.cam_encoder.weight.dtype))
        enc = getattr(self, "cam_intrinsics_encoder", None)
        if enc is not None and cam_intrinsics is not None:
            cam_frames = cam_frames + enc(cam_intrinsics.to(enc.weight.dtype))
        cam_hidden = cam_frames[:, frame_index[0]]
        shift_msa, scale_msa, gate_msa, c_shift_msa, c_scale_msa, c_gate_msa = (
            self.scale_shift_table + temb.float()).chunk(6, dim=1)
        # 1. Self-attention, with the camera added to its input and projected output (ReCamMaster)
        norm_hidden_states = (self.norm1(hidden_states.float()) * (1 + scale_msa) + shift_msa).type_as(hidden_states)
        norm_hidden_states = norm_hidden_states + cam_hidden.to(norm_hidden_states.dtype)
        attn_output = self.projector(self.attn1(norm_hidden_states, None, None, rotary_emb))
        hidden_states = (hidden_states.float() + attn_output * gate_msa).type_as(hidden_states)
        # 2. Cross-attention
        norm_hidden_states = self.norm2(hidden_states.float()).type_as(hidden_states)
        hidden_states = hidden_states + self.attn2(norm_hidden_states, encoder_hidden_states, None, None)
        # 3. Feed-forward
        norm_hidden_states = (self.norm3(hidden_states.float()) * (1 + c_scale_msa) + c_shift_msa).type_as(
            hidden_states)
        ff_output = self.ffn(norm_hidden_states)
        return (hidden_states.float() + ff_output.float() * c_gate_msa).type_as(hidden_states)


def _register_block_for_cache_hooks() -> None:
    """diffusers' cache hooks (FirstBlockCache, MagCache) look a block's output layout up by its exact class in
    ``TransformerBlockRegistry``; ours returns the hidden states alone, like ``WanTransformerBlock``. Registered at
    import so that ``enable_cache`` sees our blocks (without it: "Model class ... not registered")."""
    from diffusers.hooks._helpers import TransformerBlockMetadata, TransformerBlockRegistry

    TransformerBlockRegistry.register(ReCamMasterTransformerBlock, TransformerBlockMetadata(
        return_hidden_states_index=0, return_encoder_hidden_states_index=None))


_register_block_for_cache_hooks()


class TokenFrameIndex(nn.Module):
    """No parameters: ``(num_frames, tokens_per_frame, cam_frames, device)`` -> ``[1, F * h * w]`` int64, the camera
    frame of every token (``(token // tokens_per_frame) % cam_frames``: the target cameras tiled over the target
    and source halves, upstream). A module so that diffusers' context-parallel plan can split its output along the
    sequence like the hidden states."""

    def forward(self, num_frames: int, tokens_per_frame: int, cam_frames: int, device) -> torch.Tensor:
        frame = torch.arange(num_frames, device=device).remainder(cam_frames)
        return frame.repeat_interleave(tokens_per_frame)[None]


class ReCamMasterTransformer3DModel(WanTransformer3DModel):
    """Wan2.1 DiT with ReCamMaster camera conditioning. Config: exactly ``WanTransformer3DModel``'s.

    Inputs of :meth:`forward`: ``hidden_states`` ``[B, 16, F_tgt + F_src, H, W]`` latents (target first, source
    second), ``timestep`` ``[B]`` in [0, 1000], ``encoder_hidden_states`` ``[B, L, text_dim]`` (UMT5 embeddings),
    ``cam_emb`` ``[B, F_tgt, 12]`` relative target-camera poses (see :func:`recam.cameras.relative_cam_emb`).
    Output: ``[B, 16, F_tgt + F_src, H, W]`` flow-matching velocity (use the first ``F_tgt`` frames).
    """

    _no_split_modules = ["ReCamMasterTransformerBlock"]
    _repeated_blocks = ["ReCamMasterTransformerBlock"]
    # Wan's context-parallel plan plus the per-token camera frame index, split along the sequence like RoPE. Wan's
    # root entry (a per-token timestep of Wan2.2) is left out: our timestep is [B], and the root hook requires a
    # tensor output where ours is a Transformer2DModelOutput.
    _cp_plan = {**{k: v for k, v in WanTransformer3DModel._cp_plan.items() if k != ""},
                "token_frame_index": {0: ContextParallelInput(split_dim=1, expected_dims=2, split_output=True)}}

    @register_to_config
    def __init__(self, patch_size=(1, 2, 2), num_attention_heads: int = 40, attention_head_dim: int = 128,
                 in_channels: int = 16, out_channels: int = 16, text_dim: int = 4096, freq_dim: int = 256,
                 ffn_dim: int = 13824, num_layers: int = 40, cross_attn_norm: bool = True,
                 qk_norm: Optional[str] = "rms_norm_across_heads", eps: float = 1e-6, image_dim: Optional[int] = None,
                 added_kv_proj_dim: Optional[int] = None, rope_max_seq_len: int = 1024,
                 pos_embed_seq_len: Optional[int] = None) -> None:
        super().__init__(patch_size=patch_size, num_attention_heads=num_attention_heads,
                         attention_head_dim=attention_head_dim, in_channels=in_channels, out_channels=out_channels,
                         text_dim=text_dim, freq_dim=freq_dim, ffn_dim=ffn_dim, num_layers=num_layers,
                         cross_attn_norm=cross_attn_norm, qk_norm=qk_norm, eps=eps, image_dim=image_dim,
                         added_kv_proj_dim=added_kv_proj_dim, rope_max_seq_len=rope_max_seq_len,
                         pos_embed_seq_len=pos_embed_seq_len)
        dim = num_attention_heads * attention_head_dim
        for block in self.blocks:
            # Re-class the parent's blocks instead of building 30 new ones: same parameters and names, plus ours.
            block.__class__ = ReCamMasterTransformerBlock
            block.add_camera_modules(dim)
        self.token_frame_index = TokenFrameIndex()

    # ------------------------------------------------------------------------------------------------------------
    def enable_context_parallel(self, ulysses_degree: int = 1, ring_degree: int = 1):
        """Split every forward's token sequence over ``ulysses_degree x ring_degree`` ranks with diffusers'
        context parallelism (``ContextParallelConfig``: Ulysses all-to-all over heads and/or ring attention) and
        this model's ``_cp_plan`` (hidden states, RoPE and the camera frame index split, output gathered). Ranks
        ``k * cp .. (k + 1) * cp - 1`` form CP group ``k`` (outer ``dp`` mesh dimension): they must get the same
        inputs and return the same output. Needs ``torch.distributed`` initialised; the attention backend must
        support it (Ulysses: ``native`` and the flash/cuDNN ones; ring needs a backend returning the log-sum-exp,
        e.g. ``flash`` or ``_native_cudnn``, not ``native``). Returns the device mesh ``(dp, ring, ulysses)``.

        Raises:
            RuntimeError: torch.distributed not initialised. ValueError: world size not a multiple of the degree.
        """
        import torch.distributed as dist
        from diffusers import ContextParallelConfig
        from diffusers.models._modeling_parallel import ParallelConfig
        from torch.distributed.device_mesh import init_device_mesh

        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError("context parallelism needs torch.distributed initialised (run under torchrun)")
        world, cp = dist.get_world_size(), ulysses_degree * ring_degree
        if ulysses_degree < 1 or ring_degree < 1 or world % cp:
            raise ValueError(f"world size {world} is not a multiple of ulysses_degree {ulysses_degree} x "
                             f"ring_degree {ring_degree}")
        acc = torch.accelerator.current_accelerator() if torch.accelerator.is_available() else None
        device_type = acc.type if acc is not None else "cpu"
        mesh = init_device_mesh(device_type, (world // cp, ring_degree, ulysses_degree),
                                mesh_dim_names=("dp", "ring", "ulysses"))
        cp_mesh = mesh["ring", "ulysses"]
        config = ContextParallelConfig(ulysses_degree=ulysses_degree, ring_degree=ring_degree, mesh=cp_mesh)
        if acc is None:
            # diffusers resolves the device as rank % accelerator count, which divides by zero on a CPU-only
            # machine (gloo); resolve it here the same way, with the CPU as device
            def resolve(cfg):
                cfg = ParallelConfig(context_parallel_config=cfg) if isinstance(cfg, ContextParallelConfig) else cfg
                cfg.setup(dist.get_rank(), world, torch.device("cpu"), mesh=cp_mesh)
                self._parallel_config = cfg
                return cfg

            self._resolve_parallel_config = resolve
        self.enable_parallelism(config=config)
        return mesh

    # ------------------------------------------------------------------------------------------------------------
    def enable_intrinsics_condition(self) -> "ReCamMasterTransformer3DModel":
        """Add the optional intrinsics condition (``model.intrinsics: true``; issue 24) to every block: a
        zero-initialised, bias-free ``cam_intrinsics_encoder`` fed the target-to-source focal ratios and
        principal-point offsets (``cam_intrinsics`` of :meth:`forward`). Call after loading an upstream checkpoint
        (its outputs are then bit-identical with ``cam_intrinsics`` None or all zeros) and before loading a
        checkpoint that holds these weights. Idempotent; returns the model."""
        dim = self.config.num_attention_heads * self.config.attention_head_dim
        for block in self.blocks:
            if getattr(block, "cam_intrinsics_encoder", None) is None:
                block.add_intrinsics_encoder(dim)
        return self

    @property
    def has_intrinsics_condition(self) -> bool:
        """True once :meth:`enable_intrinsics_condition` was called."""
        return getattr(self.blocks[0], "cam_intrinsics_encoder", None) is not None

    def intrinsics_parameters(self):
        """The intrinsics condition's weights (empty unless enabled)."""
        for block in self.blocks:
            enc = getattr(block, "cam_intrinsics_encoder", None)
            if enc is not None:
                yield from enc.parameters()

    def camera_parameters(self):
        """Parameters of the modules ReCamMaster adds (``cam_encoder``, ``projector``, and the optional
        ``cam_intrinsics_encoder``)."""
        yield from self.intrinsics_parameters()
        for block in self.blocks:
            yield from block.cam_encoder.parameters()
            yield from block.projector.parameters()


    def forward(self, hidden_states: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor,
                cam_emb: torch.Tensor, encoder_hidden_states_image: Optional[torch.Tensor] = None,
                return_dict: bool = True, attention_kwargs: Optional[Dict[str, Any]] = None,
                cam_intrinsics: Optional[torch.Tensor] = None):
        """Denoise ``[target | source]`` latents under a target camera trajectory (see class docstring).

        Raises:
            ValueError: wrong ranks, a ``cam_emb`` whose frame count does not divide the token frames, or a
                batch mismatch.
        """
        if hidden_states.ndim != 5:
            raise ValueError(f"hidden_states must be [B, C, F, H, W], got {tuple(hidden_states.shape)}")
        if cam_emb.ndim != 3 or cam_emb.shape[-1] != CAM_EMB_DIM or cam_emb.shape[0] != hidden_states.shape[0]:
            raise ValueError(f"cam_emb must be [B, F_tgt, 12] with B = {hidden_states.shape[0]}, "
                             f"got {tuple(cam_emb.shape)}")
        if cam_intrinsics is not None and tuple(cam_intrinsics.shape) != (*cam_emb.shape[:2], CAM_INTR_DIM):
            raise ValueError(f"cam_intrinsics must be [B, F_tgt, {CAM_INTR_DIM}] like cam_emb "
                             f"{tuple(cam_emb.shape[:2])}, got {tuple(cam_intrinsics.shape)}")
        batch_size, _, num_frames, height, width = hidden_states.shape
        p_t, p_h, p_w = self.config.patch_size
        ppf, pph, ppw = num_frames // p_t, height // p_h, width // p_w
        if ppf % cam_emb.shape[1]:
            raise ValueError(f"{ppf} latent frames (target + source) are not a multiple of the {cam_emb.shape[1]} "
                             f"camera frames; upstream uses F_src = F_tgt = cam_emb frames")
        if timestep.ndim != 1:
            raise ValueError(f"timestep must be [B], got {tuple(timestep.shape)}")

        # the model boundary: everything runs in the parameter dtype (autocast, if active, does the rest)
        dtype = self.patch_embedding.weight.dtype
        hidden_states = hidden_states.to(dtype)
        encoder_hidden_states = encoder_hidden_states.to(dtype)
        cam_emb = cam_emb.to(dtype)
        if cam_intrinsics is not None:
            cam_intrinsics = cam_intrinsics.to(dtype)
        if encoder_hidden_states_image is not None:
            encoder_hidden_states_image = encoder_hidden_states_image.to(dtype)

        rotary_emb = self.rope(hidden_states)
        frame_index = self.token_frame_index(ppf, pph * ppw, cam_emb.shape[1], hidden_states.device)
        hidden_states = self.patch_embedding(hidden_states).flatten(2).transpose(1, 2).contiguous()

        # Condition embedding; the sinusoid in float64 as upstream (diffusers' Timesteps computes it in float32).
        ce = self.condition_embedder
        time_dtype = next(iter(ce.time_embedder.parameters())).dtype
        t_freq = sinusoidal_timestep_embedding(timestep, self.config.freq_dim).to(time_dtype)
        temb = ce.time_embedder(t_freq).type_as(encoder_hidden_states)
        timestep_proj = ce.time_proj(ce.act_fn(temb)).unflatten(1, (6, -1))
        encoder_hidden_states = ce.text_embedder(encoder_hidden_states)
        if encoder_hidden_states_image is not None:
            encoder_hidden_states = torch.cat([ce.image_embedder(encoder_hidden_states_image),
                                               encoder_hidden_states], dim=1)

        checkpointing = torch.is_grad_enabled() and self.gradient_checkpointing
        for block in self.blocks:
            if checkpointing:
                hidden_states = self._gradient_checkpointing_func(block, hidden_states, encoder_hidden_states,
                                                                  timestep_proj, rotary_emb, cam_emb, frame_index,
                                                                  cam_intrinsics)
            else:
                hidden_states = block(hidden_states, encoder_hidden_states, timestep_proj, rotary_emb, cam_emb,
                                      frame_index, cam_intrinsics)

        shift, scale = (self.scale_shift_table.to(temb.device) + temb.unsqueeze(1)).chunk(2, dim=1)
        hidden_states = (self.norm_out(hidden_states.float()) * (1 + scale) + shift).type_as(hidden_states)
        hidden_states = self.proj_out(hidden_states)
        hidden_states = hidden_states.reshape(batch_size, ppf, pph, ppw, p_t, p_h, p_w, -1)
        output = hidden_states.permute(0, 7, 1, 4, 2, 5, 3, 6).flatten(6, 7).flatten(4, 5).flatten(2, 3)
        if not return_dict:
            return (output,)
        return Transformer2DModelOutput(sample=output)

    # ------------------------------------------------------------------------------------------------------------
    # Loading (implementations in recam.convert; kept here as the model's public API)
    # ------------------------------------------------------------------------------------------------------------
    @classmethod
    def from_official(cls, path, config: Optional[Dict[str, Any]] = None, torch_dtype: Optional[torch.dtype] = None,
                      strict_camera: bool = True) -> "ReCamMasterTransformer3DModel":
        """Load upstream's checkpoint (``step20000.ckpt``: ``torch.save(dit.state_dict())``, original Wan key names
        plus ``blocks.N.cam_encoder`` / ``blocks.N.projector``) or an original Wan / DiffSynth DiT ``.safetensors``
        (no camera keys: they are initialised zero/identity).

        Args:
            path: ``.ckpt`` / ``.pt`` / ``.pth`` (loaded with ``torch.load(..., weights_only=True)``) or
                ``.safetensors``.
            config: upstream ``WanModel`` kwargs (``dim, in_dim, ffn_dim, out_dim, text_dim, freq_dim, eps,
                patch_size, num_heads, num_layers, has_image_input``); None = Wan2.1-T2V-1.3B.
            torch_dtype: cast after loading (default: keep the checkpoint's dtype).
            strict_camera: a ``.ckpt`` must contain the camera modules of every block.

        Raises:
            FileNotFoundError, ValueError: missing file, keys that do not map, or shapes that do not match the config
                (the message says which config to pass).
        """
        from .convert import load_official

        return load_official(cls, path, config=config, torch_dtype=torch_dtype, strict_camera=strict_camera)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs) -> "ReCamMasterTransformer3DModel":
        """diffusers ``from_pretrained`` for a local folder; a plain Wan2.1 transformer folder (no camera weights)
        loads too, with the camera modules initialised zero/identity. Nothing is left on the meta device.
        ``local_files_only`` defaults to True (nothing is downloaded)."""
        from .convert import from_pretrained_with_camera

        kwargs.setdefault("local_files_only", True)
        return from_pretrained_with_camera(super().from_pretrained, pretrained_model_name_or_path, *args, **kwargs)
