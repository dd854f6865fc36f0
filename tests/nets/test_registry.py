"""Building networks by name, the pix2pix U-Net, and parameter counts."""

from __future__ import annotations

import pytest
import torch

from radiomicgan.config import ModelConfig, ResidualCNNConfig, UNetConfig, VGGUNetConfig, build
from radiomicgan.errors import ConfigError
from radiomicgan.nets import (
    build_discriminator,
    build_generator,
    count_parameters,
    trainable_parameters,
)
from radiomicgan.nets.encoder_weights import NO_WEIGHTS, EncoderWeights
from radiomicgan.nets.vgg19 import VGG19Features

VGG19_GROUPS_1_TO_4 = 10_585_152  # conv weights and biases of torchvision's features.0-25


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown generator 'vgg'.*radiomicgan, unet"):
        build_generator("vgg", ModelConfig())
    with pytest.raises(ConfigError, match=r"unknown discriminator 'dcgan'.*patchgan"):
        build_discriminator("dcgan", ModelConfig())


def test_model_config_is_validated_and_built_from_layers() -> None:
    config = build(
        ModelConfig,
        {"vgg-unet": {"freeze-encoder": True, "skip_width": 1}},
        {"vgg_unet": {"norm": "instance"}},
    )
    vgg_unet = config.vgg_unet
    assert vgg_unet.freeze_encoder is True and vgg_unet.skip_width == 1.0 and vgg_unet.norm == "instance"
    with pytest.raises(ConfigError, match="upsample"):
        VGGUNetConfig(upsample="nearest")


def test_parameter_counts_of_generator_and_discriminator() -> None:
    pretrained = EncoderWeights(state=VGG19Features().state_dict(), source="test")
    generator = build_generator("radiomicgan", ModelConfig(), pretrained)
    assert count_parameters(generator.encoder) == VGG19_GROUPS_1_TO_4
    assert (
        count_parameters(generator) - count_parameters(generator, trainable_only=True) == VGG19_GROUPS_1_TO_4
    )
    assert trainable_parameters(generator) == [p for p in generator.parameters() if p.requires_grad]
    # pix2pix's n_layers=3 PatchGAN on 2 input channels, batch norm without conv biases.
    assert count_parameters(build_discriminator("patchgan", ModelConfig())) == 2_764_609


def test_pix2pix_unet_round_trips_shape_and_range() -> None:
    config = ModelConfig(generator="unet", unet=UNetConfig(downs=3, base_channels=8))
    generator = build_generator(config.generator, config, NO_WEIGHTS)
    assert generator.size_multiple == 8
    with torch.no_grad():
        y = generator(torch.rand(2, 1, 48, 64))
    assert y.shape == (2, 1, 48, 64) and float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    with pytest.raises(ValueError, match="multiples of 8"):
        generator(torch.rand(1, 1, 44, 64))


def test_default_pix2pix_unet_is_unet_256() -> None:
    generator = build_generator("unet", ModelConfig())
    assert generator.size_multiple == 256
    # Dropout sits in the three 512-channel decoder blocks next to the innermost one, as in pix2pix.
    assert sum(isinstance(m, torch.nn.Dropout) for m in generator.modules()) == 3


def test_the_choe_cnn_takes_its_depth_and_width_from_the_model_section() -> None:
    default = build_generator("choe", ModelConfig())
    convs = [m for m in default.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 6 and convs[0].out_channels == 64  # Choe et al.: 6 layers of 64 maps
    shallow = build_generator("choe", ModelConfig(choe=ResidualCNNConfig(layers=3, channels=8)))
    convs = [m for m in shallow.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 3 and convs[0].out_channels == 8
    with pytest.raises(ConfigError, match=r"choe: layers"):
        build(ModelConfig, {"choe": {"layers": 1}})
