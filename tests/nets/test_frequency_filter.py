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
