"""The ROI protocol on small synthetic chests (light PyRadiomics settings keep it fast)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from radiomicgan.evaluate.protocol import META_COLUMNS, REFERENCE, ReproducibilityResult, reproducibility
from radiomicgan.evaluate.settings import RadiomicsSettings

Phantom = Callable[..., np.ndarray]
SPACING = (1.0, 1.0)
SMALL: dict[str, Any] = {"n_rois": 6, "repeats": 2, "roi_size_px": 24, "context_px": 8}


@pytest.fixture
def chest_result(make_chest: Phantom, light_settings: RadiomicsSettings) -> ReproducibilityResult:
    reference = make_chest(slices=3, size=128, seed=0)
    noisy = reference + np.random.default_rng(9).normal(0.0, 150.0, reference.shape).astype(np.float32)
    candidates = {"same": reference.copy(), "noisy": noisy}
    return reproducibility(reference, candidates, SPACING, settings=light_settings, **SMALL)


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
    result = reproducibility(
        reference, {"same": reference.copy()}, SPACING, settings=light_settings, **{**SMALL, "repeats": 1}
    )
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
    kwargs: dict[str, Any] = {
        **SMALL,
        "repeats": 1,
        "hu_ranges": [(-100.0, 250.0)],
        "settings": light_settings,
    }
    first = reproducibility(reference, candidates, SPACING, seed=5, **kwargs)
    again = reproducibility(reference, candidates, SPACING, seed=5, **kwargs)
    other = reproducibility(reference, candidates, SPACING, seed=6, **kwargs)
    pd.testing.assert_frame_equal(first.values, again.values)
    boxes = ["slice", "y0", "x0"]
    assert not first.values[boxes].equals(other.values[boxes])


def test_ranges_with_too_few_pixels(make_chest: Phantom, light_settings: RadiomicsSettings) -> None:
    reference = make_chest(slices=2, size=96, seed=2, bone=False)
    result = reproducibility(
        reference,
        {"same": reference.copy()},
        SPACING,
        settings=light_settings,
        hu_ranges=[(300.0, 800.0), (-800.0, -300.0)],
        min_roi_pixels=300,  # of 576: lung boxes that are partly soft tissue are skipped
        max_draws_per_roi=5,
        **{**SMALL, "repeats": 1},
    )
    bone, lung = result.counts.iloc[0], result.counts.iloc[1]
    assert bone["n_rois"] == 0 and bone["n_rejected"] == 30 and pd.isna(bone["n_reproducible"])
    assert result.summary()["same"]["[300, 800]"] == {"mean": None, "sd": None, "n_repeats": 0}
    assert result.ccc.loc[("same", "[300, 800]", 0)].isna().all()
    assert lung["n_rois"] == 6 and lung["n_rejected"] > 0
    assert (result.values["range"] == "[-800, -300]").all()


def test_invalid_inputs(make_chest: Phantom) -> None:
    reference = make_chest(slices=1, size=64)
    with pytest.raises(ValueError, match="reserved"):
        reproducibility(reference, {REFERENCE: reference}, SPACING)
    with pytest.raises(ValueError, match="shape"):
        reproducibility(reference, {"cut": reference[:, :32]}, SPACING)
    with pytest.raises(ValueError, match="at least one"):
        reproducibility(reference, {}, SPACING)
