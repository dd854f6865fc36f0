"""Histogram matching: map the non-standard kernel's HU histogram onto the standard kernel's.

The classical intensity standardization (Nyul & Udupa 1999 style, without landmarks): the lookup
table T = F_standard^-1 o F_source sends each value to the standard value of the same quantile,
where F_source and F_standard are the cumulative histograms of all training pixels of each kernel
in the window. T is monotone by construction. It is fitted in the windowed [0, 1] domain the
Harmonizer feeds the generator (the windowing is linear inside the window, so this is the same
table as one fitted in HU, scaled), on the training split only. The two histograms need no pairs,
so it trains on unpaired series too (`train --unpaired`).

It changes the histogram, nothing spatial: it cannot sharpen or add the standard kernel's noise
texture, which is the point of having it in the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from radiomicgan.config import TrainConfig
from radiomicgan.nets import Generator, LookupTable
from radiomicgan.training.parts import Method
from radiomicgan.training.unpaired_data import TrainingSlices
from radiomicgan.windowing import Window, to_unit


def fit_lookup_table(
    source_unit: NDArray[np.floating], target_unit: NDArray[np.floating], knots: int
) -> NDArray[np.float64]:
    """The histogram-matching table at `knots` evenly spaced inputs over [0, 1].

    Pixels are binned to the nearest knot. Each knot's source quantile is its mid-bin cumulative
    frequency (half its own bin counted), and its output is the target value at that quantile,
    interpolated linearly between the target's occupied knots (also at mid-bin frequency).

    Args:
        source_unit: non-standard pixels, any shape, in [0, 1] (clipped).
        target_unit: standard pixels, any shape, in [0, 1] (clipped).
        knots: table size (>= 2).

    Returns:
        float64 [knots], nondecreasing.

    Raises:
        ValueError: no pixels on either side.
    """
    if source_unit.size == 0 or target_unit.size == 0:
        raise ValueError("histogram matching needs pixels of both kernels")
    source_quantile = _mid_bin_cdf(source_unit, knots)
    target_counts = _bin_counts(target_unit, knots)
    occupied = target_counts > 0
    target_quantile = _mid_bin_cdf(target_unit, knots)[occupied]  # strictly increasing where occupied
    values = np.linspace(0.0, 1.0, knots)[occupied]
    return np.asarray(np.interp(source_quantile, target_quantile, values), dtype=np.float64)


def _bin_counts(unit: NDArray[np.floating], knots: int) -> NDArray[np.float64]:
    bins = np.rint(np.clip(np.asarray(unit, dtype=np.float64).ravel(), 0.0, 1.0) * (knots - 1))
    return np.bincount(bins.astype(np.int64), minlength=knots).astype(np.float64)


def _mid_bin_cdf(unit: NDArray[np.floating], knots: int) -> NDArray[np.float64]:
    counts = _bin_counts(unit, knots)
    cdf: NDArray[np.float64] = (np.cumsum(counts) - 0.5 * counts) / counts.sum()
    return cdf


@dataclass
class HistogramMatching:
    """A lookup table fitted in one pass (a `Fitter`)."""

    table: LookupTable

    def networks(self) -> dict[str, nn.Module]:
        return {"g": self.table}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {}

    def model(self) -> nn.Module:
        return self.table

    def fit(self, train: TrainingSlices, held_out: TrainingSlices, window_hu: Window) -> dict[str, float]:
        """Fit the table on the training slices' histograms; `held_out` is not needed (nothing to tune).

        Paired or not: each kernel's histogram comes from its own slices.
        """
        knots = self.table.table.numel()
        source, target = to_unit(train.source_hu, window_hu), to_unit(train.target_hu, window_hu)
        fitted = fit_lookup_table(source, target, knots)
        self.table.table.copy_(torch.from_numpy(fitted))
        width = window_hu[1] - window_hu[0]
        shift_hu = (fitted - np.linspace(0.0, 1.0, knots)) * width
        return {"max_shift_hu": float(np.max(np.abs(shift_hu))), "pixels": float(train.source_hu.size)}


def build_histmatch(generator: Generator, config: TrainConfig, device: torch.device) -> HistogramMatching:
    """Histogram matching around the registry's "histmatch" generator (a `LookupTable`)."""
    if not isinstance(generator, LookupTable):
        raise TypeError(f"histogram matching fits a LookupTable, not {type(generator).__name__}")
    return HistogramMatching(generator)


# a fitted method has no gradient for data-parallel training to average
METHOD = Method(
    build_histmatch,
    generator="histmatch",
    help="histogram matching to the standard kernel (fitted in one pass)",
    fitted=True,
    data_parallel=False,
    unpaired=True,  # two histograms: no pairs needed
)
