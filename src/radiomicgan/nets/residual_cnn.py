"""Choe et al. 2019's kernel-conversion CNN: six 3x3 convolutions that predict the residual in HU.

Choe et al. (Radiology 2019) convert a CT image of one reconstruction kernel to another with a
plain CNN of 6 conv layers, 3x3 kernels and 64 channels (ReLU between them) working on raw HU:
it predicts the difference between the two kernels' images, and the output is the input plus
that residual.

Here the slice arrives windowed to [0, 1] like every generator's. The network sees it as HU divided
by the width of the paper's range [-1024, 1000] (2024 HU): raw HU in other units, sign and zero
kept, so the ReLU layers cut where they would on raw HU. The residual comes out in the same units
and is added to the input; the output is not squashed, because a residual may sharpen an edge past
the window as the standard kernel does.
"""

from __future__ import annotations

import torch
from torch import nn

from radiomicgan.config import ResidualCNNConfig
from radiomicgan.nets.common import Generator

FULL_RANGE_HU = (-1024.0, 1000.0)  # the range the baselines train in (paper Sec. 3.1)
HU_UNIT = FULL_RANGE_HU[1] - FULL_RANGE_HU[0]  # 2024 HU: one [0, 1] unit of the windowed input


class ResidualCNN(Generator):
    """x -> x + f(x) for [B, 1, H, W] slices in [0, 1], f a stack of 3x3 convs working on HU."""

    def __init__(self, config: ResidualCNNConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(1, config.channels, 3, padding=1), nn.ReLU()]
        for _ in range(config.layers - 2):
            layers += [nn.Conv2d(config.channels, config.channels, 3, padding=1), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(config.channels, 1, 3, padding=1, bias=False)
        # Ours: a zero last layer starts the network at the identity (residual 0), so the first
        # steps refine the input instead of undoing a random residual.
        nn.init.zeros_(self.head.weight)

    def encoder_stages(self) -> list[nn.Module]:
        # every other ReLU: the network has no downsampling, so its stages differ in receptive field only
        return list(self.body)[1::4]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        hu = x + FULL_RANGE_HU[0] / HU_UNIT  # HU / 2024: (x * 2024 - 1024) / 2024
        residual: torch.Tensor = self.head(self.body(hu))
        return x + residual
