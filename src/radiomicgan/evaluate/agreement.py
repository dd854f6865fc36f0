"""Lin's concordance correlation coefficient (CCC) and the reproducible-feature count.

The paper calls a radiomic feature reproducible when the CCC between its values on the standard image and
on the candidate image, across ROIs, exceeds 0.85 (Sec. 3.1, after Choe et al. 2019 and Lin 1989).

CCC = 2·cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))²), with population (1/n) moments as in Lin's
definition. Two cases the formula leaves open, settled here:

- A feature constant over the ROIs in *both* images with the *same* value gives 0/0. We return NaN: the
  feature carries no information in this sample, so agreement is undefined, and NaN never counts as
  reproducible (counting it would reward degenerate features, e.g. a filter whose output falls in one bin).
  When only one side is constant, or both are constant with different values, the formula is defined and
  gives 0.
- Any non-finite value (PyRadiomics returns NaN on some degenerate masks) makes the feature's CCC NaN.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from radiomicgan.config import EvaluationConfig

CCC_THRESHOLD = EvaluationConfig.ccc_threshold


def ccc(x: ArrayLike, y: ArrayLike) -> float:
    """Lin's concordance correlation coefficient of two paired samples.

    Args:
        x: values of one feature on the reference, one per ROI.
        y: the same feature on the candidate, same ROIs in the same order.

    Returns:
        CCC in [-1, 1]; NaN when both samples are constant and equal, or any value is not finite.

    Raises:
        ValueError: the samples are not 1-D, differ in length, or hold fewer than 2 values.
    """
    x_arr = np.asarray(x, dtype=np.float64)
    y_arr = np.asarray(y, dtype=np.float64)
    if x_arr.ndim != 1 or x_arr.shape != y_arr.shape:
        raise ValueError(f"ccc needs two 1-D samples of equal length, got {x_arr.shape} and {y_arr.shape}")
    return float(ccc_per_feature(x_arr[:, None], y_arr[:, None])[0])


def ccc_per_feature(reference: ArrayLike, candidate: ArrayLike) -> NDArray[np.float64]:
    """CCC of every feature (column) between two feature tables over the same ROIs (rows).

    Args:
        reference: [n_rois, n_features] feature values on the reference image.
        candidate: [n_rois, n_features] values on the candidate, rows and columns matching.

    Returns:
        [n_features] CCC per feature, NaN where undefined (see the module docstring).

    Raises:
        ValueError: shapes differ, are not 2-D, or hold fewer than 2 ROIs.
    """
    ref = np.asarray(reference, dtype=np.float64)
    cand = np.asarray(candidate, dtype=np.float64)
    if ref.ndim != 2 or ref.shape != cand.shape:
        raise ValueError(f"feature tables must be 2-D and of equal shape, got {ref.shape} and {cand.shape}")
    if ref.shape[0] < 2:
        raise ValueError(f"CCC needs at least 2 ROIs, got {ref.shape[0]}")
    finite = np.isfinite(ref).all(axis=0) & np.isfinite(cand).all(axis=0)
    ref, cand = ref[:, finite], cand[:, finite]
    mean_ref, mean_cand = ref.mean(axis=0), cand.mean(axis=0)
    dev_ref, dev_cand = ref - mean_ref, cand - mean_cand  # two-pass moments: exact for large offsets
    cov = (dev_ref * dev_cand).mean(axis=0)
    denominator = (dev_ref**2).mean(axis=0) + (dev_cand**2).mean(axis=0) + (mean_ref - mean_cand) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(denominator > 0, 2.0 * cov / denominator, np.nan)
    result = np.full(finite.shape, np.nan)
    result[finite] = values
    return result


def count_reproducible(ccc_values: ArrayLike, threshold: float = CCC_THRESHOLD) -> int:
    """Number of features whose CCC is strictly above the threshold; NaN never counts.

    Args:
        ccc_values: CCC per feature.
        threshold: the paper's 0.85 by default.
    """
    values = np.asarray(ccc_values, dtype=np.float64)
    return int(np.count_nonzero(np.nan_to_num(values, nan=-np.inf) > threshold))
