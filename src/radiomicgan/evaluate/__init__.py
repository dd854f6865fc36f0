"""Radiomic reproducibility and image quality of candidates against a standard-kernel reference.

Data flow: reference + candidates -> scans on common slices (`inputs`) -> ROIs per HU range (`rois`)
-> PyRadiomics features (`features`, cached by `cache`) -> CCC per feature (`agreement`) -> counts.
One function per level, each over a list of scans (one scan is a list of one), each taking the
`ReproducibilityProtocol` and the `Extraction` settings (`protocol`): `roi_reproducibility`
(`roi_level`, with ComBat rows from `combat`), `whole_image_reproducibility` (`whole_image`) and
`image_quality` (PSNR/SSIM, `metrics`). `evaluate` (`session`) runs them all on series read from
disk and writes results.json, tables (`results`) and report.html (`report`).

The user's own regions: `region_features` measures labelled regions of CT series (`regions`, masks
read by `radiomicgan.io.masks`) into a table (`feature_table`); `evaluate_cohort` (`cohort`) adds
the lesion level (`lesion_level`, `lesion_results`) to the levels above for a cohort manifest.
"""

from radiomicgan.evaluate.agreement import ccc, ccc_per_feature, count_reproducible
from radiomicgan.evaluate.cache import FeatureCache, cache_folder, default_cache_dir
from radiomicgan.evaluate.cohort import evaluate_cohort
from radiomicgan.evaluate.combat import CombatFit, combat_to_reference, fit_combat
from radiomicgan.evaluate.features import (
    FeatureTask,
    describe_settings,
    extract_features,
    extract_many,
    feature_names,
    split_feature_name,
)
from radiomicgan.evaluate.inputs import Scan, load_scans
from radiomicgan.evaluate.lesion_level import LesionCase, LesionResult, lesion_reproducibility
from radiomicgan.evaluate.local_bias import local_bias_hu
from radiomicgan.evaluate.metrics import image_quality, psnr_slices, ssim_slices
from radiomicgan.evaluate.protocol import Extraction, ReproducibilityProtocol
from radiomicgan.evaluate.region_features import RegionFeatures, region_features, save_region_features
from radiomicgan.evaluate.region_inputs import SeriesMask, read_manifest
from radiomicgan.evaluate.roi_level import ReproducibilityResult, roi_reproducibility
from radiomicgan.evaluate.session import EvaluationOutcome, evaluate
from radiomicgan.evaluate.settings import RadiomicsSettings, load_settings
from radiomicgan.evaluate.whole_image import WholeImageResult, whole_image_reproducibility

__all__ = [
    "CombatFit",
    "EvaluationOutcome",
    "Extraction",
    "FeatureCache",
    "FeatureTask",
    "LesionCase",
    "LesionResult",
    "RadiomicsSettings",
    "RegionFeatures",
    "ReproducibilityProtocol",
    "ReproducibilityResult",
    "Scan",
    "SeriesMask",
    "WholeImageResult",
    "cache_folder",
    "ccc",
    "ccc_per_feature",
    "combat_to_reference",
    "count_reproducible",
    "default_cache_dir",
    "describe_settings",
    "evaluate",
    "evaluate_cohort",
    "extract_features",
    "extract_many",
    "feature_names",
    "fit_combat",
    "image_quality",
    "lesion_reproducibility",
    "load_scans",
    "load_settings",
    "local_bias_hu",
    "psnr_slices",
    "read_manifest",
    "region_features",
    "roi_reproducibility",
    "save_region_features",
    "split_feature_name",
    "ssim_slices",
    "whole_image_reproducibility",
]
