"""What the networks share: the generator interface, normalization layers, pix2pix's initialization."""

from __future__ import annotations

import torch
from torch import nn


class Generator(nn.Module):
    """A generator maps a windowed slice [B, 1, H, W] in [0, 1] to its standard-kernel twin, same shape.

    Attributes:
        size_multiple: H and W must be multiples of this; the harmonizer pads whole slices up to it.
        encoder_record: where pretrained encoder weights came from (`EncoderWeights.record()`), for
            the model file; None for a generator without a pretrained-capable encoder.
        encoder_frozen: whether the encoder's weights are frozen.
        onnx_exportable: whether torch's ONNX exporter can export it (`--engine auto` tries only then).
    """

    size_multiple: int = 1
    onnx_exportable: bool = True
    encoder_record: dict[str, str | None] | None = None
    encoder_frozen: bool = False

    def encoder_stages(self) -> list[nn.Module]:
        """The modules whose outputs are the generator's encoder features, shallow to deep.

        Contrastive unpaired training (`methods.cut`) compares them between a slice and its
        harmonized twin. Empty for a generator with no encoder to read (a filter, a lookup table).
        """
        return []

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ValueError unless x is [B, 1, H, W] with H and W multiples of `size_multiple`."""
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"{type(self).__name__} takes [B, 1, H, W] slices, got shape {tuple(x.shape)}")
        m = self.size_multiple
        if x.shape[-2] % m or x.shape[-1] % m:
            size = tuple(x.shape[-2:])
            raise ValueError(
                f"{type(self).__name__} needs H and W multiples of {m}, got {size}: pad the slice"
            )


def norm_layer(kind: str, channels: int) -> nn.Module:
    """A normalization layer by name: "batch", "instance" (no affine, as pix2pix) or "none"."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r} (known: batch, instance, none)")


def conv_bias(norm: str) -> bool:
    # A batch norm's shift makes the conv's bias redundant; instance norm (no affine) and none keep it.
    return norm != "batch"


def init_pix2pix(module: nn.Module) -> None:
    """pix2pix's initialization: conv weights N(0, 0.02), batch-norm scales N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
