"""Lin's CCC and the reproducible count."""

from __future__ import annotations

import math

import numpy as np
import pytest

from radiomicgan.evaluate.agreement import ccc, ccc_per_feature, count_reproducible


def _ccc_loop(x: list[float], y: list[float]) -> float:
    """Lin (1989) written out term by term, population moments: an independent reference."""
    n = len(x)
    mean_x = sum(x) / n
    mean_y = sum(y) / n
    var_x = sum((a - mean_x) ** 2 for a in x) / n
    var_y = sum((b - mean_y) ** 2 for b in y) / n
    cov = sum((a - mean_x) * (b - mean_y) for a, b in zip(x, y, strict=True)) / n
    return 2 * cov / (var_x + var_y + (mean_x - mean_y) ** 2)


def test_hand_computed_values() -> None:
    # x=[1,2,3], y=x+1: var 2/3 each, cov 2/3, mean gap 1 -> (4/3) / (4/3 + 1) = 4/7
    assert ccc([1, 2, 3], [2, 3, 4]) == pytest.approx(4 / 7)
    # equal means 2.5, var 1.25 each, cov (2.25 - 0.25 - 0.25 + 2.25) / 4 = 1 -> 2 / 2.5
    assert ccc([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    # y = 2x: var 2/3 and 8/3, cov 4/3, mean gap 2 -> (8/3) / (10/3 + 4) = 4/11
    assert ccc([1, 2, 3], [2, 4, 6]) == pytest.approx(4 / 11)
    # reversed order: cov = -2/3 -> -1
    assert ccc([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_perfect_agreement_is_one_and_a_shift_lowers_it() -> None:
    x = np.array([3.0, -1.0, 7.5, 2.0, 0.25])
    assert ccc(x, x) == pytest.approx(1.0)
    assert ccc(x, x + 0.5) < 1.0
    assert ccc(x, x + 5.0) < ccc(x, x + 0.5)  # Pearson r stays 1; CCC penalizes the bias


def test_matches_loop_reference_on_random_tables() -> None:
    rng = np.random.default_rng(7)
    ref = rng.normal(100.0, 20.0, size=(12, 30))
    cand = ref * rng.uniform(0.5, 1.5, size=30) + rng.normal(0.0, 15.0, size=(12, 30))
    vectorized = ccc_per_feature(ref, cand)
    for j in range(30):
        assert vectorized[j] == pytest.approx(_ccc_loop(list(ref[:, j]), list(cand[:, j])), rel=1e-12)


def test_large_offsets_keep_precision() -> None:
    x = np.array([1.0, 2.0, 3.0]) + 1e9
    assert ccc(x, x + 1.0) == pytest.approx(4 / 7, rel=1e-9)


def test_constant_features() -> None:
    assert math.isnan(ccc([5, 5, 5], [5, 5, 5]))  # 0/0: undefined, never reproducible
    assert ccc([5, 5, 5], [1, 2, 3]) == 0.0  # one side constant: no covariance
    assert ccc([5, 5, 5], [4, 4, 4]) == 0.0  # both constant, different values
    result = ccc_per_feature([[1, 5], [2, 5], [3, 5]], [[1, 5], [2, 5], [3, 5]])
    assert result[0] == pytest.approx(1.0) and math.isnan(result[1])


def test_non_finite_values_give_nan() -> None:
    assert math.isnan(ccc([1, 2, math.nan], [1, 2, 3]))
    assert math.isnan(ccc([1, 2, 3], [1, math.inf, 3]))


def test_invalid_shapes() -> None:
    with pytest.raises(ValueError):
        ccc([1, 2, 3], [1, 2])
    with pytest.raises(ValueError):
        ccc_per_feature(np.zeros((1, 4)), np.zeros((1, 4)))
    with pytest.raises(ValueError):
        ccc_per_feature(np.zeros((3, 4)), np.zeros((3, 5)))


def test_count_is_strictly_above_threshold_and_ignores_nan() -> None:
    values = np.array([0.85, 0.8501, math.nan, 0.99, -1.0, 1.0])
    assert count_reproducible(values) == 3
    assert count_reproducible(values, threshold=0.9) == 2
    assert count_reproducible(np.full(4, math.nan)) == 0
