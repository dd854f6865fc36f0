"""The power-spectrum term: its rings measure power as Parseval says, it is 0 only for matching
spectra, and its gradient puts lost high-frequency texture back."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from radiomicgan.config import ModelConfig, PatchGANConfig, UNetConfig
from radiomicgan.nets import build_discriminator, build_generator
from radiomicgan.training.spectrum_loss import power_spectrum_loss, radial_power
from radiomicgan.training.steps import GanParts, adam, gan_step


def _blur(images: torch.Tensor) -> torch.Tensor:
    kernel = torch.tensor([1.0, 2.0, 1.0]) / 4.0
    kernel_2d = (kernel[:, None] * kernel[None, :]).reshape(1, 1, 3, 3)
    return F.conv2d(F.pad(images, (1, 1, 1, 1), mode="circular"), kernel_2d)


def test_white_noise_has_its_variance_in_every_ring() -> None:
    generator = torch.Generator().manual_seed(0)
    noise = 0.01 * torch.randn(8, 1, 128, 128, generator=generator)
    rings = radial_power(noise)
    assert rings.shape == (8, 1, 32)
    flat = rings.mean(dim=(0, 1))[1:]  # ring 0 holds the DC term, removed
    assert torch.allclose(flat, torch.full_like(flat, 1e-4), rtol=0.15)  # the low rings hold few frequencies
    assert abs(flat[8:].mean().item() / 1e-4 - 1.0) < 0.03


def test_loss_is_zero_for_equal_spectra_and_grows_with_lost_texture() -> None:
    generator = torch.Generator().manual_seed(1)
    noise = torch.randn(4, 1, 64, 64, generator=generator)
    shuffled = noise[:, :, torch.randperm(64, generator=generator)]  # same power, other phases
    assert power_spectrum_loss(noise, noise).item() == 0.0
    assert power_spectrum_loss(shuffled, noise).item() < 0.2
    blurred = _blur(noise)
    assert power_spectrum_loss(blurred, noise).item() > 1.0
    assert power_spectrum_loss(_blur(blurred), noise).item() > power_spectrum_loss(blurred, noise).item()


def test_its_gradient_restores_high_frequency_power() -> None:
    generator = torch.Generator().manual_seed(2)
    target = torch.randn(2, 1, 64, 64, generator=generator)
    image = _blur(_blur(target)).clone().requires_grad_(True)
    optimizer = torch.optim.Adam([image], lr=0.05)
    before = radial_power(image.detach())[..., -8:].mean().item()
    for _ in range(50):
        optimizer.zero_grad()
        power_spectrum_loss(image, target).backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    after = radial_power(image.detach())[..., -8:].mean().item()
    wanted = radial_power(target)[..., -8:].mean().item()
    assert abs(math.log(after / wanted)) < 0.5 * abs(math.log(before / wanted))


def test_gan_step_adds_the_weighted_term() -> None:
    torch.manual_seed(0)
    config = ModelConfig(
        generator="unet", unet=UNetConfig(base_channels=4, downs=3), patchgan=PatchGANConfig(base_channels=4)
    )
    net = build_generator("unet", config)
    discriminator = build_discriminator("patchgan", config)
    parts = GanParts(net, discriminator, adam(net, 1e-4, 0.5), adam(discriminator, 1e-4, 0.5))
    source, target = torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32)
    losses = gan_step(parts, source, target, 100.0, spectrum_weight=5.0)
    expected = losses["g_adv"] + 100.0 * losses["g_l1"] + 5.0 * losses["g_spectrum"]
    assert losses["g_spectrum"] > 0.0
    assert math.isclose(losses["g"], expected, rel_tol=1e-5)
    assert "g_spectrum" not in gan_step(parts, source, target, 100.0)
