"""Histogram matching recovers a known monotone HU mapping and trains as a one-pass method."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from methods.runs import Dciodvfy, Pairs, harmonize_and_check, train_and_check
from radiomicgan.io import read_volume
from radiomicgan.methods.histmatch import HistogramMatching, fit_lookup_table
from radiomicgan.nets import LookupTable
from radiomicgan.training.data import PairedSlices
from radiomicgan.windowing import from_unit, to_unit

WINDOW = (-1024, 1000)


def _curve(hu: np.ndarray) -> np.ndarray:
    """A monotone HU mapping that stretches low values and compresses high ones (a gamma of 0.7)."""
    return -1024.0 + 2024.0 * ((hu + 1024.0) / 2024.0) ** 0.7


def _pairs(rng: np.random.Generator, n: int) -> PairedSlices:
    source = rng.integers(-1000, 901, size=(n, 64, 64)).astype(np.float32)
    target = np.rint(_curve(source)).astype(np.float32)
    return PairedSlices(source, target, np.zeros(n, dtype=np.int64))


def _apply(table: LookupTable, hu: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(to_unit(hu, WINDOW)).reshape(1, 1, 1, -1)
    with torch.no_grad():
        return from_unit(table(x).numpy().ravel(), WINDOW)


def test_recovers_a_known_monotone_mapping() -> None:
    rng = np.random.default_rng(0)
    table = LookupTable()
    HistogramMatching(table).fit(_pairs(rng, 4), _pairs(rng, 1), WINDOW)
    assert np.all(np.diff(table.table.numpy()) >= 0)  # monotone by construction
    hu = np.arange(-1000, 901, dtype=np.float64)
    # the target was rounded to integer HU: its quantiles are known to within a rounding step
    np.testing.assert_allclose(_apply(table, hu), _curve(hu), atol=1.0)
    between = hu[:-1] + 0.5  # inputs between the knots are interpolated
    np.testing.assert_allclose(_apply(table, between), _curve(between), atol=1.0)


def test_identical_histograms_give_the_identity() -> None:
    values = np.random.default_rng(1).random((3, 40, 40))
    fitted = fit_lookup_table(values, values.copy(), 101)
    occupied = np.unique(np.rint(values * 100)).astype(int)
    np.testing.assert_allclose(fitted[occupied], occupied / 100, atol=1e-12)


def test_histmatch_trains_in_one_pass_and_harmonizes(
    pairs: Pairs, tmp_path: Path, run_dciodvfy: Dciodvfy
) -> None:
    run = tmp_path / "run"
    result = train_and_check("histmatch", pairs, run, epochs=5)  # a fitted method runs one epoch
    assert len(result.history) == 1 and set(result.history[0]["losses"]) == {"max_shift_hu", "pixels"}
    harmonized = harmonize_and_check(run, pairs, tmp_path / "harmonized", run_dciodvfy)
    source, target = read_volume(pairs.source).hu, read_volume(pairs.target).hu

    def quantile_gap(a: np.ndarray) -> float:
        return float(np.mean(np.abs(np.sort(a.ravel()) - np.sort(target.ravel()))))

    assert quantile_gap(harmonized) < 0.5 * quantile_gap(source)
