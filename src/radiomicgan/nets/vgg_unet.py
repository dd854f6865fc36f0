"""RadiomicGAN's generator: a U-Net whose encoder is VGG-19 conv groups 1-4 (paper Sec. 2.1, Fig. 1).

Encoder: four neural blocks. Block k is VGG-19's conv group k (ImageNet weights, frozen) followed by
one trainable 3x3 conv whose output is the skip to the matching decoder stage. The trainable conv is a
side branch: the VGG chain itself stays as pretrained, so group k+1 sees the features its weights were
trained on, as in style transfer (the paper's inspiration, [9, 10]). The paper names no norm for the
trainable conv; it gets the configured norm (as the authors' code, which used batch norm) and a ReLU,
which also brings VGG's large deep activations to the decoder's scale.

Decoder: from block 4 (1/8 resolution) up three times, each time fusing the skip of the same
resolution, then a 1x1 conv to one channel. With `output="sigmoid"` (the paper's head) a sigmoid
maps it to the windowed [0, 1] range; the authors' tanh output rescaled to [0, 1] is the same
function, sigmoid(2z). With `output="residual"` (ours, the default) the head's zero-initialized
output is added to the input instead: training starts from the identity and learns the kernels'
difference, which is small next to the image; out-of-range values are clipped when the output is
turned back into HU. Measured on the lung CT benchmark, the residual head trains an order of
magnitude faster on a CPU budget (README, Results).

Input: a windowed slice [B, 1, H, W] in [0, 1], H and W multiples of 8 (three pools). It is repeated
to three channels and normalized with ImageNet's statistics inside the model, as the VGG weights expect.
"""

from __future__ import annotations

import torch
from torch import nn

from radiomicgan.config import VGGUNetConfig
from radiomicgan.nets.common import Generator, conv_bias, init_pix2pix, norm_layer
from radiomicgan.nets.encoder_weights import NO_WEIGHTS, EncoderWeights, resolve_freeze
from radiomicgan.nets.vgg19 import GROUP_WIDTHS, IMAGENET_MEAN, IMAGENET_STD, VGG19Features


class SkipConv(nn.Sequential):
    """The trainable layer of a neural block: filters a VGG group's features for the decoder."""

    def __init__(self, in_channels: int, out_channels: int, norm: str) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=conv_bias(norm)),
            norm_layer(norm, out_channels),
            nn.ReLU(),
        )


class Up(nn.Module):
    """Double the resolution, then fuse the encoder's skip of that resolution with a 3x3 conv."""

    def __init__(
        self, in_channels: int, skip_channels: int, out_channels: int, upsample: str, norm: str
    ) -> None:
        super().__init__()
        bias = conv_bias(norm)
        if upsample == "transpose":
            up: nn.Module = nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=bias)
        elif upsample == "bilinear":  # no checkerboard artifacts, at the cost of a softer upsampling
            up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias),
            )
        else:
            raise ValueError(f"unknown upsample {upsample!r} (known: transpose, bilinear)")
        self.up = nn.Sequential(up, norm_layer(norm, out_channels), nn.ReLU())
        self.fuse = nn.Sequential(
            nn.Conv2d(out_channels + skip_channels, out_channels, 3, padding=1, bias=bias),
            norm_layer(norm, out_channels),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([self.up(x), skip], dim=1))  # type: ignore[no-any-return]


class VGGUNet(Generator):
    """RadiomicGAN's generator. `encoder_record` and `encoder_frozen` say what the encoder holds.

    Args:
        config: architecture knobs (its `encoder_weights` is read by the caller, which loads `weights`).
        weights: VGG-19 encoder weights; random (torchvision's initialization) when not pretrained.
    """

    size_multiple = 8  # three 2x2 pools between the four VGG groups
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, config: VGGUNetConfig, weights: EncoderWeights = NO_WEIGHTS) -> None:
        super().__init__()
        self.encoder = VGG19Features()
        if weights.state is not None:
            self.encoder.load_state_dict(weights.state, strict=True)
        self.encoder_record = weights.record()  # for the model file
        self.encoder_frozen = resolve_freeze(weights.pretrained, config.freeze_encoder)
        self.encoder.requires_grad_(not self.encoder_frozen)

        skip_widths = [max(1, round(w * config.skip_width)) for w in GROUP_WIDTHS]
        self.skips = nn.ModuleList(
            SkipConv(w, s, config.norm) for w, s in zip(GROUP_WIDTHS, skip_widths, strict=True)
        )
        # Decoder stages mirror VGG's widths: 1/8 -> 1/4 (256), -> 1/2 (128), -> 1 (64).
        self.ups = nn.ModuleList(
            [
                Up(skip_widths[3], skip_widths[2], GROUP_WIDTHS[2], config.upsample, config.norm),
                Up(GROUP_WIDTHS[2], skip_widths[1], GROUP_WIDTHS[1], config.upsample, config.norm),
                Up(GROUP_WIDTHS[1], skip_widths[0], GROUP_WIDTHS[0], config.upsample, config.norm),
            ]
        )
        self.residual = config.output == "residual"
        self.head = nn.Conv2d(GROUP_WIDTHS[0], 1, kernel_size=1)
        init_pix2pix(self.skips)
        init_pix2pix(self.ups)
        init_pix2pix(self.head)
        if self.residual:  # start from the identity: the input is already most of the answer
            with torch.no_grad():
                self.head.weight.zero_()
                self.head.bias.zero_()  # type: ignore[union-attr]
        # Not saved with the weights: they are constants of the VGG weights, not learned.
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def encoder_stages(self) -> list[nn.Module]:
        # the skips of the four VGG groups: they learn even where the encoder itself is frozen
        return list(self.skips)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        rgb = (x.expand(-1, 3, -1, -1) - self.mean) / self.std
        # Nothing before a frozen encoder trains, so it need not keep activations for backward.
        encoder_trains = any(p.requires_grad for p in self.encoder.parameters())
        with torch.set_grad_enabled(torch.is_grad_enabled() and encoder_trains):
            features = self.encoder(rgb)
        skips = [skip(f) for skip, f in zip(self.skips, features, strict=True)]
        y = skips[3]
        for up, skip in zip(self.ups, reversed(skips[:3]), strict=True):
            y = up(y, skip)
        if self.residual:
            return x + self.head(y)  # type: ignore[no-any-return]
        return torch.sigmoid(self.head(y))
