"""The unpaired linear baseline: recovers a known kernel change from unpaired noise, trains, harmonizes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.typing import NDArray

from methods.runs import FULL, Dciodvfy, Unpaired, harmonize_and_check, tiny_unpaired_yaml
from radiomicgan.cli import main
from radiomicgan.config import SpectralConfig
from radiomicgan.methods.spectral import SpectralFitting
from radiomicgan.modelfile import load_model
from radiomicgan.nets import FrequencyFilter
from radiomicgan.training.unpaired_data import UnpairedSlices

WINDOW = (-1024, 1000)
SIZE = 64
Kernel = Callable[[NDArray[np.float64]], NDArray[np.float64]]


def smooth(nu: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(0.5 * (1.0 + np.cos(np.pi * nu)))  # the simulator's smooth window (Hann)


def sharp(nu: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray((1.0 + 1.5 * nu**2) * np.exp(-(nu**2)))  # the simulator's sharp window


def _frequencies(size: int) -> NDArray[np.float64]:
    return np.hypot(*np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing="ij"))


def _noise_slices(kernel: Kernel, n: int, sd_hu: float, rng: np.random.Generator) -> NDArray[np.float32]:
    """Uniform soft tissue (40 HU) with noise as filtered back projection shapes it: ramp x kernel."""
    f = _frequencies(SIZE)
    white = rng.normal(0.0, sd_hu, (n, SIZE, SIZE))
    shaped = np.fft.ifft2(np.fft.fft2(white) * np.sqrt(f) * kernel(np.minimum(f / 0.5, 1.0))).real
    return np.rint(40.0 + shaped).astype(np.float32)


def test_recovers_a_known_kernel_change_from_unpaired_noise_images() -> None:
    rng = np.random.default_rng(0)
    # two sets of independent noise, of different levels (another dose): nothing pairs them
    source, target = _noise_slices(smooth, 30, 40.0, rng), _noise_slices(sharp, 30, 60.0, rng)
    data = UnpairedSlices(source, target, np.zeros(30, np.int64), np.zeros(30, np.int64))
    settings = SpectralConfig(uniform_fraction=1.0)
    fitting = SpectralFitting(FrequencyFilter(), settings)
    chosen = fitting.fit(data, data.take(np.arange(0), np.arange(0)), WINDOW)

    assert chosen["noise_level_ratio"] == pytest.approx(1.5, rel=0.1)
    response = fitting.filter.response_at((SIZE, SIZE))
    assert float(response.imag.abs().max()) == 0.0  # zero phase
    f = _frequencies(SIZE)
    nu = np.minimum(f / 0.5, 1.0)
    truth = sharp(nu) / np.maximum(smooth(nu), 1e-9)
    band = (f >= chosen["band_low_cycles_per_px"]) & (f <= chosen["band_high_cycles_per_px"])
    scored = band & (truth < settings.max_gain / 2)  # below the gain's cap
    assert scored.sum() > 0.3 * band.sum()
    np.testing.assert_allclose(response.real.numpy()[scored], truth[scored], rtol=0.12)


def test_spectral_trains_unpaired_from_the_command_line_and_harmonizes(
    unpaired: Unpaired, tmp_path: Path, run_dciodvfy: Dciodvfy
) -> None:
    run = tmp_path / "run"
    config = tiny_unpaired_yaml(tmp_path / "tiny.yaml")
    data = ["--source", str(unpaired.source), "--target", str(unpaired.target)]
    args = ["train", "--unpaired", "--config", str(config), *data]  # no --model: the unpaired default
    assert main([*args, "--out", str(run), "--quiet"]) == 0

    history = json.loads((run / "history.json").read_text())
    assert len(history) == 1 and history[0]["losses"]["band_high_cycles_per_px"] > 0.1
    assert {"mean_shift_hu"} <= set(history[0]["validation"])  # the unpaired validation
    model, metadata = load_model(run)
    assert metadata.method == "spectral" and metadata.extra["unpaired"] is True
    assert metadata.training_geometry is not None
    assert metadata.training_geometry.pixel_spacing_mm == (5.0, 5.0)  # the target's: the source resampled
    assert isinstance(model, FrequencyFilter) and float(model.response_real.max()) > 1.2  # it sharpens
    width = FULL[1] - FULL[0]  # the window the filter's input is scaled by
    assert float(model.detail_limit) * width == pytest.approx(SpectralConfig().detail_limit_hu)

    harmonize_and_check(run, unpaired, tmp_path / "harmonized", run_dciodvfy)


def test_the_detail_limit_keeps_a_strong_edge_that_the_linear_gain_would_overshoot() -> None:
    rng = np.random.default_rng(1)
    source, target = _noise_slices(smooth, 30, 40.0, rng), _noise_slices(sharp, 30, 40.0, rng)
    data = UnpairedSlices(source, target, np.zeros(30, np.int64), np.zeros(30, np.int64))
    edge = np.full((1, 1, SIZE, SIZE), 40.0, np.float32)
    edge[..., :, : SIZE // 2] = -900.0  # lung against soft tissue
    unit = torch.from_numpy((edge - WINDOW[0]) / (WINDOW[1] - WINDOW[0]))
    changes = {}
    for limit in (0.0, 20.0):
        settings = SpectralConfig(uniform_fraction=1.0, detail_limit_hu=limit)
        fitting = SpectralFitting(FrequencyFilter(), settings)
        fitting.fit(data, data.take(np.arange(0), np.arange(0)), WINDOW)
        with torch.no_grad():
            changes[limit] = float((fitting.filter(unit) - unit).abs().max()) * (WINDOW[1] - WINDOW[0])
    assert changes[0.0] > 60.0  # the noise's gain, applied to a 940 HU edge
    assert changes[20.0] <= 20.0 + 1e-3
