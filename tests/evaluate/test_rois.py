"""Body masks, boxes inside the body, HU-range masks from the reference."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from radiomicgan.evaluate.rois import (
    Box,
    body_mask,
    body_masks,
    context_window,
    mask_is_usable,
    range_mask,
    sample_boxes,
    select_rois,
    valid_corners,
)

Phantom = Callable[..., np.ndarray]


def test_body_keeps_largest_component_and_fills_lungs(make_chest: Phantom) -> None:
    slice_hu = make_chest(slices=1, size=96)[0].copy()
    slice_hu[2:5, 2:5] = 50.0  # a cable outside the patient
    body = body_mask(slice_hu)
    lung_pixel = (48, int(0.3 * 96))
    assert slice_hu[lung_pixel] < -500 and body[lung_pixel]  # lungs are inside the body
    assert not body[3, 3]  # the separate blob is not the body
    assert not body[0, 48]  # air outside
    assert body_mask(np.full((8, 8), -1000.0)).sum() == 0


def test_boxes_lie_inside_the_body(make_chest: Phantom) -> None:
    volume = make_chest(slices=3, size=96)
    body = body_masks(volume)
    boxes = sample_boxes(body, 40, 24, np.random.default_rng(1), min_body_fraction=0.9)
    assert len(boxes) == 40 and len(set(boxes)) == 40  # no repetition while positions suffice
    for box in boxes:
        window = body[box.slice_index][box.window()]
        assert window.shape == (24, 24)
        assert window[12, 12]  # centre in the body
        assert window.mean() >= 0.9
    assert {b.slice_index for b in boxes} == {0, 1, 2}


def test_box_draw_is_reproducible_and_seed_dependent(make_chest: Phantom) -> None:
    body = body_masks(make_chest(slices=2, size=64))
    first = sample_boxes(body, 10, 16, np.random.default_rng(3))
    assert first == sample_boxes(body, 10, 16, np.random.default_rng(3))
    assert first != sample_boxes(body, 10, 16, np.random.default_rng(4))


def test_no_box_when_body_is_too_small() -> None:
    body = np.zeros((1, 40, 40), dtype=bool)
    body[0, 10:20, 10:20] = True
    assert sample_boxes(body, 5, 16, np.random.default_rng(0)) == []
    assert valid_corners(body[0], 64, 0.9).size == 0  # box larger than the slice


def test_valid_corners_counts_body_share() -> None:
    body = np.zeros((6, 6), dtype=bool)
    body[:, :3] = True  # left half is body
    corners = valid_corners(body, 2, 1.0)  # 5x5 corners; need both columns in body
    assert corners.shape == (5, 5)
    assert corners[:, :2].all() and not corners[:, 2:].any()
    assert not valid_corners(body, 2, 0.5)[:, 2].any()  # half in body, but the centre column 3 is not


def test_range_mask_uses_reference_hu_inclusively() -> None:
    box = np.array([[-801.0, -800.0, -550.0], [-300.0, -299.0, 0.0]])
    expected = np.array([[False, True, True], [True, False, False]])
    np.testing.assert_array_equal(range_mask(box, (-800, -300)), expected)


def test_usable_masks() -> None:
    mask = np.zeros((8, 8), dtype=bool)
    mask[2, :] = True  # a single row, 8 pixels
    assert not mask_is_usable(mask, min_pixels=4)
    mask[3, :2] = True  # 10 pixels on two rows
    assert mask_is_usable(mask, min_pixels=10)
    assert not mask_is_usable(mask, min_pixels=11)


def test_select_rois_masks_come_from_reference(make_chest: Phantom) -> None:
    volume = make_chest(slices=2, size=96)
    body = body_masks(volume)
    kept, rejected = select_rois(volume, body, (-800.0, -300.0), 8, 24, np.random.default_rng(0))
    assert len(kept) == 8 and rejected >= 0
    for box, mask in kept:
        np.testing.assert_array_equal(mask, range_mask(volume[box.slice_index][box.window()], (-800, -300)))
        assert mask_is_usable(mask)


def test_select_rois_settles_for_fewer_when_range_is_absent(make_chest: Phantom) -> None:
    volume = make_chest(slices=2, size=64, bone=False)
    body = body_masks(volume)
    kept, rejected = select_rois(
        volume, body, (300.0, 800.0), 5, 16, np.random.default_rng(0), max_draws_per_roi=3
    )
    assert kept == [] and rejected == 15


def test_context_window_clips_to_slice() -> None:
    rows, cols, dy, dx = context_window(Box(0, 2, 50, 10), (64, 64), 8)
    assert (rows, cols, dy, dx) == (slice(0, 20), slice(42, 64), 2, 8)


def test_box_overlap() -> None:
    box = Box(0, 10, 10, 8)
    assert box.overlaps(Box(0, 17, 17, 8)) and box.overlaps(Box(0, 3, 12, 8))
    assert not box.overlaps(Box(0, 18, 10, 8)) and not box.overlaps(Box(0, 10, 2, 8))
    assert not box.overlaps(Box(1, 10, 10, 8))  # another slice


def test_select_rois_avoids_another_samples_boxes(make_chest: Phantom) -> None:
    volume = make_chest(slices=2, size=96, seed=5)
    body = body_masks(volume)
    scored, _ = select_rois(volume, body, (-100.0, 250.0), 6, 16, np.random.default_rng(0))
    avoid = [box for box, _ in scored]
    fit, _ = select_rois(volume, body, (-100.0, 250.0), 6, 16, np.random.default_rng(1), avoid=avoid)
    assert len(fit) == 6
    assert not any(box.overlaps(other) for box, _ in fit for other in avoid)
