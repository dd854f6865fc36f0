"""What the lesion level adds to an evaluation's output: results.json's "lesions", its tables, notes.

results.json's "lesions" holds: n_cases, n_lesions (paired in every CCC), excluded (case, region,
region_name, reason), features and features_counted (shape left out), ccc_threshold, candidates
{NAME: {"reproducible", "defined", "by_class": {class: n}, "by_filter": {family: n}}}, and
radiomics_settings (the 3-D settings). Tables: lesion_features.parquet (every value, one row per
lesion and image), lesion_ccc.csv (one row per feature and candidate: feature, image_type,
feature_class, counted, candidate, ccc, reproducible) and lesion_counts.csv (per candidate, image type
and feature class). Cases are numbered in the manifest's row order: no table names a patient or a path.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radiomicgan.config import EvaluationConfig
from radiomicgan.evaluate.features import mask_only, split_feature_name
from radiomicgan.evaluate.lesion_level import LesionResult

LESION_TABLES = ("lesion_features.parquet", "lesion_ccc.csv", "lesion_counts.csv")


def lesion_document(result: LesionResult, settings: Mapping[str, Any]) -> dict[str, Any]:
    """results.json's "lesions" (see the module docstring)."""
    names = list(result.feature_names)
    return {
        "n_cases": int(result.values["case"].nunique()),
        "n_lesions": result.n_lesions,
        "excluded": [dict(e) for e in result.excluded],
        "features": len(names),
        "features_counted": int((~mask_only(names)).sum()),
        "ccc_threshold": result.threshold,
        "candidates": result.summary(),
        "radiomics_settings": dict(settings),
    }


def ccc_table(result: LesionResult) -> pd.DataFrame:
    """One row per (feature, candidate): where the feature comes from, its CCC, whether it counts."""
    counted = dict(zip(result.feature_names, ~mask_only(list(result.feature_names)), strict=True))
    rows = []
    for candidate, per_feature in result.ccc.iterrows():
        for name, value in per_feature.items():
            image_type, feature_class, _ = split_feature_name(str(name))
            ok = bool(counted[str(name)]) and bool(np.nan_to_num(value, nan=-np.inf) > result.threshold)
            rows.append((name, image_type, feature_class, bool(counted[str(name)]), candidate, value, ok))
    columns = ["feature", "image_type", "feature_class", "counted", "candidate", "ccc", "reproducible"]
    return pd.DataFrame(rows, columns=columns)


def write_lesion_tables(folder: Path, result: LesionResult) -> list[Path]:
    """lesion_features.parquet, lesion_ccc.csv and lesion_counts.csv in `folder`."""
    paths = [folder / name for name in LESION_TABLES]
    result.values.to_parquet(paths[0], index=False)
    ccc_table(result).to_csv(paths[1], index=False)
    result.counts.to_csv(paths[2], index=False)
    return paths


def lesion_warnings(result: LesionResult, config: EvaluationConfig) -> list[str]:
    """Sentences the report shows first: too few lesions for a steady CCC, lesions left out."""
    sentences = []
    if result.n_lesions < config.min_rois_warning:
        sentences.append(
            f"The lesion level pairs {result.n_lesions} lesions, fewer than {config.min_rois_warning}: "
            "a CCC of 0.85 measured on so few scatters widely (over about [0.50, 0.95] with 10 samples, "
            "[0.71, 0.92] with 30), so its counts say little on their own."
        )
    if result.excluded:
        sentences.append(
            f"{len(result.excluded)} lesion(s) could not be measured on every image and are left out of the "
            "lesion level (results.json lists them with the reason)."
        )
    return sentences


def lesion_notes(result: LesionResult) -> list[str]:
    """How the lesion level was measured, one sentence each, for the report's notes."""
    return [
        "Lesions are the regions of each case's mask, drawn on its reference; every candidate lies on "
        "the reference's grid, so each lesion is measured on the same voxels of every image, in 3-D.",
        f"A feature's lesion CCC pairs its value on the reference with its value on the candidate across "
        f"all {result.n_lesions} lesions of all cases; it is reproducible when the CCC exceeds "
        f"{result.threshold}. Shape features are mask-only and not counted.",
    ]
