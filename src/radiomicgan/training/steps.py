"""One adversarial training step: the pix2pix objective, adversarial + lambda * L1 (paper Sec. 2.1).

The discriminator sees (input, candidate) pairs; its logit is positive for the standard kernel.
RadiomicGAN and the plain pix2pix baseline share this step; other GAN baselines reuse its pieces.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Self

import torch
import torch.nn.functional as F
from torch import nn

from radiomicgan.config import TrainConfig
from radiomicgan.training.parts import SampleFn
from radiomicgan.training.spectrum_loss import power_spectrum_loss


@dataclass
class GanParts:
    """The two networks and their optimizers, as a step needs them (a `Learner`).

    Attributes:
        l1_weight: lambda of adversarial + lambda * L1.
        batch_size: crops per step.
        spectrum_weight: weight of the power-spectrum term (`spectrum_loss`); 0 leaves it out.
    """

    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    l1_weight: float = 100.0
    batch_size: int = 4
    spectrum_weight: float = field(default=0.0, kw_only=True)  # keyword: subclasses' fields follow

    @classmethod
    def around(
        cls, generator: nn.Module, discriminator: nn.Module, config: TrainConfig, **method_fields: Any
    ) -> Self:
        """The parts with an Adam optimizer per network and the run's L1 weight and batch size.

        `method_fields` are a subclass's own fields (a baseline's settings section).
        """
        return cls(
            generator,
            discriminator,
            adam(generator, config.learning_rate, config.beta1),
            adam(discriminator, config.learning_rate, config.beta1),
            config.l1_weight,
            config.batch_size,
            spectrum_weight=config.spectrum_weight,
            **method_fields,
        )

    def networks(self) -> dict[str, nn.Module]:
        return {"g": self.generator, "d": self.discriminator}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}

    def model(self) -> nn.Module:
        return self.generator

    def train_step(self, sample: SampleFn) -> dict[str, float]:
        source, target = sample(self.batch_size)
        return gan_step(self, source, target, self.l1_weight, self.spectrum_weight)


def adam(module: nn.Module, lr: float, beta1: float) -> torch.optim.Adam:
    """Adam over the trainable parameters only (frozen VGG layers get no optimizer state)."""
    params = [p for p in module.parameters() if p.requires_grad]
    return torch.optim.Adam(params, lr=lr, betas=(beta1, 0.999))


def gan_step(
    parts: GanParts,
    source: torch.Tensor,
    target: torch.Tensor,
    l1_weight: float,
    spectrum_weight: float = 0.0,
) -> dict[str, float]:
    """Update the discriminator, then the generator, on one batch of windowed [B, 1, H, W] slices.

    Returns:
        The losses: "d" (discriminator), "g_adv", "g_l1" (mean absolute error in [0, 1] units), "g",
        and "g_spectrum" when `spectrum_weight` > 0.
    """
    generator, discriminator = parts.generator, parts.discriminator
    fake = generator(source)

    parts.opt_d.zero_grad(set_to_none=True)
    real_logits = discriminator(source, target)
    fake_logits = discriminator(source, fake.detach())
    loss_d = 0.5 * (bce(real_logits, True) + bce(fake_logits, False))
    loss_d.backward()  # type: ignore[no-untyped-call]
    parts.opt_d.step()

    with frozen(discriminator):
        parts.opt_g.zero_grad(set_to_none=True)
        loss_adv = bce(discriminator(source, fake), True)
        loss_l1 = F.l1_loss(fake, target)
        loss_g = loss_adv + l1_weight * loss_l1
        losses = {"d": loss_d.item(), "g_adv": loss_adv.item(), "g_l1": loss_l1.item()}
        if spectrum_weight > 0:
            loss_spectrum = power_spectrum_loss(fake, target)
            loss_g = loss_g + spectrum_weight * loss_spectrum
            losses["g_spectrum"] = loss_spectrum.item()
        loss_g.backward()  # type: ignore[no-untyped-call]
        parts.opt_g.step()
    return losses | {"g": loss_g.item()}


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Stop tracking a module's parameter gradients for a while (restored after).

    A generator step leaves D's weights alone; not tracking their gradients saves the work.
    """
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """Binary cross-entropy of logits against an all-real (True) or all-synthesized (False) label."""
    labels = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, labels)
