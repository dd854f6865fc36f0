"""The fitted linear filter as a generator: identity when new, numpy's resampling, resized on load."""

from __future__ import annotations

import numpy as np
import torch

from radiomicgan.linear_filter import resample_response
from radiomicgan.nets import FrequencyFilter


def _response(size_y: int, size_x: int) -> np.ndarray:
    fy, fx = np.meshgrid(np.fft.fftfreq(size_y), np.fft.fftfreq(size_x), indexing="ij")
    return (1.0 + 2.0 * np.hypot(fy, fx) ** 2) * np.exp(-2j * np.pi * (fx + 0.5 * fy))


def test_a_new_filter_is_the_identity_at_any_size() -> None:
    x = torch.rand(2, 1, 24, 40)
    torch.testing.assert_close(FrequencyFilter()(x), x, atol=1e-6, rtol=0)


def test_filters_like_numpy_at_the_fitted_size_and_at_others() -> None:
    response = _response(32, 48)
    module = FrequencyFilter()
    module.set_response(torch.from_numpy(response))
    for shape in ((32, 48), (40, 30), (64, 96)):
        x = np.random.default_rng(0).random((2, *shape))
        expected = np.fft.ifft2(np.fft.fft2(x) * resample_response(response, shape)).real
        with torch.no_grad():
            out = module(torch.from_numpy(x).float().unsqueeze(1))[:, 0].numpy()
        np.testing.assert_allclose(out, expected, atol=1e-5)


def test_loading_a_state_dict_takes_its_size() -> None:
    fitted = FrequencyFilter()
    fitted.set_response(torch.from_numpy(_response(16, 20)))
    fresh = FrequencyFilter()
    fresh.load_state_dict(fitted.state_dict(), strict=True)
    assert fresh.response_real.shape == (16, 20)
    x = torch.rand(1, 1, 16, 20)
    torch.testing.assert_close(fresh(x), fitted(x))


def test_a_detail_limit_bounds_the_change_and_keeps_small_changes_linear() -> None:
    linear, limited = FrequencyFilter(), FrequencyFilter()
    for module in (linear, limited):
        module.set_response(torch.from_numpy(np.abs(_response(32, 32))).to(torch.complex128))
    limited.set_detail_limit(0.02)
    x = torch.zeros(1, 1, 32, 32)
    x[..., 8:24, 8:24] = 1.0  # a strong edge: the linear filter changes it by far more than 0.02
    with torch.no_grad():
        big_linear, big_limited = linear(x) - x, limited(x) - x
    assert float(big_linear.abs().max()) > 0.1
    assert float(big_limited.abs().max()) <= 0.02
    small = 1e-4 * torch.rand(1, 1, 32, 32)  # far below the limit: tanh is the identity there
    with torch.no_grad():
        torch.testing.assert_close(limited(small), linear(small), atol=1e-9, rtol=1e-3)


def test_a_state_dict_without_the_limit_loads_as_the_linear_filter() -> None:
    fitted = FrequencyFilter()
    fitted.set_response(torch.from_numpy(_response(16, 16)))
    old = {k: v for k, v in fitted.state_dict().items() if k != "detail_limit"}  # a model file before it
    fresh = FrequencyFilter()
    fresh.set_detail_limit(0.1)
    fresh.load_state_dict(old, strict=True)
    assert float(fresh.detail_limit) == 0.0
    x = torch.rand(1, 1, 16, 16)
    torch.testing.assert_close(fresh(x), fitted(x))
