"""The texture level term: zero at the target's band SDs, steers a noise level to it, per tissue class."""

from __future__ import annotations

import math

import pytest
import torch

from radiomicgan.methods.stanct import gaussian_blur
from radiomicgan.methods.texture_level import TextureLevel

WINDOW = (-1024.0, 1000.0)
SPAN = WINDOW[1] - WINDOW[0]
LUNG, TISSUE = (-900.0, -500.0), (-100.0, 100.0)


def _level(min_pixels: int = 256) -> TextureLevel:
    return TextureLevel(WINDOW, (LUNG, TISSUE), (1.0, 2.0, 4.0), 3.0, min_pixels)


def _unit(hu: float) -> float:
    return (hu - WINDOW[0]) / SPAN


def _noise(sd_hu: float, hu: float = 40.0, n: int = 4, side: int = 64, seed: int = 0) -> torch.Tensor:
    """Crops of white noise of `sd_hu` around `hu`, in the unit window."""
    generator = torch.Generator().manual_seed(seed)
    return _unit(hu) + torch.randn(n, 1, side, side, generator=generator) * sd_hu / SPAN


def _observed(*crops: torch.Tensor) -> TextureLevel:
    level = _level()
    for crop in crops:
        level.observe(crop)
    return level


def test_zero_at_the_targets_level_and_the_squared_log_ratio_of_the_sd_elsewhere() -> None:
    level = _observed(*(_noise(30.0, seed=s) for s in range(8)))
    at_level = _noise(30.0, seed=99)
    assert level.loss(at_level, at_level).item() < 1e-3
    for sd in (20.0, 39.0):
        crops = _noise(sd, seed=99)
        assert level.loss(crops, crops).item() == pytest.approx(math.log(sd / 30.0) ** 2, rel=0.1)


def test_it_sees_the_spectrum_not_only_the_total_sd() -> None:
    white = _noise(30.0)
    level = _observed(white)
    correlated = _unit(40.0) + gaussian_blur(white - _unit(40.0), 1.0)
    correlated = _unit(40.0) + (correlated - _unit(40.0)) * (white.std() / correlated.std())  # same SD
    assert level.loss(correlated, correlated).item() > 0.1


def test_gradient_steps_bring_a_noise_gain_to_the_targets_level() -> None:
    level = _observed(*(_noise(30.0, seed=s) for s in range(8)))
    noise = _noise(30.0, seed=7) - _unit(40.0)
    gain = torch.tensor(1.6, requires_grad=True)  # 48 HU: the excess the term is for
    optimizer = torch.optim.Adam([gain], lr=0.05)
    for _ in range(100):
        optimizer.zero_grad()
        crops = _unit(40.0) + gain * noise
        level.loss(crops, crops).backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    assert gain.item() == pytest.approx(1.0, abs=0.05)


def test_each_class_is_held_to_its_own_reference() -> None:
    level = _observed(_noise(30.0, hu=40.0), _noise(15.0, hu=-750.0))
    # lung at the soft tissue's level is wrong; soft tissue at it is right
    lung = _noise(30.0, hu=-750.0, seed=5)
    assert level.loss(lung, lung).item() == pytest.approx(math.log(2.0) ** 2, rel=0.1)
    assert level.loss(_noise(30.0, seed=5), _noise(30.0, seed=5)).item() < 1e-3


def test_crops_are_classed_by_their_source_not_by_themselves() -> None:
    level = _observed(_noise(30.0, hu=40.0), _noise(15.0, hu=-750.0))
    output = _noise(15.0, hu=-750.0, seed=5)  # a lung-like output of a soft-tissue input
    assert level.loss(output, _noise(30.0, hu=40.0, seed=6)).item() > 0.3


def test_a_class_unseen_in_the_target_or_too_small_adds_nothing() -> None:
    level = _observed(_noise(30.0, hu=40.0))  # no lung in the target crops
    lung = _noise(60.0, hu=-750.0)
    assert level.loss(lung, lung).item() == 0.0
    few = _level(min_pixels=64 * 64 * 4 + 1)
    few.observe(_noise(30.0))
    tissue = _noise(60.0)
    assert few.loss(tissue, tissue).item() == 0.0


def test_the_reference_is_kept_in_buffers_a_checkpoint_restores() -> None:
    level = _observed(_noise(30.0))
    restored = _level()
    restored.load_state_dict(level.state_dict())
    crops = _noise(45.0, seed=3)
    assert torch.equal(level.loss(crops, crops), restored.loss(crops, crops))
    assert set(level.state_dict()) == {"squares", "pixels"}
