"""pix2pix (Isola et al. 2017): the plain conditional GAN, a U-Net from scratch and a PatchGAN.

Isola P, Zhu JY, Zhou T, Efros AA. "Image-to-Image Translation with Conditional Adversarial
Networks." CVPR 2017. The objective is adversarial + l1_weight * L1 (`training.steps.gan_step`,
which RadiomicGAN shares); the networks are the registry's "unet" and the model section's
discriminator ("patchgan"). It trains in the full range, like every baseline: what RadiomicGAN adds
to it (the VGG-19 encoder, Dynamic Window-based Training, the prefilter) is what the comparison
measures.
"""

from __future__ import annotations

import torch

from radiomicgan.config import TrainConfig
from radiomicgan.nets import Generator, build_discriminator
from radiomicgan.training.parts import Method
from radiomicgan.training.steps import GanParts


def build_gan(generator: Generator, config: TrainConfig, device: torch.device) -> GanParts:
    """pix2pix's objective around `generator` and the model section's discriminator."""
    discriminator = build_discriminator(config.model.discriminator, config.model).to(device)
    return GanParts.around(generator, discriminator, config)


METHOD = Method(
    build_gan, generator="unet", help="plain cGAN: U-Net from scratch, PatchGAN, adversarial + L1"
)
