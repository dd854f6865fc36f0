"""Reading DICOM CT series: HU, geometry, series choice, compressed encodings and every refusal."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels import get_encoder
from pydicom.uid import (
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

from radiomicgan.errors import InputError, InvalidSeriesError, SeveralSeriesError
from radiomicgan.io import read_volume


def _edit(path: Path, **attributes: object) -> None:
    ds = pydicom.dcmread(path)
    for keyword, value in attributes.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    ds.save_as(path)


def _as_ct(ds: pydicom.Dataset, intercept: float = -1024.0) -> pydicom.Dataset:
    """Make a real-world non-CT image look like one CT slice (pixels untouched)."""
    ds.Modality = "CT"
    ds.SOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.RescaleSlope = "1"
    ds.RescaleIntercept = str(intercept)
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["test", str(ds.SOPInstanceUID)])
    if "ImagePositionPatient" not in ds:
        ds.ImagePositionPatient = [0, 0, 0]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    if "PixelSpacing" not in ds:
        ds.PixelSpacing = [0.5, 0.5]
    return ds


def test_reads_exact_hu_and_oblique_geometry(ct_series, tree_digests):
    before = tree_digests(ct_series.folder)
    volume = read_volume(ct_series.folder)
    expected = ct_series.volume
    assert np.array_equal(volume.hu, ct_series.hu)  # mixed signed/unsigned, explicit/implicit files
    np.testing.assert_allclose(volume.spacing_zyx_mm, expected.spacing_zyx_mm, atol=1e-6)
    np.testing.assert_allclose(volume.origin_xyz_mm, expected.origin_xyz_mm, atol=1e-6)
    np.testing.assert_allclose(volume.direction, expected.direction, atol=1e-6)
    assert volume.meta == expected.meta
    assert (volume.source_format, volume.source_path) == ("dicom", ct_series.folder)
    assert volume.datasets is not None
    assert [int(ds.InstanceNumber) for ds in volume.datasets] == [1, 2, 3, 4, 5, 6]
    assert not any("PixelData" in ds for ds in volume.datasets)
    assert tree_digests(ct_series.folder) == before


def test_reads_a_single_file_as_one_slice(ct_series):
    volume = read_volume(ct_series.files[0])
    assert volume.shape == (1, 32, 40)
    assert volume.spacing_zyx_mm[0] == pytest.approx(2.5)  # SliceThickness stands in for the step


def test_ct_small_gives_stored_values_times_slope_plus_intercept(tmp_path, pydicom_test_file):
    source = pydicom_test_file("CT_small.dcm")
    shutil.copy(source, tmp_path / "CT_small.dcm")
    volume = read_volume(tmp_path)
    ds = pydicom.dcmread(source)
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert np.array_equal(volume.hu[0], expected.astype(np.float32))
    assert volume.spacing_zyx_mm[1:] == pytest.approx([float(v) for v in ds.PixelSpacing])


def test_real_lossy_jpeg2000_ct_decodes(tmp_path, pydicom_test_file):
    source = pydicom_test_file("693_J2KI.dcm")
    shutil.copy(source, tmp_path / "ct.dcm")
    volume = read_volume(tmp_path)
    ds = pydicom.dcmread(source)
    assert np.array_equal(volume.hu[0], (ds.pixel_array - 1024.0).astype(np.float32))


def test_several_ct_series_must_be_chosen(make_ct_series, tmp_path):
    a = make_ct_series(tmp_path / "scan" / "a", seed=3, kernel="B30f", description="soft")
    b = make_ct_series(tmp_path / "scan" / "b", seed=3, kernel="B60f", description="sharp", slices=4)
    with pytest.raises(SeveralSeriesError) as caught:
        read_volume(tmp_path / "scan")
    message = str(caught.value)
    for series, kernel, slices in ((a, "B30f", 6), (b, "B60f", 4)):
        assert series.volume.meta.series_uid in message
        assert f"kernel '{kernel}'" in message and f"{slices} slices" in message
        assert series.volume.meta.description in message
    chosen = read_volume(tmp_path / "scan", series_uid=b.volume.meta.series_uid)
    assert np.array_equal(chosen.hu, b.hu)


def test_unknown_series_uid_is_an_error(ct_series):
    with pytest.raises(InvalidSeriesError, match=r"series 1\.2\.3 not found"):
        read_volume(ct_series.folder, series_uid="1.2.3")


def test_choosing_a_non_ct_series_is_an_error(ct_series, pydicom_test_file):
    shutil.copy(pydicom_test_file("MR_small.dcm"), ct_series.folder / "mr.dcm")
    mr_uid = str(pydicom.dcmread(pydicom_test_file("MR_small.dcm")).SeriesInstanceUID)
    with pytest.raises(InvalidSeriesError, match="is MR, not CT"):
        read_volume(ct_series.folder, series_uid=mr_uid)
    assert read_volume(ct_series.folder).shape == (6, 32, 40)  # the only CT series is picked


@pytest.mark.parametrize(
    "name",
    [
        "MR_small_RLE.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "JPEGLSNearLossless_16.dcm",
    ],
)
def test_real_compressed_files(tmp_path, pydicom_test_file, tree_digests, name):
    source = pydicom_test_file(name)
    as_is = tmp_path / "as_is"
    as_is.mkdir()
    shutil.copy(source, as_is / name)
    before = tree_digests(as_is)
    refusal = "without SeriesInstanceUID" if "SeriesInstanceUID" not in pydicom.dcmread(source) else "MR"
    with pytest.raises(InvalidSeriesError, match=refusal) as caught:
        read_volume(as_is)
    if refusal == "MR":
        assert "no CT series; modalities found: MR (1 series)" in str(caught.value)
    assert tree_digests(as_is) == before
    (tmp_path / "as_ct").mkdir()
    _as_ct(pydicom.dcmread(source), intercept=-1000).save_as(tmp_path / "as_ct" / name)
    volume = read_volume(tmp_path / "as_ct")
    expected = pydicom.dcmread(source).pixel_array.astype(np.float64) - 1000
    assert np.array_equal(volume.hu[0], expected.astype(np.float32))


def test_undecodable_pixel_data_names_file_and_transfer_syntax(tmp_path, pydicom_test_file):
    # pydicom's JPEG-lossy.dcm is a known bad JPEG stream that libjpeg refuses.
    path = tmp_path / "bad.dcm"
    _as_ct(pydicom.dcmread(pydicom_test_file("JPEG-lossy.dcm"))).save_as(path)
    with pytest.raises(InvalidSeriesError, match=r"cannot decode pixel data \(JPEG Extended") as caught:
        read_volume(tmp_path)
    assert caught.value.path == path


def _encoder_available(syntax: pydicom.uid.UID) -> bool:
    return bool(get_encoder(syntax).is_available)


@pytest.mark.parametrize(
    "syntax", [RLELossless, JPEG2000Lossless, JPEGLSLossless, DeflatedExplicitVRLittleEndian]
)
def test_compressed_series_decode_to_the_same_hu(ct_series, syntax):
    if syntax.is_compressed and not _encoder_available(syntax):
        pytest.skip(f"no {syntax.name} encoder plugin installed (e.g. pyjpegls for JPEG-LS)")
    for path in ct_series.files:
        ds = pydicom.dcmread(path)
        if syntax.is_compressed:
            ds.compress(syntax, generate_instance_uid=False)
        else:
            ds.file_meta.TransferSyntaxUID = syntax
        ds.save_as(path, enforce_file_format=True)
    assert pydicom.dcmread(ct_series.files[0]).file_meta.TransferSyntaxUID == syntax
    volume = read_volume(ct_series.folder)
    assert np.array_equal(volume.hu, ct_series.hu)


def test_other_pixel_spacing_in_one_slice_is_an_error(ct_series):
    _edit(ct_series.files[3], PixelSpacing=[0.7, 0.75])
    with pytest.raises(
        InvalidSeriesError, match=r"differ in PixelSpacing: 0\.7/0\.(75 vs 0\.7/0\.68|68 vs 0\.7/0\.75) mm"
    ):
        read_volume(ct_series.folder)


def test_other_orientation_in_one_slice_is_an_error(ct_series):
    _edit(ct_series.files[1], ImageOrientationPatient=[1, 0, 0, 0, 1, 0])
    with pytest.raises(InvalidSeriesError, match="differ in ImageOrientationPatient"):
        read_volume(ct_series.folder)


def test_gap_in_positions_is_an_error(ct_series):
    middle = sorted(ct_series.files, key=lambda p: int(pydicom.dcmread(p).InstanceNumber))[2]
    middle.unlink()
    with pytest.raises(
        InvalidSeriesError, match=r"uneven slice spacing: gap of 5\.000 mm .* most gaps are 2\.500 mm"
    ):
        read_volume(ct_series.folder)


def test_duplicate_position_is_an_error(ct_series):
    ds = pydicom.dcmread(ct_series.files[0])
    ds.SOPInstanceUID = generate_uid(entropy_srcs=["duplicate"])
    ds.save_as(ct_series.folder / "again.dcm")
    with pytest.raises(InvalidSeriesError, match="duplicate slice position"):
        read_volume(ct_series.folder)


def test_missing_rescale_slope_is_an_error_not_a_guess(ct_series, tree_digests):
    _edit(ct_series.files[4], RescaleSlope=None)
    before = tree_digests(ct_series.folder)
    with pytest.raises(InvalidSeriesError, match="missing RescaleSlope") as caught:
        read_volume(ct_series.folder)
    assert caught.value.path == ct_series.files[4]
    assert tree_digests(ct_series.folder) == before


def test_multi_frame_is_refused_clearly(ct_series):
    _edit(ct_series.files[0], NumberOfFrames=2)
    with pytest.raises(InvalidSeriesError, match=r"multi-frame \(Enhanced CT\) images are not supported"):
        read_volume(ct_series.folder)


def test_localizer_in_the_series_is_left_out(ct_series):
    ds = pydicom.dcmread(ct_series.files[0])
    ds.SOPInstanceUID = generate_uid(entropy_srcs=["scout"])
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
    ds.save_as(ct_series.folder / "scout.dcm")
    assert np.array_equal(read_volume(ct_series.folder).hu, ct_series.hu)


def test_mr_only_folder_is_an_error_listing_modalities(tmp_path, pydicom_test_file):
    shutil.copy(pydicom_test_file("MR_small.dcm"), tmp_path / "mr.dcm")
    with pytest.raises(InvalidSeriesError, match=r"no CT series; modalities found: MR \(1 series\)"):
        read_volume(tmp_path)


def test_missing_path_empty_folder_and_no_dicom(tmp_path, pydicom_test_file):
    with pytest.raises(InputError, match="does not exist"):
        read_volume(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty folder"):
        read_volume(tmp_path / "empty")
    (tmp_path / "notes").mkdir()
    shutil.copy(pydicom_test_file("README.txt"), tmp_path / "notes" / "README.txt")
    shutil.copy(pydicom_test_file("test-SR.dcm"), tmp_path / "notes" / "report.dcm")
    with pytest.raises(InputError, match="no DICOM image files"):
        read_volume(tmp_path / "notes")
