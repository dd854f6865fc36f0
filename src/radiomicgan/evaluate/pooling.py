"""The evaluation protocols over several scans, with their ROIs (or slices) pooled.

Each repeat's `n_rois` ROIs per HU range are shared among the scans in proportion to their slice
counts (largest remainders), drawn inside each scan by the ROI protocol (`reproducibility`) with a
seed derived from (seed, scan index), and the CCC of a feature is taken across the pooled ROIs. The
paper pools its 387 test slices the same way: one sample of ROIs, one CCC per feature, whatever scan
each ROI came from. With one scan this is exactly `reproducibility` with the same seed-derived sampling.

The whole-image level pools the slices of every scan (each slice one sample) and PSNR/SSIM are
averaged over the pooled slices.

ComBat rows ("NAME+ComBat") are the candidate's ROI values mapped onto the reference's by ComBat
within each (repeat, HU range), then scored like every other candidate. The mapping is fitted on a
second ROI sample of the same scans (same protocol, its own seed stream, no box overlapping a scored
box of the same repeat and range), never on the ROIs it is scored on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from radiomicgan.cluster import TaskRunner
from radiomicgan.config import EvaluationConfig
from radiomicgan.evaluate.agreement import ccc_per_feature, count_reproducible
from radiomicgan.evaluate.cache import FeatureCache
from radiomicgan.evaluate.combat import fit_combat
from radiomicgan.evaluate.features import FeatureTask, extract_many, feature_names, mask_only
from radiomicgan.evaluate.inputs import Scan
from radiomicgan.evaluate.metrics import mean_sd, psnr_slices, ssim_slices
from radiomicgan.evaluate.protocol import (
    MIN_ROIS_FOR_CCC,
    REFERENCE,
    ReproducibilityResult,
    agreement_tables,
    range_label,
    reproducibility,
)
from radiomicgan.evaluate.rois import Box, body_masks, mask_is_usable
from radiomicgan.evaluate.settings import RadiomicsSettings
from radiomicgan.evaluate.whole_image import WholeImageResult

COMBAT_SUFFIX = "+ComBat"
COMBAT_FIT_STREAM = 1  # the third entry of the fit sample's seed sequence (ROI samples have two)


@dataclass(frozen=True)
class Extraction:
    """How features are extracted: processes (or a cluster's `runner`), cache, settings, progress bar."""

    jobs: int = 1
    cache: FeatureCache | None = None
    settings: RadiomicsSettings | None = None
    progress: bool = False
    runner: TaskRunner | None = None


def allot_rois(n_rois: int, slices_per_scan: Sequence[int]) -> list[int]:
    """Share `n_rois` among scans in proportion to their slices (largest remainders, ties to earlier)."""
    weights = np.asarray(slices_per_scan, dtype=np.float64)
    exact = n_rois * weights / weights.sum()
    allotted = np.floor(exact).astype(int)
    order = np.argsort(-(exact - allotted), kind="stable")
    allotted[order[: n_rois - int(allotted.sum())]] += 1
    return [int(n) for n in allotted]


def scan_seed(seed: int, scan_index: int) -> int:
    """The ROI sampling seed of one scan: independent streams per scan, reproducible from the seed."""
    return int(np.random.SeedSequence([seed, scan_index]).generate_state(1)[0])


def combat_fit_seed(seed: int, scan_index: int) -> int:
    """The seed of the ROI sample ComBat is fitted on: a stream of its own, apart from `scan_seed`'s."""
    return int(np.random.SeedSequence([seed, scan_index, COMBAT_FIT_STREAM]).generate_state(1)[0])


def pooled_reproducibility(
    scans: Sequence[Scan], config: EvaluationConfig, extraction: Extraction, *, combat: bool = False
) -> ReproducibilityResult:
    """The ROI protocol over all scans with pooled ROIs, and ComBat rows when asked.

    Returns:
        As `reproducibility`; `values` gains a first column "scan" (its index) and "roi" numbers are
        unique across scans. With `combat`, candidates "NAME+ComBat" follow the others and
        `combat_fit_values` holds the separate ROI sample ComBat was fitted on.
    """
    values, rejected = _pooled_sample(scans, config, extraction, scan_seed)
    names = feature_names(extraction.settings)
    candidates = list(scans[0].candidates)
    fit_values = None
    if combat:
        # Fitted on other ROIs than those it is scored on: a location and scale match fitted on the
        # scored ROIs themselves would raise their CCC by construction.
        fit_values, _ = _pooled_sample(scans, config, extraction, combat_fit_seed, avoid=values)
        adjusted = combat_values(
            values, fit_values, names, candidates, empirical_bayes=config.combat_empirical_bayes
        )
        values = pd.concat([values, adjusted], ignore_index=True)
        candidates += [name + COMBAT_SUFFIX for name in candidates]
    ccc, counts = agreement_tables(values, names, candidates, rejected, config.ccc_threshold)
    return ReproducibilityResult(names, counts, ccc, values, config.ccc_threshold, fit_values)


def _pooled_sample(
    scans: Sequence[Scan],
    config: EvaluationConfig,
    extraction: Extraction,
    seed_of: Callable[[int, int], int],
    avoid: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, dict[tuple[int, str], int]]:
    """One pooled ROI sample: its values (with "scan") and the boxes rejected per (repeat, range).

    Args:
        seed_of: (seed, scan index) -> the scan's sampling seed.
        avoid: another sample's values; this sample's boxes overlap none of its boxes.
    """
    shares = allot_rois(config.n_rois, [scan.reference.shape[0] for scan in scans])
    keys = [(r, range_label(h)) for r in range(config.repeats) for h in config.hu_ranges]
    tables, rejected = [], dict.fromkeys(keys, 0)
    for index, (scan, share) in enumerate(zip(scans, shares, strict=True)):
        if share == 0:
            continue
        boxes = None if avoid is None else _boxes(avoid[avoid["scan"] == index])
        result = _scan_rois(scan, share, seed_of(config.seed, index), config, extraction, boxes)
        for row in result.counts.drop_duplicates(["range", "repeat"]).itertuples():
            rejected[(int(row.repeat), str(row.range))] += int(row.n_rejected)
        values = result.values.assign(roi=result.values["roi"] + index * config.n_rois)
        tables.append(values.assign(scan=index)[["scan", *values.columns]])
    return pd.concat(tables, ignore_index=True), rejected


def _boxes(values: pd.DataFrame) -> dict[tuple[int, str], list[Box]]:
    """(repeat, range) -> the boxes of a sample's reference rows."""
    rows = values[values["candidate"] == REFERENCE]
    boxes: dict[tuple[int, str], list[Box]] = {}
    for row in rows.itertuples():
        box = Box(int(row.slice), int(row.y0), int(row.x0), int(row.size_px))
        boxes.setdefault((int(row.repeat), str(row.range)), []).append(box)
    return boxes


def _scan_rois(
    scan: Scan,
    n_rois: int,
    seed: int,
    config: EvaluationConfig,
    extraction: Extraction,
    avoid: dict[tuple[int, str], list[Box]] | None = None,
) -> ReproducibilityResult:
    return reproducibility(
        scan.reference,
        scan.candidates,
        scan.spacing_yx_mm,
        n_rois=n_rois,
        repeats=config.repeats,
        roi_size_px=config.roi_size_px,
        hu_ranges=config.hu_ranges,
        seed=seed,
        jobs=extraction.jobs,
        cache=extraction.cache,
        settings=extraction.settings,
        context_px=config.context_px,
        min_body_fraction=config.min_body_fraction,
        min_roi_pixels=config.min_roi_pixels,
        max_draws_per_roi=config.max_draws_per_roi,
        body_threshold_hu=config.body_threshold_hu,
        threshold=config.ccc_threshold,
        progress=extraction.progress,
        runner=extraction.runner,
        avoid=avoid,
    )


def combat_values(
    values: pd.DataFrame,
    fit_values: pd.DataFrame,
    names: list[str],
    candidates: Sequence[str],
    *,
    empirical_bayes: bool = False,
) -> pd.DataFrame:
    """Rows "NAME+ComBat": each candidate's ROI values mapped onto the reference's per (repeat, range).

    Args:
        values: the pooled ROI values to adjust (reference rows and each candidate's, matched by roi).
        fit_values: another ROI sample of the same scans, in the same layout: each (repeat, range)'s
            mapping is fitted on its rows there. A group with fewer than 2 fitted ROIs stays unchanged.
        names: the feature columns. candidates: the candidates to adjust.
        empirical_bayes: shrink the batch effects towards priors over the features (`combat`).
    """
    meta = [column for column in values.columns if column not in set(names)]
    fit_groups = dict(list(fit_values.groupby(["repeat", "range"], sort=False)))
    adjusted = []
    for key, group in values.groupby(["repeat", "range"], sort=False):
        fit_group = fit_groups.get(key, fit_values.iloc[:0])
        reference = _features(fit_group, REFERENCE, names)
        for name in candidates:
            fit = fit_combat(reference, _features(fit_group, name, names), empirical_bayes=empirical_bayes)
            rows = group[group["candidate"] == name].sort_values("roi")
            head = rows[meta].assign(candidate=name + COMBAT_SUFFIX).reset_index(drop=True)
            harmonized = fit.apply(rows[names].to_numpy())
            adjusted.append(pd.concat([head, pd.DataFrame(harmonized, columns=names)], axis=1))
    return pd.concat(adjusted, ignore_index=True)[values.columns]


def _features(group: pd.DataFrame, candidate: str, names: list[str]) -> NDArray[np.float64]:
    rows = group[group["candidate"] == candidate].sort_values("roi")
    return np.asarray(rows[names].to_numpy(dtype=np.float64), dtype=np.float64)


def pooled_whole_image(
    scans: Sequence[Scan], config: EvaluationConfig, extraction: Extraction, max_slices: int = 0
) -> WholeImageResult:
    """The whole-image level over the pooled slices of all scans (each usable slice one sample).

    Args:
        scans: the scans. config: body threshold, minimum mask size and CCC threshold.
        extraction: how features are extracted.
        max_slices: use at most this many usable slices, evenly spread over the pooled ones (0: all).

    Returns:
        As `whole_image_reproducibility`; `values` gains a first column "scan" and `slices` holds
        each sample's slice index within its scan.

    Raises:
        ValueError: fewer than 3 pooled slices with a usable body.
    """
    usable = []
    for index, scan in enumerate(scans):
        for z, mask in enumerate(body_masks(scan.reference, config.body_threshold_hu)):
            if mask_is_usable(mask, config.min_roi_pixels):
                usable.append((index, z, mask))
    if max_slices and len(usable) > max_slices:
        usable = [usable[i] for i in np.linspace(0, len(usable) - 1, max_slices).round().astype(int)]
    if len(usable) < MIN_ROIS_FOR_CCC:
        raise ValueError(f"whole-image CCC needs >= {MIN_ROIS_FOR_CCC} slices with a body, got {len(usable)}")
    tasks, meta = [], []
    for index, z, mask in usable:
        scan = scans[index]
        for name, volume in _images(scan).items():
            tasks.append(FeatureTask(volume[z], mask, scan.spacing_yx_mm))
            meta.append((index, name, scan.slice_indices[z], int(mask.sum())))
    features = _extract(tasks, extraction)
    values = pd.concat(
        [pd.DataFrame(meta, columns=["scan", "candidate", "slice", "n_pixels"]), features], axis=1
    )
    names = list(features.columns)
    reference = values[values["candidate"] == REFERENCE][names].to_numpy(dtype=np.float64)
    rows = {
        name: ccc_per_feature(
            reference, values[values["candidate"] == name][names].to_numpy(dtype=np.float64)
        )
        for name in scans[0].candidates
    }
    ccc = pd.DataFrame.from_dict(rows, orient="index", columns=names)
    counted = ~mask_only(names)  # shape features agree by construction: not counted
    counts = {name: count_reproducible(row[counted], config.ccc_threshold) for name, row in rows.items()}
    slices = [scans[i].slice_indices[z] for i, z, _ in usable]
    return WholeImageResult(names, ccc, counts, slices, values, config.ccc_threshold)


def _images(scan: Scan) -> dict[str, Any]:
    return {REFERENCE: scan.reference, **scan.candidates}


def _extract(tasks: list[FeatureTask], extraction: Extraction) -> pd.DataFrame:
    return extract_many(
        tasks,
        extraction.jobs,
        extraction.progress,
        settings=extraction.settings,
        cache=extraction.cache,
        runner=extraction.runner,
    )


def pooled_image_quality(
    scans: Sequence[Scan], hu_range: tuple[float, float]
) -> dict[str, dict[str, dict[str, float]]]:
    """PSNR and SSIM of every candidate, mean ± SD over the pooled slices of all scans.

    Returns:
        {candidate: {"psnr": {"mean", "sd"}, "ssim": {"mean", "sd"}}}, PSNR in dB.
    """
    out = {}
    for name in scans[0].candidates:
        psnr = np.concatenate([psnr_slices(s.reference, s.candidates[name], hu_range) for s in scans])
        ssim = np.concatenate([ssim_slices(s.reference, s.candidates[name], hu_range) for s in scans])
        out[name] = {"psnr": mean_sd(psnr), "ssim": mean_sd(ssim)}
    return out
