"""Fixtures of the mask readers' tests: a small CT series on disk and the known labels on its grid.

Both series are written once per test session; tests read them and write their masks elsewhere.
"""

from __future__ import annotations

import pytest
from tests.conftest import SyntheticSeries, make_ct_series

from masks.phantom import MaskCase, known_labels
from radiomicgan.io import read_volume

_GRID = {"slices": 12, "rows": 40, "columns": 40}


@pytest.fixture(scope="session")
def case(tmp_path_factory: pytest.TempPathFactory) -> MaskCase:
    """A 12-slice 40 x 40 oblique CT series and the known labels on its grid (read-only arrays)."""
    folder = tmp_path_factory.mktemp("masks") / "ct"
    make_ct_series(folder, seed=19, **_GRID)
    ct = read_volume(folder)
    labels = known_labels(ct.shape, ct.spacing_zyx_mm)
    for array in (ct.hu, labels):
        array.setflags(write=False)
    return MaskCase(folder, ct, labels)


@pytest.fixture(scope="session")
def other_series(case: MaskCase, tmp_path_factory: pytest.TempPathFactory) -> SyntheticSeries:
    """Another series of the same study, frame of reference and grid: a mask drawn on it is refused,
    though its voxels would even line up."""
    meta = case.ct.meta
    folder = tmp_path_factory.mktemp("masks") / "other"
    return make_ct_series(
        folder, seed=20, study_uid=meta.study_uid, frame_of_reference_uid=meta.frame_of_reference_uid, **_GRID
    )
