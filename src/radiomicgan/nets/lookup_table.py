"""A pixel-wise lookup table as a generator: what histogram matching fits.

The table holds the output at evenly spaced input values ("knots") over [0, 1]; inputs between
knots are interpolated linearly. With the default knots and the full range [-1024, 1000] HU, the
knots fall on every integer HU, so integer input is looked up exactly. A new table is the identity.
"""

from __future__ import annotations

import torch

from radiomicgan.nets.common import Generator

KNOTS = 2025  # one per integer HU of the paper's range [-1024, 1000] (2024 HU wide)


class LookupTable(Generator):
    """y = T(x) for [B, 1, H, W] slices in [0, 1]; `table` [knots] holds T at x = k / (knots - 1).

    The table is a buffer, not a parameter: it is fitted in closed form, never by gradients.
    """

    table: torch.Tensor

    def __init__(self, knots: int = KNOTS) -> None:
        super().__init__()
        if knots < 2:
            raise ValueError("a lookup table needs at least 2 knots")
        self.register_buffer("table", torch.linspace(0.0, 1.0, knots))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        knots = self.table.numel()
        position = x.clamp(0.0, 1.0) * (knots - 1)
        below = position.floor().clamp(max=knots - 2)
        fraction = position - below
        index = below.long()
        return self.table[index] * (1.0 - fraction) + self.table[index + 1] * fraction
