"""Fixtures of the baseline tests: one torch thread, a simulated paired scan shared by them all, and two
unpaired series."""

from __future__ import annotations

import pytest

from methods.runs import Pairs, Unpaired, simulate_pairs, simulate_unpaired


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Every test here runs torch on one thread (`one_torch_thread` in tests/conftest.py)."""


@pytest.fixture(scope="session")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> Pairs:
    """The simulated smooth/sharp pair (shared: tests must not write into it)."""
    return simulate_pairs(tmp_path_factory.mktemp("pairs"))


@pytest.fixture(scope="session")
def unpaired(tmp_path_factory: pytest.TempPathFactory) -> Unpaired:
    """A smooth and a sharp series of different phantoms, studies and pixel spacings (shared: read only)."""
    return simulate_unpaired(tmp_path_factory.mktemp("unpaired"))
