"""Reproducibility at the whole-image (DICOM) level (paper Sec. 3.1), over the pooled slices of the scans.

Each slice is one sample: its features over the reference's body mask on that slice, for the reference
and every candidate (the same mask for all). A feature's CCC is taken across the slices of every scan, so
at least 3 slices with a usable body are needed; a whole slice is slower to extract than an ROI (about
1 s at 256², 5 s at 512² on one core), hence the protocol's optional cap on the slices used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from radiomicgan.evaluate.agreement import ccc_per_feature, count_reproducible
from radiomicgan.evaluate.features import FeatureTask, mask_only
from radiomicgan.evaluate.inputs import Scan, check_scans
from radiomicgan.evaluate.protocol import MIN_ROIS_FOR_CCC, REFERENCE, Extraction, ReproducibilityProtocol
from radiomicgan.evaluate.rois import BoolArray, body_masks, mask_is_usable


@dataclass
class WholeImageResult:
    """What the whole-image level measured.

    Attributes:
        feature_names: the features, in column order.
        ccc: CCC per feature across slices; one row per candidate, one column per feature.
        counts: {candidate: number of features with CCC > threshold}.
        slices: each sample's slice index within its scan's series (slices with a usable body mask).
        values: every extracted value; columns scan, candidate, slice, n_pixels, then one per feature.
        threshold: the CCC a feature must exceed to count.
    """

    feature_names: list[str]
    ccc: pd.DataFrame
    counts: dict[str, int]
    slices: list[int]
    values: pd.DataFrame
    threshold: float


def whole_image_reproducibility(
    scans: Sequence[Scan], protocol: ReproducibilityProtocol, extraction: Extraction
) -> WholeImageResult:
    """Count each candidate's reproducible features with whole slices (body masks) as samples.

    Args:
        scans: the scans (one or more), each holding the same candidates; their slices are pooled.
        protocol: body threshold, minimum mask size, CCC threshold and `whole_image_slices`, the
            most slices to use, evenly spread over the pooled usable ones (0: all).
        extraction: how features are extracted.

    Returns:
        The CCCs and counts per candidate, the slices used and every extracted value.

    Raises:
        ValueError: no scan, scans holding different candidates, or fewer than 3 pooled slices with a
            usable body.
    """
    check_scans(scans)
    usable = _usable_slices(scans, protocol)
    tasks, meta = [], []
    for index, z, mask in usable:
        scan = scans[index]
        for name, volume in {REFERENCE: scan.reference, **scan.candidates}.items():
            tasks.append(FeatureTask(volume[z], mask, scan.spacing_yx_mm))
            meta.append((index, name, scan.slice_indices[z], int(mask.sum())))
    features = extraction.extract(tasks)
    values = pd.concat(
        [pd.DataFrame(meta, columns=["scan", "candidate", "slice", "n_pixels"]), features], axis=1
    )
    names = list(features.columns)
    reference = values[values["candidate"] == REFERENCE][names].to_numpy(dtype=np.float64)
    rows = {
        name: ccc_per_feature(
            reference, values[values["candidate"] == name][names].to_numpy(dtype=np.float64)
        )
        for name in scans[0].candidates
    }
    ccc = pd.DataFrame.from_dict(rows, orient="index", columns=names)
    counted = ~mask_only(names)  # shape features agree by construction: not counted
    threshold = protocol.ccc_threshold
    counts = {name: count_reproducible(row[counted], threshold) for name, row in rows.items()}
    slices = [scans[i].slice_indices[z] for i, z, _ in usable]
    return WholeImageResult(names, ccc, counts, slices, values, threshold)


def _usable_slices(
    scans: Sequence[Scan], protocol: ReproducibilityProtocol
) -> list[tuple[int, int, BoolArray]]:
    """(scan index, slice, body mask) of the pooled slices to use.

    Raises:
        ValueError: fewer than 3 of them.
    """
    usable = []
    for index, scan in enumerate(scans):
        for z, mask in enumerate(body_masks(scan.reference, protocol.body_threshold_hu)):
            if mask_is_usable(mask, protocol.min_roi_pixels):
                usable.append((index, z, mask))
    cap = protocol.whole_image_slices
    if cap and len(usable) > cap:
        usable = [usable[i] for i in np.linspace(0, len(usable) - 1, cap).round().astype(int)]
    if len(usable) < MIN_ROIS_FOR_CCC:
        raise ValueError(f"whole-image CCC needs >= {MIN_ROIS_FOR_CCC} slices with a body, got {len(usable)}")
    return usable
