"""Fixtures of the baseline tests: one torch thread, and a simulated paired scan shared by them all."""

from __future__ import annotations

import pytest

from methods.runs import Pairs, simulate_pairs


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Every test here runs torch on one thread (`one_torch_thread` in tests/conftest.py)."""


@pytest.fixture(scope="session")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> Pairs:
    """The simulated smooth/sharp pair (shared: tests must not write into it)."""
    return simulate_pairs(tmp_path_factory.mktemp("pairs"))
