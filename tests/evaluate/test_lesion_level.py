"""The lesion level (`lesion_reproducibility`) on lesions in memory: CCC across lesions, counts,
lesions that cannot be paired, and what it refuses."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from lesions.cases import LIGHT_3D, Ball, lesion_ct
from radiomicgan.config import RegionFeatureConfig
from radiomicgan.evaluate.agreement import ccc_per_feature
from radiomicgan.evaluate.lesion_level import LesionCase, lesion_reproducibility
from radiomicgan.evaluate.settings import load_settings, validate_settings
from radiomicgan.io.masks import Region

SETTINGS = validate_settings(LIGHT_3D, "light", dimensions=3)
CONFIG = RegionFeatureConfig(jobs=1)
BALLS = [
    [Ball((6.0, 8.0, 8.0), 3.0, 120.0), Ball((9.0, 16.0, 15.0), 4.5, -20.0)],
    [Ball((7.0, 9.0, 14.0), 3.5, 60.0), Ball((8.0, 15.0, 8.0), 2.5, 10.0)],
]


def _cases(noise_hu: float, empty: bool = False) -> list[LesionCase]:
    cases = []
    for seed, balls in enumerate(BALLS):
        ct = lesion_ct(balls, texture_hu=25.0, seed=seed)
        hu = ct.volume.hu
        rng = np.random.default_rng(seed + 10)
        regions = [Region(n, f"nodule {n}", ct.labels == n) for n in range(1, len(balls) + 1)]
        if empty and seed == 1:
            regions.append(Region(9, "outside", np.zeros(hu.shape, dtype=bool)))
        candidates = {"same": hu.copy(), "noisy": hu + rng.normal(0.0, noise_hu, hu.shape).astype(np.float32)}
        cases.append(LesionCase(hu, candidates, ct.volume.spacing_zyx_mm, tuple(regions)))
    return cases


def test_an_identical_candidate_reproduces_every_defined_feature_and_noise_loses_some() -> None:
    result = lesion_reproducibility(_cases(noise_hu=80.0), SETTINGS, CONFIG, threshold=0.85)
    assert result.n_lesions == 4 and result.excluded == []
    summary = result.summary()
    assert summary["same"]["reproducible"] == summary["same"]["defined"] > 0
    assert summary["noisy"]["reproducible"] < summary["same"]["reproducible"]
    assert set(summary["same"]["by_class"]) == {"firstorder", "glcm"}  # shape: mask-only, not counted
    # The CCC is Lin's across the lesions, the reference's values paired with the candidate's.
    values = result.values
    names = list(result.feature_names)
    reference = values[values["candidate"] == "reference"][names].to_numpy()
    noisy = values[values["candidate"] == "noisy"][names].to_numpy()
    expected = ccc_per_feature(reference, noisy)
    assert np.allclose(result.ccc.loc["noisy"].to_numpy(), expected, equal_nan=True)


def test_a_lesion_without_voxels_is_left_out_and_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="radiomicgan"):
        result = lesion_reproducibility(_cases(noise_hu=10.0, empty=True), SETTINGS, CONFIG, threshold=0.85)
    assert result.n_lesions == 4
    assert result.excluded == [
        {"case": 2, "region": 9, "region_name": "outside", "reason": "it has no voxel on the grid"}
    ]
    assert any("case 2, region 9 (outside)" in r.getMessage() for r in caplog.records)
    assert len(result.values) == 5 * 3  # its rows stay, with NaN features
    assert np.isfinite(result.ccc.to_numpy()).any()


def test_too_few_lesions_and_per_slice_settings_are_refused() -> None:
    one_case = _cases(noise_hu=10.0)[:1]
    with pytest.raises(ValueError, match="at least 3"):
        lesion_reproducibility(one_case, SETTINGS, CONFIG, threshold=0.85)
    with pytest.raises(ValueError, match="3-D"):
        lesion_reproducibility(_cases(noise_hu=10.0), load_settings(), CONFIG, threshold=0.85)
