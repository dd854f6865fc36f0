"""A linear shift-invariant filter as a generator: what the least-squares kernel conversion fits.

The filter is a 2-D frequency response H(f) in the FFT layout of the slices it was fitted on, kept
as two float buffers (real and imaginary parts). A slice is filtered whole: FFT, times H, inverse
FFT, real part. A slice of another size gets H resampled linearly in normalized frequency (the
same rule as `radiomicgan.linear_filter.resample_response`). A new filter is the identity.

The response's size is whatever was fitted, so loading a state dict resizes the buffers to the
stored ones: the model file, not the constructor, knows the fitted matrix size.

An optional detail limit L makes it y = x + L tanh((H x - x) / L): what the filter adds or takes
away is kept within about L of the input, linear where it is small. The unpaired spectral filter
uses it (`baselines.spectral.detail_limit_hu`): its gain is measured on noise, and at a strong edge
the same gain would add an overshoot that no noise spectrum tells it about. L = 0 (the default, and
what a model file without the buffer loads as) is the linear filter.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from radiomicgan.nets.common import Generator


class FrequencyFilter(Generator):
    """y = IFFT(H * FFT(x)) for [B, 1, H, W] slices, H fitted at `response_real.shape`."""

    response_real: torch.Tensor
    response_imag: torch.Tensor
    detail_limit: torch.Tensor
    onnx_exportable = False  # complex FFTs: torch's ONNX exporter has no export for them

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("response_real", torch.ones(1, 1))
        self.register_buffer("response_imag", torch.zeros(1, 1))
        self.register_buffer("detail_limit", torch.zeros(()))

    def set_response(self, response: torch.Tensor) -> None:
        """Replace H by a complex [y, x] response in FFT layout."""
        device = self.response_real.device
        self.response_real = response.real.to(device=device, dtype=torch.float32).contiguous()
        self.response_imag = response.imag.to(device=device, dtype=torch.float32).contiguous()

    def set_detail_limit(self, limit: float) -> None:
        """Keep what the filter changes within about `limit` of the input (its units); 0: linear."""
        if limit < 0:
            raise ValueError(f"a detail limit must be >= 0, not {limit}")
        self.detail_limit = torch.tensor(float(limit), device=self.response_real.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        response = self.response_at(tuple(x.shape[-2:]))
        spectrum = torch.fft.fft2(x.float())
        filtered: torch.Tensor = torch.fft.ifft2(spectrum * response).real
        limit = float(self.detail_limit)
        if limit > 0:
            filtered = x.float() + limit * torch.tanh((filtered - x.float()) / limit)
        return filtered

    def response_at(self, shape: tuple[int, ...]) -> torch.Tensor:
        """H for slices of `shape` (y, x), complex64, resampled when the fitted size differs."""
        fitted = (self.response_real.shape[0], self.response_real.shape[1])
        if tuple(shape) == fitted or fitted == (1, 1):
            # a 1x1 response is a constant gain: the same at every frequency of any size
            return torch.complex(self.response_real, self.response_imag)
        centred = torch.fft.fftshift(torch.stack([self.response_real, self.response_imag]), dim=(-2, -1))
        grid = _sampling_grid(fitted, (shape[0], shape[1]), centred.device)
        sampled = F.grid_sample(
            centred.unsqueeze(0), grid, mode="bilinear", padding_mode="border", align_corners=True
        )[0]
        resampled: torch.Tensor = torch.fft.ifftshift(torch.complex(sampled[0], sampled[1]), dim=(-2, -1))
        return resampled

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        for name in ("response_real", "response_imag"):
            stored = state_dict.get(prefix + name)
            if isinstance(stored, torch.Tensor) and stored.ndim == 2:
                setattr(self, name, torch.empty_like(stored, device=self.response_real.device))
        if prefix + "detail_limit" not in state_dict:  # a model file from before the limit: linear
            state_dict[prefix + "detail_limit"] = torch.zeros(())
        super()._load_from_state_dict(state_dict, prefix, *args)


def _sampling_grid(fitted: tuple[int, int], shape: tuple[int, int], device: torch.device) -> torch.Tensor:
    """grid_sample coordinates, in [-1, 1] over the fitted centred grid, of the new centred frequencies."""
    axes = []
    for n_fit, n_new in zip(fitted, shape, strict=True):
        new = torch.fft.fftshift(torch.fft.fftfreq(n_new, device=device, dtype=torch.float64))
        first = torch.fft.fftshift(torch.fft.fftfreq(n_fit, dtype=torch.float64))[0].item()
        index = (new - first) * n_fit  # position in the fitted grid's index units
        axes.append((2.0 * index / (n_fit - 1) - 1.0).float())
    gy, gx = torch.meshgrid(axes[0], axes[1], indexing="ij")
    return torch.stack([gx, gy], dim=-1).unsqueeze(0)  # grid_sample wants (x, y) order
