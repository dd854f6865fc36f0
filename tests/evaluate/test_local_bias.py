"""The local bias (`evaluate/local_bias.py`): density shifts count, texture does not."""

from __future__ import annotations

import numpy as np
import pytest

from radiomicgan.evaluate.local_bias import disc_kernel, local_bias_hu

SPACING = (0.7, 0.7)


def _body(size: int = 128) -> np.ndarray:
    y, x = np.mgrid[:size, :size] - size / 2
    return np.where(x**2 + y**2 < (0.4 * size) ** 2, 40.0, -1000.0)


def test_the_disc_sums_to_one_and_spans_its_diameter() -> None:
    kernel = disc_kernel(10.0, SPACING)
    assert kernel.sum() == pytest.approx(1.0)
    assert kernel.shape == (15, 15)  # 10 mm at 0.7 mm: a radius of 7 px either side of the centre


def test_identical_images_have_no_bias() -> None:
    body = _body()
    assert local_bias_hu(body, body, SPACING) == 0.0


def test_a_uniform_shift_is_measured_in_full() -> None:
    body = _body()
    shifted = np.where(body > -500, body + 12.0, body)
    assert local_bias_hu(body, shifted, SPACING) == pytest.approx(12.0)


def test_zero_mean_texture_counts_far_less_than_its_amplitude() -> None:
    body = _body()
    rng = np.random.default_rng(0)
    textured = body + rng.normal(0.0, 20.0, body.shape)  # pixel noise of 20 HU, no density shift
    bias = local_bias_hu(body, textured, SPACING)
    # a 10 mm disc averages ~150 pixels: the mean's SD is 20 / sqrt(150) ~ 1.6 HU, its 95th |.| ~ 3.2 HU
    assert 2.0 < bias < 4.5


def test_a_local_shift_outside_the_body_is_not_counted() -> None:
    body = _body()
    candidate = body.copy()
    candidate[:5, :5] += 500.0  # in the air, outside the body
    assert local_bias_hu(body, candidate, SPACING) == pytest.approx(0.0, abs=1e-9)


def test_slices_are_pooled_and_shapes_checked() -> None:
    body = np.stack([_body(), _body()])
    candidate = body.copy()
    candidate[1][body[1] > -500] += 8.0
    assert local_bias_hu(body, candidate, SPACING) == pytest.approx(8.0)  # half the discs: 95th is 8
    with pytest.raises(ValueError, match="shapes differ"):
        local_bias_hu(body, body[0], SPACING)
