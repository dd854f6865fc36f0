"""ComBat with a reference batch: neuroCombat's results on regular data, no NaN/inf on degenerate data.

neuroCombat 0.2.12 is the reference implementation (Fortin et al.). Its `ref_batch` path calls
`np.int`, removed in NumPy 1.24, so the tests restore that alias for the call (monkeypatch); the rest
of its code runs unchanged under NumPy 2 and pandas 3.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray

from radiomicgan.config import EvaluationConfig
from radiomicgan.evaluate.agreement import ccc_per_feature
from radiomicgan.evaluate.combat import combat_to_reference, combat_values, fit_combat
from radiomicgan.evaluate.inputs import Scan
from radiomicgan.evaluate.protocol import REFERENCE, Extraction, ReproducibilityProtocol
from radiomicgan.evaluate.roi_level import roi_reproducibility
from radiomicgan.evaluate.settings import RadiomicsSettings

MakeScan = Callable[..., Scan]

neurocombat = importlib.import_module("neuroCombat.neuroCombat")


def _batches(
    seed: int, n_ref: int = 12, n_cand: int = 9, features: int = 40
) -> tuple[NDArray[np.float64], ...]:
    """Features on very different scales; the candidate has its own location and scale per feature."""
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.5, 500.0, features)
    reference = rng.normal(10.0, 3.0, (n_ref, features)) * scale
    candidate = rng.normal(12.0, 5.0, (n_cand, features)) * scale * rng.uniform(0.5, 2.0, features)
    return reference, candidate


def _neurocombat(
    reference: NDArray[np.float64],
    candidate: NDArray[np.float64],
    monkeypatch: pytest.MonkeyPatch,
    eb: bool = True,
) -> NDArray[np.float64]:
    monkeypatch.setattr(np, "int", int, raising=False)  # neuroCombat's ref_batch path uses np.int
    covars = pd.DataFrame({"batch": ["reference"] * len(reference) + ["candidate"] * len(candidate)})
    data = np.vstack([reference, candidate]).T  # neuroCombat takes [features, samples]
    result = neurocombat.neuroCombat(data, covars, "batch", ref_batch="reference", eb=eb)["data"]
    np.testing.assert_array_equal(result[:, : len(reference)].T, reference)  # the reference stays
    return np.asarray(result[:, len(reference) :].T)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_neurocombat_with_a_reference_batch(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    reference, candidate = _batches(seed)
    expected = _neurocombat(reference, candidate, monkeypatch)
    np.testing.assert_allclose(combat_to_reference(reference, candidate), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # neuroCombat's own stopping rule
def test_matches_neurocombat_at_convergence(monkeypatch: pytest.MonkeyPatch) -> None:
    # neuroCombat's stopping rule divides by signed estimates; at a tight tolerance both reach the fixed point
    reference, candidate = _batches(3, n_ref=6, n_cand=30, features=200)
    monkeypatch.setattr(neurocombat.it_sol, "__defaults__", (1e-12,))
    expected = _neurocombat(reference, candidate, monkeypatch)
    np.testing.assert_allclose(
        combat_to_reference(reference, candidate, tolerance=1e-12), expected, rtol=1e-8, atol=1e-8
    )


def test_moves_the_candidate_onto_the_reference() -> None:
    reference, candidate = _batches(4, n_ref=30, n_cand=30)
    adjusted = combat_to_reference(reference, candidate)
    scale = reference.std(axis=0)
    before = np.abs(candidate.mean(axis=0) - reference.mean(axis=0)) / scale
    after = np.abs(adjusted.mean(axis=0) - reference.mean(axis=0)) / scale
    assert after.mean() < 0.2 * before.mean()
    ratio = adjusted.std(axis=0) / scale
    assert np.abs(np.log(ratio)).mean() < 0.5 * np.abs(np.log(candidate.std(axis=0) / scale)).mean()


def test_degenerate_features_give_finite_values_and_stay_put() -> None:
    reference, candidate = _batches(5, features=8)
    reference[:, 0] = 7.0  # constant on the reference: nothing to map onto
    reference[:, 1] = 3.3 + np.arange(len(reference)) * 1e-15  # constant up to rounding
    candidate[:, 2] = -4.0  # constant on the candidate
    candidate[3, 3] = np.nan  # PyRadiomics' NaN
    reference[0, 4] = np.inf
    adjusted = combat_to_reference(reference, candidate)
    np.testing.assert_array_equal(adjusted[:, [0, 1, 4]], candidate[:, [0, 1, 4]])
    np.testing.assert_array_equal(adjusted[:, 3], candidate[:, 3])  # NaN left where it was
    assert np.isfinite(np.delete(adjusted, 3, axis=1)).all()
    assert np.ptp(adjusted[:, 2]) == 0 and adjusted[0, 2] != -4.0  # moved to the reference's location


def test_identical_batches_and_tiny_inputs_give_finite_results() -> None:
    reference, _ = _batches(6, n_ref=5, features=20)
    same = combat_to_reference(reference, reference)  # all delta_hat equal: point-mass prior
    assert np.isfinite(same).all()
    assert np.nanmin(ccc_per_feature(reference, same)) > 0.95
    one_feature = combat_to_reference(reference[:, :1], reference[:, :1] + 5.0)
    np.testing.assert_array_equal(one_feature, reference[:, :1] + 5.0)  # no prior from one feature
    one_sample = combat_to_reference(reference, reference[:1] * 2)
    np.testing.assert_array_equal(one_sample, reference[:1] * 2)
    constant = np.ones((5, 4))
    np.testing.assert_array_equal(combat_to_reference(constant, constant * 2), constant * 2)


def test_refuses_mismatched_tables() -> None:
    with pytest.raises(ValueError, match="equal columns"):
        combat_to_reference(np.zeros((3, 4)), np.zeros((3, 5)))


@pytest.mark.parametrize("seed", [0, 1])
def test_without_empirical_bayes_matches_neurocombat_eb_false(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference, candidate = _batches(seed)
    ours = combat_to_reference(reference, candidate, empirical_bayes=False)
    np.testing.assert_allclose(ours, _neurocombat(reference, candidate, monkeypatch, eb=False), rtol=1e-8)


def test_a_few_heavy_tailed_features_shrink_every_feature_only_with_empirical_bayes() -> None:
    """What the lung CT showed: features whose reference barely varies inflate the delta prior."""
    rng = np.random.default_rng(0)
    reference = rng.normal(0.0, 1.0, (30, 200))
    candidate = 1.5 * reference + 3.0 + rng.normal(0.0, 0.05, reference.shape)  # a plain batch effect
    reference[:, :3] = 1.0 + rng.normal(0.0, 1e-4, (30, 3))  # nearly constant on the reference ...
    candidate[:, :3] = rng.normal(1.0, 1.0, (30, 3))  # ... but not on the candidate
    plain = ccc_per_feature(reference, combat_to_reference(reference, candidate, empirical_bayes=False))[3:]
    shrunk = ccc_per_feature(reference, combat_to_reference(reference, candidate, empirical_bayes=True))[3:]
    assert (ccc_per_feature(reference, candidate)[3:] < 0.5).all()  # before ComBat: nothing agrees
    assert (plain > 0.99).all()
    assert (shrunk < 0.1).all()  # every ordinary feature's spread shrunk to almost nothing


def test_a_fit_applies_to_other_samples_as_one_affine_map_per_feature() -> None:
    reference, candidate = _batches(3)
    fit = fit_combat(reference, candidate, empirical_bayes=False)
    np.testing.assert_allclose(
        fit.apply(candidate), combat_to_reference(reference, candidate, empirical_bayes=False)
    )
    other = candidate[::-1] * 1.5 + 7.0  # another sample of the same batch
    step = fit.apply(other + 1.0) - fit.apply(other)
    np.testing.assert_allclose(step, np.broadcast_to(step[0], step.shape))  # the same map for every row
    assert not np.allclose(fit.apply(other).mean(axis=0), reference.mean(axis=0))  # not refitted
    with pytest.raises(ValueError, match="feature values"):
        fit.apply(candidate[:, :3])


def test_combat_rows_adjust_each_group_against_the_reference(
    make_scan: MakeScan, light_settings: RadiomicsSettings
) -> None:
    scans = [make_scan(2, seed=2)]
    protocol = ReproducibilityProtocol.from_config(
        EvaluationConfig(n_rois=6, repeats=2, roi_size_px=24, context_px=8)
    )
    result = roi_reproducibility(scans, protocol, Extraction(settings=light_settings), combat=True)
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
