"""pix2pix's U-Net generator (Isola et al. 2017), trained from scratch: the plain pix2pix baseline.

Encoder: `downs` 4x4 stride-2 convs (64, 128, 256, 512, 512, ... channels) with LeakyReLU(0.2);
decoder: 4x4 stride-2 transposed convs with ReLU, each fed the concatenation of the previous decoder
output and the encoder output of the same resolution. As in pix2pix: no norm on the outermost and
innermost encoder layers, dropout 0.5 in the decoder layers of the 512-channel blocks next to the
innermost one, and a tanh output; here the tanh is mapped to [0, 1] (and the input to [-1, 1]) so the
interface matches every generator's: a windowed slice in [0, 1] in, one out.
"""

from __future__ import annotations

import torch
from torch import nn

from radiomicgan.config import UNetConfig
from radiomicgan.nets.common import Generator, conv_bias, init_pix2pix, norm_layer


class UNet(Generator):
    """pix2pix's U-Net generator for [B, 1, H, W] slices in [0, 1]."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        n, norm, bias = config.downs, config.norm, conv_bias(config.norm)
        self.size_multiple = 2**n
        widths = [config.base_channels * min(2**i, 8) for i in range(n)]

        downs: list[nn.Module] = [nn.Conv2d(1, widths[0], 4, stride=2, padding=1)]
        for i in range(1, n):
            innermost = i == n - 1
            downs.append(
                nn.Sequential(
                    nn.LeakyReLU(0.2),
                    nn.Conv2d(widths[i - 1], widths[i], 4, stride=2, padding=1, bias=bias),
                    nn.Identity() if innermost else norm_layer(norm, widths[i]),
                )
            )
        self.downs = nn.ModuleList(downs)

        ups: list[nn.Module] = []
        for i in range(n - 1, 0, -1):  # up i undoes down i: to widths[i - 1] at down i's input resolution
            in_channels = widths[i] if i == n - 1 else 2 * widths[i]
            ups.append(
                nn.Sequential(
                    nn.ReLU(),
                    nn.ConvTranspose2d(in_channels, widths[i - 1], 4, stride=2, padding=1, bias=bias),
                    norm_layer(norm, widths[i - 1]),
                    nn.Dropout(config.dropout) if 4 <= i <= n - 2 else nn.Identity(),
                )
            )
        self.ups = nn.ModuleList(ups)
        self.head = nn.Sequential(
            nn.ReLU(), nn.ConvTranspose2d(widths[0] if n == 1 else 2 * widths[0], 1, 4, stride=2, padding=1)
        )
        init_pix2pix(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        h = 2.0 * x - 1.0
        skips = []
        for down in self.downs:
            h = down(h)
            skips.append(h)
        y = skips.pop()
        for up in self.ups:
            y = torch.cat([skips.pop(), up(y)], dim=1)
        return (torch.tanh(self.head(y)) + 1.0) / 2.0
