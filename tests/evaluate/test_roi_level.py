"""The ROI level on small synthetic chests (light PyRadiomics settings keep it fast): one scan, and
several with their ROIs shared and pooled, with ComBat rows fitted on a separate sample."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest

from radiomicgan.config import EvaluationConfig
from radiomicgan.evaluate.inputs import Scan
from radiomicgan.evaluate.protocol import REFERENCE, Extraction, ReproducibilityProtocol
from radiomicgan.evaluate.roi_level import (
    META_COLUMNS,
    ReproducibilityResult,
    allot_rois,
    roi_reproducibility,
    scan_seed,
    shared_seed,
)
from radiomicgan.evaluate.settings import RadiomicsSettings

Phantom = Callable[..., np.ndarray]
MakeScan = Callable[..., Scan]
SPACING = (1.0, 1.0)
SMALL: dict[str, Any] = {"n_rois": 6, "repeats": 2, "roi_size_px": 24, "context_px": 8}


def _protocol(**overrides: Any) -> ReproducibilityProtocol:
    return ReproducibilityProtocol.from_config(EvaluationConfig(**{**SMALL, **overrides}))


def reproducibility(
    reference: np.ndarray,
    candidates: Mapping[str, np.ndarray],
    settings: RadiomicsSettings,
    **overrides: Any,
) -> ReproducibilityResult:
    """The ROI level on one in-memory scan, the small protocol with `overrides`."""
    scan = Scan.from_volumes(reference, candidates, SPACING)
    return roi_reproducibility([scan], _protocol(**overrides), Extraction(settings=settings))


@pytest.fixture
def chest_result(make_chest: Phantom, light_settings: RadiomicsSettings) -> ReproducibilityResult:
    reference = make_chest(slices=3, size=128, seed=0)
    noisy = reference + np.random.default_rng(9).normal(0.0, 150.0, reference.shape).astype(np.float32)
    candidates = {"same": reference.copy(), "noisy": noisy}
    return reproducibility(reference, candidates, light_settings)


def test_identical_candidate_reproduces_every_defined_feature(chest_result: ReproducibilityResult) -> None:
    same = chest_result.counts[chest_result.counts["candidate"] == "same"]
    assert len(same) == 2 * 3  # repeats x ranges
    assert (same["n_rois"] == 6).all()
    assert (same["n_defined"] > 80).all()  # of 102; NaN only for features constant over the ROIs
    assert (same["n_reproducible"] == same["n_defined"]).all()
    finite = chest_result.ccc.loc["same"].to_numpy()
    np.testing.assert_allclose(finite[np.isfinite(finite)], 1.0)


def test_shape_features_agree_by_construction_and_are_not_counted(
    chest_result: ReproducibilityResult,
) -> None:
    shape = [c for c in chest_result.feature_names if "_shape2D_" in c]
    assert len(shape) == 9
    noisy_ccc = chest_result.ccc.loc["noisy"]
    assert (noisy_ccc[shape] == 1.0).all().all()  # the reference's masks for every image
    others = noisy_ccc.drop(columns=shape).to_numpy()
    counted = (np.nan_to_num(others, nan=-np.inf) > chest_result.threshold).sum(axis=1)
    noisy = chest_result.counts[chest_result.counts["candidate"] == "noisy"]
    assert list(noisy["n_reproducible"]) == list(counted)
    assert (noisy["n_defined"] <= len(chest_result.feature_names) - len(shape)).all()


def test_one_repeat_has_no_sd(make_chest: Phantom, light_settings: RadiomicsSettings) -> None:
    reference = make_chest(slices=2, size=96, seed=4)
    result = reproducibility(reference, {"same": reference.copy()}, light_settings, repeats=1)
    cell = result.summary()["same"]["[-100, 250]"]
    assert cell["n_repeats"] == 1 and cell["mean"] is not None and cell["sd"] is None  # not "± 0"


def test_noisy_candidate_reproduces_fewer(chest_result: ReproducibilityResult) -> None:
    totals = chest_result.counts.groupby("candidate")["n_reproducible"].sum()
    assert totals["noisy"] < 0.8 * totals["same"]
    summary = chest_result.summary()
    assert list(summary) == ["same", "noisy"]
    assert list(summary["noisy"]) == ["[-800, -300]", "[-100, 250]", "[300, 800]"]
    cell = summary["noisy"]["[-100, 250]"]
    assert cell["n_repeats"] == 2 and cell["mean"] < summary["same"]["[-100, 250]"]["mean"]
    assert chest_result.mean_ccc().shape == (6, len(chest_result.feature_names))


def test_long_table_holds_every_value_with_identical_masks(chest_result: ReproducibilityResult) -> None:
    values = chest_result.values
    assert list(values.columns) == META_COLUMNS + chest_result.feature_names
    assert len(values) == 2 * 3 * 6 * 3  # repeats x ranges x ROIs x (reference + 2 candidates)
    assert set(values["candidate"]) == {REFERENCE, "same", "noisy"}
    shape_columns = [c for c in values.columns if "_shape2D_" in c]
    keys = ["repeat", "range", "roi"]
    ref = values[values["candidate"] == REFERENCE].set_index(keys)
    noisy = values[values["candidate"] == "noisy"].set_index(keys)
    # shape depends on the mask only: equal shape features mean the noisy image had the reference's masks
    pd.testing.assert_frame_equal(ref[shape_columns], noisy[shape_columns])
    pd.testing.assert_frame_equal(
        ref[["slice", "y0", "x0", "n_pixels"]], noisy[["slice", "y0", "x0", "n_pixels"]]
    )
    assert (values["n_pixels"] >= 10).all()


def test_sampling_is_determined_by_the_seed(make_chest: Phantom, light_settings: RadiomicsSettings) -> None:
    reference = make_chest(slices=2, size=96, seed=1)
    candidates = {"blurred": reference + 20.0}
    kwargs: dict[str, Any] = {"repeats": 1, "hu_ranges": [(-100.0, 250.0)]}
    first = reproducibility(reference, candidates, light_settings, seed=5, **kwargs)
    again = reproducibility(reference, candidates, light_settings, seed=5, **kwargs)
    other = reproducibility(reference, candidates, light_settings, seed=6, **kwargs)
    pd.testing.assert_frame_equal(first.values, again.values)
    boxes = ["slice", "y0", "x0"]
    assert not first.values[boxes].equals(other.values[boxes])


def test_ranges_with_too_few_pixels(make_chest: Phantom, light_settings: RadiomicsSettings) -> None:
    reference = make_chest(slices=2, size=96, seed=2, bone=False)
    result = reproducibility(
        reference,
        {"same": reference.copy()},
        light_settings,
        hu_ranges=[(300.0, 800.0), (-800.0, -300.0)],
        min_roi_pixels=300,  # of 576: lung boxes that are partly soft tissue are skipped
        max_draws_per_roi=5,
        repeats=1,
    )
    bone, lung = result.counts.iloc[0], result.counts.iloc[1]
    assert bone["n_rois"] == 0 and bone["n_rejected"] == 30 and pd.isna(bone["n_reproducible"])
    assert result.summary()["same"]["[300, 800]"] == {"mean": None, "sd": None, "n_repeats": 0}
    assert result.ccc.loc[("same", "[300, 800]", 0)].isna().all()
    assert lung["n_rois"] == 6 and lung["n_rejected"] > 0
    assert (result.values["range"] == "[-800, -300]").all()


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


def test_rois_of_several_scans_are_pooled(make_scan: MakeScan, light_settings: RadiomicsSettings) -> None:
    scans = [make_scan(2, seed=0), make_scan(1, seed=1)]
    protocol = _protocol()
    result = roi_reproducibility(scans, protocol, Extraction(settings=light_settings), combat=True)
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


def test_combat_is_fitted_on_a_separate_sample(
    make_scan: MakeScan, light_settings: RadiomicsSettings
) -> None:
    scans = [make_scan(2, seed=7)]
    result = roi_reproducibility(scans, _protocol(), Extraction(settings=light_settings), combat=True)
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
    without = roi_reproducibility(scans, _protocol(), Extraction(settings=light_settings))
    assert without.combat_fit_values is None
    # the scored sample is the one without ComBat: fitting elsewhere changes no other row
    kept = result.counts[result.counts["candidate"].isin(["same", "noisy"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, without.counts)


def test_shared_seed_draws_one_scan_from_the_protocol_seed(
    make_chest: Phantom, light_settings: RadiomicsSettings
) -> None:
    """What the benchmarks rely on: `shared_seed` keeps the ROIs drawn before issue 16."""
    from radiomicgan.evaluate.rois import body_masks, select_rois

    reference = make_chest(slices=2, size=96, seed=1)
    scan = Scan.from_volumes(reference, {"same": reference.copy()}, SPACING)
    protocol = _protocol(repeats=1, hu_ranges=[(-100.0, 250.0)], seed=5)
    result = roi_reproducibility([scan], protocol, Extraction(settings=light_settings), seed_of=shared_seed)
    body = body_masks(reference, protocol.body_threshold_hu)
    kept, _ = select_rois(
        reference, body, (-100.0, 250.0), 6, 24, np.random.default_rng([5, 0, 0]),
        min_body_fraction=protocol.min_body_fraction, min_roi_pixels=protocol.min_roi_pixels,
        max_draws_per_roi=protocol.max_draws_per_roi,
    )  # fmt: skip
    drawn = result.values[result.values["candidate"] == REFERENCE][["slice", "y0", "x0"]]
    assert [tuple(row) for row in drawn.to_numpy()] == [(b.slice_index, b.y0, b.x0) for b, _ in kept]
    assert shared_seed(5, 3) == 5 != scan_seed(5, 0)
