"""Choe et al. 2019: a CNN learns the residual between the two kernels with an L2 loss; no adversary.

Choe J, Lee SM, Do KH, et al. "Deep learning-based image conversion of CT reconstruction kernels
improves radiomics reproducibility for pulmonary nodules or masses." Radiology 2019;292:365-373.
The network is `radiomicgan.nets.ResidualCNN` (6 conv 3x3, 64 channels); it is trained with the
mean squared error in HU and Adam at lr 1e-4, as published. What differs, and why, is in
docs/baselines.md: random crops instead of whole slices (the loop's shared data handling), and
Adam's default beta1 of 0.9 (the paper gives the learning rate only; `baselines.choe.adam_beta1`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from radiomicgan.config import TrainConfig
from radiomicgan.nets import Generator
from radiomicgan.nets.residual_cnn import HU_UNIT
from radiomicgan.training.parts import Method, SampleFn


@dataclass
class ChoeParts:
    """The residual CNN and its optimizer (a `Learner`)."""

    generator: nn.Module
    optimizer: torch.optim.Optimizer
    batch_size: int

    def networks(self) -> dict[str, nn.Module]:
        return {"g": self.generator}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_g": self.optimizer}

    def model(self) -> nn.Module:
        return self.generator

    def train_step(self, sample: SampleFn) -> dict[str, float]:
        """One Adam step on the mean squared error in HU^2 (Choe et al.'s L2 loss in raw HU)."""
        source, target = sample(self.batch_size)
        self.optimizer.zero_grad(set_to_none=True)
        # the windowed units times 2024 are HU: the loss is the published L2 on raw HU
        loss = torch.mean(((self.generator(source) - target) * HU_UNIT) ** 2)
        loss.backward()  # type: ignore[no-untyped-call]
        self.optimizer.step()
        return {"g_l2_hu2": loss.item()}


def build_choe(generator: Generator, config: TrainConfig, device: torch.device) -> ChoeParts:
    """Choe et al.'s network (the "choe" generator) with Adam at its rate, `baselines.choe` beta1."""
    beta1 = config.baselines.choe.adam_beta1
    optimizer = torch.optim.Adam(generator.parameters(), lr=config.learning_rate, betas=(beta1, 0.999))
    return ChoeParts(generator, optimizer, config.batch_size)


# Choe et al. 2019: residual CNN, L2 in HU
METHOD = Method(
    build_choe, generator="choe", help="Choe et al. 2019: 6-layer CNN predicting the residual, L2 loss in HU"
)
