"""What the unpaired GANs share (`methods.cyclegan`, `methods.cut`): a discriminator of one slice
alone, the least-squares GAN loss, a checkpointed step count and the learning rate's linear decay.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from radiomicgan.config import PatchGANConfig
from radiomicgan.methods.stanct import with_texture
from radiomicgan.nets import PatchGAN


class SliceDiscriminator(nn.Module):
    """pix2pix's PatchGAN judging one slice alone: a map of logits, positive for the real domain.

    With a texture gain it sees the slice beside its texture map (`methods.stanct.with_texture`).
    """

    def __init__(
        self, config: PatchGANConfig, texture_sigma_px: float = 1.0, texture_gain: float = 0.0
    ) -> None:
        super().__init__()
        self.texture_sigma_px, self.texture_gain = texture_sigma_px, texture_gain
        self.patchgan = PatchGAN(config, in_channels=2 if texture_gain > 0 else 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.texture_gain > 0:
            x = with_texture(x, self.texture_sigma_px, self.texture_gain)
        return self.patchgan.head(self.patchgan.features(x))  # type: ignore[no-any-return]


class StepCounter(nn.Module):
    """Steps taken, as a buffer, so that the learning rate's decay resumes where it stopped."""

    steps: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("steps", torch.tensor(0))


def lsgan(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """The least-squares GAN loss: mean (logit - 1)^2 against real, mean logit^2 against synthesized."""
    return F.mse_loss(logits, torch.ones_like(logits) if real else torch.zeros_like(logits))


def set_learning_rate(lr: float, *optimizers: torch.optim.Optimizer) -> None:
    """Every parameter group of `optimizers` takes `lr` (the step's decayed rate)."""
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            group["lr"] = lr


def linear_decay(lr: float, step: int, total_steps: int, decay_fraction: float) -> float:
    """`lr`, decaying linearly to 0 over the last `decay_fraction` of `total_steps` (Zhu et al. Sec. 4)."""
    decay_steps = round(decay_fraction * total_steps)
    start = total_steps - decay_steps
    if decay_steps == 0 or step < start:
        return lr
    return lr * max(0.0, 1.0 - (step - start) / decay_steps)
