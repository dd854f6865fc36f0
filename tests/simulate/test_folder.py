"""simulate_to_folder: one valid DICOM series per kernel, one study, written all at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest

from radiomicgan.cli import main
from radiomicgan.config import SimulationConfig
from radiomicgan.errors import OutputError
from radiomicgan.io import find_series, read_volume, write_volume
from radiomicgan.io.ownership import MARKER
from radiomicgan.io.volume import Volume
from radiomicgan.simulate.folder import SimulationResult, simulate_to_folder
from radiomicgan.simulate.simulator import simulate_kernels
from radiomicgan.simulate.source import prepare_source

CONFIG = SimulationConfig(size_px=64, slices=2, seed=7, retest=True, jobs=1)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    return simulate_to_folder("phantom", tmp_path_factory.mktemp("sim") / "pairs", CONFIG)


def test_every_kernel_is_a_series_of_one_study(written: SimulationResult) -> None:
    assert list(written.series_dirs) == ["smooth", "medium", "sharp", "sharp_retest"]
    assert sorted(p.name for p in written.out_dir.iterdir()) == sorted([MARKER, *written.series_dirs])
    expected = simulate_kernels(prepare_source("phantom", CONFIG), CONFIG)
    for key, folder in written.series_dirs.items():
        volume = read_volume(folder)
        assert volume.meta.study_uid == written.study_uid
        assert volume.meta.frame_of_reference_uid == written.frame_of_reference_uid
        assert volume.meta.series_uid == written.series_uids[key] == expected[key].meta.series_uid
        assert volume.meta.kernel == key.removesuffix("_retest")
        assert volume.spacing_zyx_mm == pytest.approx(expected[key].spacing_zyx_mm)
        np.testing.assert_array_equal(volume.hu, np.rint(expected[key].hu))
    assert len(set(written.series_uids.values())) == 4


def test_series_are_valid_dicom(
    written: SimulationResult, run_dciodvfy: Callable[[Path], tuple[list[str], str]]
) -> None:
    for folder in written.series_dirs.values():
        errors, _ = run_dciodvfy(folder)
        assert errors == [], errors


def test_the_phantom_patient_and_the_summary(written: SimulationResult) -> None:
    ds = pydicom.dcmread(next(written.series_dirs["sharp"].iterdir()))
    assert (str(ds.PatientName), ds.PatientID) == ("RADIOMICGAN^PHANTOM", "PHANTOM-7")
    assert ds.ConvolutionKernel == "sharp"
    text = written.describe()
    assert written.study_uid in text and "2 slices of 64x64 px" in text
    assert all(str(path) in text for path in written.series_dirs.values())


def test_an_existing_output_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "pairs"
    out.mkdir()  # empty: fine
    small = SimulationConfig(size_px=32, slices=1, kernels=("smooth", "sharp"), jobs=1)
    simulate_to_folder("phantom", out, small)
    with pytest.raises(OutputError, match="already exists"):
        simulate_to_folder("phantom", out, small)
    result = simulate_to_folder(
        "phantom", out, SimulationConfig(size_px=32, slices=1, jobs=1), overwrite=True
    )
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "medium", "sharp", "smooth"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind
    assert result.out_dir == out


def test_overwrite_refuses_a_folder_holding_what_it_did_not_write(tmp_path: Path) -> None:
    out = tmp_path / "pairs"
    small = SimulationConfig(size_px=32, slices=1, kernels=("smooth",), jobs=1)
    simulate_to_folder("phantom", out, small)
    (out / "smooth" / "notes.txt").write_text("mine")
    before = sorted(out.rglob("*"))
    with pytest.raises(OutputError, match=r"holds smooth/notes\.txt, which is not radiomicgan's output"):
        simulate_to_folder("phantom", out, small, overwrite=True)
    assert sorted(out.rglob("*")) == before and (out / "smooth" / "notes.txt").read_text() == "mine"


def test_a_ct_source_is_anonymous(tmp_path: Path) -> None:
    hu = np.full((3, 40, 40), -1000.0, np.float32)
    hu[:, 8:32, 8:32] = 30.0
    source = write_volume(Volume(hu, (2.0, 1.0, 1.0)), tmp_path / "Doe_John.nrrd")
    config = SimulationConfig(size_px=32, slices=2, kernels=("smooth", "sharp"), jobs=1)
    result = simulate_to_folder(source, tmp_path / "pairs", config)  # beside a file source is fine
    ds = pydicom.dcmread(next(result.series_dirs["smooth"].iterdir()))
    assert str(ds.PatientName) == "SIMULATED^SOURCE"
    assert ds.PatientID.startswith("SIM-") and len(ds.PatientID) == 16
    assert "Doe" not in str(ds)


def test_output_inside_a_dicom_source_is_refused(
    tmp_path: Path, make_ct_series: Callable[..., object]
) -> None:
    make_ct_series(tmp_path / "ct")
    with pytest.raises(OutputError, match="inside the input folder"):
        simulate_to_folder(
            tmp_path / "ct", tmp_path / "ct" / "pairs", SimulationConfig(size_px=32, slices=1, jobs=1)
        )


@pytest.mark.usefixtures("one_torch_thread")  # two cores, shared
def test_an_iterative_reduced_dose_series_round_trips_through_dicom(
    tmp_path: Path,
    run_dciodvfy: Callable[[Path], tuple[list[str], str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = SimulationConfig(
        size_px=32, slices=2, kernels=("smooth+ir3", "sharp"), doses={"smooth+ir3": 0.25}, jobs=1
    )
    result = simulate_to_folder("phantom", tmp_path / "pairs", config, progress=False)
    folder = result.series_dirs["smooth+ir3"]
    assert folder == tmp_path / "pairs" / "smooth+ir3_dose25"
    ds = pydicom.dcmread(next(folder.iterdir()))
    assert list(ds.ConvolutionKernel) == ["smooth", "3"]  # two values, as Siemens writes Br40d\3
    assert ds.SeriesDescription == "smooth kernel + IR strength 3, 25 % dose"
    volume = read_volume(folder)
    assert volume.meta.kernel == "smooth\\3"
    assert volume.meta.study_uid == read_volume(result.series_dirs["sharp"]).meta.study_uid
    (found,) = [s for s in find_series(tmp_path / "pairs") if s.folder == folder]
    assert found.kernel == "smooth\\3"
    errors, _ = run_dciodvfy(folder)
    assert errors == [], errors
    capsys.readouterr()
    assert main(["info", str(tmp_path / "pairs")]) == 0
    out = capsys.readouterr().out
    assert "smooth/3" in out and "smooth\\3" not in out
