"""`region_features`: PyRadiomics features of the labelled regions of CT series, as one table.

(series, mask) pairs -> each CT read (`io.read_volume`) with its regions on the CT's grid
(`io.masks.read_regions`), the chosen regions cut into boxes (`regions`) -> extraction over local
processes or a cluster (`workers`) -> one row per (series, region), or per (series, region, slice)
with `per_slice`. Every pair is read and checked before anything is extracted, and only the boxes are
kept: a cohort costs the memory of its regions, not of its CTs.

A region without a voxel on the CT's grid (an RTSTRUCT ROI outside the scanned slices, a label lost
by resampling), and one PyRadiomics refuses (a single voxel), keeps its row: voxel_count as found,
NaN features, and a warning naming the mask and the region. A mask none of whose chosen regions has
a voxel on the grid is refused.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radiomicgan import __version__
from radiomicgan.cluster import TaskRunner, open_cluster
from radiomicgan.config import RegionFeatureConfig
from radiomicgan.errors import InputError
from radiomicgan.evaluate.feature_table import check_table_output, write_table
from radiomicgan.evaluate.region_inputs import SeriesMask, check_exist
from radiomicgan.evaluate.regions import Outcome, Task, extract_task, region_tasks, task_names
from radiomicgan.evaluate.settings import PYRADIOMICS_VERSION, RadiomicsSettings, load_settings
from radiomicgan.evaluate.workers import map_extractions
from radiomicgan.io.masks import Region, read_regions
from radiomicgan.io.reader import read_volume
from radiomicgan.io.volume import Volume
from radiomicgan.progress import progress_bar

logger = logging.getLogger(__name__)

IDENTITY_COLUMNS = ("id", "series", "series_uid", "mask", "region", "region_name", "voxel_count")
SLICE_COLUMN = "slice"  # per slice only: the slice's index in the series (0 = first in slice order)


@dataclass(frozen=True)
class RegionFeatures:
    """Features of regions, one row each, and how they were extracted.

    Attributes:
        table: IDENTITY_COLUMNS (then "slice" per slice), then one float column per feature, named
            as PyRadiomics names it (`original_firstorder_Mean`, `wavelet-LLH_glcm_Contrast`, ...).
        feature_names: the feature columns, in extraction order.
        metadata: the PyRadiomics parameters, their source, the versions, 3-D or per slice, the margins.
    """

    table: pd.DataFrame
    feature_names: tuple[str, ...]
    metadata: dict[str, Any]


@dataclass
class _Prepared:
    """Rows (identity cells; "task": an index into `tasks`, or None for NaN features) and the tasks."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    series_of_task: list[int] = field(default_factory=list)


def region_settings(config: RegionFeatureConfig) -> RadiomicsSettings:
    """The PyRadiomics settings of a config: its file, or the shipped 3-D (per slice: 2-D) settings.

    Raises:
        ConfigError: the file is missing, not YAML, or refused (`settings.validate_settings`).
    """
    return load_settings(config.settings_path or None, dimensions=2 if config.per_slice else 3)


def region_features(
    pairs: Sequence[SeriesMask], config: RegionFeatureConfig | None = None, *, progress: bool = False
) -> RegionFeatures:
    """PyRadiomics features of every (chosen) region of every series' mask.

    Args:
        pairs: CT series with their masks (`region_inputs.pair_inputs`, `read_manifest`).
        config: settings file, 3-D or per slice, regions to keep (names or numbers), --resample,
            margins, processes or Dask backend; the defaults measure every region in 3-D.
        progress: a progress bar over the series (on stderr; one log line per series elsewhere).

    Returns:
        The table and its metadata.

    Raises:
        ConfigError: refused settings; a dask backend that cannot be had.
        InputError: a series or mask is missing or unreadable, a mask does not fit its CT (another
            grid without `resample`, another series), names no region `config.regions` asks for,
            or has no voxel of its chosen regions on the CT's grid.
    """
    config = config or RegionFeatureConfig()
    settings = region_settings(config)
    check_exist(pairs)
    names = task_names(settings)
    with open_cluster(config.cluster) as runner:  # a dask backend that cannot be had fails first
        prepared = _prepare(pairs, settings, config, progress)
        outcomes = _extract(prepared, len(pairs), settings, config.jobs, runner, progress)
    table = _table(prepared, outcomes, names, per_slice=config.per_slice)
    return RegionFeatures(table, names, describe_extraction(settings, config, len(names)))


def describe_extraction(
    settings: RadiomicsSettings, config: RegionFeatureConfig, n_features: int
) -> dict[str, Any]:
    """What a feature table's metadata says about its extraction (plain data, JSON-ready)."""
    return {
        "radiomicgan_version": __version__,
        "pyradiomics_version": PYRADIOMICS_VERSION,
        "extraction": "2d-per-slice" if config.per_slice else "3d",
        "settings_source": settings.source,
        "pyradiomics_parameters": settings.params,
        "n_features": n_features,
        "resample": config.resample,
        "regions": list(config.regions),
        "margin": {"sigmas": config.margin_sigmas, "min_voxels": config.min_margin_voxels},
    }


def _prepare(
    pairs: Sequence[SeriesMask], settings: RadiomicsSettings, config: RegionFeatureConfig, progress: bool
) -> _Prepared:
    prepared = _Prepared()
    with progress_bar(total=len(pairs), desc="reading", unit="series", enabled=progress) as bar:
        for index, pair in enumerate(pairs):
            volume = read_volume(pair.series)
            regions = read_regions(pair.mask, volume, resample=config.resample)
            chosen = regions.select(config.regions) if config.regions else regions
            if not any(region.mask.any() for region in chosen.regions):
                which = "chosen region" if config.regions else "region"
                raise InputError(pair.mask, f"no {which} has a voxel on the grid of {pair.series}")
            for region in chosen.regions:
                _add_region(prepared, index, pair, volume, region, settings, config)
            bar.update()
    return prepared


def _add_region(
    prepared: _Prepared,
    series_index: int,
    pair: SeriesMask,
    volume: Volume,
    region: Region,
    settings: RadiomicsSettings,
    config: RegionFeatureConfig,
) -> None:
    identity = {
        "id": pair.id,
        "series": str(pair.series),
        "series_uid": volume.meta.series_uid,
        "mask": str(pair.mask),
        "region": int(region.number),
        "region_name": region.name,
    }
    voxels = int(np.count_nonzero(region.mask))
    if voxels == 0:
        logger.warning(
            "%s: region %d (%s) has no voxel on the grid of %s: its row has voxel_count 0 and NaN features",
            pair.mask, region.number, region.name, pair.series,
        )  # fmt: skip
        prepared.rows.append({**identity, "voxel_count": 0, SLICE_COLUMN: None, "task": None})
        return
    for z, task in region_tasks(volume.hu, region.mask, volume.spacing_zyx_mm, settings, config):
        count = voxels if z is None else int(np.count_nonzero(region.mask[z]))
        row = {**identity, "voxel_count": count, SLICE_COLUMN: z, "task": None}
        if isinstance(task, str):
            _warn_unmeasured(row, task)
        else:
            row["task"] = len(prepared.tasks)
            prepared.tasks.append(task)
            prepared.series_of_task.append(series_index)
        prepared.rows.append(row)


def _warn_unmeasured(row: dict[str, Any], reason: str) -> None:
    where = "" if row[SLICE_COLUMN] is None else f" on slice {row[SLICE_COLUMN]}"
    logger.warning(
        "%s: region %d (%s) of %s cannot be measured%s (%s): its features are NaN",
        row["mask"], row["region"], row["region_name"], row["series"], where, reason,
    )  # fmt: skip


def _extract(
    prepared: _Prepared,
    n_series: int,
    settings: RadiomicsSettings,
    jobs: int,
    runner: TaskRunner | None,
    progress: bool,
) -> list[Outcome]:
    """Every task's outcome in order; the bar counts a series when its last task is back."""
    remaining = Counter(prepared.series_of_task)
    outcomes: list[Outcome] = []
    with progress_bar(
        total=n_series, desc="features", unit="series", enabled=progress, log_every="unit"
    ) as bar:
        without_tasks = n_series - len(remaining)
        if without_tasks:
            bar.update(without_tasks)
        results = map_extractions(extract_task, prepared.tasks, settings, jobs, runner)
        for series, outcome in zip(prepared.series_of_task, results, strict=True):
            outcomes.append(outcome)
            remaining[series] -= 1
            if remaining[series] == 0:
                bar.update()
    return outcomes


def _table(
    prepared: _Prepared, outcomes: list[Outcome], names: tuple[str, ...], *, per_slice: bool
) -> pd.DataFrame:
    values = np.full((len(prepared.rows), len(names)), np.nan)
    for position, row in enumerate(prepared.rows):
        if row["task"] is None:
            continue
        outcome = outcomes[row["task"]]
        if isinstance(outcome, str):
            _warn_unmeasured(row, outcome)
            continue
        values[position] = [outcome[name] for name in names]
    columns = [*IDENTITY_COLUMNS, *([SLICE_COLUMN] if per_slice else [])]
    identity = pd.DataFrame([{key: row[key] for key in columns} for row in prepared.rows], columns=columns)
    identity = identity.astype({"region": "int64", "voxel_count": "int64"})
    if per_slice:
        identity[SLICE_COLUMN] = identity[SLICE_COLUMN].astype("Int64")
    return pd.concat([identity, pd.DataFrame(values, columns=list(names))], axis=1)


def save_region_features(
    pairs: Sequence[SeriesMask],
    out: str | Path,
    config: RegionFeatureConfig | None = None,
    *,
    progress: bool = False,
) -> RegionFeatures:
    """`region_features` written to a .csv or .parquet table (`feature_table.write_table`).

    The output is checked before anything is read, and written only when every region is extracted:
    on any error nothing is written.

    Raises:
        OutputError: the table's suffix is neither .csv nor .parquet, or it exists (see
            `feature_table.check_table_output`), or cannot be written.
        ConfigError, InputError: as `region_features`.
    """
    out = Path(out)
    check_table_output(out, [path for pair in pairs for path in (pair.series, pair.mask)])
    features = region_features(pairs, config, progress=progress)
    write_table(features.table, out, features.metadata)
    logger.info(
        "%d row(s) of %d features written to %s", len(features.table), len(features.feature_names), out
    )
    return features
