"""pix2pix's PatchGAN discriminator, conditioned on the input slice (paper Sec. 2.1; Isola et al. 2017).

It classifies each overlapping 70x70 patch (with 3 layers) as standard (positive logit) or synthesized
(negative logit), so it judges texture rather than layout, which is what kernel harmonization changes.
The input is the non-standard slice and a candidate (the real standard slice or the generator's
output) stacked as 2 channels.
"""

from __future__ import annotations

import torch
from torch import nn

from radiomicgan.config import PatchGANConfig
from radiomicgan.nets.common import conv_bias, init_pix2pix, norm_layer


class PatchGAN(nn.Module):
    """A map of logits, one per patch: [B, 1, ~H/2**layers - 2, ~W/2**layers - 2].

    `cam_layer` is the last feature layer (after its activation), the one Grad-CAM reads.
    Inputs must be at least 2**(layers + 2) pixels on a side (32 with 3 layers).

    Args:
        config: width, depth and norm.
        in_channels: the stacked inputs: condition + candidate (STAN-CT adds a texture map: 3).
    """

    def __init__(self, config: PatchGANConfig, in_channels: int = 2) -> None:
        super().__init__()
        c, norm, bias = config.base_channels, config.norm, conv_bias(config.norm)
        widths = [c * min(2**i, 8) for i in range(config.layers + 1)]
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, c, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
        ]
        for i in range(1, config.layers + 1):
            stride = 2 if i < config.layers else 1  # the last feature layer widens the field, not the stride
            layers += [
                nn.Conv2d(widths[i - 1], widths[i], 4, stride=stride, padding=1, bias=bias),
                norm_layer(norm, widths[i]),
                nn.LeakyReLU(0.2),
            ]
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(widths[-1], 1, 4, stride=1, padding=1)
        init_pix2pix(self)

    @property
    def cam_layer(self) -> nn.Module:
        return self.features

    def forward(self, condition: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(torch.cat([condition, candidate], dim=1)))  # type: ignore[no-any-return]
