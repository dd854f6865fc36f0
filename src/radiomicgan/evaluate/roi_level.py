"""The ROI level of the paper's protocol (Sec. 3.1, Table 1), over one scan or several, ROIs pooled.

For each repeat and each HU range: draw boxes inside the reference's body on random slices, keep the
first `n_rois` whose range mask (from the reference's HU) is usable, extract the features of the reference
and of every candidate under those same masks, and compute the CCC of each feature across the ROIs. A
candidate's score for a range is the number of features with CCC > 0.85, as mean ± SD over repeats.

With several scans, each repeat's `n_rois` ROIs per range are shared among them in proportion to their
slice counts (largest remainders) and the CCC is taken across the pooled ROIs. The paper pools its 387
test slices the same way: one sample of ROIs, one CCC per feature, whatever scan each ROI came from.
One scan is the case of a list of one.

Choices the paper leaves open: each range draws its own boxes (a box rich in lung rarely holds bone), from
its own random stream seeded by (scan seed, repeat, range index), the scan seed derived from (seed, scan
index), so results are reproducible and adding a range does not change the others. A range with fewer
than 3 usable ROIs in a repeat has no score there. Shape features are computed but not counted: every
image is measured under the reference's masks, so they agree by construction.

ComBat rows ("NAME+ComBat") are the candidate's ROI values mapped onto the reference's by ComBat within
each (repeat, HU range), then scored like every other candidate. The mapping is fitted on a second ROI
sample of the same scans (same protocol, its own seed stream, no box overlapping a scored box of the
same repeat and range), never on the ROIs it is scored on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from radiomicgan.evaluate.agreement import agreement_tables
from radiomicgan.evaluate.combat import COMBAT_SUFFIX, combat_values
from radiomicgan.evaluate.features import FeatureTask, feature_names
from radiomicgan.evaluate.inputs import Scan, check_scans
from radiomicgan.evaluate.metrics import mean_sd
from radiomicgan.evaluate.protocol import REFERENCE, Extraction, ReproducibilityProtocol, range_label
from radiomicgan.evaluate.rois import BoolArray, Box, body_masks, context_window, select_rois

META_COLUMNS = ["scan", "repeat", "range", "roi", "candidate", "slice", "y0", "x0", "size_px", "n_pixels"]
COMBAT_FIT_STREAM = 1  # the third entry of the fit sample's seed sequence (ROI samples have two)

SeedOf = Callable[[int, int], int]  # (protocol seed, scan index) -> that scan's sampling seed
Rejected = dict[tuple[int, str], int]  # (repeat, range label) -> boxes rejected for an unusable mask


@dataclass
class ReproducibilityResult:
    """Everything the ROI level measured.

    Attributes:
        feature_names: the features, in column order.
        counts: one row per (candidate, range, repeat): n_rois, n_rejected (boxes whose mask was too small),
            n_defined (features with a defined CCC) and n_reproducible (<NA> with fewer than 3 ROIs).
        ccc: CCC per feature; index (candidate, range, repeat), one column per feature.
        values: every extracted value; META_COLUMNS then one column per feature; the reference's rows
            have candidate "reference". Ready for `to_parquet` / `to_csv`.
        threshold: the CCC a feature must exceed to count.
        combat_fit_values: the separate ROI sample ComBat rows were fitted on (layout of `values`),
            None without ComBat rows.

    n_defined and n_reproducible leave out the mask-only (shape) features (`features.mask_only`).
    """

    feature_names: list[str]
    counts: pd.DataFrame
    ccc: pd.DataFrame
    values: pd.DataFrame
    threshold: float
    combat_fit_values: pd.DataFrame | None = None

    def summary(self) -> dict[str, dict[str, dict[str, Any]]]:
        """{candidate: {range: {"mean", "sd", "n_repeats"}}} of the reproducible counts.

        Mean and SD are None for a range that had too few ROIs in every repeat; SD is None with one
        scored repeat (the spread of one value is unknown, not 0).
        """
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for (candidate, label), rows in self.counts.groupby(["candidate", "range"], sort=False):
            scored = rows["n_reproducible"].dropna().to_numpy(dtype=np.float64)
            stats: dict[str, Any] = mean_sd(scored) if scored.size else {"mean": None, "sd": None}
            if scored.size == 1:
                stats["sd"] = None
            out.setdefault(str(candidate), {})[str(label)] = {**stats, "n_repeats": int(scored.size)}
        return out

    def mean_ccc(self) -> pd.DataFrame:
        """CCC per feature averaged over repeats; index (candidate, range)."""
        return self.ccc.groupby(level=["candidate", "range"], sort=False).mean()


@dataclass(frozen=True)
class _Roi:
    repeat: int
    range: str
    roi: int
    box: Box
    mask: BoolArray


def allot_rois(n_rois: int, slices_per_scan: Sequence[int]) -> list[int]:
    """Share `n_rois` among scans in proportion to their slices (largest remainders, ties to earlier)."""
    weights = np.asarray(slices_per_scan, dtype=np.float64)
    exact = n_rois * weights / weights.sum()
    allotted = np.floor(exact).astype(int)
    order = np.argsort(-(exact - allotted), kind="stable")
    allotted[order[: n_rois - int(allotted.sum())]] += 1
    return [int(n) for n in allotted]


def scan_seed(seed: int, scan_index: int) -> int:
    """The ROI sampling seed of one scan: independent streams per scan, reproducible from the seed."""
    return int(np.random.SeedSequence([seed, scan_index]).generate_state(1)[0])


def shared_seed(seed: int, scan_index: int) -> int:
    """The protocol's seed itself for every scan: how one volume's ROIs were drawn before issue 16.

    The benchmarks pass it to `roi_reproducibility` so their recorded figures stay reproducible.
    """
    return seed


def combat_fit_seed(seed: int, scan_index: int) -> int:
    """The seed of the ROI sample ComBat is fitted on: a stream of its own, apart from `scan_seed`'s."""
    return int(np.random.SeedSequence([seed, scan_index, COMBAT_FIT_STREAM]).generate_state(1)[0])


def roi_reproducibility(
    scans: Sequence[Scan],
    protocol: ReproducibilityProtocol,
    extraction: Extraction,
    *,
    combat: bool = False,
    seed_of: SeedOf = scan_seed,
) -> ReproducibilityResult:
    """Count the reproducible features of each candidate per HU range, over repeated ROI samplings.

    Args:
        scans: the scans (one or more), each holding the same candidates.
        protocol: HU ranges, ROIs, repeats, box size, body mask, CCC threshold and seed.
        extraction: how features are extracted.
        combat: add rows "NAME+ComBat" after the candidates, fitted on a separate ROI sample.
        seed_of: (protocol seed, scan index) -> the scan's sampling seed; `scan_seed` by default.

    Returns:
        The counts, CCCs and values; "roi" numbers are unique across scans. With `combat`,
        `combat_fit_values` holds the separate ROI sample ComBat was fitted on.

    Raises:
        ValueError: no scan, or scans holding different candidates.
    """
    check_scans(scans)
    values, rejected = _pooled_sample(scans, protocol, extraction, seed_of)
    names = feature_names(extraction.settings)
    candidates = list(scans[0].candidates)
    fit_values = None
    if combat:
        # Fitted on other ROIs than those it is scored on: a location and scale match fitted on the
        # scored ROIs themselves would raise their CCC by construction.
        fit_values, _ = _pooled_sample(scans, protocol, extraction, combat_fit_seed, avoid=values)
        adjusted = combat_values(
            values, fit_values, names, candidates, empirical_bayes=protocol.combat_empirical_bayes
        )
        values = pd.concat([values, adjusted], ignore_index=True)
        candidates += [name + COMBAT_SUFFIX for name in candidates]
    ccc, counts = agreement_tables(values, names, candidates, rejected, protocol.ccc_threshold)
    return ReproducibilityResult(names, counts, ccc, values, protocol.ccc_threshold, fit_values)


def _pooled_sample(
    scans: Sequence[Scan],
    protocol: ReproducibilityProtocol,
    extraction: Extraction,
    seed_of: SeedOf,
    avoid: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, Rejected]:
    """One pooled ROI sample: its values (META_COLUMNS, then features) and its rejected boxes.

    Args:
        seed_of: (seed, scan index) -> the scan's sampling seed.
        avoid: another sample's values; this sample's boxes overlap none of its boxes.
    """
    shares = allot_rois(protocol.n_rois, [scan.reference.shape[0] for scan in scans])
    keys = [(r, range_label(h)) for r in range(protocol.repeats) for h in protocol.hu_ranges]
    rejected: Rejected = dict.fromkeys(keys, 0)
    tasks: list[FeatureTask] = []
    meta: list[tuple[object, ...]] = []
    for index, (scan, share) in enumerate(zip(scans, shares, strict=True)):
        if share == 0:
            continue
        boxes = {} if avoid is None else _boxes(avoid[avoid["scan"] == index])
        rois = _draw_rois(scan, share, seed_of(protocol.seed, index), protocol, boxes, rejected)
        # ROI numbers stay unique across scans: scan i numbers its ROIs from i * n_rois
        _add_tasks(tasks, meta, rois, scan, index, index * protocol.n_rois, protocol.context_px)
    features = extraction.extract(tasks)
    return pd.concat([pd.DataFrame(meta, columns=META_COLUMNS), features], axis=1), rejected


def _draw_rois(
    scan: Scan,
    n_rois: int,
    seed: int,
    protocol: ReproducibilityProtocol,
    avoid: Mapping[tuple[int, str], Sequence[Box]],
    rejected: Rejected,
) -> list[_Roi]:
    """The scan's ROIs of every repeat and range; adds the boxes rejected there to `rejected`."""
    reference = scan.reference
    body = body_masks(reference, protocol.body_threshold_hu)
    rois: list[_Roi] = []
    for repeat in range(protocol.repeats):
        for index, hu_range in enumerate(protocol.hu_ranges):
            rng = np.random.default_rng([seed, repeat, index])
            label = range_label(hu_range)
            kept, n_rejected = select_rois(
                reference, body, hu_range, n_rois, protocol.roi_size_px, rng,
                min_body_fraction=protocol.min_body_fraction, min_roi_pixels=protocol.min_roi_pixels,
                max_draws_per_roi=protocol.max_draws_per_roi, avoid=avoid.get((repeat, label), ()),
            )  # fmt: skip
            rejected[(repeat, label)] += n_rejected
            rois += [_Roi(repeat, label, i, box, mask) for i, (box, mask) in enumerate(kept)]
    return rois


def _add_tasks(
    tasks: list[FeatureTask],
    meta: list[tuple[object, ...]],
    rois: list[_Roi],
    scan: Scan,
    scan_index: int,
    roi_offset: int,
    context_px: int,
) -> None:
    """Append one extraction per ROI and image (reference first) under the ROI's mask."""
    images = {REFERENCE: scan.reference, **scan.candidates}
    for roi in rois:
        box = roi.box
        rows, cols, dy, dx = context_window(box, scan.reference.shape[1:], context_px)
        n_pixels = int(roi.mask.sum())
        for name, volume in images.items():
            region = volume[box.slice_index, rows, cols]
            mask = np.zeros(region.shape, dtype=bool)
            mask[dy : dy + box.size_px, dx : dx + box.size_px] = roi.mask
            tasks.append(FeatureTask(region, mask, scan.spacing_yx_mm))
            row = (scan_index, roi.repeat, roi.range, roi_offset + roi.roi, name, box.slice_index)
            meta.append((*row, box.y0, box.x0, box.size_px, n_pixels))


def _boxes(values: pd.DataFrame) -> dict[tuple[int, str], list[Box]]:
    """(repeat, range) -> the boxes of a sample's reference rows."""
    rows = values[values["candidate"] == REFERENCE]
    boxes: dict[tuple[int, str], list[Box]] = {}
    for row in rows.itertuples():
        box = Box(int(row.slice), int(row.y0), int(row.x0), int(row.size_px))
        boxes.setdefault((int(row.repeat), str(row.range)), []).append(box)
    return boxes
