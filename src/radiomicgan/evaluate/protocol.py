"""The paper's ROI reproducibility protocol (Sec. 3.1, Table 1).

For each repeat and each HU range: draw boxes inside the reference's body on random slices, keep the
first `n_rois` whose range mask (from the reference's HU) is usable, extract the features of the reference
and of every candidate under those same masks, and compute the CCC of each feature across the ROIs. A
candidate's score for a range is the number of features with CCC > 0.85, as mean ± SD over repeats.

Choices the paper leaves open: each range draws its own boxes (a box rich in lung rarely holds bone), from
its own random stream seeded by (seed, repeat, range index), so results are reproducible and adding a
range does not change the others. A range with fewer than 3 usable ROIs in a repeat has no score there.
Shape features are computed but not counted: every image is measured under the reference's masks, so
they agree by construction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from radiomicgan.cluster import TaskRunner
from radiomicgan.config import EvaluationConfig
from radiomicgan.evaluate.agreement import ccc_per_feature, count_reproducible
from radiomicgan.evaluate.cache import FeatureCache
from radiomicgan.evaluate.features import FeatureTask, extract_many, feature_names, mask_only
from radiomicgan.evaluate.metrics import mean_sd
from radiomicgan.evaluate.rois import BoolArray, Box, HURange, body_masks, context_window, select_rois
from radiomicgan.evaluate.settings import RadiomicsSettings

REFERENCE = "reference"  # the candidate name the reference's own rows carry in the value tables
MIN_ROIS_FOR_CCC = 3
META_COLUMNS = ["repeat", "range", "roi", "candidate", "slice", "y0", "x0", "size_px", "n_pixels"]
COUNT_COLUMNS = ["candidate", "range", "repeat", "n_rois", "n_rejected", "n_defined", "n_reproducible"]
_D = EvaluationConfig()


def range_label(hu_range: HURange) -> str:
    """How a range is named in tables and reports, e.g. "[-800, -300]"."""
    return f"[{hu_range[0]:g}, {hu_range[1]:g}]"


@dataclass(frozen=True)
class _Roi:
    repeat: int
    range: str
    roi: int
    box: Box
    mask: BoolArray


@dataclass
class ReproducibilityResult:
    """Everything the ROI protocol measured.

    Attributes:
        feature_names: the features, in column order.
        counts: one row per (candidate, range, repeat): n_rois, n_rejected (boxes whose mask was too small),
            n_defined (features with a defined CCC) and n_reproducible (<NA> with fewer than 3 ROIs).
        ccc: CCC per feature; index (candidate, range, repeat), one column per feature.
        values: every extracted value; META_COLUMNS then one column per feature; the reference's rows
            have candidate "reference". Ready for `to_parquet` / `to_csv`.
        threshold: the CCC a feature must exceed to count.
        combat_fit_values: the separate ROI sample ComBat rows were fitted on (layout of `values`),
            None without ComBat rows.

    n_defined and n_reproducible leave out the mask-only (shape) features (`features.mask_only`).
    """

    feature_names: list[str]
    counts: pd.DataFrame
    ccc: pd.DataFrame
    values: pd.DataFrame
    threshold: float
    combat_fit_values: pd.DataFrame | None = None

    def summary(self) -> dict[str, dict[str, dict[str, Any]]]:
        """{candidate: {range: {"mean", "sd", "n_repeats"}}} of the reproducible counts.

        Mean and SD are None for a range that had too few ROIs in every repeat; SD is None with one
        scored repeat (the spread of one value is unknown, not 0).
        """
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for (candidate, label), rows in self.counts.groupby(["candidate", "range"], sort=False):
            scored = rows["n_reproducible"].dropna().to_numpy(dtype=np.float64)
            stats: dict[str, Any] = mean_sd(scored) if scored.size else {"mean": None, "sd": None}
            if scored.size == 1:
                stats["sd"] = None
            out.setdefault(str(candidate), {})[str(label)] = {**stats, "n_repeats": int(scored.size)}
        return out

    def mean_ccc(self) -> pd.DataFrame:
        """CCC per feature averaged over repeats; index (candidate, range)."""
        return self.ccc.groupby(level=["candidate", "range"], sort=False).mean()


def check_volumes(
    reference: NDArray[np.floating], candidates: Mapping[str, NDArray[np.floating]]
) -> dict[str, NDArray[np.floating]]:
    """The reference and candidates as one ordered mapping, reference first, after checking shapes.

    Raises:
        ValueError: no candidate, a candidate named "reference", or volumes not [z, y, x] of one shape.
    """
    if not candidates:
        raise ValueError("at least one candidate volume is needed")
    if REFERENCE in candidates:
        raise ValueError(f"{REFERENCE!r} is reserved for the reference; rename that candidate")
    images = {REFERENCE: np.asarray(reference), **{k: np.asarray(v) for k, v in candidates.items()}}
    for name, volume in images.items():
        if volume.ndim != 3 or volume.shape != images[REFERENCE].shape:
            raise ValueError(f"{name}: shape {volume.shape} differs from the reference's or is not [z, y, x]")
    return images


def reproducibility(
    reference: NDArray[np.floating],
    candidates: Mapping[str, NDArray[np.floating]],
    spacing_yx_mm: tuple[float, float],
    *,
    n_rois: int = _D.n_rois,
    repeats: int = _D.repeats,
    roi_size_px: int = _D.roi_size_px,
    hu_ranges: Sequence[HURange] = _D.hu_ranges,
    seed: int = _D.seed,
    jobs: int = 1,
    cache: FeatureCache | None = None,
    settings: RadiomicsSettings | None = None,
    context_px: int = _D.context_px,
    min_body_fraction: float = _D.min_body_fraction,
    min_roi_pixels: int = _D.min_roi_pixels,
    max_draws_per_roi: int = _D.max_draws_per_roi,
    body_threshold_hu: float = _D.body_threshold_hu,
    threshold: float = _D.ccc_threshold,
    progress: bool = False,
    runner: TaskRunner | None = None,
    avoid: Mapping[tuple[int, str], Sequence[Box]] | None = None,
) -> ReproducibilityResult:
    """Count the reproducible features of each candidate per HU range, over repeated ROI samplings.

    Args:
        reference: [z, y, x] standard-kernel volume in HU; it defines the body, the ROIs and their masks.
        candidates: name -> volume of the reference's shape (input, harmonized outputs, baselines).
        spacing_yx_mm: in-plane pixel size (rows, columns), in mm.
        n_rois: ROIs per range and repeat. repeats: ROI samplings. roi_size_px: box side.
        hu_ranges: [lo, hi] HU ranges (both ends included). seed: makes the sampling reproducible.
        jobs: extraction processes (0: one per core). cache: feature cache to reuse extractions.
        settings: PyRadiomics parameters (shipped 2-D settings by default).
        context_px: image margin around each box given to the filters (features still see the mask only).
        min_body_fraction, min_roi_pixels, max_draws_per_roi, body_threshold_hu: see `rois`.
        threshold: CCC a feature must exceed. progress: show a progress bar.
        runner: extract on a cluster instead of `jobs` local processes (see `extract_many`).
        avoid: (repeat, range label) -> boxes this sampling must not overlap there (another sample's,
            e.g. the scored ROIs when this sample fits ComBat).

    Raises:
        ValueError: volumes of different shapes, or a candidate named "reference".
    """
    images = check_volumes(reference, candidates)
    body = body_masks(images[REFERENCE], body_threshold_hu)
    rois: list[_Roi] = []
    rejected: dict[tuple[int, str], int] = {}
    for repeat in range(repeats):
        for index, hu_range in enumerate(hu_ranges):
            rng = np.random.default_rng([seed, repeat, index])
            label = range_label(hu_range)
            kept, n_rejected = select_rois(
                images[REFERENCE], body, hu_range, n_rois, roi_size_px, rng,
                min_body_fraction=min_body_fraction, min_roi_pixels=min_roi_pixels,
                max_draws_per_roi=max_draws_per_roi, avoid=(avoid or {}).get((repeat, label), ()),
            )  # fmt: skip
            rejected[(repeat, label)] = n_rejected
            rois += [_Roi(repeat, label, i, box, mask) for i, (box, mask) in enumerate(kept)]
    tasks, meta = _tasks(rois, images, spacing_yx_mm, context_px)
    features = extract_many(tasks, jobs, progress, settings=settings, cache=cache, runner=runner)
    values = pd.concat([pd.DataFrame(meta, columns=META_COLUMNS), features], axis=1)
    names = feature_names(settings)
    ccc, counts = agreement_tables(values, names, list(candidates), rejected, threshold)
    return ReproducibilityResult(names, counts, ccc, values, threshold)


def _tasks(
    rois: list[_Roi],
    images: dict[str, NDArray[np.floating]],
    spacing_yx_mm: tuple[float, float],
    context_px: int,
) -> tuple[list[FeatureTask], list[tuple[Any, ...]]]:
    tasks, meta = [], []
    for roi in rois:
        box = roi.box
        rows, cols, dy, dx = context_window(box, images[REFERENCE].shape[1:], context_px)
        for name, volume in images.items():
            region = volume[box.slice_index, rows, cols]
            mask = np.zeros(region.shape, dtype=bool)
            mask[dy : dy + box.size_px, dx : dx + box.size_px] = roi.mask
            tasks.append(FeatureTask(region, mask, spacing_yx_mm))
            n_pixels = int(roi.mask.sum())
            meta.append(
                (roi.repeat, roi.range, roi.roi, name, box.slice_index, box.y0, box.x0, box.size_px, n_pixels)
            )
    return tasks, meta


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
