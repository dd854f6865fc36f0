"""The kernel presets: equal DC gain, ordered sharpness and noise, a filter ready for FBP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from radiomicgan import reconstruction
from radiomicgan.errors import ConfigError
from radiomicgan.simulate import iterative
from radiomicgan.simulate.kernels import (
    KERNELS,
    discrete_filter,
    frequency_response,
    get_kernel,
    mtf,
    parse_reconstruction,
    plot_kernel_responses,
)

NU = np.linspace(0.0, 1.0, 1001)
ORDER = ("smooth", "medium", "sharp")


def test_every_window_passes_dc_unchanged() -> None:
    for preset in KERNELS.values():
        assert preset.window(np.zeros(1))[0] == pytest.approx(1.0)
        assert mtf(preset.name, np.zeros(1))[0] == pytest.approx(1.0)


def test_discrete_filters_share_the_dc_term_and_differ_at_high_frequency() -> None:
    filters = {name: discrete_filter(name, 1024) for name in ORDER}
    dc = {name: f[0] for name, f in filters.items()}
    assert dc["smooth"] == pytest.approx(dc["sharp"]) == pytest.approx(dc["medium"])
    assert dc["sharp"] > 0  # the band-limited ramp's DC term, which keeps the mean HU right
    nyquist = {name: f[-1] for name, f in filters.items()}
    assert nyquist["smooth"] < nyquist["medium"] < nyquist["sharp"]
    assert filters["sharp"][256] == pytest.approx(
        0.25 * get_kernel("sharp").window(np.array([0.5]))[0], rel=0.01
    )


def test_noise_power_and_resolution_rise_from_smooth_to_sharp() -> None:
    noise = [np.trapezoid(frequency_response(name, NU) ** 2, NU) for name in ORDER]
    mtf50 = [NU[np.argmax(mtf(name, NU) < 0.5)] for name in ORDER]
    assert noise == sorted(noise) and len(set(noise)) == 3
    assert mtf50 == sorted(mtf50) and len(set(mtf50)) == 3


def test_the_sharp_kernel_boosts_mid_frequencies() -> None:
    assert get_kernel("sharp").window(NU).max() > 1.05  # MTF overshoot of edge-enhancing lung kernels


def test_unknown_kernel_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown kernel 'B99'"):
        get_kernel("B99")


def test_discrete_filter_refuses_an_odd_length() -> None:
    with pytest.raises(ValueError, match="even"):
        discrete_filter("sharp", 101)


def test_plot_kernel_responses_writes_a_png(tmp_path: Path) -> None:
    path = plot_kernel_responses(tmp_path / "figs" / "mtf.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_registry_implements_every_preset_name() -> None:
    assert KERNELS is reconstruction.KERNELS  # one registry, the one the config reads
    assert parse_reconstruction is reconstruction.parse_reconstruction  # one parser
    assert iterative.MAX_STRENGTH is reconstruction.MAX_STRENGTH  # the strengths the blend accepts
