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

`agreement_tables` turns a level's table of extracted values into CCCs and counts per group.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from radiomicgan.config import EvaluationConfig
from radiomicgan.evaluate.features import mask_only
from radiomicgan.evaluate.protocol import MIN_ROIS_FOR_CCC, REFERENCE

CCC_THRESHOLD = EvaluationConfig.ccc_threshold
COUNT_COLUMNS = ["candidate", "range", "repeat", "n_rois", "n_rejected", "n_defined", "n_reproducible"]


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


def agreement_tables(
    values: pd.DataFrame,
    names: list[str],
    candidate_names: list[str],
    rejected: dict[tuple[int, str], int],
    threshold: float,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The `ccc` and `counts` tables of a `ReproducibilityResult` from its `values` table.

    Args:
        values: rows with columns repeat, range, roi, candidate and the features; within a
            (repeat, range), a candidate's row matches the reference's row of the same roi.
        names: the feature columns. candidate_names: the rows' candidates to score, in order.
        rejected: (repeat, range label) -> boxes rejected there; every group to score has a key.
        threshold: the CCC a feature must exceed.

    Returns:
        (CCC per feature, index (candidate, range, repeat); counts, COUNT_COLUMNS). Mask-only (shape)
        features are not counted; a group with fewer than 3 ROIs has NaN CCCs and no count.
    """
    ccc_rows, index, count_rows = [], [], []
    counted = ~mask_only(names)
    for (repeat, label), n_rejected in rejected.items():
        group = values[(values["repeat"] == repeat) & (values["range"] == label)]
        ref = _matrix(group, REFERENCE, names)
        enough = ref.shape[0] >= MIN_ROIS_FOR_CCC
        for name in candidate_names:
            per_feature = (
                ccc_per_feature(ref, _matrix(group, name, names)) if enough else np.full(len(names), np.nan)
            )
            ccc_rows.append(per_feature)
            index.append((name, label, repeat))
            n_defined = int(np.isfinite(per_feature[counted]).sum())
            n_reproducible = count_reproducible(per_feature[counted], threshold) if enough else pd.NA
            count_rows.append((name, label, repeat, ref.shape[0], n_rejected, n_defined, n_reproducible))
    ccc = pd.DataFrame(
        np.array(ccc_rows).reshape(len(index), len(names)),
        index=pd.MultiIndex.from_tuples(index, names=["candidate", "range", "repeat"]),
        columns=names,
    )
    counts = pd.DataFrame(count_rows, columns=COUNT_COLUMNS)
    counts["n_reproducible"] = counts["n_reproducible"].astype("Int64")
    return ccc, counts


def _matrix(group: pd.DataFrame, candidate: str, names: list[str]) -> NDArray[np.float64]:
    rows = group[group["candidate"] == candidate].sort_values("roi")
    return np.asarray(rows[names].to_numpy(dtype=np.float64), dtype=np.float64)
