"""Regions of interest for the reproducibility protocol: body masks, random boxes, HU-range masks.

The paper evaluates "randomly selected ROIs in three HU ranges" (Sec. 3.1). As built:

- **Body.** Pixels above -500 HU, the largest 2-D connected component, holes filled. Filling puts the lungs,
  airways and bowel gas inside the body; air outside the patient stays out. A table touching the skin
  joins the body (no opening is applied: it would also erode thin anatomy).
- **Boxes.** Square boxes of `roi_size_px`, fully inside the slice, whose centre pixel lies in the body and
  of whose pixels at least `min_body_fraction` (default 90 %) lie in the body. Boxes are drawn uniformly
  over all such positions of all slices (so slices weigh by body area), without repetition when possible.
- **Range masks.** A box's mask for an HU range keeps the pixels whose *reference* HU lies in [lo, hi]
  (both ends included). The same mask is used for every candidate, so differences in features come from
  the candidates' intensities only.
- **Usable masks.** PyRadiomics fails on a single pixel or a single row/column and returns NaN for some
  texture features on a handful of pixels; masks with fewer than `min_roi_pixels` (default 10) or spanning
  one row or column are skipped. Because masks come from the reference, a skipped ROI is skipped for all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from radiomicgan.config import EvaluationConfig

BoolArray = NDArray[np.bool_]
HURange = tuple[float, float]

DEFAULTS = EvaluationConfig()


@dataclass(frozen=True)
class Box:
    """A square box on one slice: top-left corner (y0, x0) and side, in pixels."""

    slice_index: int
    y0: int
    x0: int
    size_px: int

    def window(self) -> tuple[slice, slice]:
        """Row and column slices selecting the box in a 2-D image."""
        return slice(self.y0, self.y0 + self.size_px), slice(self.x0, self.x0 + self.size_px)

    def overlaps(self, other: Box) -> bool:
        """Whether the two boxes share a pixel (on the same slice)."""
        return (
            self.slice_index == other.slice_index
            and self.y0 < other.y0 + other.size_px
            and other.y0 < self.y0 + self.size_px
            and self.x0 < other.x0 + other.size_px
            and other.x0 < self.x0 + self.size_px
        )


def body_mask(slice_hu: NDArray[np.floating], threshold_hu: float = DEFAULTS.body_threshold_hu) -> BoolArray:
    """The patient's body on one slice: HU > threshold, largest connected component, holes filled.

    Args:
        slice_hu: [y, x] image in HU.
        threshold_hu: pixels above this are tissue (default -500 HU, between air/lung and soft tissue).

    Returns:
        [y, x] boolean mask; all False when nothing exceeds the threshold.
    """
    labels, count = ndimage.label(np.asarray(slice_hu) > threshold_hu)
    if count == 0:
        return np.zeros(labels.shape, dtype=bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return np.asarray(ndimage.binary_fill_holes(labels == int(np.argmax(sizes))), dtype=bool)


def body_masks(
    volume_hu: NDArray[np.floating], threshold_hu: float = DEFAULTS.body_threshold_hu
) -> BoolArray:
    """`body_mask` of every slice of a [z, y, x] volume."""
    return np.stack([body_mask(s, threshold_hu) for s in volume_hu])


def valid_corners(body_2d: BoolArray, roi_size_px: int, min_body_fraction: float) -> BoolArray:
    """Top-left corners (y0, x0) of the boxes that may be drawn on one slice.

    Returns:
        [y - size + 1, x - size + 1] boolean map (empty when the slice is smaller than the box).
    """
    size = roi_size_px
    rows, cols = body_2d.shape
    if rows < size or cols < size:
        return np.zeros((0, 0), dtype=bool)
    integral = np.pad(body_2d.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    inside = (
        integral[size:, size:] - integral[:-size, size:] - integral[size:, :-size] + integral[:-size, :-size]
    )
    half = size // 2
    centre_in_body = body_2d[half : rows - size + 1 + half, half : cols - size + 1 + half]
    return np.asarray(centre_in_body & (inside >= min_body_fraction * size * size), dtype=bool)


def sample_boxes(
    body_masks: BoolArray,
    n_rois: int,
    roi_size_px: int,
    rng: np.random.Generator,
    *,
    min_body_fraction: float = DEFAULTS.min_body_fraction,
) -> list[Box]:
    """Draw random boxes inside the body, uniformly over all allowed positions of all slices.

    Args:
        body_masks: [z, y, x] body masks of the reference.
        n_rois: boxes wanted; drawn without repetition while enough positions exist.
        roi_size_px: box side in pixels.
        rng: the random generator (the caller's seed makes the draw reproducible).
        min_body_fraction: share of the box's pixels that must lie in the body.

    Returns:
        The boxes, in draw order; empty when no position qualifies.
    """
    maps = [valid_corners(b, roi_size_px, min_body_fraction) for b in body_masks]
    counts = np.array([int(m.sum()) for m in maps], dtype=np.int64)
    total = int(counts.sum())
    if total == 0 or n_rois <= 0:
        return []
    ranks = rng.choice(total, size=n_rois, replace=total < n_rois)
    ends = np.cumsum(counts)
    slices = np.searchsorted(ends, ranks, side="right")
    positions: dict[int, NDArray[np.intp]] = {}  # flat indices of allowed corners, per slice drawn
    boxes = []
    for rank, z in zip(ranks, slices, strict=True):
        if z not in positions:
            positions[z] = np.flatnonzero(maps[z])
        within = int(rank - (ends[z] - counts[z]))
        y0, x0 = np.unravel_index(positions[z][within], maps[z].shape)
        boxes.append(Box(int(z), int(y0), int(x0), roi_size_px))
    return boxes


def range_mask(reference_hu_box: NDArray[np.floating], hu_range: HURange) -> BoolArray:
    """Pixels whose reference HU lies in [lo, hi], both ends included."""
    lo, hi = hu_range
    box = np.asarray(reference_hu_box)
    return np.asarray((box >= lo) & (box <= hi), dtype=bool)


def mask_is_usable(mask: BoolArray, min_pixels: int = DEFAULTS.min_roi_pixels) -> bool:
    """Whether PyRadiomics can extract every feature from a 2-D mask.

    A mask needs at least `min_pixels` pixels spanning at least two rows and two columns.
    """
    if int(np.count_nonzero(mask)) < min_pixels:
        return False
    rows, cols = np.nonzero(mask)
    return bool(np.ptp(rows) >= 1 and np.ptp(cols) >= 1)


def select_rois(
    reference_hu: NDArray[np.floating],
    body: BoolArray,
    hu_range: HURange,
    n_rois: int,
    roi_size_px: int,
    rng: np.random.Generator,
    *,
    min_body_fraction: float = DEFAULTS.min_body_fraction,
    min_roi_pixels: int = DEFAULTS.min_roi_pixels,
    max_draws_per_roi: int = DEFAULTS.max_draws_per_roi,
    avoid: Sequence[Box] = (),
) -> tuple[list[tuple[Box, BoolArray]], int]:
    """The first `n_rois` drawn boxes whose range mask is usable and that overlap no box of `avoid`.

    Boxes are drawn up to `n_rois * max_draws_per_roi` times; a range that rarely occurs in the body
    (bone in a small field) may end with fewer ROIs, which the caller reports. A box overlapping one of
    `avoid` (another sample's boxes) is skipped without counting as rejected.

    Returns:
        ((box, mask) pairs in draw order, number of drawn boxes rejected for an unusable mask).
    """
    kept: list[tuple[Box, BoolArray]] = []
    rejected = 0
    for box in sample_boxes(
        body, n_rois * max_draws_per_roi, roi_size_px, rng, min_body_fraction=min_body_fraction
    ):
        if any(box.overlaps(other) for other in avoid):
            continue
        mask = range_mask(reference_hu[box.slice_index][box.window()], hu_range)
        if not mask_is_usable(mask, min_roi_pixels):
            rejected += 1
            continue
        kept.append((box, mask))
        if len(kept) == n_rois:
            break
    return kept, rejected


def context_window(box: Box, shape_yx: tuple[int, int], context_px: int) -> tuple[slice, slice, int, int]:
    """The box grown by `context_px` on each side, clipped to the slice, for filtering with real context.

    Returns:
        (row slice, column slice, row offset of the box in it, column offset of the box in it).
    """
    y_lo, x_lo = max(0, box.y0 - context_px), max(0, box.x0 - context_px)
    y_hi = min(shape_yx[0], box.y0 + box.size_px + context_px)
    x_hi = min(shape_yx[1], box.x0 + box.size_px + context_px)
    return slice(y_lo, y_hi), slice(x_lo, x_hi), box.y0 - y_lo, box.x0 - x_lo
