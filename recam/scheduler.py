"""Flow-matching schedules of upstream ReCamMaster (DiffSynth ``FlowMatchScheduler(shift=5, sigma_min=0,
extra_one_step=True)``; REFERENCE §2) and the training loss.

Inference uses diffusers' ``FlowMatchEulerDiscreteScheduler`` configured to the same schedule
(:func:`make_inference_scheduler`). Training uses :class:`TrainingSchedule`: 1000 timesteps
``t = 1000 sigma``, ``sigma = shift s / (1 + (shift - 1) s)``, ``s = linspace(1, 0, 1001)[:-1]``, with upstream's
Gaussian loss weight ``w = (y - min y) * 1000 / sum(y - min y)``, ``y = exp(-2 ((t - 500) / 1000)^2)``
(mean 1, zero at ``t = 1000``). Computed in float32 like upstream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["TrainingSchedule", "make_inference_scheduler", "inference_sigmas", "flow_matching_loss", "SHIFT"]

SHIFT = 5.0


def inference_sigmas(num_steps: int) -> np.ndarray:
    """Unshifted sigmas ``linspace(1, 0, N + 1)[:-1]`` to pass to diffusers (it applies the shift)."""
    return np.linspace(1.0, 0.0, num_steps + 1)[:-1]


def make_inference_scheduler(num_steps: int = 50, shift: float = SHIFT):
    """diffusers ``FlowMatchEulerDiscreteScheduler`` on upstream's schedule: ``num_steps`` sigmas
    ``shift s / (1 + (shift-1) s)``, timesteps ``1000 sigma``, Euler step to a final sigma of 0."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    sched = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=shift)
    sched.set_timesteps(sigmas=inference_sigmas(num_steps))
    return sched


@dataclass(frozen=True)
class TrainingSchedule:
    """Upstream's 1000-step training schedule: ``sigmas``, ``timesteps`` and loss ``weights`` (float32, [1000])."""

    sigmas: torch.Tensor
    timesteps: torch.Tensor
    weights: torch.Tensor

    @classmethod
    def create(cls, num_train_timesteps: int = 1000, shift: float = SHIFT) -> "TrainingSchedule":
        s = torch.linspace(1.0, 0.0, num_train_timesteps + 1)[:-1]
        sigmas = shift * s / (1 + (shift - 1) * s)
        t = sigmas * num_train_timesteps
        y = torch.exp(-2 * ((t - num_train_timesteps / 2) / num_train_timesteps) ** 2)
        y = y - y.min()
        return cls(sigmas, t, y * (num_train_timesteps / y.sum()))

    def __len__(self) -> int:
        return len(self.sigmas)

    def index_for_timestep_range(self, t_min: float, t_max: float) -> torch.Tensor:
        """Indices whose timestep lies in ``[t_min, t_max]`` (e.g. 200-500 for condition-latent noise)."""
        return torch.nonzero((self.timesteps >= t_min) & (self.timesteps <= t_max)).flatten()


def flow_matching_loss(model, latents: torch.Tensor, noise: torch.Tensor, timestep_index: torch.Tensor,
                       schedule: TrainingSchedule, context: torch.Tensor, cam_emb: torch.Tensor,
                       num_target_frames: int, condition: torch.Tensor | None = None,
                       reduce: bool = True, cam_intrinsics: torch.Tensor | None = None) -> torch.Tensor:
    """Upstream ReCamMaster training loss (``train_recammaster.py``).

    ``x_t = (1 - sigma) x0 + sigma eps`` on the target frames; the source half of the model input is the clean
    source latents (upstream) or ``condition`` (the trainer's noised / dropped-out source for the paper's
    strategies); ``target = eps - x0``; MSE over the target half only, times upstream's timestep weight.

    Args:
        model: the DiT (``(x, t, context, cam_emb) -> .sample``).
        latents, noise: ``[B, C, F_tgt + F_src, H, W]`` (target first).
        timestep_index: ``[B]`` long, indices into ``schedule``.
        context: ``[B, L, text_dim]``; cam_emb: ``[B, F_tgt, 12]``.
        condition: ``[B, C, F_src, H, W]`` replacing the clean source half, or None.
        reduce: mean over the batch (else per-sample ``[B]``).
        cam_intrinsics: ``[B, F_tgt, 4]`` the optional intrinsics condition (passed to the model only when given).
    """
    b = latents.shape[0]
    f = num_target_frames
    shape = (b,) + (1,) * (latents.ndim - 1)
    sigma = schedule.sigmas.to(latents.device)[timestep_index].view(shape).to(latents.dtype)
    noisy = (1 - sigma) * latents[:, :, :f] + sigma * noise[:, :, :f]
    cond = latents[:, :, f:] if condition is None else condition.to(latents.dtype)
    x = torch.cat([noisy, cond], dim=2)
    timestep = schedule.timesteps.to(latents.device)[timestep_index].to(torch.float32)
    extra = {} if cam_intrinsics is None else {"cam_intrinsics": cam_intrinsics}
    pred = model(x, timestep, context, cam_emb, **extra).sample
    target = noise[:, :, :f] - latents[:, :, :f]
    per_sample = F.mse_loss(pred[:, :, :f].float(), target.float(), reduction="none").flatten(1).mean(1)
    loss = per_sample * schedule.weights.to(latents.device)[timestep_index].float()
    return loss.mean() if reduce else loss
