"""Fixtures of the registry tests: two scans of one Siemens kernel at two ADMIRE strengths, and a
Wiener run trained on each (once per session; tests must not write into them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from registry.scans import train_wiener, write_pair
from training.pairs import Scan


@dataclass(frozen=True)
class Runs:
    """Two trained runs and the scans they were trained on.

    Attributes:
        strength3: trained on Br40d\\3 series from "SIEMENS " (the padding a scanner may leave).
        strength2: trained on Br40d\\2 series without a Manufacturer.
    """

    strength3: Path
    strength2: Path
    scan3: Scan
    scan2: Scan


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """Two Wiener runs (about a second each)."""
    root = tmp_path_factory.mktemp("registry-runs")
    scan3 = write_pair(root, "admire3", "Br40d\\3", "SIEMENS ", seed=0)
    scan2 = write_pair(root, "admire2", "Br40d\\2", "", seed=1)
    return Runs(train_wiener(scan3, root / "run3"), train_wiener(scan2, root / "run2"), scan3, scan2)
