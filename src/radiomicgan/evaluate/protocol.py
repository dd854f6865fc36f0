"""What every evaluation level takes: the reproducibility protocol and how features are extracted.

`ReproducibilityProtocol` holds the paper's sampling and scoring choices (Sec. 3.1): the HU ranges,
ROIs per range and repeat, box size, body mask, CCC threshold, seed. It is built from
`EvaluationConfig`, the one place their defaults live. `Extraction` says how PyRadiomics runs:
settings, processes or a cluster, cache, progress bar.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pandas as pd

from radiomicgan.cluster import TaskRunner
from radiomicgan.config import EvaluationConfig
from radiomicgan.evaluate.cache import FeatureCache
from radiomicgan.evaluate.features import FeatureTask, extract_many
from radiomicgan.evaluate.rois import HURange
from radiomicgan.evaluate.settings import RadiomicsSettings

REFERENCE = "reference"  # the candidate name the reference's own rows carry in the value tables
MIN_ROIS_FOR_CCC = 3


def range_label(hu_range: HURange) -> str:
    """How a range is named in tables and reports, e.g. "[-800, -300]"."""
    return f"[{hu_range[0]:g}, {hu_range[1]:g}]"


@dataclass(frozen=True)
class ReproducibilityProtocol:
    """How the ROI and whole-image levels sample and score (see `EvaluationConfig` for each value's source).

    Attributes:
        hu_ranges: [lo, hi] HU ranges (both ends included).
        n_rois: ROIs per range and repeat, shared among the scans. repeats: ROI samplings.
        roi_size_px: box side. context_px: image margin around each box given to the filters.
        body_threshold_hu, min_body_fraction, min_roi_pixels, max_draws_per_roi: see `rois`.
        ccc_threshold: the CCC a feature must exceed to count.
        seed: makes the ROI sampling reproducible.
        whole_image_slices: the whole-image level uses at most this many slices (0: all).
        combat_empirical_bayes: ComBat rows shrink batch effects towards priors (`combat`).
    """

    hu_ranges: tuple[HURange, ...]
    n_rois: int
    repeats: int
    roi_size_px: int
    context_px: int
    body_threshold_hu: float
    min_body_fraction: float
    min_roi_pixels: int
    max_draws_per_roi: int
    ccc_threshold: float
    seed: int
    whole_image_slices: int
    combat_empirical_bayes: bool

    @classmethod
    def from_config(cls, config: EvaluationConfig) -> ReproducibilityProtocol:
        """The protocol of an (already validated) evaluation config; same-named fields are copied."""
        return cls(**{field.name: getattr(config, field.name) for field in dataclasses.fields(cls)})


@dataclass(frozen=True)
class Extraction:
    """How features are extracted: processes (or a cluster's `runner`), cache, settings, progress bar.

    Attributes:
        jobs: extraction processes (0: one per core); ignored with a `runner`.
        cache: feature cache to reuse extractions; None extracts everything.
        settings: PyRadiomics parameters; None for the shipped 2-D settings.
        progress: show a progress bar.
        runner: extract on a cluster instead of local processes (see `extract_many`).
    """

    jobs: int = 1
    cache: FeatureCache | None = None
    settings: RadiomicsSettings | None = None
    progress: bool = False
    runner: TaskRunner | None = None

    def extract(self, tasks: list[FeatureTask]) -> pd.DataFrame:
        """The features of each task, one row per task (`extract_many`)."""
        return extract_many(
            tasks, self.jobs, self.progress, settings=self.settings, cache=self.cache, runner=self.runner
        )
