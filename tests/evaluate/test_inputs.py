"""Reading the reference and candidates: series or trees, paired by study and slice position."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import SyntheticSeries, make_ct_series

from radiomicgan.errors import InputError
from radiomicgan.evaluate.inputs import Scan, check_scans, load_scans
from radiomicgan.evaluate.protocol import REFERENCE
from radiomicgan.io import deterministic_uid, read_volume, write_volume


def _scan(folder: Path, study: str, kernel: str, seed: int, slices: int = 4) -> SyntheticSeries:
    """One reconstruction of scan `study` (shared study and frame of reference, same geometry)."""
    return make_ct_series(
        folder,
        slices=slices,
        seed=seed,
        kernel=kernel,
        study_uid=deterministic_uid("study", study),
        frame_of_reference_uid=deterministic_uid("frame", study),
    )


def test_trees_pair_each_reference_series_with_its_own_scan(tmp_path: Path) -> None:
    expected = {}
    for index, study in enumerate(["a", "b"]):
        reference = _scan(tmp_path / "reference" / study, study, "B70f", seed=10 + index)
        candidate = _scan(tmp_path / "smooth" / f"x{1 - index}", study, "B30f", seed=20 + index)
        expected[index] = (reference.hu, candidate.hu)
    scans = load_scans(tmp_path / "reference", {"smooth": tmp_path / "smooth"})
    assert len(scans) == 2
    for index, scan in enumerate(scans):  # discovery order: reference/a, then reference/b
        np.testing.assert_array_equal(scan.reference, expected[index][0])
        np.testing.assert_array_equal(scan.candidates["smooth"], expected[index][1])
        assert scan.slice_indices == (0, 1, 2, 3) and scan.n_reference_slices == 4
        assert scan.spacing_yx_mm == (0.7, 0.68)


def test_only_slices_in_every_candidate_are_kept(tmp_path: Path) -> None:
    reference = _scan(tmp_path / "reference", "a", "B70f", seed=1, slices=5)
    full = _scan(tmp_path / "full", "a", "B30f", seed=2, slices=5)
    partial = _scan(tmp_path / "partial", "a", "B50f", seed=3, slices=5)
    partial.files[0].unlink()  # `files` are in slice order: the first slice is gone
    scans = load_scans(reference.folder, {"full": full.folder, "partial": partial.folder})
    (scan,) = scans
    assert scan.slice_indices == (1, 2, 3, 4) and scan.n_reference_slices == 5
    np.testing.assert_array_equal(scan.reference, reference.hu[1:])
    np.testing.assert_array_equal(scan.candidates["full"], full.hu[1:])
    np.testing.assert_array_equal(scan.candidates["partial"], partial.hu[1:])


def test_a_candidate_without_a_matching_series_is_named(tmp_path: Path) -> None:
    reference = _scan(tmp_path / "reference", "a", "B70f", seed=1)
    other = _scan(tmp_path / "other", "b", "B30f", seed=2)
    with pytest.raises(InputError, match=r"other: candidate 'input' has no series matching"):
        load_scans(reference.folder, {"input": other.folder})
    shifted = make_ct_series(
        tmp_path / "shifted",
        seed=3,
        study_uid=deterministic_uid("study", "a"),
        frame_of_reference_uid=deterministic_uid("frame", "a"),
        origin_xyz_mm=(-100.25, 33.5, 900.0),
    )
    with pytest.raises(
        InputError, match=r"shifted: candidate 'input' has no series matching.*no slice position"
    ):
        load_scans(reference.folder, {"input": shifted.folder})


def test_several_matching_series_are_refused(tmp_path: Path) -> None:
    reference = _scan(tmp_path / "reference", "a", "B70f", seed=1)
    _scan(tmp_path / "both" / "smooth", "a", "B30f", seed=2)
    _scan(tmp_path / "both" / "medium", "a", "B50f", seed=3)
    with pytest.raises(InputError, match="both: candidate 'x' has 2 series matching"):
        load_scans(reference.folder, {"x": tmp_path / "both"})


def test_nrrd_files_pair_by_geometry(tmp_path: Path) -> None:
    reference = _scan(tmp_path / "reference", "a", "B70f", seed=1)
    candidate = _scan(tmp_path / "candidate", "a", "B30f", seed=2)
    write_volume(read_volume(candidate.folder), tmp_path / "candidate.nrrd")
    (scan,) = load_scans(reference.folder, {"nrrd": tmp_path / "candidate.nrrd"})
    np.testing.assert_array_equal(scan.candidates["nrrd"], candidate.hu)


def test_no_ct_series_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("nothing here")
    reference = _scan(tmp_path / "reference", "a", "B70f", seed=1)
    with pytest.raises(InputError, match="empty: no CT series found"):
        load_scans(tmp_path / "empty", {"x": reference.folder})
    shutil.rmtree(tmp_path / "empty")
    with pytest.raises(InputError, match="does not exist"):
        load_scans(reference.folder, {"x": tmp_path / "empty"})


def test_volumes_in_memory_make_a_scan_of_every_slice() -> None:
    reference = np.zeros((3, 8, 8), dtype=np.float64)
    scan = Scan.from_volumes(reference, {"a": reference + 1.0}, (0.5, 0.7))
    assert scan.slice_indices == (0, 1, 2) and scan.n_reference_slices == 3
    assert scan.spacing_yx_mm == (0.5, 0.7) and scan.candidates["a"].dtype == np.float64  # values as given
    with pytest.raises(ValueError, match="differ"):
        check_scans([scan, Scan.from_volumes(reference, {"b": reference}, (0.5, 0.7))])
    with pytest.raises(ValueError, match="at least one scan"):
        check_scans([])


def test_invalid_inputs() -> None:
    reference = np.zeros((1, 64, 64), dtype=np.float32)
    with pytest.raises(ValueError, match="reserved"):
        Scan.from_volumes(reference, {REFERENCE: reference}, (1.0, 1.0))
    with pytest.raises(ValueError, match="shape"):
        Scan.from_volumes(reference, {"cut": reference[:, :32]}, (1.0, 1.0))
    with pytest.raises(ValueError, match="at least one"):
        Scan.from_volumes(reference, {}, (1.0, 1.0))
