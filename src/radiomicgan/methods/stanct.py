"""STAN-CT (Selim et al. 2020): a conditional GAN with a latent-space loss for the generator and a
feature-space (texture) loss for the discriminator.

Selim M, Zhang J, Fei B, Zhang GQ, Chen J. "STAN-CT: Standardizing CT Image using Generative
Adversarial Networks." AMIA Annu Symp Proc 2020:1100-1109 (arXiv:2004.01307). What the published
text we could read says (its abstract, and the RadiomicGAN paper's summary): a GAN whose generator
loss adds a latent-space term, so that each synthesized image maps one-to-one onto its standard
image, and whose discriminator critics the texture features of standard and synthesized images;
trained on image patches, with a DICOM pipeline that stitches patches back into slices.

How each is read here (our choices, docs/baselines.md says why):
- networks: the pix2pix U-Net generator and PatchGAN discriminator, trained on random crops; whole
  slices at inference (fully convolutional, so no patch stitching is needed);
- latent-space loss: the L1 distance between the discriminator's last feature maps of (input,
  synthesized) and of (input, standard) -- feature matching (Salimans et al. 2016) on paired data;
- feature-space loss: the discriminator judges each candidate together with its texture map (the
  high-pass residual after a Gaussian blur), so its adversarial loss is computed on texture too;
- generator loss: adversarial + l1_weight * L1 + latent_weight * latent.

The weights and the texture map's blur and gain are `config.StanCTConfig` (`baselines.stanct`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from radiomicgan.config import StanCTConfig, TrainConfig
from radiomicgan.nets import Generator, PatchGAN
from radiomicgan.training.parts import Method, SampleFn
from radiomicgan.training.steps import GanParts, bce, frozen

_DEFAULTS = StanCTConfig()


@dataclass
class StanCTParts(GanParts):
    """Generator, texture-aware discriminator and their optimizers (a `Learner`); only the step differs."""

    discriminator: PatchGAN  # the step reads its features and head apart
    settings: StanCTConfig = field(default_factory=StanCTConfig)

    def train_step(self, sample: SampleFn) -> dict[str, float]:
        """Update D on image + texture, then G on adversarial + L1 + latent; returns the losses."""
        source, target = sample(self.batch_size)
        d = self.discriminator
        fake = self.generator(source)

        self.opt_d.zero_grad(set_to_none=True)
        real_logits = d(source, self._with_texture(target))
        fake_logits = d(source, self._with_texture(fake.detach()))
        loss_d = 0.5 * (bce(real_logits, True) + bce(fake_logits, False))
        loss_d.backward()  # type: ignore[no-untyped-call]
        self.opt_d.step()

        with frozen(d):
            self.opt_g.zero_grad(set_to_none=True)
            fake_features = d.features(torch.cat([source, self._with_texture(fake)], dim=1))
            with torch.no_grad():
                real_features = d.features(torch.cat([source, self._with_texture(target)], dim=1))
            loss_adv = bce(d.head(fake_features), True)
            loss_l1 = F.l1_loss(fake, target)
            loss_latent = F.l1_loss(fake_features, real_features)
            loss_g = loss_adv + self.l1_weight * loss_l1 + self.settings.latent_weight * loss_latent
            loss_g.backward()  # type: ignore[no-untyped-call]
            self.opt_g.step()
        return {
            "d": loss_d.item(),
            "g_adv": loss_adv.item(),
            "g_l1": loss_l1.item(),
            "g_latent": loss_latent.item(),
            "g": loss_g.item(),
        }

    def _with_texture(self, candidate: torch.Tensor) -> torch.Tensor:
        return with_texture(candidate, self.settings.texture_sigma_px, self.settings.texture_gain)


def with_texture(
    candidate: torch.Tensor,
    sigma_px: float = _DEFAULTS.texture_sigma_px,
    gain: float = _DEFAULTS.texture_gain,
) -> torch.Tensor:
    """[B, 1, H, W] -> [B, 2, H, W]: the candidate and its texture map, the residual after a Gaussian
    blur of `sigma_px` amplified by `gain`."""
    texture = (candidate - gaussian_blur(candidate, sigma_px)) * gain
    return torch.cat([candidate, texture], dim=1)


def gaussian_blur(x: torch.Tensor, sigma_px: float) -> torch.Tensor:
    """A separable Gaussian blur of [B, 1, H, W] out to 3 sigma, reflecting at the edges."""
    radius = max(1, math.ceil(3 * sigma_px))
    offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (offsets / sigma_px) ** 2)
    kernel = kernel / kernel.sum()
    padded = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    rows = F.conv2d(padded, kernel.view(1, 1, 1, -1))
    return F.conv2d(rows, kernel.view(1, 1, -1, 1))


def build_stanct(generator: Generator, config: TrainConfig, device: torch.device) -> StanCTParts:
    """STAN-CT around the registry's generator ("unet"), with a 3-channel PatchGAN (input, candidate,
    texture) of the model section's width, depth and norm, and the `baselines.stanct` losses."""
    discriminator = PatchGAN(config.model.patchgan, in_channels=3).to(device)
    return StanCTParts.around(generator, discriminator, config, settings=config.baselines.stanct)


METHOD = Method(
    build_stanct,
    generator="unet",
    help="STAN-CT (Selim et al. 2020): cGAN with latent-space and texture losses",
)
