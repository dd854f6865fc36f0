"""The unpaired validation: the harmonized texture against the standard kernel's, and the density kept."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from torch import nn

from radiomicgan.spacing import TrainingGeometry
from radiomicgan.training.unpaired_data import UnpairedSlices
from radiomicgan.training.validation import validate_unpaired

WINDOW = (-1024, 1000)


class _Shift(nn.Module):
    """Adds a constant, in windowed units."""

    def __init__(self, shift_hu: float) -> None:
        super().__init__()
        self.shift = shift_hu / (WINDOW[1] - WINDOW[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.shift


def _slices() -> UnpairedSlices:
    rng = np.random.default_rng(0)
    source = 40.0 + ndimage.gaussian_filter(rng.normal(0, 40, (4, 64, 64)), (0, 1.5, 1.5))  # smooth noise
    target = 40.0 + rng.normal(0, 15, (4, 64, 64))  # sharp: white noise
    geometry = TrainingGeometry((0.7, 0.7), 2.5, (44.8, 44.8))
    zeros = np.zeros(4, np.int64)
    return UnpairedSlices(
        source.astype(np.float32), target.astype(np.float32), zeros, zeros, geometry=geometry
    )


def test_the_identity_keeps_densities_and_the_input_texture() -> None:
    metrics = validate_unpaired(nn.Identity(), _slices(), WINDOW, 1, torch.device("cpu"))
    assert metrics["mean_shift_hu"] == pytest.approx(0.0, abs=0.05)
    assert metrics["nps_db"] == pytest.approx(metrics["nps_db_input"], abs=0.01) and metrics["nps_db"] > 3


def test_a_density_shift_is_measured_in_hu() -> None:
    metrics = validate_unpaired(_Shift(20.0), _slices(), WINDOW, 1, torch.device("cpu"))
    assert metrics["mean_shift_hu"] == pytest.approx(20.0, abs=0.1)
