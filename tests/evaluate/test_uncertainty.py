"""Bootstrap intervals of the counts and warnings for small samples."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from radiomicgan.config import EvaluationConfig
from radiomicgan.evaluate.inputs import Scan
from radiomicgan.evaluate.protocol import Extraction, ReproducibilityProtocol
from radiomicgan.evaluate.roi_level import roi_reproducibility
from radiomicgan.evaluate.settings import RadiomicsSettings
from radiomicgan.evaluate.uncertainty import bootstrap_counts, sample_warnings, summary
from radiomicgan.evaluate.whole_image import whole_image_reproducibility

Phantom = Callable[..., np.ndarray]
SMALL = {"n_rois": 6, "repeats": 1, "roi_size_px": 24, "context_px": 8, "bootstrap_resamples": 200}


def test_bootstrap_counts_of_a_perfect_and_a_noisy_candidate() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(12, 20))
    same = bootstrap_counts(reference, reference.copy(), 0.85, 200, np.random.default_rng(1))
    assert (same == 20).all()  # identical values agree in every resample
    noisy = reference + rng.normal(scale=0.6, size=reference.shape)
    counts = bootstrap_counts(reference, noisy, 0.85, 200, np.random.default_rng(1))
    assert counts.min() < counts.max()  # a few ROIs: the count itself varies
    np.testing.assert_array_equal(
        counts, bootstrap_counts(reference, noisy, 0.85, 200, np.random.default_rng(1))
    )


@pytest.fixture
def scans(make_chest: Phantom) -> list[Scan]:
    reference = make_chest(slices=3, size=96, seed=11)
    noisy = reference + np.random.default_rng(3).normal(0.0, 120.0, reference.shape).astype(np.float32)
    return [Scan(reference, {"noisy": noisy}, (1.0, 1.0), (0, 1, 2), 3, Path("scan"))]


def test_few_repeats_get_an_interval_and_small_samples_a_warning(
    scans: list[Scan], light_settings: RadiomicsSettings
) -> None:
    config = EvaluationConfig(**SMALL)
    extraction = Extraction(settings=light_settings)
    protocol = ReproducibilityProtocol.from_config(config)
    roi = roi_reproducibility(scans, protocol, extraction)
    whole = whole_image_reproducibility(scans, protocol, extraction)
    intervals = summary(roi, whole, config)
    cell = intervals["roi"]["noisy"]["[-100, 250]"]
    mean = float(roi.counts.set_index(["candidate", "range"]).loc[("noisy", "[-100, 250]"), "n_reproducible"])
    assert cell[0] <= mean <= cell[1] and cell[0] < cell[1]  # one repeat: not "± 0"
    assert intervals == summary(roi, whole, config)  # seeded: the same interval every time
    lo, hi = intervals["whole_image"]["noisy"]
    assert 0 <= lo <= whole.counts["noisy"] <= hi
    warnings = sample_warnings(roi, whole, config)
    assert len(warnings) == 4 and "6 ROIs in a repeat, fewer than 30" in warnings[0]
    assert "CCC over 3 slices" in warnings[-1]
    lenient = EvaluationConfig(**SMALL, min_rois_warning=6, min_slices_warning=3, bootstrap_below_repeats=1)
    assert sample_warnings(roi, whole, lenient) == []
    assert summary(roi, whole, lenient)["roi"] is None  # enough repeats: mean ± SD, no interval
