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
                       num_target_frames: int, condition_timestep_index: torch.Tensor | None = None,
                       reduce: bool = True) -> torch.Tensor:
    """Upstream ReCamMaster training loss (``train_recammaster.py``), per sample.

    ``x_t = (1 - sigma) x0 + sigma eps`` on all frames; the source half (frames ``num_target_frames:``) is then
    replaced by the clean latents (or, with ``condition_timestep_index``, by latents noised to that level: the paper's
    condition-noise augmentation); ``target = eps - x0``; MSE over the target half only, times the timestep weight.

    Args:
        model: the DiT (``(x, t, context, cam_emb) -> velocity``).
        latents, noise: ``[B, C, F_tgt + F_src, H, W]``.
        timestep_index: ``[B]`` long, indices into ``schedule``.
        context: ``[B, L, text_dim]``; cam_emb: ``[B, F_tgt, 12]``.
        condition_timestep_index: ``[B]`` long or None.
        reduce: mean over the batch (else ``[B]``).
    """
    b = latents.shape[0]
    shape = (b,) + (1,) * (latents.ndim - 1)
    sigma = schedule.sigmas.to(latents.device)[timestep_index].view(shape).to(latents.dtype)
    noisy = (1 - sigma) * latents + sigma * noise
    cond = latents[:, :, num_target_frames:]
    if condition_timestep_index is not None:
        cs = schedule.sigmas.to(latents.device)[condition_timestep_index].view(shape).to(latents.dtype)
        cond = (1 - cs) * cond + cs * noise[:, :, num_target_frames:]
    noisy = torch.cat([noisy[:, :, :num_target_frames], cond], dim=2)
    timestep = schedule.timesteps.to(latents.device)[timestep_index].to(latents.dtype)
    pred = model(noisy, timestep, context, cam_emb).sample
    target = noise - latents
    per_sample = F.mse_loss(pred[:, :, :num_target_frames].float(), target[:, :, :num_target_frames].float(),
                            reduction="none").flatten(1).mean(1)
    loss = per_sample * schedule.weights.to(latents.device)[timestep_index].float()
    return loss.mean() if reduce else loss
