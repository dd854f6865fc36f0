"""PWLS runs recorded: a test can count them and see which counts weighted each."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

from radiomicgan.simulate import iterative, simulator


@pytest.fixture
def pwls_calls(monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    """Simulations of this test (jobs=1: in this process) record the counts of each PWLS run, in order."""
    calls: list[np.ndarray] = []

    @functools.wraps(iterative.pwls_reconstruct)
    def recorded(*args: Any, **kwargs: Any) -> np.ndarray:
        calls.append(np.asarray(args[2]))
        return iterative.pwls_reconstruct(*args, **kwargs)

    monkeypatch.setattr(simulator, "pwls_reconstruct", recorded)
    return calls
