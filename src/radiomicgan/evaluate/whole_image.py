"""Reproducibility at the whole-image (DICOM) level (paper Sec. 3.1).

Each slice is one sample: its features over the reference's body mask on that slice, for the reference
and every candidate (the same mask for all). A feature's CCC is taken across slices, so a volume needs at
least 3 slices with a usable body; a whole slice is slower to extract than an ROI (about 1 s at 256²,
5 s at 512² on one core), hence the optional slice subset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from radiomicgan.cluster import TaskRunner
from radiomicgan.config import EvaluationConfig
from radiomicgan.evaluate.agreement import ccc_per_feature, count_reproducible
from radiomicgan.evaluate.cache import FeatureCache
from radiomicgan.evaluate.features import FeatureTask, extract_many, feature_names, mask_only
from radiomicgan.evaluate.protocol import MIN_ROIS_FOR_CCC, REFERENCE, check_volumes
from radiomicgan.evaluate.rois import body_masks, mask_is_usable
from radiomicgan.evaluate.settings import RadiomicsSettings

_D = EvaluationConfig()


@dataclass
class WholeImageResult:
    """What the whole-image level measured.

    Attributes:
        feature_names: the features, in column order.
        ccc: CCC per feature across slices; one row per candidate, one column per feature.
        counts: {candidate: number of features with CCC > threshold}.
        slices: the slice indices used (those with a usable body mask).
        values: every extracted value; columns candidate, slice, n_pixels, then one per feature.
        threshold: the CCC a feature must exceed to count.
    """

    feature_names: list[str]
    ccc: pd.DataFrame
    counts: dict[str, int]
    slices: list[int]
    values: pd.DataFrame
    threshold: float


def whole_image_reproducibility(
    reference: NDArray[np.floating],
    candidates: Mapping[str, NDArray[np.floating]],
    spacing_yx_mm: tuple[float, float],
    *,
    slices: Sequence[int] | None = None,
    jobs: int = 1,
    cache: FeatureCache | None = None,
    settings: RadiomicsSettings | None = None,
    body_threshold_hu: float = _D.body_threshold_hu,
    min_roi_pixels: int = _D.min_roi_pixels,
    threshold: float = _D.ccc_threshold,
    progress: bool = False,
    runner: TaskRunner | None = None,
) -> WholeImageResult:
    """Count each candidate's reproducible features with whole slices (body masks) as samples.

    Args:
        reference: [z, y, x] standard-kernel volume in HU; its body masks are used for every image.
        candidates: name -> volume of the reference's shape.
        spacing_yx_mm: in-plane pixel size (rows, columns), in mm.
        slices: slice indices to use (all by default); slices without a usable body are left out.
        jobs, cache, settings, progress, runner: as in `extract_many`.
        body_threshold_hu, min_roi_pixels: see `rois`. threshold: CCC a feature must exceed.

    Raises:
        ValueError: volumes of different shapes, or fewer than 3 slices with a usable body.
    """
    images = check_volumes(reference, candidates)
    chosen = list(range(images[REFERENCE].shape[0])) if slices is None else [int(z) for z in slices]
    body = body_masks(images[REFERENCE][chosen], body_threshold_hu)
    usable = [(z, mask) for z, mask in zip(chosen, body, strict=True) if mask_is_usable(mask, min_roi_pixels)]
    if len(usable) < MIN_ROIS_FOR_CCC:
        raise ValueError(f"whole-image CCC needs >= {MIN_ROIS_FOR_CCC} slices with a body, got {len(usable)}")
    tasks = [FeatureTask(vol[z], mask, spacing_yx_mm) for z, mask in usable for vol in images.values()]
    meta = [(name, z, int(mask.sum())) for z, mask in usable for name in images]
    features = extract_many(tasks, jobs, progress, settings=settings, cache=cache, runner=runner)
    values = pd.concat([pd.DataFrame(meta, columns=["candidate", "slice", "n_pixels"]), features], axis=1)
    names = feature_names(settings)
    ref = values[values["candidate"] == REFERENCE][names].to_numpy(dtype=np.float64)
    rows = {
        name: ccc_per_feature(ref, values[values["candidate"] == name][names].to_numpy())
        for name in candidates
    }
    ccc = pd.DataFrame.from_dict(rows, orient="index", columns=names)
    counted = ~mask_only(names)
    counts = {name: count_reproducible(row[counted], threshold) for name, row in rows.items()}
    return WholeImageResult(names, ccc, counts, [z for z, _ in usable], values, threshold)
