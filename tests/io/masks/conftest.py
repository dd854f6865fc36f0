"""Fixtures of the mask readers' tests: a small CT series on disk and the known labels on its grid."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from masks.phantom import MaskCase, known_labels
from radiomicgan.io import read_volume


@pytest.fixture
def case(tmp_path: Path, make_ct_series: Callable[..., object]) -> MaskCase:
    """A 12-slice 40 x 40 oblique CT series in tmp_path/'ct' and the known labels on its grid."""
    folder = tmp_path / "ct"
    make_ct_series(folder, slices=12, rows=40, columns=40, seed=19)
    ct = read_volume(folder)
    return MaskCase(folder, ct, known_labels(ct.shape, ct.spacing_zyx_mm))
