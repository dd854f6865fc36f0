"""One adversarial step: it trains G and D, never the frozen VGG layers, and returns finite losses."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from radiomicgan.config import ModelConfig, PatchGANConfig, UNetConfig, VGGUNetConfig
from radiomicgan.nets import build_discriminator, build_generator, load_encoder_weights
from radiomicgan.nets.vgg_unet import VGGUNet
from radiomicgan.training.steps import GanParts, adam, gan_step


def _parts(vgg_checkpoint: Path) -> GanParts:
    torch.manual_seed(0)
    vgg_unet = VGGUNetConfig(encoder_weights=str(vgg_checkpoint), skip_width=0.125)
    config = ModelConfig(vgg_unet=vgg_unet, patchgan=PatchGANConfig(base_channels=8))
    generator = build_generator("radiomicgan", config, load_encoder_weights(vgg_unet.encoder_weights))
    discriminator = build_discriminator("patchgan", config)
    return GanParts(generator, discriminator, adam(generator, 1e-3, 0.5), adam(discriminator, 1e-3, 0.5))


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in module.named_parameters()}


def test_step_trains_generator_and_discriminator_but_not_the_frozen_encoder(vgg_checkpoint: Path) -> None:
    parts = _parts(vgg_checkpoint)
    generator = parts.generator
    assert isinstance(generator, VGGUNet) and generator.encoder_frozen  # pretrained: frozen by default
    frozen = {n for n, p in generator.named_parameters() if not p.requires_grad}
    assert frozen == {f"encoder.{k}" for k in generator.encoder.state_dict()}
    optimized = {id(p) for group in parts.opt_g.param_groups for p in group["params"]}
    assert not optimized & {id(p) for p in generator.encoder.parameters()}
    g_before, d_before = _snapshot(generator), _snapshot(parts.discriminator)

    source, target = torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32)
    losses = [gan_step(parts, source, target, 100.0) for _ in range(2)]

    assert all(set(step) == {"d", "g_adv", "g_l1", "g"} for step in losses)
    assert all(math.isfinite(v) for step in losses for v in step.values())
    for step in losses:
        assert math.isclose(step["g"], step["g_adv"] + 100.0 * step["g_l1"], rel_tol=1e-5)
    g_after, d_after = _snapshot(generator), _snapshot(parts.discriminator)
    for name in frozen:
        assert torch.equal(g_before[name], g_after[name]), f"frozen {name} changed"
    changed_g = [n for n in g_before if n not in frozen and not torch.equal(g_before[n], g_after[n])]
    trainable_g = [n for n in g_before if n not in frozen]
    assert set(changed_g) == set(trainable_g), "every trainable generator parameter moves"
    assert all(not torch.equal(d_before[n], d_after[n]) for n in d_before)
    assert all(p.requires_grad for p in parts.discriminator.parameters())  # D unfrozen again after G's step
    assert all(p.grad is None for p in generator.encoder.parameters())


def test_step_losses_are_finite_on_constant_images() -> None:
    torch.manual_seed(0)
    config = ModelConfig(
        generator="unet", unet=UNetConfig(base_channels=4, downs=3), patchgan=PatchGANConfig(base_channels=4)
    )
    generator = build_generator("unet", config)
    discriminator = build_discriminator("patchgan", config)
    parts = GanParts(generator, discriminator, adam(generator, 1e-4, 0.5), adam(discriminator, 1e-4, 0.5))
    zeros = torch.zeros(2, 1, 32, 32)  # all air: windowed to 0
    losses = gan_step(parts, zeros, zeros, 100.0)
    assert all(math.isfinite(v) for v in losses.values())
    assert losses["d"] > 0.0 and losses["g_l1"] >= 0.0
