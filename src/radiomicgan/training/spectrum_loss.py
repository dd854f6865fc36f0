"""A noise-texture term for the generator: match the radially averaged power spectrum of each crop.

Where the non-standard reconstruction removed noise (an iterative one, issue 17), the pixel loss can
only predict the standard image's conditional mean, a smooth image: the default model's output held
70-80 % of the standard kernel's power in the top third of the frequencies on the lung CT's
iterative scenario. Texture features need that power back. This term compares the spectra ring by
ring on a log scale, so it asks for the right amount of texture at each frequency without asking
for the (unpredictable) noise itself, and every ring counts alike however little power it holds.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

RINGS = 32  # radial frequency bins from 0 to Nyquist (a 128 px crop has 64 frequencies per axis)
_FLOOR = 1e-10  # keeps the logarithm finite on an empty ring ([0, 1] units: noise power is ~1e-4)


def radial_power(images: torch.Tensor, rings: int = RINGS) -> torch.Tensor:
    """Mean power of each radial frequency ring of every image, [B, C, rings].

    Args:
        images: [B, C, H, W] crops; each one's mean is removed first (the DC term says nothing of texture).
    """
    centred = images - images.mean(dim=(-2, -1), keepdim=True)
    spectrum: torch.Tensor = torch.fft.rfft2(centred, norm="ortho")
    power = spectrum.abs().square().flatten(-2)
    membership = _ring_membership(images.shape[-2], images.shape[-1], rings, images.device)
    return (power @ membership) / membership.sum(dim=0).clamp(min=1.0)


def power_spectrum_loss(fake: torch.Tensor, target: torch.Tensor, rings: int = RINGS) -> torch.Tensor:
    """Mean absolute log ratio of the two images' ring powers (0 when their spectra match)."""
    log_fake = torch.log(radial_power(fake, rings) + _FLOOR)
    log_target = torch.log(radial_power(target, rings) + _FLOOR)
    return (log_fake - log_target).abs().mean()


def _ring_membership(height: int, width: int, rings: int, device: torch.device) -> torch.Tensor:
    """One-hot [H * (W // 2 + 1), rings] matrix: which ring each rfft2 frequency falls in."""
    fy = torch.fft.fftfreq(height, device=device)[:, None]
    fx = torch.fft.rfftfreq(width, device=device)[None, :]
    radius = torch.sqrt(fy.square() + fx.square()).clamp(max=0.5)
    ring = torch.clamp((radius / 0.5 * rings).long(), max=rings - 1).flatten()
    return F.one_hot(ring, rings).to(torch.float32)
