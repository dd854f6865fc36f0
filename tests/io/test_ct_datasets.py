"""new_ct_datasets: complete, valid and deterministic CT Image Storage datasets from scratch."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pydicom
import pytest
from pydicom.uid import CTImageStorage

from radiomicgan.io import (
    SeriesMeta,
    Volume,
    deterministic_uid,
    new_ct_datasets,
    read_volume,
    write_dicom_series,
)

NAMES = dict(
    patient_name="Phantom^Chest",
    patient_id="PHANTOM01",
    study_description="simulated scan",
    series_description="smooth kernel",
    series_number=2,
    kernel="smooth",
)


def _volume() -> Volume:
    meta = SeriesMeta(
        study_uid=deterministic_uid("study"),
        frame_of_reference_uid=deterministic_uid("for"),
        series_uid=deterministic_uid("series"),
    )
    hu = np.arange(3 * 8 * 10, dtype=np.float32).reshape(3, 8, 10) - 1024
    return Volume(hu=hu, spacing_zyx_mm=(2.5, 0.8, 0.9), origin_xyz_mm=(-4.0, -3.5, 10.0), meta=meta)


def test_written_series_is_dciodvfy_clean_and_reads_back(tmp_path, run_dciodvfy):
    volume = _volume()
    volume = replace(volume, datasets=new_ct_datasets(volume, **NAMES))
    out = write_dicom_series(volume, tmp_path / "sim")
    errors, output = run_dciodvfy(out)
    assert errors == [], output
    again = read_volume(out)
    assert np.array_equal(again.hu, volume.hu)
    assert again.meta == replace(volume.meta, kernel="smooth", description="smooth kernel")
    np.testing.assert_allclose(again.origin_xyz_mm, volume.origin_xyz_mm)
    np.testing.assert_allclose(again.spacing_zyx_mm, volume.spacing_zyx_mm)


def test_required_attributes_and_deterministic_uids():
    volume = _volume()
    first, second = new_ct_datasets(volume, **NAMES), new_ct_datasets(volume, **NAMES)
    assert [ds.SOPInstanceUID for ds in first] == [ds.SOPInstanceUID for ds in second]
    assert len({ds.SOPInstanceUID for ds in first}) == 3
    ds = first[1]
    assert ds.SOPClassUID == CTImageStorage and ds.Modality == "CT"
    assert (ds.ConvolutionKernel, ds.KVP, ds.AcquisitionNumber, ds.InstanceNumber) == ("smooth", 120, 1, 2)
    assert ds.ImagePositionPatient == [-4.0, -3.5, 12.5]
    assert (ds.StudyDate, ds.SeriesNumber, ds.SliceThickness) == ("20000101", 2, 2.5)
    assert "PixelData" not in ds


def test_datasets_share_no_element():
    datasets = new_ct_datasets(_volume(), **NAMES)
    datasets[0].PatientID = "CHANGED"
    assert datasets[1].PatientID == "PHANTOM01"


def test_non_ascii_names_declare_utf8(tmp_path, run_dciodvfy):
    volume = _volume()
    names = {**NAMES, "patient_name": "Müller^Jürgen"}
    volume = replace(volume, datasets=new_ct_datasets(volume, **names))
    out = write_dicom_series(volume, tmp_path / "sim")
    ds = pydicom.dcmread(sorted(out.iterdir())[0])
    assert ds.SpecificCharacterSet == "ISO_IR 192" and ds.PatientName == "Müller^Jürgen"
    errors, output = run_dciodvfy(out)
    assert errors == [], output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"series_uid": ""}, "series_uid must be set"),
        ({"study_uid": ""}, "study_uid must be set"),
        ({"frame_of_reference_uid": ""}, "frame_of_reference_uid must be set"),
    ],
)
def test_missing_uids_are_refused(change, message):
    volume = _volume()
    with pytest.raises(ValueError, match=message):
        new_ct_datasets(replace(volume, meta=replace(volume.meta, **change)), **NAMES)


def test_bad_kernel_and_series_number_are_refused():
    with pytest.raises(ValueError, match="kernel"):
        new_ct_datasets(_volume(), **{**NAMES, "kernel": "a-very-long-kernel-name"})
    with pytest.raises(ValueError, match="IS range"):
        new_ct_datasets(_volume(), **{**NAMES, "series_number": 2**31})
