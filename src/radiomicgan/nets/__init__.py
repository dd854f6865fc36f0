"""The networks, chosen by name: `build_generator` and `build_discriminator` dispatch to a builder.

Adding a network is one module and one line in `GENERATORS` or `DISCRIMINATORS`.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from radiomicgan.config import GENERATOR_SECTIONS, ModelConfig
from radiomicgan.errors import ConfigError
from radiomicgan.nets.common import Generator
from radiomicgan.nets.encoder_weights import EncoderWeights, load_encoder_weights, resolve_freeze
from radiomicgan.nets.frequency_filter import FrequencyFilter
from radiomicgan.nets.lookup_table import LookupTable
from radiomicgan.nets.patchgan import PatchGAN
from radiomicgan.nets.residual_cnn import ResidualCNN
from radiomicgan.nets.residual_unet import ResidualUNet
from radiomicgan.nets.unet import UNet
from radiomicgan.nets.vgg_unet import VGGUNet

__all__ = [
    "DISCRIMINATORS",
    "GENERATORS",
    "GENERATOR_SECTIONS",
    "EncoderWeights",
    "FrequencyFilter",
    "Generator",
    "LookupTable",
    "PatchGAN",
    "ResidualCNN",
    "ResidualUNet",
    "UNet",
    "VGGUNet",
    "build_discriminator",
    "build_generator",
    "count_parameters",
    "load_encoder_weights",
    "resolve_freeze",
    "trainable_parameters",
]


def _radiomicgan(config: ModelConfig, weights: EncoderWeights | None) -> Generator:
    if weights is None:
        weights = load_encoder_weights(config.vgg_unet.encoder_weights)
    return VGGUNet(config.vgg_unet, weights)


def _unet(config: ModelConfig, weights: EncoderWeights | None) -> Generator:
    return UNet(config.unet)


def _choe(config: ModelConfig, weights: EncoderWeights | None) -> Generator:
    return ResidualCNN(config.choe)


def _residual_unet(config: ModelConfig, weights: EncoderWeights | None) -> Generator:
    return ResidualUNet(config.residual_unet)


def _lookup_table(config: ModelConfig, weights: EncoderWeights | None) -> Generator:
    return LookupTable()


def _frequency_filter(config: ModelConfig, weights: EncoderWeights | None) -> Generator:
    return FrequencyFilter()


def _patchgan(config: ModelConfig) -> PatchGAN:
    return PatchGAN(config.patchgan)


GENERATORS: dict[str, Callable[[ModelConfig, EncoderWeights | None], Generator]] = {
    "radiomicgan": _radiomicgan,  # VGG-19 U-Net (paper Sec. 2.1)
    "unet": _unet,  # pix2pix U-Net from scratch (pix2pix, GANai and STAN-CT baselines)
    "choe": _choe,  # Choe et al. 2019: conv layers predicting the residual (model.choe)
    "residual_unet": _residual_unet,  # ours: a small U-Net predicting the residual (model.residual_unet)
    "histmatch": _lookup_table,  # histogram matching's monotone lookup table (fitted, no weights)
    "wiener": _frequency_filter,  # least-squares linear kernel conversion (fitted frequency response)
    "spectral": _frequency_filter,  # zero-phase filter from two kernels' noise power spectra (unpaired)
}
DISCRIMINATORS: dict[str, Callable[[ModelConfig], PatchGAN]] = {
    "patchgan": _patchgan,  # pix2pix 70x70 PatchGAN, conditioned on the input
}


def build_generator(name: str, config: ModelConfig, weights: EncoderWeights | None = None) -> Generator:
    """Build a generator by name.

    Args:
        name: a key of `GENERATORS`.
        config: the model section; the generator reads its own sub-section (`vgg_unet`, `unet`, `choe`).
        weights: encoder weights for "radiomicgan"; None loads `config.vgg_unet.encoder_weights`. Pass
            `NO_WEIGHTS` with an explicit freeze_encoder when a checkpoint will overwrite them anyway.

    Raises:
        ConfigError: an unknown name.
        EncoderWeightsError: the encoder weights cannot be loaded.
    """
    if name not in GENERATORS:
        raise ConfigError(f"unknown generator {name!r} (known: {', '.join(GENERATORS)})")
    return GENERATORS[name](config, weights)


def build_discriminator(name: str, config: ModelConfig) -> PatchGAN:
    """Build a discriminator by name (a key of `DISCRIMINATORS`).

    Raises:
        ConfigError: an unknown name.
    """
    if name not in DISCRIMINATORS:
        raise ConfigError(f"unknown discriminator {name!r} (known: {', '.join(DISCRIMINATORS)})")
    return DISCRIMINATORS[name](config)


def trainable_parameters(module: nn.Module) -> list[nn.Parameter]:
    """The parameters an optimizer should get: those that require grad."""
    return [p for p in module.parameters() if p.requires_grad]


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters, all or only the trainable ones."""
    params = trainable_parameters(module) if trainable_only else list(module.parameters())
    return sum(p.numel() for p in params)
