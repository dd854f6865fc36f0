"""`evaluate_cohort`: the evaluation of a cohort listed in a manifest, with the lesion level beside the
random-box protocol.

The manifest is a CSV file with one row per case (patient) and the columns `reference` (the
standard-kernel series: DICOM folder or file, NRRD, NIfTI), `mask` (its lesions: a label volume,
DICOM SEG or RTSTRUCT drawn on the reference) and one `candidate:NAME` column per candidate (the
input series, each harmonized output, ...), all on the reference's grid; an `id` column may label
the rows (it is never written out: cases are numbered in row order). Paths may be relative to the
manifest's folder. Every path of every row is checked before anything is read.

Each case is one scan of the random-box protocol (ROI level, whole-image level, PSNR/SSIM, exactly as
`evaluate` measures a reference with its candidates) and contributes its lesions to the lesion level
(`lesion_level`). Everything is written at once into the output folder.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from radiomicgan.cluster import open_cluster
from radiomicgan.config import EvaluationConfig, RegionFeatureConfig
from radiomicgan.errors import ConfigError, InputError
from radiomicgan.evaluate.cache import FeatureCache, cache_folder
from radiomicgan.evaluate.features import describe_settings
from radiomicgan.evaluate.inputs import Scan, SeriesInfo
from radiomicgan.evaluate.lesion_level import LesionCase, lesion_reproducibility
from radiomicgan.evaluate.protocol import Extraction, ReproducibilityProtocol
from radiomicgan.evaluate.region_features import describe_extraction, region_settings
from radiomicgan.evaluate.report import training_figures
from radiomicgan.evaluate.roi_level import roi_reproducibility
from radiomicgan.evaluate.session import EvaluationOutcome, Levels, check_names, conclude, whole_image_or_none
from radiomicgan.evaluate.settings import load_settings
from radiomicgan.evaluate.training_runs import read_run
from radiomicgan.io.atomic import check_output
from radiomicgan.io.masks import read_regions
from radiomicgan.io.masks.grid import Grid
from radiomicgan.io.reader import read_volume
from radiomicgan.progress import progress_bar

logger = logging.getLogger(__name__)

CANDIDATE_PREFIX = "candidate:"


@dataclass(frozen=True)
class CohortCase:
    """One manifest row: a reference series, its mask, and its candidates (name -> series)."""

    reference: Path
    mask: Path
    candidates: dict[str, Path]
    id: str = ""


def read_cohort(manifest: str | Path) -> list[CohortCase]:
    """The cases of a cohort manifest (see the module docstring), every path checked to exist.

    Raises:
        InputError: the manifest is missing or unreadable, lacks `reference`, `mask` or a
            `candidate:NAME` column, has no row or an empty cell, or names a file that does not exist.
    """
    manifest = Path(manifest)
    header, rows = _read_csv(manifest)
    names = [
        column.removeprefix(CANDIDATE_PREFIX) for column in header if column.startswith(CANDIDATE_PREFIX)
    ]
    missing = [c for c in ("reference", "mask") if c not in header] + ([] if names else ["candidate:NAME"])
    if missing:
        raise InputError(manifest, f"cohort manifest lacks the column(s) {', '.join(missing)}")
    cases = []
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        cells = {key: (value or "").strip() for key, value in row.items() if key is not None}
        for column in ("reference", "mask", *(CANDIDATE_PREFIX + n for n in names)):
            if not cells.get(column):
                raise InputError(manifest, f"row {number}: the {column!r} cell is empty")
            if not (manifest.parent / cells[column]).exists():
                raise InputError(
                    manifest.parent / cells[column], f"does not exist (row {number} of {manifest})"
                )
        candidates = {n: manifest.parent / cells[CANDIDATE_PREFIX + n] for n in names}
        cases.append(
            CohortCase(
                manifest.parent / cells["reference"],
                manifest.parent / cells["mask"],
                candidates,
                cells.get("id", ""),
            )
        )
    return cases


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            reader = csv.DictReader(stream)
            reader.fieldnames = [name.strip() for name in reader.fieldnames or []]
            rows = list(reader)
    except FileNotFoundError as exc:
        raise InputError(path, "cohort manifest does not exist") from exc
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(path, f"cannot read the manifest as a UTF-8 CSV ({type(exc).__name__})") from exc
    if not rows:
        raise InputError(path, "cohort manifest has no row")
    return list(reader.fieldnames), rows


def load_case(case: CohortCase, config: RegionFeatureConfig) -> tuple[Scan, LesionCase]:
    """A case read whole: its scan for the random-box protocol and its lesions on the reference.

    Raises:
        InputError: a series or the mask cannot be read, the mask does not fit the reference (or
            lacks a region `config.regions` asks for), or a candidate is not on the reference's grid.
    """
    reference = read_volume(case.reference)
    regions = read_regions(case.mask, reference, resample=config.resample)
    chosen = regions.select(config.regions) if config.regions else regions
    grid = Grid.of(reference)
    candidates = {}
    for name, path in case.candidates.items():
        volume = read_volume(path)
        if not Grid.of(volume).matches(grid):
            raise InputError(
                path,
                f"candidate {name!r} is not on its reference's grid: {Grid.of(volume).describe()} against "
                f"{grid.describe()} (reference {case.reference})",
            )
        candidates[name] = volume
    z, spacing_yx = reference.shape[0], (reference.spacing_zyx_mm[1], reference.spacing_zyx_mm[2])
    scan = Scan(
        reference=reference.hu,
        candidates={name: volume.hu for name, volume in candidates.items()},
        spacing_yx_mm=spacing_yx,
        slice_indices=tuple(range(z)),
        n_reference_slices=z,
        source=case.reference,
        reference_info=SeriesInfo.of(reference, case.reference),
        candidate_info={
            name: SeriesInfo.of(volume, case.candidates[name]) for name, volume in candidates.items()
        },
    )
    lesions = LesionCase(reference.hu, scan.candidates, reference.spacing_zyx_mm, chosen.regions)
    return scan, lesions


def evaluate_cohort(
    manifest: str | Path,
    out: str | Path,
    config: EvaluationConfig,
    lesions: RegionFeatureConfig | None = None,
    *,
    training_runs: Mapping[str, Path] | None = None,
    overwrite: bool = False,
    progress: bool = True,
    cache: bool = True,
) -> EvaluationOutcome:
    """Evaluate every case of a cohort manifest: the random-box protocol and the lesion level.

    Args:
        manifest: the cohort's CSV (see the module docstring).
        out: the folder to create (as `evaluate`'s, plus lesion_features.parquet, lesion_ccc.csv,
            lesion_counts.csv and the report's lesion section).
        config: the random-box protocol, the CCC threshold both levels use, and where features are
            extracted (`features.jobs`, `features.backend`, which the lesion level uses too).
        lesions: the lesion level's 3-D settings file, regions to keep, --resample and margins;
            its jobs and backend are taken from `config.features`.
        training_runs: candidate name -> the training run folder it came from (as for `evaluate`).
        overwrite: replace an existing `out` (radiomicgan's own). progress: progress bars.
        cache: reuse and store the ROI levels' features in the cache folder.

    Raises:
        InputError: the manifest or a path it names is missing or unreadable, a mask does not fit,
            a candidate is not on its reference's grid, or fewer than 3 lesions are measurable.
        ConfigError: bad candidate names, refused settings, a per-slice lesion setting, a dask
            backend that cannot be had. OutputError: as `evaluate`.
    """
    start = time.perf_counter()
    manifest, out = Path(manifest), Path(out)
    cases = read_cohort(manifest)
    runs = {name: Path(path) for name, path in (training_runs or {}).items()}
    check_names(list(cases[0].candidates), list(runs), combat=False)
    for run_dir in runs.values():
        training_figures(run_dir)  # a missing run folder fails now, not after the extraction
    run_records = {name: read_run(run_dir) for name, run_dir in runs.items()}
    # The series and masks, not the manifest: a list of paths, never read back as a series, may sit
    # beside the report it asks for.
    inputs = [p for c in cases for p in (c.reference, c.mask, *c.candidates.values())]
    inputs += list(runs.values())
    check_output(out, overwrite=overwrite, inputs=inputs, is_dir=True)
    features = config.features
    lesions = dataclasses.replace(
        lesions or RegionFeatureConfig(),
        jobs=features.jobs,
        backend=features.backend,
        scheduler=features.scheduler,
    )
    if lesions.per_slice:
        raise ConfigError("evaluate: the lesion level measures lesions in 3-D (per_slice must be false)")
    settings, lesion_settings = load_settings(features.settings_path or None), region_settings(lesions)
    folder = cache_folder(features.cache_dir, enabled=cache)
    feature_cache = FeatureCache(folder) if folder is not None else None
    protocol = ReproducibilityProtocol.from_config(config)
    with open_cluster(features.cluster) as runner:
        extraction = Extraction(features.jobs, feature_cache, settings, progress, runner)
        scans, lesion_cases = [], []
        for case in progress_bar(cases, desc="reading", unit="case", enabled=progress):
            scan, lesion_case = load_case(case, lesions)
            scans.append(scan)
            lesion_cases.append(lesion_case)
        logger.info(
            "evaluating %d candidate(s) on a cohort of %d case(s)", len(cases[0].candidates), len(cases)
        )
        roi = roi_reproducibility(scans, protocol, extraction, combat=False)
        whole = whole_image_or_none(scans, protocol, extraction)
        try:
            lesion = lesion_reproducibility(
                lesion_cases, lesion_settings, lesions, config.ccc_threshold, runner=runner, progress=progress
            )
        except ValueError as exc:  # too few measurable lesions
            raise InputError(manifest, str(exc)) from exc
    described = describe_extraction(lesion_settings, lesions, len(lesion.feature_names))
    levels = Levels(scans, roi, whole, lesion, described)
    return conclude(
        levels, out, config, describe_settings(settings), feature_cache, start,
        runs=runs, run_records=run_records,
    )  # fmt: skip
