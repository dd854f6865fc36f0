"""How sure the counts are: bootstrap intervals where repeats are few, warnings for small samples.

A count's SD over repeats says little with one or two repeats (one repeat shows "± 0"). Below
`bootstrap_below_repeats` repeats, each count gets a percentile 95 % interval instead: the ROIs of
each repeat are resampled with replacement, the count is taken on each resample, and the mean over
repeats of the resampled counts gives the interval's distribution. The whole-image level has one
sample of slices, so its counts always get an interval from resampled slices.

Resampling keeps the ROIs (or slices) fixed as drawn, so the interval shows the uncertainty of the
CCCs on that sample of anatomy; it does not replace more ROIs or more scans.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from radiomicgan.config import EvaluationConfig
from radiomicgan.evaluate.agreement import ccc_per_feature, count_reproducible
from radiomicgan.evaluate.features import mask_only
from radiomicgan.evaluate.protocol import MIN_ROIS_FOR_CCC, REFERENCE
from radiomicgan.evaluate.roi_level import ReproducibilityResult
from radiomicgan.evaluate.whole_image import WholeImageResult

Interval = tuple[float, float]
PERCENTILES = (2.5, 97.5)


def bootstrap_counts(
    reference: NDArray[np.float64],
    candidate: NDArray[np.float64],
    threshold: float,
    resamples: int,
    rng: np.random.Generator,
) -> NDArray[np.int64]:
    """The reproducible count of each bootstrap resample of the rows (ROIs or slices).

    Args:
        reference, candidate: [n, n_features] values of the counted features, rows matching.
        threshold: the CCC a feature must exceed. resamples: how many resamples.
        rng: draws the rows (n with replacement per resample).
    """
    n = reference.shape[0]
    counts = np.empty(resamples, dtype=np.int64)
    for b in range(resamples):
        rows = rng.integers(0, n, n)
        counts[b] = count_reproducible(ccc_per_feature(reference[rows], candidate[rows]), threshold)
    return counts


def percentile_interval(samples: NDArray[np.number[Any]]) -> Interval:
    """The central 95 % of a bootstrap distribution."""
    lo, hi = np.percentile(samples, PERCENTILES)
    return float(lo), float(hi)


def roi_intervals(
    roi: ReproducibilityResult, resamples: int, seed: int
) -> dict[str, dict[str, Interval | None]]:
    """{candidate: {range label: 95 % interval of the mean count}}; None where no repeat was scored.

    Each (candidate, range) has its own random stream seeded by (seed, candidate index, range index).
    """
    counted = ~mask_only(roi.feature_names)
    names = [n for n, keep in zip(roi.feature_names, counted, strict=True) if keep]
    out: dict[str, dict[str, Interval | None]] = {}
    candidates = list(roi.counts["candidate"].unique())
    ranges = list(roi.counts["range"].unique())
    groups = dict(list(roi.values.groupby(["range", "repeat"], sort=False)))
    for i, candidate in enumerate(candidates):
        for j, label in enumerate(ranges):
            rng = np.random.default_rng([seed, i, j])
            per_repeat = [
                bootstrap_counts(*_pair(group, candidate, names), roi.threshold, resamples, rng)
                for (group_range, _), group in groups.items()
                if group_range == label and _n_rois(group) >= MIN_ROIS_FOR_CCC
            ]
            interval = percentile_interval(np.mean(per_repeat, axis=0)) if per_repeat else None
            out.setdefault(str(candidate), {})[str(label)] = interval
    return out


def whole_image_intervals(whole: WholeImageResult, resamples: int, seed: int) -> dict[str, Interval]:
    """{candidate: 95 % interval of the whole-image count}, slices resampled."""
    counted = ~mask_only(whole.feature_names)
    names = [n for n, keep in zip(whole.feature_names, counted, strict=True) if keep]
    return {
        str(candidate): percentile_interval(
            bootstrap_counts(
                *_pair(whole.values, str(candidate), names),
                whole.threshold,
                resamples,
                np.random.default_rng([seed, i]),
            )
        )
        for i, candidate in enumerate(whole.ccc.index)
    }


def _pair(
    values: pd.DataFrame, candidate: str, names: list[str]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Reference and candidate rows in matching order ("roi" when present, else as stored)."""
    tables = []
    for name in (REFERENCE, candidate):
        rows = values[values["candidate"] == name]
        rows = rows.sort_values("roi") if "roi" in rows.columns else rows
        tables.append(np.asarray(rows[names].to_numpy(dtype=np.float64), dtype=np.float64))
    return tables[0], tables[1]


def _n_rois(group: pd.DataFrame) -> int:
    return int((group["candidate"] == REFERENCE).sum())


def sample_warnings(
    roi: ReproducibilityResult, whole: WholeImageResult | None, config: EvaluationConfig
) -> list[str]:
    """One sentence per sample below the configured minimum (ROIs per range, whole-image slices)."""
    warnings = []
    first = roi.counts[roi.counts["candidate"] == roi.counts["candidate"].iloc[0]]
    for label, rows in first.groupby("range", sort=False):
        fewest = int(rows["n_rois"].min())
        if fewest < config.min_rois_warning:
            warnings.append(
                f"HU range {label}: {fewest} ROIs in a repeat, fewer than {config.min_rois_warning}: "
                "each CCC, and so each count, is uncertain (see the 95 % intervals)."
            )
    if whole is not None and len(whole.slices) < config.min_slices_warning:
        warnings.append(
            f"Whole-image level: CCC over {len(whole.slices)} slices, fewer than "
            f"{config.min_slices_warning}: its counts are uncertain (see the 95 % intervals)."
        )
    return warnings


def summary(
    roi: ReproducibilityResult, whole: WholeImageResult | None, config: EvaluationConfig
) -> dict[str, Any]:
    """The intervals results.json records: per ROI count when repeats are few, per whole-image count."""
    bootstrap = config.repeats < config.bootstrap_below_repeats
    seed, resamples = config.bootstrap_seed, config.bootstrap_resamples
    return {
        "roi": roi_intervals(roi, resamples, seed) if bootstrap else None,
        "whole_image": whole_image_intervals(whole, resamples, seed) if whole is not None else None,
    }
