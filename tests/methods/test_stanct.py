"""STAN-CT: a texture-aware discriminator and a latent (feature-matching) loss for the generator."""

from __future__ import annotations

from pathlib import Path

import torch

from methods.runs import Dciodvfy, Pairs, harmonize_and_check, train_and_check
from radiomicgan.methods.stanct import gaussian_blur, with_texture


def test_the_texture_map_is_zero_on_flat_images_and_keeps_noise() -> None:
    flat = torch.full((1, 1, 32, 32), 0.3)
    both = with_texture(flat)
    assert both.shape == (1, 2, 32, 32)
    torch.testing.assert_close(both[:, 0], flat[:, 0])
    torch.testing.assert_close(both[:, 1], torch.zeros(1, 32, 32), atol=1e-6, rtol=0)
    noise = torch.randn(1, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 0.01
    assert with_texture(0.3 + noise)[:, 1].std() > 5 * noise.std()  # the high-pass grain, amplified


def test_the_blur_preserves_the_mean_and_smooths() -> None:
    x = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    blurred = gaussian_blur(x, 1.0)
    assert blurred.shape == x.shape
    assert abs(float(blurred.mean() - x.mean())) < 1e-2 and blurred.std() < 0.6 * x.std()


def test_stanct_trains_and_harmonizes(pairs: Pairs, tmp_path: Path, run_dciodvfy: Dciodvfy) -> None:
    run = tmp_path / "run"
    result = train_and_check("stanct", pairs, run)
    assert set(result.history[0]["losses"]) == {"d", "g_adv", "g_l1", "g_latent", "g"}
    harmonize_and_check(run, pairs, tmp_path / "harmonized", run_dciodvfy)
