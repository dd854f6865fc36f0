"""The target set's texture level, as an unpaired loss: band-pass noise SDs per tissue class.

An unpaired GAN synthesizes texture it cannot copy from the standard image, and on the lung CT's
unpaired halves CUT gave 27-30 % too much of it in four runs of six (README, Unpaired training;
benchmarks/texture_level.py). How much texture a kernel gives is a statistic of the target set
alone: the SD of the image in a few frequency bands (the differences of Gaussian blurs of
`sigmas_px`), inside regions of one tissue class (where the local mean, a Gaussian blur of
`tissue_sigma_px`, lies in one of `ranges_hu`). So it needs no pairs.

`TextureLevel` keeps the target crops' band variances pooled over every step so far (buffers, so a
checkpoint resumes them) and returns, for a batch of G's outputs, the mean squared log ratio of its
band SDs to the target's: 0 at the target's level, the same penalty for 30 % too much as for 23 %
too little. Each output crop is classed by its input's local mean, which the density term holds.
A class with fewer than `min_pixels` in the batch (or not yet seen in the target) adds nothing.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn

from radiomicgan.methods.stanct import gaussian_blur


class TextureLevel(nn.Module):
    """The target's pooled band variances per tissue class, and the log-SD loss against them."""

    squares: torch.Tensor  # [classes, bands]: the sum of squared band values over the class's pixels
    pixels: torch.Tensor  # [classes]: how many pixels were summed

    def __init__(
        self,
        window_hu: tuple[float, float],
        ranges_hu: tuple[tuple[float, float], ...],
        sigmas_px: tuple[float, ...],
        tissue_sigma_px: float,
        min_pixels: int,
    ) -> None:
        super().__init__()
        self.window_hu, self.ranges_hu = window_hu, ranges_hu
        self.sigmas_px, self.tissue_sigma_px, self.min_pixels = sigmas_px, tissue_sigma_px, min_pixels
        self.register_buffer("squares", torch.zeros(len(ranges_hu), len(sigmas_px), dtype=torch.float64))
        self.register_buffer("pixels", torch.zeros(len(ranges_hu), dtype=torch.float64))

    @torch.no_grad()
    def observe(self, target: torch.Tensor) -> None:
        """Pool the band variances of a batch of target crops ([B, 1, H, W], unit window)."""
        squares, pixels = self._band_squares(target, target)
        self.squares += squares.double()
        self.pixels += pixels.double()

    def loss(self, harmonized: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        """Mean squared log ratio of `harmonized`'s band SDs to the target's, classed by `source`."""
        squares, pixels = self._band_squares(harmonized, source.detach())
        usable = (pixels >= self.min_pixels) & (self.pixels > 0)
        if not bool(usable.any()):
            return harmonized.new_zeros(())
        variance = squares[usable] / pixels[usable].unsqueeze(1)
        reference = (self.squares[usable] / self.pixels[usable].unsqueeze(1)).to(variance.dtype)
        log_ratio = 0.5 * (torch.log(variance + 1e-12) - torch.log(reference + 1e-12))
        return (log_ratio**2).mean()

    def _band_squares(
        self, image: torch.Tensor, classed_by: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per tissue class: the sum of squared band values of `image` ([classes, bands]) and the pixel
        count ([classes]), over the pixels whose local mean in `classed_by` lies in the class's range."""
        bands = self._bands(image)  # [B, bands, H, W]
        lo, hi = self.window_hu
        local_hu = lo + gaussian_blur(classed_by, self.tissue_sigma_px) * (hi - lo)
        squares, pixels = [], []
        for low, high in self.ranges_hu:
            inside = ((local_hu > low) & (local_hu < high)).to(image.dtype)  # [B, 1, H, W]
            squares.append((bands**2 * inside).sum(dim=(0, 2, 3)))
            pixels.append(inside.sum())
        return torch.stack(squares), torch.stack(pixels)

    def _bands(self, image: torch.Tensor) -> torch.Tensor:
        """The differences of successive Gaussian blurs (the first from the image itself)."""
        blurs = [image, *(gaussian_blur(image, sigma) for sigma in self.sigmas_px)]
        return torch.cat([finer - coarser for finer, coarser in pairwise(blurs)], dim=1)
