"""PSNR and SSIM per slice in [-1024, 1000] HU, mean ± SD."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import pytest

from radiomicgan.evaluate.inputs import Scan
from radiomicgan.evaluate.metrics import PSNR_CAP_DB, image_quality, mean_sd, psnr_slices, ssim_slices

MakeScan = Callable[..., Scan]


def test_known_mse_gives_known_psnr() -> None:
    reference = np.zeros((2, 16, 16), dtype=np.float32)
    candidate = reference + 10.0  # MSE 100
    expected = 10 * math.log10(2024**2 / 100)  # 46.12 dB
    np.testing.assert_allclose(psnr_slices(reference, candidate), [expected, expected])


def test_identical_slices_hit_the_cap_and_ssim_one() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(0.0, 200.0, (3, 32, 32))
    assert (psnr_slices(reference, reference) == PSNR_CAP_DB).all()
    np.testing.assert_allclose(ssim_slices(reference, reference), 1.0)
    quality = image_quality([Scan.from_volumes(reference, {"same": reference}, (1.0, 1.0))])
    assert quality["same"]["psnr"] == {"mean": PSNR_CAP_DB, "sd": 0.0}
    json.dumps(quality, allow_nan=False)  # finite: JSON can hold it


def test_values_are_clipped_before_comparison() -> None:
    reference = np.full((1, 16, 16), 3000.0)  # metal in both: equal after clipping to 1000 HU
    candidate = np.full((1, 16, 16), 2000.0)
    assert psnr_slices(reference, candidate)[0] == PSNR_CAP_DB
    below = np.full((1, 16, 16), -2000.0)
    assert psnr_slices(below, np.full((1, 16, 16), -1024.0))[0] == PSNR_CAP_DB


def test_worse_candidate_scores_lower() -> None:
    rng = np.random.default_rng(1)
    reference = rng.normal(0.0, 200.0, (4, 32, 32))
    near = reference + rng.normal(0.0, 5.0, reference.shape)
    far = reference + rng.normal(0.0, 100.0, reference.shape)
    quality = image_quality([Scan.from_volumes(reference, {"near": near, "far": far}, (1.0, 1.0))])
    assert quality["near"]["psnr"]["mean"] > quality["far"]["psnr"]["mean"]
    assert quality["near"]["ssim"]["mean"] > quality["far"]["ssim"]["mean"]
    assert quality["far"]["psnr"]["sd"] > 0


def test_mean_sd() -> None:
    assert mean_sd([1.0, 2.0, 3.0]) == {"mean": 2.0, "sd": 1.0}  # n - 1 denominator
    assert mean_sd([4.0]) == {"mean": 4.0, "sd": 0.0}
    with pytest.raises(ValueError):
        mean_sd([])


def test_shape_mismatch() -> None:
    with pytest.raises(ValueError):
        psnr_slices(np.zeros((2, 8, 8)), np.zeros((2, 8, 9)))


def test_image_quality_over_pooled_slices(make_scan: MakeScan) -> None:
    scans = [make_scan(2, seed=5), make_scan(1, seed=6)]
    quality = image_quality(scans, (-1024.0, 1000.0))
    psnr = np.concatenate([psnr_slices(s.reference, s.candidates["noisy"]) for s in scans])
    assert quality["noisy"]["psnr"]["mean"] == pytest.approx(psnr.mean())
    assert quality["noisy"]["psnr"]["sd"] == pytest.approx(psnr.std(ddof=1))
    assert quality["same"]["ssim"] == {"mean": 1.0, "sd": 0.0}
