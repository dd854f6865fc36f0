"""The protocols over several scans: ROIs shared among scans and pooled, ComBat rows, pooled slices."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiomicgan.config import EvaluationConfig
from radiomicgan.evaluate.inputs import Scan
from radiomicgan.evaluate.metrics import psnr_slices
from radiomicgan.evaluate.pooling import (
    Extraction,
    allot_rois,
    combat_values,
    pooled_image_quality,
    pooled_reproducibility,
    pooled_whole_image,
    scan_seed,
)
from radiomicgan.evaluate.protocol import REFERENCE
from radiomicgan.evaluate.settings import RadiomicsSettings

Phantom = Callable[..., np.ndarray]
SMALL = {"n_rois": 6, "repeats": 2, "roi_size_px": 24, "context_px": 8}


def _scan(make_chest: Phantom, slices: int, seed: int) -> Scan:
    reference = make_chest(slices=slices, size=96, seed=seed)
    noisy = reference + np.random.default_rng(seed + 100).normal(0.0, 120.0, reference.shape).astype(
        np.float32
    )
    return Scan(
        reference=reference,
        candidates={"same": reference.copy(), "noisy": noisy},
        spacing_yx_mm=(1.0, 1.0),
        slice_indices=tuple(range(1, slices + 1)),
        n_reference_slices=slices + 1,
        source=Path(f"scan{seed}"),
    )


@pytest.mark.parametrize(
    ("n_rois", "slices", "expected"),
    [
        (10, [4, 4], [5, 5]),
        (5, [3, 1], [4, 1]),
        (2, [1, 1, 1], [1, 1, 0]),
        (7, [2], [7]),
        (50, [1, 2, 7], [5, 10, 35]),
    ],
)
def test_rois_are_shared_in_proportion_to_slices(n_rois: int, slices: list[int], expected: list[int]) -> None:
    assert allot_rois(n_rois, slices) == expected


def test_scan_seeds_are_reproducible_and_distinct() -> None:
    assert scan_seed(0, 1) == scan_seed(0, 1)
    assert len({scan_seed(s, i) for s in range(3) for i in range(3)}) == 9


def test_rois_of_several_scans_are_pooled(make_chest: Phantom, light_settings: RadiomicsSettings) -> None:
    scans = [_scan(make_chest, 2, seed=0), _scan(make_chest, 1, seed=1)]
    config = EvaluationConfig(**SMALL)
    result = pooled_reproducibility(scans, config, Extraction(settings=light_settings), combat=True)
    values = result.values
    assert list(values.columns[:2]) == ["scan", "repeat"]
    reference = values[values["candidate"] == REFERENCE]
    per_scan = reference.groupby(["repeat", "range", "scan"]).size()
    assert (per_scan.xs(0, level="scan") == 4).all() and (
        per_scan.xs(1, level="scan") == 2
    ).all()  # 6 = 4 + 2
    assert not reference.duplicated(["repeat", "range", "roi"]).any()  # ROI numbers unique across scans
    assert list(result.counts["candidate"].unique()) == ["same", "noisy", "same+ComBat", "noisy+ComBat"]
    assert (result.counts["n_rois"] == 6).all()
    same = result.counts[result.counts["candidate"] == "same"]
    assert (same["n_reproducible"] == same["n_defined"]).all()  # identical images, pooled or not
    noisy = result.counts.groupby("candidate")["n_reproducible"].sum()
    assert noisy["noisy"] < noisy["same"]


def test_combat_rows_adjust_each_group_against_the_reference(
    make_chest: Phantom, light_settings: RadiomicsSettings
) -> None:
    scans = [_scan(make_chest, 2, seed=2)]
    config = EvaluationConfig(**SMALL)
    result = pooled_reproducibility(scans, config, Extraction(settings=light_settings), combat=True)
    fit_values = result.combat_fit_values
    assert fit_values is not None
    values = result.values[~result.values["candidate"].str.endswith("+ComBat")]
    names = result.feature_names
    rows = combat_values(values, fit_values, names, ["noisy"])
    assert list(rows.columns) == list(result.values.columns)
    assert set(rows["candidate"]) == {"noisy+ComBat"} and len(rows) == 2 * 3 * 6
    pd.testing.assert_frame_equal(
        rows.reset_index(drop=True),
        result.values[result.values["candidate"] == "noisy+ComBat"].reset_index(drop=True),
    )
    original = values[values["candidate"] == "noisy"].reset_index(drop=True)
    meta = ["scan", "repeat", "range", "roi", "slice", "y0", "x0"]
    pd.testing.assert_frame_equal(rows[meta], original[meta])
    assert np.isfinite(rows[names].to_numpy()[np.isfinite(original[names].to_numpy())]).all()
    group = (rows["repeat"] == 0) & (rows["range"] == "[-100, 250]")
    reference = values[(values["candidate"] == REFERENCE)]
    reference = reference[(reference["repeat"] == 0) & (reference["range"] == "[-100, 250]")]
    gap = {
        "before": np.abs(original[group.to_numpy()][names].mean() - reference[names].mean()),
        "after": np.abs(rows[group][names].mean() - reference[names].mean()),
    }
    assert gap["after"].sum() < 0.5 * gap["before"].sum()
    # fitted elsewhere: the scored ROIs' means are close to the reference's, not equal by construction
    moved = gap["before"] > 1e-6 * np.abs(reference[names].mean())
    assert (gap["after"][moved] > 1e-9 * np.abs(reference[names].mean()[moved])).all()


def test_combat_is_fitted_on_a_separate_sample(
    make_chest: Phantom, light_settings: RadiomicsSettings
) -> None:
    scans = [_scan(make_chest, 2, seed=7)]
    result = pooled_reproducibility(
        scans, EvaluationConfig(**SMALL), Extraction(settings=light_settings), combat=True
    )
    fit = result.combat_fit_values
    assert fit is not None and set(fit["candidate"]) == {REFERENCE, "same", "noisy"}
    scored = result.values[result.values["candidate"] == REFERENCE]
    fitted = fit[fit["candidate"] == REFERENCE]
    # the same protocol; kept apart from the scored boxes, a small scan may offer fewer ROIs to fit on
    assert 0 < len(fitted) <= len(scored)
    for (repeat, label), boxes in scored.groupby(["repeat", "range"]):
        others = fitted[(fitted["repeat"] == repeat) & (fitted["range"] == label)]
        for a in boxes.itertuples():
            for b in others.itertuples():
                apart = a.slice != b.slice or abs(a.y0 - b.y0) >= a.size_px or abs(a.x0 - b.x0) >= a.size_px
                assert apart, "a fit ROI overlaps a scored ROI"
    without = pooled_reproducibility(scans, EvaluationConfig(**SMALL), Extraction(settings=light_settings))
    assert without.combat_fit_values is None
    # the scored sample is the one without ComBat: fitting elsewhere changes no other row
    kept = result.counts[result.counts["candidate"].isin(["same", "noisy"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, without.counts)


def test_whole_image_pools_slices_across_scans(
    make_chest: Phantom, light_settings: RadiomicsSettings
) -> None:
    scans = [_scan(make_chest, 2, seed=3), _scan(make_chest, 2, seed=4)]
    config = EvaluationConfig()
    result = pooled_whole_image(scans, config, Extraction(settings=light_settings))
    assert result.slices == [1, 2, 1, 2]  # indices within each scan's series
    assert list(result.values.columns[:4]) == ["scan", "candidate", "slice", "n_pixels"]
    assert len(result.values) == 4 * 3 and list(result.ccc.index) == ["same", "noisy"]
    assert result.counts["noisy"] < result.counts["same"]
    capped = pooled_whole_image(scans, config, Extraction(settings=light_settings), max_slices=3)
    assert len(capped.slices) == 3
    with pytest.raises(ValueError, match="3 slices"):
        pooled_whole_image(scans[:1], config, Extraction(settings=light_settings))


def test_image_quality_over_pooled_slices(make_chest: Phantom) -> None:
    scans = [_scan(make_chest, 2, seed=5), _scan(make_chest, 1, seed=6)]
    quality = pooled_image_quality(scans, (-1024.0, 1000.0))
    psnr = np.concatenate([psnr_slices(s.reference, s.candidates["noisy"]) for s in scans])
    assert quality["noisy"]["psnr"]["mean"] == pytest.approx(psnr.mean())
    assert quality["noisy"]["psnr"]["sd"] == pytest.approx(psnr.std(ddof=1))
    assert quality["same"]["ssim"] == {"mean": 1.0, "sd": 0.0}
