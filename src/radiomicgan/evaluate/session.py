"""`evaluate`: the whole evaluation of candidates against a standard-kernel reference, written to a folder.

reference + candidates (series or trees) -> scans on common slices (`inputs`) -> ROI level pooled over
scans with optional ComBat rows (`roi_level`), whole-image level (`whole_image`), PSNR/SSIM (`metrics`)
-> results.json, tables (`results`) and report.html with figures (`report`), all written at once into
the output folder. Features are cached in the user's cache folder unless told otherwise (`cache`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radiomicgan.cluster import open_cluster
from radiomicgan.config import EvaluationConfig
from radiomicgan.errors import ConfigError, InputError
from radiomicgan.evaluate import uncertainty
from radiomicgan.evaluate.cache import FeatureCache, cache_folder
from radiomicgan.evaluate.combat import COMBAT_SUFFIX
from radiomicgan.evaluate.features import describe_settings
from radiomicgan.evaluate.inputs import Scan, load_scans
from radiomicgan.evaluate.lesion_level import LesionResult
from radiomicgan.evaluate.lesion_results import (
    lesion_document,
    lesion_notes,
    lesion_warnings,
    write_lesion_tables,
)
from radiomicgan.evaluate.metrics import image_quality
from radiomicgan.evaluate.protocol import REFERENCE, Extraction, ReproducibilityProtocol
from radiomicgan.evaluate.report import ReportInputs, training_figures, write_report
from radiomicgan.evaluate.results import results_document, write_json, write_tables
from radiomicgan.evaluate.roi_level import ReproducibilityResult, roi_reproducibility
from radiomicgan.evaluate.settings import load_settings
from radiomicgan.evaluate.training_runs import TrainingRun, derived_by, overlaps, read_run, warn_overlaps
from radiomicgan.evaluate.whole_image import WholeImageResult, whole_image_reproducibility
from radiomicgan.io.atomic import atomic_dir, check_output

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluationOutcome:
    """What `evaluate` wrote and measured.

    Attributes:
        out: the output folder (results.json, features.parquet, ccc.parquet, counts.csv, report.html,
            PNG figures).
        report: the report's path.
        results: the results.json document.
        n_scans: scans evaluated. n_slices: slices compared over all scans.
        extracted: feature extractions performed (cache misses), None without a cache.
        from_cache: extractions served from the cache, None without a cache.
        seconds: wall time.
    """

    out: Path
    report: Path
    results: dict[str, Any]
    n_scans: int
    n_slices: int
    extracted: int | None
    from_cache: int | None
    seconds: float


def evaluate(
    reference: Path,
    candidates: Mapping[str, Path],
    out: Path,
    config: EvaluationConfig,
    *,
    combat: bool = False,
    training_runs: Mapping[str, Path] | None = None,
    overwrite: bool = False,
    progress: bool = True,
    cache: bool = True,
) -> EvaluationOutcome:
    """Measure how reproducible each candidate's radiomic features are against the reference.

    Args:
        reference: standard-kernel series, or a folder tree of series (one scan each).
        candidates: name -> series or tree holding, for each reference series, the same scan
            (input kernel, harmonized output, baseline); names label the report's rows.
        out: the folder to create; it appears complete or not at all.
        config: the protocol (ROIs, repeats, ranges, seed) and feature extraction (settings file,
            processes, cache folder, and the backend: local processes or a Dask cluster). An empty
            `features.cache_dir` means the user's cache folder (`cache.default_cache_dir()`).
        combat: add a row "NAME+ComBat" per candidate: its ROI features harmonized by ComBat.
        training_runs: candidate name -> the training run folder it came from; its window schedule
            and last CAM are copied into the report.
        overwrite: replace an existing `out`.
        progress: show progress bars during feature extraction.
        cache: reuse and store extracted features in the cache folder; False extracts every feature
            and stores none (the command line's --no-cache).

    Returns:
        The outcome, with the results.json document.

    Raises:
        ConfigError: no candidate, a name that is empty, "reference" or clashes with a ComBat row,
            or a training run named for no candidate; refused PyRadiomics settings; a dask backend
            without Dask installed, or whose scheduler does not answer.
        OutputError: `out` exists (without `overwrite`), lies inside an input or holds one.
        InputError: an input is missing or holds no CT series, a candidate has no (or several)
            series matching a reference series, or a training run folder is missing.
    """
    start = time.perf_counter()
    runs = {name: Path(path) for name, path in (training_runs or {}).items()}
    check_names(list(candidates), list(runs), combat=combat)
    for run_dir in runs.values():
        training_figures(run_dir)  # a missing run folder fails now, not after the extraction
    run_records = {name: read_run(run_dir) for name, run_dir in runs.items()}
    inputs = [Path(reference), *(Path(p) for p in candidates.values()), *runs.values()]
    for path in inputs:
        if not path.exists():  # before check_output, which takes a missing path for a file
            raise InputError(path, "does not exist")
    check_output(Path(out), overwrite=overwrite, inputs=inputs, is_dir=True)
    settings = load_settings(config.features.settings_path or None)
    folder = cache_folder(config.features.cache_dir, enabled=cache)
    feature_cache = FeatureCache(folder) if folder is not None else None
    protocol = ReproducibilityProtocol.from_config(config)
    # The cluster first: a dask backend that cannot be had fails before the scans are read.
    with open_cluster(config.features.cluster) as runner:
        extraction = Extraction(config.features.jobs, feature_cache, settings, progress, runner)
        scans = load_scans(Path(reference), {name: Path(path) for name, path in candidates.items()})
        logger.info("evaluating %d candidate(s) on %d scan(s)", len(candidates), len(scans))
        roi = roi_reproducibility(scans, protocol, extraction, combat=combat)
        whole = whole_image_or_none(scans, protocol, extraction)
    levels = Levels(scans, roi, whole)
    return conclude(
        levels, Path(out), config, describe_settings(settings), feature_cache, start,
        runs=runs, run_records=run_records, combat=combat,
    )  # fmt: skip


@dataclass(frozen=True)
class Levels:
    """What an evaluation measured: its scans, the ROI and whole-image levels, and (for a cohort with
    masks) the lesion level with a description of its settings."""

    scans: list[Scan]
    roi: ReproducibilityResult
    whole: WholeImageResult | None
    lesions: LesionResult | None = None
    lesion_settings: Mapping[str, Any] | None = None


def conclude(
    levels: Levels,
    out: Path,
    config: EvaluationConfig,
    settings: Mapping[str, Any],
    feature_cache: FeatureCache | None,
    start: float,
    *,
    runs: Mapping[str, Path] | None = None,
    run_records: Mapping[str, TrainingRun] | None = None,
    combat: bool = False,
) -> EvaluationOutcome:
    """Image quality, warnings, results.json, tables and the report of measured levels, written to `out`.

    Args:
        settings: the ROI levels' PyRadiomics settings as `describe_settings` gives them.
        start: when the evaluation began (`time.perf_counter`), for the outcome's wall time.
        runs: candidate name -> its training run folder; run_records: what `read_run` found there.
    """
    runs, run_records = dict(runs or {}), dict(run_records or {})
    scans, roi, whole = levels.scans, levels.roi, levels.whole
    quality = image_quality(scans, config.quality_range_hu)
    found = overlaps(run_records, scans)
    warnings = warn_overlaps(run_records, found) + _sample_warnings(roi, whole, config)
    if levels.lesions is not None:
        for sentence in lesion_warnings(levels.lesions, config):
            logger.warning("%s", sentence)
            warnings.append(sentence)
    results = results_document(
        roi, quality, whole, scans, config, settings,
        intervals=uncertainty.summary(roi, whole, config),
        training=_training(run_records, found, scans),
        warnings=warnings,
    )  # fmt: skip
    if levels.lesions is not None:
        results["lesions"] = lesion_document(levels.lesions, levels.lesion_settings or {})
    notes = _notes(scans, config, combat) + (
        lesion_notes(levels.lesions) if levels.lesions is not None else []
    )
    report = _write(out, levels, results, runs, notes)
    n_slices = sum(scan.reference.shape[0] for scan in scans)
    extracted, from_cache = (
        (feature_cache.misses, feature_cache.hits) if feature_cache is not None else (None, None)
    )
    seconds = time.perf_counter() - start
    logger.info("evaluation written to %s in %.0f s", out, seconds)
    return EvaluationOutcome(out, report, results, len(scans), n_slices, extracted, from_cache, seconds)


def combat_description(empirical_bayes: bool) -> str:
    """What the ComBat rows are, in one or two sentences for the report."""
    how = (
        "with empirical Bayes priors over the features (neuroCombat's eb=True)"
        if empirical_bayes
        else "without empirical Bayes: a location and scale match per feature (neuroCombat's eb=False)"
    )
    return (
        f"ComBat (Johnson et al. 2007) {how} maps a candidate's ROI features onto the reference's (the "
        "reference batch stays unchanged) within each HU range and repeat. It is fitted on a separate ROI "
        "sample of the same scans (same protocol, its own seed, no box overlapping a scored box) and "
        "scored on the ROIs of the other rows, never on the ROIs it was fitted on."
    )


def check_names(candidates: Sequence[str], training_runs: Sequence[str], *, combat: bool) -> None:
    """Refuse candidate names the report cannot tell apart.

    Raises:
        ConfigError: no candidate, an empty or padded name, "reference", a name that a ComBat row
            would repeat, or a training run for an unknown candidate.
    """
    if not candidates:
        raise ConfigError("evaluate: give at least one candidate")
    for name in candidates:
        if not name or name != name.strip():
            raise ConfigError(f"evaluate: candidate name {name!r} must be non-empty, without outer spaces")
        if name == REFERENCE:
            raise ConfigError(f"evaluate: {REFERENCE!r} names the reference; choose another candidate name")
        if combat and name + COMBAT_SUFFIX in candidates:
            raise ConfigError(
                f"evaluate: candidate {name + COMBAT_SUFFIX!r} clashes with {name!r}'s ComBat row"
            )
    unknown = sorted(set(training_runs) - set(candidates))
    if unknown:
        raise ConfigError(f"evaluate: training run given for unknown candidate(s) {', '.join(unknown)}")


def whole_image_or_none(
    scans: list[Scan], protocol: ReproducibilityProtocol, extraction: Extraction
) -> WholeImageResult | None:
    """The whole-image level, or None (with a warning) when the scans have too few slices for it."""
    try:
        return whole_image_reproducibility(scans, protocol, extraction)
    except ValueError as exc:  # too few slices: the ROI level still stands on its own
        logger.warning("whole-image level skipped: %s", exc)
        return None


def _sample_warnings(
    roi: ReproducibilityResult, whole: WholeImageResult | None, config: EvaluationConfig
) -> list[str]:
    sentences = uncertainty.sample_warnings(roi, whole, config)
    for sentence in sentences:
        logger.warning("%s", sentence)
    return sentences


def _training(
    runs: Mapping[str, TrainingRun], found: Mapping[str, list[dict[str, Any]]], scans: list[Scan]
) -> dict[str, Any]:
    """results.json's "training_runs": per candidate, its model's provenance and the evaluated images
    its training data held."""
    out = {}
    for name, run in runs.items():
        model_id = run.provenance.get("model_id")
        derived = {derived_by(scan.candidate_info[name], model_id) for scan in scans}
        out[name] = {
            "provenance": run.provenance,
            "derived_series": sorted(derived),
            "training_data_checked": run.data is not None,
            "trained_on_evaluated": found[name],
        }
    return out


def _write(
    out: Path, levels: Levels, results: dict[str, Any], runs: Mapping[str, Path], notes: list[str]
) -> Path:
    first = levels.scans[0]
    z = first.reference.shape[0] // 2  # the middle slice of the first scan: typical anatomy
    inputs = ReportInputs(
        results=results,
        mean_ccc=levels.roi.ccc.groupby(level="candidate", sort=False).mean(),
        case_reference=first.reference[z],
        case_candidates={name: volume[z] for name, volume in first.candidates.items()},
        case_label=f"scan 1, slice {first.slice_indices[z] + 1} of {first.n_reference_slices}",
        training_runs=runs,
        notes=notes,
    )
    with atomic_dir(out) as temporary:
        write_json(temporary / "results.json", results)
        write_tables(temporary, levels.roi, levels.whole)
        if levels.lesions is not None:
            write_lesion_tables(temporary, levels.lesions)
        write_report(temporary, inputs)
    return out / "report.html"


def _notes(scans: list[Scan], config: EvaluationConfig, combat: bool) -> list[str]:
    kept = sum(s.reference.shape[0] for s in scans)
    total = sum(s.n_reference_slices for s in scans)
    notes = [
        f"{kept} of {total} reference slices are present in every candidate and were compared.",
        "ROIs are drawn inside the reference's body; each HU range's mask keeps the box's pixels whose "
        "reference HU lies in the range, and every image is measured under the same masks.",
        "Each range draws its own boxes from a random stream seeded by (seed, scan, repeat, range).",
    ]
    if len(scans) > 1:
        notes.append(
            f"ROIs of the {len(scans)} scans are pooled: each repeat's {config.n_rois} ROIs per range are "
            "shared among the scans in proportion to their slices, and each CCC is taken across all of them."
        )
    notes.append(
        "Shape features depend on the mask alone, and every image is measured under the reference's "
        "masks, so they agree by construction: they are extracted but not counted."
    )
    if config.repeats < config.bootstrap_below_repeats:
        notes.append(
            f"With {config.repeats} repeat(s), fewer than {config.bootstrap_below_repeats}, each count is "
            f"shown with a bootstrap 95 % interval ({config.bootstrap_resamples} resamples of the ROIs "
            f"within each repeat, seed {config.bootstrap_seed}) instead of an SD over repeats."
        )
    if combat:
        notes.append(
            f"{combat_description(config.combat_empirical_bayes)} Features constant or undefined "
            "on the reference are left as they are."
        )
    if config.whole_image_slices:
        notes.append(f"The whole-image level uses at most {config.whole_image_slices} slices, evenly spread.")
    return notes
