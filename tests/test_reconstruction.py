"""Preset names: KERNEL or KERNEL+irN, read by one parser; anything else one clear ConfigError."""

from __future__ import annotations

import pytest

from radiomicgan.errors import ConfigError
from radiomicgan.reconstruction import KERNELS, MAX_STRENGTH, Reconstruction, parse_reconstruction


@pytest.mark.parametrize(
    ("name", "expected", "values"),
    [
        ("sharp", Reconstruction("sharp"), ("sharp",)),
        ("smooth+ir3", Reconstruction("smooth", 3), ("smooth", "3")),
        ("medium+ir1", Reconstruction("medium", 1), ("medium", "1")),
        (f"sharp+ir{MAX_STRENGTH}", Reconstruction("sharp", MAX_STRENGTH), ("sharp", str(MAX_STRENGTH))),
    ],
)
def test_valid_names_round_trip(name: str, expected: Reconstruction, values: tuple[str, ...]) -> None:
    preset = parse_reconstruction(name)
    assert preset == expected and preset.name == name
    assert preset.iterative == (preset.strength > 0)
    assert preset.convolution_kernel == values


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "B70f",
            r"unknown kernel 'B70f' \(known: smooth, medium, sharp, each alone or with \+ir1 \.\. \+ir5\)",
        ),
        ("B70f+ir3", r"unknown kernel 'B70f' in 'B70f\+ir3'"),
        ("smooth+x", "unknown kernel 'smooth\\+x'"),
        ("", "unknown kernel ''"),
        ("smooth+ir0", r"reconstruction 'smooth\+ir0': the iterative strength must be 1 to 5, got '0'"),
        ("smooth+ir6", "must be 1 to 5, got '6'"),
        ("smooth+ir", "must be 1 to 5, got ''"),
        ("smooth+ir03", "got '03'"),
        ("smooth+ir-1", "got '-1'"),
    ],
)
def test_bad_names_are_one_config_error_naming_them(name: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_reconstruction(name)
    assert "\n" not in str(caught.value)


def test_every_kernel_name_takes_every_strength() -> None:
    names = [f"{k}+ir{n}" for k in KERNELS for n in range(1, MAX_STRENGTH + 1)]
    assert [parse_reconstruction(name).name for name in names] == names
