"""A small residual U-Net (ours): the correction on top of the prefilter, at a few percent of the VGG's cost.

Behind the Wiener prefilter most of a kernel conversion is already done, so what is left to learn is
local: texture and edges a linear filter cannot restore (README, Results). This network is sized for
that. It has `levels` stride-2 downsamplings, each doubling the width from `base_channels`, and
`convs` 3x3 convolutions per level on each side. A 2x2 stride-2 transposed conv goes up, because it
does not overlap, so it makes no checkerboard; each decoder level fuses the encoder's skip of its
resolution. The 1x1 head starts at zero, so training starts from the identity, as the VGG U-Net's
residual head and Choe et al.'s CNN do.

The slice arrives windowed to [0, 1] and is shifted as Choe et al.'s CNN shifts it (`residual_cnn`):
in the full range [-1024, 1000] the network sees HU over 2,024. Batch norm after each conv by default:
measured on the lung CT's iterative scenario (README, Quality per FLOP), the same network without it
barely left the identity in 440 steps (at lr 1e-4 or 1e-3, 3 or 5 levels), and with it learned as
fast as the VGG U-Net, whose skips and decoder have batch norm too. In `harmonize` (eval mode) a batch
norm is a fixed per-channel affine map, so the network is local: each output pixel depends on its
neighbourhood only, whatever else the slice or the batch holds.

Cost per 512x512 slice (torch.utils.flop_counter, convolutions): 7.5 GFLOP at the default base 8
with 5 levels (since session 16), 29.8 at base 16 (the default before), against the VGG-19 U-Net's 429
(`benchmarks/quality_per_flop.py`).
"""

from __future__ import annotations

import torch
from torch import nn

from radiomicgan.config import ResidualUNetConfig
from radiomicgan.nets.common import Generator, conv_bias, norm_layer
from radiomicgan.nets.residual_cnn import FULL_RANGE_HU, HU_UNIT


def _conv(in_channels: int, out_channels: int, norm: str, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=conv_bias(norm)),
        norm_layer(norm, out_channels),
        nn.ReLU(),
    )


def _stack(in_channels: int, out_channels: int, convs: int, norm: str, stride: int = 1) -> nn.Sequential:
    """`convs` 3x3 convs, the first from `in_channels` (and with `stride`), the rest at `out_channels`."""
    layers = [_conv(in_channels, out_channels, norm, stride)]
    layers += [_conv(out_channels, out_channels, norm) for _ in range(convs - 1)]
    return nn.Sequential(*layers)


class _Up(nn.Module):
    """Double the resolution with a 2x2 transposed conv, then fuse the skip of that resolution."""

    def __init__(self, in_channels: int, out_channels: int, convs: int, norm: str) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
        self.fuse = _stack(2 * out_channels, out_channels, convs, norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([self.up(x), skip], dim=1))  # type: ignore[no-any-return]


class ResidualUNet(Generator):
    """x -> x + f(x) for [B, 1, H, W] slices in [0, 1]; H and W multiples of 2**levels."""

    def __init__(self, config: ResidualUNetConfig) -> None:
        super().__init__()
        self.size_multiple = 2**config.levels
        widths = [config.base_channels * 2**i for i in range(config.levels + 1)]
        norm, convs = config.norm, config.convs
        self.stem = _stack(1, widths[0], convs, norm)
        self.downs = nn.ModuleList(
            _stack(widths[i], widths[i + 1], convs, norm, stride=2) for i in range(config.levels)
        )
        self.ups = nn.ModuleList(
            _Up(widths[i + 1], widths[i], convs, norm) for i in reversed(range(config.levels))
        )
        # torch's default (Kaiming-uniform) initialization, not pix2pix's N(0, 0.02): without norm
        # layers that would shrink the signal about tenfold a layer, and the first steps learn nothing
        self.head = nn.Conv2d(widths[0], 1, 1)
        with torch.no_grad():  # start from the identity: the prefiltered input is most of the answer
            self.head.weight.zero_()
            self.head.bias.zero_()  # type: ignore[union-attr]

    def encoder_stages(self) -> list[nn.Module]:
        # full, 1/2, 1/4 and 1/8 resolution: Park et al.'s CUT reads its encoder down to 1/4, and one
        # level more still leaves 8 x 8 locations in a 64 px crop
        return [self.stem, *self.downs[:3]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        hu = x + FULL_RANGE_HU[0] / HU_UNIT  # HU / 2024, as Choe et al.'s CNN sees it
        skips = [self.stem(hu)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        y = skips.pop()
        for up in self.ups:
            y = up(y, skips.pop())
        return x + self.head(y)  # type: ignore[no-any-return]
