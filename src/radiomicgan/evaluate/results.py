"""What an evaluation writes besides the report: results.json and the value and CCC tables.

results.json holds, in this exact shape (further top-level keys sit beside it):

    {"features": N, "hu_ranges": [[-800, -300], [-100, 250], [300, 800]],
     "candidates": {NAME: {"reproducible": {"-800,-300": {"mean": m, "sd": s}, ...},
                           "psnr": {"mean": m, "sd": s}, "ssim": {"mean": m, "sd": s}}}}

A range key is "lo,hi" (integers when integral). "mean"/"sd" of a range are null when too few ROIs
were usable in every repeat; "sd" is null with one repeat. Counts leave out the mask-only (shape)
features ("features_counted" of "features"; "mask_only_features" names them). With fewer repeats than
`bootstrap_below_repeats`, "reproducible_ci95" gives each count's bootstrap 95 % interval. A
"NAME+ComBat" row adjusts features only, so its PSNR and SSIM are the candidate's own (the images are
the same); "combat_fit" says how ComBat was set and on which ROIs it was fitted. "warnings" holds the
sentences the report shows first; "training_runs" each candidate's model provenance and the evaluated
images its training data held.

No table or document holds a patient identifier, UID or input path: scans are numbered.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from radiomicgan import __version__
from radiomicgan.config import EvaluationConfig
from radiomicgan.evaluate.combat import COMBAT_SUFFIX
from radiomicgan.evaluate.features import mask_only
from radiomicgan.evaluate.inputs import Scan
from radiomicgan.evaluate.protocol import REFERENCE, range_label
from radiomicgan.evaluate.roi_level import ReproducibilityResult
from radiomicgan.evaluate.rois import HURange
from radiomicgan.evaluate.whole_image import WholeImageResult

VALUE_COLUMNS = [
    "protocol",
    "scan",
    "candidate",
    "repeat",
    "range",
    "roi",
    "slice",
    "y0",
    "x0",
    "size_px",
    "n_pixels",
]
Quality = Mapping[str, Mapping[str, Mapping[str, float]]]


def number(value: float) -> int | float:
    """An integral float as int (JSON shows -800, not -800.0)."""
    return int(value) if float(value).is_integer() else float(value)


def range_key(hu_range: HURange) -> str:
    """The results.json key of an HU range, e.g. "-800,-300"."""
    return f"{number(hu_range[0])},{number(hu_range[1])}"


def candidate_rows(
    roi: ReproducibilityResult, quality: Quality, hu_ranges: Sequence[HURange]
) -> dict[str, Any]:
    """The "candidates" part of results.json, in the ROI result's candidate order."""
    summary = roi.summary()
    rows: dict[str, Any] = {}
    for name, per_range in summary.items():
        image_source = name.removesuffix(COMBAT_SUFFIX) if name.endswith(COMBAT_SUFFIX) else name
        rows[name] = {
            "reproducible": {range_key(r): _stats(per_range.get(range_label(r), {})) for r in hu_ranges},
            "psnr": _stats(quality[image_source]["psnr"]),
            "ssim": _stats(quality[image_source]["ssim"]),
        }
    return rows


def _stats(cell: Mapping[str, Any]) -> dict[str, float | None]:
    def clean(value: Any) -> float | None:
        return None if value is None or not math.isfinite(float(value)) else float(value)

    return {"mean": clean(cell.get("mean")), "sd": clean(cell.get("sd"))}


def results_document(
    roi: ReproducibilityResult,
    quality: Quality,
    whole: WholeImageResult | None,
    scans: Sequence[Scan],
    config: EvaluationConfig,
    settings: Mapping[str, Any],
    *,
    intervals: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    warnings: Sequence[str] = (),
) -> dict[str, Any]:
    """results.json: the required shape, then the protocol, scans, whole-image level and settings.

    Args:
        intervals: `uncertainty.summary`'s bootstrap intervals ({"roi", "whole_image"}).
        training: per candidate with a training run: its provenance and the evaluated images its
            training data held.
        warnings: sentences the report shows first (small samples, scans seen in training).
    """
    combat_rows = {
        n: n.removesuffix(COMBAT_SUFFIX)
        for n in roi.counts["candidate"].unique()
        if n.endswith(COMBAT_SUFFIX)
    }
    intervals = intervals or {}
    shape = [name for name, only in zip(roi.feature_names, mask_only(roi.feature_names), strict=True) if only]
    return {
        "features": len(roi.feature_names),
        "hu_ranges": [[number(lo), number(hi)] for lo, hi in config.hu_ranges],
        "candidates": candidate_rows(roi, quality, config.hu_ranges),
        "radiomicgan_version": __version__,
        "features_counted": len(roi.feature_names) - len(shape),
        "mask_only_features": shape,
        "reproducible_ci95": _roi_intervals(intervals.get("roi"), config.hu_ranges),
        "warnings": list(warnings),
        "protocol": {
            "ccc_threshold": config.ccc_threshold,
            "n_rois": config.n_rois,
            "repeats": config.repeats,
            "roi_size_px": config.roi_size_px,
            "context_px": config.context_px,
            "seed": config.seed,
            "quality_range_hu": [number(v) for v in config.quality_range_hu],
            "bootstrap_below_repeats": config.bootstrap_below_repeats,
            "bootstrap_resamples": config.bootstrap_resamples,
            "bootstrap_seed": config.bootstrap_seed,
        },
        "rois_used": _rois_used(roi, config.hu_ranges),
        "scans": [{"slices": s.reference.shape[0], "series_slices": s.n_reference_slices} for s in scans],
        "whole_image": None if whole is None else _whole_image(whole, intervals.get("whole_image")),
        "combat": combat_rows,
        "combat_fit": _combat_fit(roi, config) if combat_rows else None,
        "training_runs": dict(training or {}),
        "radiomics_settings": dict(settings),
    }


def _roi_intervals(
    intervals: Mapping[str, Mapping[str, Any]] | None, hu_ranges: Sequence[HURange]
) -> dict[str, dict[str, list[float] | None]] | None:
    """{candidate: {range key: [lo, hi] or null}}, or null when repeats were enough for an SD."""
    if intervals is None:
        return None
    return {
        name: {
            range_key(r): None
            if (cell := per_range.get(range_label(r))) is None
            else [float(v) for v in cell]
            for r in hu_ranges
        }
        for name, per_range in intervals.items()
    }


def _combat_fit(roi: ReproducibilityResult, config: EvaluationConfig) -> dict[str, Any]:
    """How the ComBat rows were made: the setting and the ROI sample they were fitted on."""
    fit = roi.combat_fit_values if roi.combat_fit_values is not None else roi.values.iloc[:0]
    sizes = fit[fit["candidate"] == REFERENCE].groupby(["range", "repeat"]).size()
    used = {
        range_key(r): [int(sizes.get((range_label(r), k), 0)) for k in range(config.repeats)]
        for r in config.hu_ranges
    }
    return {
        "empirical_bayes": config.combat_empirical_bayes,
        "fitted_on": "a separate ROI sample of the same scans: same protocol, its own seed stream, "
        "no box overlapping a scored box of the same repeat and range",
        "fit_rois_used": used,
    }


def _rois_used(roi: ReproducibilityResult, hu_ranges: Sequence[HURange]) -> dict[str, list[int]]:
    """ROIs pooled per repeat for each range (the same for every candidate)."""
    first = roi.counts[roi.counts["candidate"] == roi.counts["candidate"].iloc[0]]
    return {
        range_key(r): [
            int(n) for n in first[first["range"] == range_label(r)].sort_values("repeat")["n_rois"]
        ]
        for r in hu_ranges
    }


def _whole_image(whole: WholeImageResult, intervals: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        "slices": len(whole.slices),
        "reproducible": {k: int(v) for k, v in whole.counts.items()},
        "reproducible_ci95": {k: [float(v) for v in cell] for k, cell in (intervals or {}).items()},
    }


def write_json(path: Path, document: Mapping[str, Any]) -> None:
    """Write a document as indented JSON (NaN is refused: the shape promises numbers or null)."""
    path.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def values_table(roi: ReproducibilityResult, whole: WholeImageResult | None) -> pd.DataFrame:
    """Every extracted value: the ROI rows, the whole-image rows, then the ROI sample ComBat was fitted
    on ("combat_fit"), with a "protocol" column."""
    parts = [(roi.values, "roi")] + ([(whole.values, "whole_image")] if whole is not None else [])
    if roi.combat_fit_values is not None:
        parts.append((roi.combat_fit_values, "combat_fit"))
    heads, features = [], []
    for table, protocol in parts:
        head = table.drop(columns=roi.feature_names).assign(protocol=protocol)
        heads.append(head.reindex(columns=VALUE_COLUMNS))
        features.append(table[roi.feature_names])
    head = pd.concat(heads, ignore_index=True)
    for column in VALUE_COLUMNS:
        if column not in ("protocol", "candidate", "range"):
            head[column] = head[column].astype("Int64")  # nullable: whole-image rows have no ROI
    return pd.concat([head, pd.concat(features, ignore_index=True)], axis=1)


def ccc_table(roi: ReproducibilityResult, whole: WholeImageResult | None) -> pd.DataFrame:
    """CCC per feature: one row per (candidate, range, repeat) of the ROI protocol, then one per
    candidate at the whole-image level (range and repeat empty)."""
    tables = [roi.ccc.reset_index().assign(protocol="roi")]
    if whole is not None:
        wide = whole.ccc.rename_axis("candidate").reset_index()
        tables.append(wide.assign(protocol="whole_image", range=None, repeat=None))
    table = pd.concat(tables, ignore_index=True)
    table["repeat"] = table["repeat"].astype("Int64")
    return table[["protocol", "candidate", "range", "repeat", *roi.feature_names]]


def write_tables(folder: Path, roi: ReproducibilityResult, whole: WholeImageResult | None) -> list[Path]:
    """features.parquet (every value), ccc.parquet (CCC per feature) and counts.csv (per repeat)."""
    paths = [folder / "features.parquet", folder / "ccc.parquet", folder / "counts.csv"]
    values_table(roi, whole).to_parquet(paths[0], index=False)
    ccc_table(roi, whole).to_parquet(paths[1], index=False)
    roi.counts.to_csv(paths[2], index=False)
    return paths
