"""Writing DICOM series: exact HU, geometry, derived-series identity, determinism, atomic output."""

from __future__ import annotations

import copy
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, JPEGBaseline8Bit

from radiomicgan.errors import OutputError
from radiomicgan.io import Derivation, dicom_series_writer, read_volume, write_dicom_series

DERIVATION = Derivation("RadiomicGAN", "Harmonized from B30f to B60f by RadiomicGAN", "model-3f2a")


def _files(folder: Path) -> list[Path]:
    return sorted(folder.iterdir())


def _add_private_tag(paths: tuple[Path, ...]) -> None:
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.private_block(0x0011, "RADIOMICGAN TEST", create=True).add_new(0x01, "LO", "kept")
        ds.save_as(path)


def test_round_trip_keeps_integer_hu_and_geometry(ct_series, tmp_path, run_dciodvfy):
    source = read_volume(ct_series.folder)
    out = write_dicom_series(source, tmp_path / "copy")
    assert [p.name for p in _files(out)] == [f"IM{i:06d}.dcm" for i in range(1, 7)]
    again = read_volume(out)
    assert np.array_equal(again.hu, ct_series.hu)  # unsigned+intercept sources become signed int16
    np.testing.assert_allclose(again.spacing_zyx_mm, source.spacing_zyx_mm, atol=1e-9)
    np.testing.assert_allclose(again.origin_xyz_mm, source.origin_xyz_mm, atol=1e-9)
    np.testing.assert_allclose(again.direction, source.direction, atol=1e-9)
    assert again.meta == source.meta  # written as they are: same UIDs
    errors, output = run_dciodvfy(out)
    assert errors == [], output


def test_pixels_are_signed_int16_explicit_little_endian(ct_series, tmp_path):
    out = write_dicom_series(read_volume(ct_series.folder), tmp_path / "copy")
    ds = pydicom.dcmread(_files(out)[0])
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    pixel_module = (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation)
    assert pixel_module == (16, 16, 15, 1)
    assert (float(ds.RescaleSlope), float(ds.RescaleIntercept), ds.RescaleType) == (1.0, 0.0, "HU")


def test_derived_series_identity_and_provenance(ct_series, tmp_path, run_dciodvfy):
    _add_private_tag(ct_series.files)
    source = read_volume(ct_series.folder)
    out = write_dicom_series(source, tmp_path / "harmonized", derivation=DERIVATION)
    derived = read_volume(out)
    assert np.array_equal(derived.hu, ct_series.hu)
    assert derived.meta.series_uid != source.meta.series_uid
    assert derived.meta.study_uid == source.meta.study_uid
    assert derived.meta.frame_of_reference_uid == source.meta.frame_of_reference_uid
    assert derived.datasets is not None and source.datasets is not None
    for ds, src in zip(derived.datasets, source.datasets, strict=True):
        assert ds.SOPInstanceUID != src.SOPInstanceUID
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert list(ds.ImageType) == ["DERIVED", "SECONDARY", "AXIAL"]
        assert "RadiomicGAN" in ds.SeriesDescription and "RadiomicGAN" in ds.DerivationDescription
        assert "model-3f2a" in ds.DerivationDescription
        reference = ds.SourceImageSequence[0]
        assert reference.ReferencedSOPInstanceUID == src.SOPInstanceUID
        assert reference.ReferencedSOPClassUID == CTImageStorage
        assert int(ds.SeriesNumber) == int(src.SeriesNumber) + 1000
        assert (ds.PatientName, ds.PatientID) == (src.PatientName, src.PatientID)
        # from an Implicit VR source the private element's VR is unknown, so it travels as UN bytes
        assert ds.private_block(0x0011, "RADIOMICGAN TEST")[0x01].value in ("kept", b"kept")
    errors, output = run_dciodvfy(out)
    assert errors == [], output


def test_same_job_twice_gives_byte_identical_files(ct_series, tmp_path):
    source = read_volume(ct_series.folder)
    first = write_dicom_series(source, tmp_path / "one", derivation=DERIVATION)
    second = write_dicom_series(read_volume(ct_series.folder), tmp_path / "two", derivation=DERIVATION)
    assert [p.read_bytes() for p in _files(first)] == [p.read_bytes() for p in _files(second)]
    other_model = replace(DERIVATION, model_id="model-other")
    third = write_dicom_series(source, tmp_path / "three", derivation=other_model)
    uids = {str(pydicom.dcmread(_files(folder)[0]).SeriesInstanceUID) for folder in (first, second, third)}
    assert len(uids) == 2


def test_every_int16_value_survives_and_floats_are_rounded(ct_series, tmp_path, caplog):
    source = read_volume(ct_series.folder)
    hu = source.hu.copy()
    hu[0, 0, :6] = [-32768, 32767, -1024, 3071, 1.4, -1.6]
    hu[0, 1, 0] = 40000.0  # beyond int16: clipped, and said so
    with caplog.at_level(logging.WARNING):
        out = write_dicom_series(source.with_hu(hu), tmp_path / "extremes")
    assert "1 voxels outside the int16 range" in caplog.text
    written = read_volume(out).hu
    assert written[0, 0, :6].tolist() == [-32768, 32767, -1024, 3071, 1, -2]
    assert written[0, 1, 0] == 32767
    assert np.array_equal(written[1:], np.rint(hu[1:]))


def test_stale_pixel_tags_go_and_padding_is_re_expressed(ct_series, tmp_path):
    source = read_volume(ct_series.folder)
    assert source.datasets is not None
    first = source.datasets[0]  # stored unsigned with intercept -1024 by the fixture
    assert float(first.RescaleIntercept) == -1024
    first.SmallestImagePixelValue = 0
    first.LargestImagePixelValue = 4095
    first.PixelPaddingValue = 0  # stored 0 is -1024 HU
    second = source.datasets[1]
    second.PixelPaddingValue = 40000  # cannot be expressed in int16 HU: dropped
    out = write_dicom_series(source, tmp_path / "out")
    one, two = (pydicom.dcmread(p) for p in _files(out)[:2])
    assert "SmallestImagePixelValue" not in one and "LargestImagePixelValue" not in one
    assert one.PixelPaddingValue == -1024 and one["PixelPaddingValue"].VR == "SS"
    assert "PixelPaddingValue" not in two


def test_lossy_source_stays_flagged(ct_series, tmp_path, pydicom_test_file):
    source = read_volume(ct_series.folder)
    assert source.datasets is not None
    for ds in source.datasets:
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit  # as if the slices had come lossy
    out = write_dicom_series(source, tmp_path / "out", derivation=DERIVATION)
    ds = pydicom.dcmread(_files(out)[0])
    assert (ds.LossyImageCompression, ds.LossyImageCompressionMethod) == ("01", "ISO_10918_1")
    real = tmp_path / "real"
    real.mkdir()
    (real / "ct.dcm").write_bytes(pydicom_test_file("693_J2KI.dcm").read_bytes())
    out = write_dicom_series(read_volume(real), tmp_path / "real_out", derivation=DERIVATION)
    assert pydicom.dcmread(_files(out)[0]).LossyImageCompression == "01"


def test_big_endian_source_is_written_little_endian(tmp_path, pydicom_test_file):
    ds = pydicom.dcmread(pydicom_test_file("MR_small_bigendian.dcm"))
    ds.Modality, ds.SOPClassUID = "CT", CTImageStorage
    ds.RescaleSlope, ds.RescaleIntercept = "1", "-1024"
    (tmp_path / "in").mkdir()
    ds.save_as(tmp_path / "in" / "be.dcm")
    source = read_volume(tmp_path / "in")
    out = write_dicom_series(source, tmp_path / "out", derivation=DERIVATION)
    written = pydicom.dcmread(_files(out)[0])
    assert written.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert written.PatientName == ds.PatientName
    assert np.array_equal(read_volume(out).hu, source.hu)


def test_existing_output_needs_overwrite_and_is_then_replaced(ct_series, tmp_path):
    source = read_volume(ct_series.folder)
    out = tmp_path / "out"
    write_dicom_series(source.with_hu(source.hu + 1), out)
    with pytest.raises(OutputError, match="already exists"):
        write_dicom_series(source, out)
    write_dicom_series(source, out, overwrite=True)
    assert len(_files(out)) == 6 and np.array_equal(read_volume(out).hu, source.hu)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct", "out"]  # no temporary left over


def test_overwrite_refuses_a_folder_holding_what_it_did_not_write(ct_series, tmp_path):
    source = read_volume(ct_series.folder)
    out = tmp_path / "out"
    write_dicom_series(source, out)
    (out / "old.txt").write_text("someone's notes")
    with pytest.raises(OutputError, match=r"holds old\.txt, which is not radiomicgan's output"):
        write_dicom_series(source, out, overwrite=True)
    assert (out / "old.txt").read_text() == "someone's notes" and len(list(out.glob("*.dcm"))) == 6


def test_an_empty_folder_made_ready_is_filled_without_overwrite(ct_series, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    write_dicom_series(read_volume(ct_series.folder), out)
    assert len(_files(out)) == 6
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # DICOM files need no marker


def test_output_in_or_around_the_input_is_refused(ct_series):
    source = read_volume(ct_series.folder)
    for out, reason in (
        (ct_series.folder, "inside the input folder"),
        (ct_series.folder / "harmonized", "inside the input folder"),
        (ct_series.folder.parent, "contains the input folder"),
    ):
        with pytest.raises(OutputError, match=reason):
            write_dicom_series(source, out, overwrite=True)
    assert len(list(ct_series.folder.iterdir())) == 6


def test_failure_leaves_nothing_behind(ct_series, tmp_path):
    source = read_volume(ct_series.folder)
    assert source.datasets is not None
    broken = [copy.deepcopy(ds) for ds in source.datasets]
    del broken[3].SOPInstanceUID
    with pytest.raises(OutputError, match="slice 3 has no SOPClassUID/SOPInstanceUID"):
        write_dicom_series(replace(source, datasets=broken), tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct"]
    previous = write_dicom_series(source, tmp_path / "out")
    before = [p.read_bytes() for p in _files(previous)]
    with pytest.raises(OutputError, match="slice 3"):
        write_dicom_series(replace(source, datasets=broken), tmp_path / "out", overwrite=True)
    assert [p.read_bytes() for p in _files(previous)] == before  # the earlier output is kept
    hu = source.hu.copy()
    hu[2, 3, 4] = np.nan
    with pytest.raises(OutputError, match="NaN"):
        write_dicom_series(source.with_hu(hu), tmp_path / "out", overwrite=True)
    assert [p.read_bytes() for p in _files(previous)] == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct", "out"]


def test_volume_without_datasets_is_refused(ct_series, tmp_path):
    source = read_volume(ct_series.folder)
    with pytest.raises(OutputError, match="new_ct_datasets"):
        write_dicom_series(replace(source, datasets=None), tmp_path / "out")


# --- writing batch by batch (dicom_series_writer) ------------------------------------------------------


def _streamed_writer(source, out, **overrides):
    arguments = {
        "positions_xyz_mm": source.slice_positions_xyz_mm(),
        "direction": source.direction,
        "spacing_zyx_mm": source.spacing_zyx_mm,
        "source_series_uid": source.meta.series_uid,
        "derivation": DERIVATION,
        "inputs": [source.source_path],
    }
    return dicom_series_writer(out, **{**arguments, **overrides})


def test_series_written_in_uneven_batches_equals_the_whole_volume_write(ct_series, tmp_path, run_dciodvfy):
    source = read_volume(ct_series.folder)
    whole = write_dicom_series(source, tmp_path / "whole", derivation=DERIVATION)
    with _streamed_writer(source, tmp_path / "streamed") as writer:
        for start, stop in ((0, 4), (4, 5), (5, 6)):
            writer.write(source.datasets[start:stop], source.hu[start:stop])
            assert writer.written == stop
    streamed = tmp_path / "streamed"
    assert [p.name for p in _files(streamed)] == [p.name for p in _files(whole)]
    assert [p.read_bytes() for p in _files(streamed)] == [p.read_bytes() for p in _files(whole)]
    errors, output = run_dciodvfy(streamed)
    assert errors == [], output


def test_streamed_series_is_all_or_nothing(ct_series, tmp_path):
    source = read_volume(ct_series.folder)
    out = tmp_path / "out"
    with pytest.raises(OutputError, match="only 5 of 6 slices"), _streamed_writer(source, out) as writer:
        writer.write(source.datasets[:5], source.hu[:5])
    with pytest.raises(OutputError, match="more than the 6 slices"), _streamed_writer(source, out) as writer:
        writer.write(source.datasets, source.hu)
        writer.write(source.datasets[:1], source.hu[:1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct"]
    previous = write_dicom_series(source, out)
    before = [p.read_bytes() for p in _files(previous)]
    for interruption in (RuntimeError("model failed"), KeyboardInterrupt()):
        with pytest.raises(type(interruption)), _streamed_writer(source, out, overwrite=True) as writer:
            writer.write(source.datasets[:3], source.hu[:3])
            raise interruption
        assert [p.read_bytes() for p in _files(previous)] == before  # the earlier output is kept
        assert sorted(p.name for p in tmp_path.iterdir()) == ["ct", "out"]  # no temporary left over


def test_streamed_writer_checks_the_output_before_writing(ct_series, tmp_path):
    source = read_volume(ct_series.folder)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "IM000001.dcm").write_bytes(b"earlier")  # an empty folder would be filled
    with pytest.raises(OutputError, match="already exists"), _streamed_writer(source, tmp_path / "out"):
        pytest.fail("the block ran although the output exists")
    with (
        pytest.raises(OutputError, match="inside the input"),
        _streamed_writer(source, ct_series.folder / "x"),
    ):
        pytest.fail("the block ran although the output lies in the input")
