"""Radiomic reproducibility and image quality of candidates against a standard-kernel reference.

Data flow: reference + candidates -> ROIs per HU range (`rois`) -> PyRadiomics features (`features`,
cached by `cache`) -> CCC per feature (`agreement`) -> counts (`protocol`, `whole_image`); PSNR/SSIM in
`metrics`. `evaluate` (`session`) runs it all on series read from disk (`inputs`), pooled over scans
(`pooling`, with `combat`), and writes results.json, tables (`results`) and report.html (`report`).
"""

from radiomicgan.evaluate.agreement import ccc, ccc_per_feature, count_reproducible
from radiomicgan.evaluate.cache import FeatureCache
from radiomicgan.evaluate.combat import CombatFit, combat_to_reference, fit_combat
from radiomicgan.evaluate.features import (
    FeatureTask,
    describe_settings,
    extract_features,
    extract_many,
    feature_names,
    split_feature_name,
)
from radiomicgan.evaluate.metrics import image_quality, psnr_slices, ssim_slices
from radiomicgan.evaluate.protocol import ReproducibilityResult, reproducibility
from radiomicgan.evaluate.session import EvaluationOutcome, evaluate
from radiomicgan.evaluate.settings import RadiomicsSettings, load_settings
from radiomicgan.evaluate.whole_image import WholeImageResult, whole_image_reproducibility

__all__ = [
    "CombatFit",
    "EvaluationOutcome",
    "FeatureCache",
    "FeatureTask",
    "RadiomicsSettings",
    "ReproducibilityResult",
    "WholeImageResult",
    "ccc",
    "ccc_per_feature",
    "combat_to_reference",
    "count_reproducible",
    "describe_settings",
    "evaluate",
    "extract_features",
    "extract_many",
    "feature_names",
    "fit_combat",
    "image_quality",
    "load_settings",
    "psnr_slices",
    "reproducibility",
    "split_feature_name",
    "ssim_slices",
    "whole_image_reproducibility",
]
