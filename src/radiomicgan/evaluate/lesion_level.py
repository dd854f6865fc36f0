"""The lesion level: the user's lesions measured on the reference and on every candidate, under the
reference's masks, and Lin's CCC per feature across lesions.

Every candidate of a case is on its reference's grid, so each lesion (a region of the reference's
mask, `io.masks`) covers the same voxels on every image; its box and margin are the reference's
(`regions.region_tasks`), and it is measured in 3-D with the region settings (shipped:
radiomics_3d.yaml). A feature's CCC pairs each lesion's value on the reference with its value on the
candidate, across all lesions of all cases; it is reproducible when the CCC exceeds the threshold.
Shape features depend on the mask alone, which every image shares: they are extracted, not counted.

A lesion that has no voxel on the grid, or that PyRadiomics refuses on any image, cannot be paired:
it is left out of every CCC, warned about, and listed in `LesionResult.excluded`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from radiomicgan.cluster import TaskRunner
from radiomicgan.config import RegionFeatureConfig
from radiomicgan.evaluate.agreement import ccc_per_feature, count_reproducible
from radiomicgan.evaluate.features import mask_only, split_feature_name
from radiomicgan.evaluate.protocol import MIN_ROIS_FOR_CCC, REFERENCE
from radiomicgan.evaluate.regions import Outcome, Task, extract_task, region_tasks, task_names
from radiomicgan.evaluate.settings import RadiomicsSettings
from radiomicgan.evaluate.workers import map_extractions
from radiomicgan.io.masks import Region
from radiomicgan.progress import progress_bar

logger = logging.getLogger(__name__)

LESION_COLUMNS = ["case", "region", "region_name", "voxel_count", "candidate"]
COUNT_COLUMNS = ["candidate", "image_type", "feature_class", "n_features", "n_defined", "n_reproducible"]


@dataclass(frozen=True)
class LesionCase:
    """One case: its reference and candidates on one grid, and the reference's regions.

    Attributes:
        reference: [z, y, x] HU. candidates: name -> [z, y, x] HU of the reference's shape.
        spacing_zyx_mm: the grid's voxel spacing. regions: the lesions (masks of the reference's shape).
    """

    reference: NDArray[np.floating]
    candidates: dict[str, NDArray[np.floating]]
    spacing_zyx_mm: tuple[float, float, float]
    regions: tuple[Region, ...]


@dataclass(frozen=True)
class LesionResult:
    """The lesion level's values, CCCs and counts.

    Attributes:
        values: LESION_COLUMNS then the features: one row per (lesion, image), cases numbered from 1
            in the caller's order, the reference's rows with candidate "reference".
        ccc: CCC per feature across the paired lesions, one row per candidate (index "candidate").
        counts: COUNT_COLUMNS, per candidate, image type (original, wavelet-LLH, log-sigma-1-0-mm-3D,
            ...) and feature class, shape (mask-only) left out.
        feature_names: the feature columns. n_lesions: lesions paired (in every CCC).
        excluded: the lesions left out: {"case", "region", "region_name", "reason"}.
        threshold: the CCC a feature had to exceed.
    """

    values: pd.DataFrame
    ccc: pd.DataFrame
    counts: pd.DataFrame
    feature_names: tuple[str, ...]
    n_lesions: int
    excluded: list[dict[str, Any]]
    threshold: float

    def summary(self) -> dict[str, Any]:
        """Per candidate: reproducible features in all, per feature class and per filter family."""
        counted = self.counts.assign(family=[t.split("-")[0] for t in self.counts["image_type"]])
        out: dict[str, Any] = {}
        for name, rows in counted.groupby("candidate", sort=False):
            out[str(name)] = {
                "reproducible": int(rows["n_reproducible"].sum()),
                "defined": int(rows["n_defined"].sum()),
                "by_class": _sums(rows, "feature_class"),
                "by_filter": _sums(rows, "family"),
            }
        return out


def _sums(rows: pd.DataFrame, column: str) -> dict[str, int]:
    return {str(k): int(v) for k, v in rows.groupby(column, sort=False)["n_reproducible"].sum().items()}


def lesion_reproducibility(
    cases: Sequence[LesionCase],
    settings: RadiomicsSettings,
    config: RegionFeatureConfig,
    threshold: float,
    *,
    runner: TaskRunner | None = None,
    progress: bool = False,
) -> LesionResult:
    """Features of every lesion on every image, and each candidate's CCC per feature across lesions.

    Args:
        cases: the cases, each with the same candidate names in the same order.
        settings: 3-D PyRadiomics settings (`region_features.region_settings`).
        config: the margins, and `jobs` processes (or the `runner`'s cluster) to extract with.
        threshold: the CCC a feature must exceed to count as reproducible.
        runner: extract on a cluster instead of local processes.
        progress: a progress bar over the extractions.

    Raises:
        ValueError: no case, cases with different candidates, per-slice settings, or fewer than 3
            lesions that every image measures.
    """
    names = _check(cases, settings, config)
    rows, tasks = _plan(cases, settings, config)
    outcomes: list[Outcome] = []
    with progress_bar(total=len(tasks), desc="lesion features", unit="region", enabled=progress) as bar:
        for outcome in map_extractions(extract_task, tasks, settings, config.jobs, runner):
            outcomes.append(outcome)
            bar.update()
    values, excluded = _values(rows, outcomes, names)
    candidates = list(cases[0].candidates)
    left_out = {(e["case"], e["region"]) for e in excluded}
    paired = values[[key not in left_out for key in zip(values["case"], values["region"], strict=True)]]
    n_lesions = int((paired["candidate"] == REFERENCE).sum())
    if n_lesions < MIN_ROIS_FOR_CCC:
        raise ValueError(
            f"{n_lesions} lesion(s) measured on every image; Lin's CCC across lesions needs at least "
            f"{MIN_ROIS_FOR_CCC}"
        )
    ccc = _ccc(paired, candidates, list(names))
    return LesionResult(values, ccc, _counts(ccc, threshold), names, n_lesions, excluded, threshold)


def _check(
    cases: Sequence[LesionCase], settings: RadiomicsSettings, config: RegionFeatureConfig
) -> tuple[str, ...]:
    if not cases:
        raise ValueError("the lesion level needs at least one case")
    if settings.dimensions != 3 or config.per_slice:
        raise ValueError("the lesion level measures lesions in 3-D: give 3-D region settings")
    names = list(cases[0].candidates)
    for number, case in enumerate(cases, start=1):
        if list(case.candidates) != names:
            raise ValueError(f"case {number}: candidates {list(case.candidates)} differ from {names}")
    return task_names(settings)


def _plan(
    cases: Sequence[LesionCase], settings: RadiomicsSettings, config: RegionFeatureConfig
) -> tuple[list[dict[str, Any]], list[Task]]:
    """One row per (lesion, image), each with the index of its task (None: the lesion is empty)."""
    rows: list[dict[str, Any]] = []
    tasks: list[Task] = []
    for number, case in enumerate(cases, start=1):
        images = {REFERENCE: case.reference, **case.candidates}
        for region in case.regions:
            voxels = int(np.count_nonzero(region.mask))
            base = {
                "case": number,
                "region": int(region.number),
                "region_name": region.name,
                "voxel_count": voxels,
            }
            for name, hu in images.items():
                task = None
                if voxels:
                    ((_, planned),) = region_tasks(hu, region.mask, case.spacing_zyx_mm, settings, config)
                    if isinstance(planned, str):  # only per-slice planning gives reasons; `_check` refused it
                        raise RuntimeError(planned)
                    task = len(tasks)
                    tasks.append(planned)
                rows.append({**base, "candidate": name, "task": task})
    return rows, tasks


def _values(
    rows: list[dict[str, Any]], outcomes: list[Outcome], names: tuple[str, ...]
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    matrix = np.full((len(rows), len(names)), np.nan)
    excluded: dict[tuple[int, int], dict[str, Any]] = {}
    for position, row in enumerate(rows):
        outcome = "it has no voxel on the grid" if row["task"] is None else outcomes[row["task"]]
        if isinstance(outcome, str):
            key = (row["case"], row["region"])
            if key not in excluded:
                excluded[key] = {**{k: row[k] for k in ("case", "region", "region_name")}, "reason": outcome}
                logger.warning(
                    "case %d, region %d (%s): left out of the lesion level: %s on the %s image",
                    row["case"], row["region"], row["region_name"], outcome, row["candidate"],
                )  # fmt: skip
            continue
        matrix[position] = [outcome[name] for name in names]
    head = pd.DataFrame([{k: row[k] for k in LESION_COLUMNS} for row in rows], columns=LESION_COLUMNS)
    return pd.concat([head, pd.DataFrame(matrix, columns=list(names))], axis=1), list(excluded.values())


def _ccc(values: pd.DataFrame, candidates: list[str], names: list[str]) -> pd.DataFrame:
    def matrix(candidate: str) -> NDArray[np.float64]:
        rows = values[values["candidate"] == candidate].sort_values(["case", "region"])
        return np.asarray(rows[names].to_numpy(dtype=np.float64), dtype=np.float64)

    reference = matrix(REFERENCE)
    table = np.array([ccc_per_feature(reference, matrix(name)) for name in candidates]).reshape(
        len(candidates), len(names)
    )
    return pd.DataFrame(table, index=pd.Index(candidates, name="candidate"), columns=names)


def _counts(ccc: pd.DataFrame, threshold: float) -> pd.DataFrame:
    names = list(ccc.columns)
    counted = ~mask_only(names)
    groups: dict[tuple[str, str], list[int]] = {}
    for index, name in enumerate(names):
        if counted[index]:
            image_type, feature_class, _ = split_feature_name(name)
            groups.setdefault((image_type, feature_class), []).append(index)
    rows = []
    for candidate, per_feature in ccc.iterrows():
        values = per_feature.to_numpy(dtype=np.float64)
        for (image_type, feature_class), columns in groups.items():
            chosen = values[columns]
            rows.append(
                (candidate, image_type, feature_class, len(columns), int(np.isfinite(chosen).sum()),
                 count_reproducible(chosen, threshold))
            )  # fmt: skip
    return pd.DataFrame(rows, columns=COUNT_COLUMNS)
