"""DICOM masks written in the tests from the known labels: SEG with highdicom, RTSTRUCT with pydicom."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sr.codedict import codes
from pydicom.uid import ExplicitVRLittleEndian, RTStructureSetStorage, generate_uid
from pydicom.valuerep import format_number_as_ds
from skimage import measure

from masks.phantom import CUBE, SPHERE
from radiomicgan.io import Volume

SEGMENT_NAMES = {SPHERE: "sphere", CUBE: "cube with hole"}


def ct_datasets(folder: Path) -> list[Dataset]:
    """The CT files of a folder, read whole with pydicom, in slice order (along the normal)."""
    datasets = [pydicom.dcmread(p) for p in sorted(folder.iterdir())]
    normal = np.cross(*np.reshape(np.asarray(datasets[0].ImageOrientationPatient, dtype=float), (2, 3)))
    return sorted(datasets, key=lambda ds: float(np.dot(normal, np.asarray(ds.ImagePositionPatient, float))))


def write_seg(
    ct_folder: Path, labels: NDArray[np.int16], out: Path, *, fractions: NDArray[np.float32] | None = None
) -> Path:
    """A DICOM SEG of the sphere and the cube drawn on the series in `ct_folder`.

    Args:
        ct_folder: the CT series the SEG references.
        labels: [z, y, x] labels in slice order.
        out: the file to write.
        fractions: for a FRACTIONAL SEG, [z, y, x, 2] fractions per segment (else BINARY from labels).
    """
    sources = ct_datasets(ct_folder)
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=name,
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=codes.SCT.Neoplasm,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        )
        for number, name in SEGMENT_NAMES.items()
    ]
    binary = np.stack([labels == SPHERE, labels == CUBE], axis=-1).astype(np.uint8)
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=binary if fractions is None else fractions,
        segmentation_type="BINARY" if fractions is None else "FRACTIONAL",
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=300,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="radiomicgan tests",
        manufacturer_model_name="known mask",
        software_versions="1",
        device_serial_number="1",
    )
    seg.save_as(out)
    return out


def mask_contours(mask: NDArray[np.bool_]) -> list[NDArray[np.float64]]:
    """Closed contours (row, column) around a 2-D mask's pixels, holes included, for an RTSTRUCT.

    Marching squares at level 0.5 runs through the midpoints between inside and outside pixel
    centres, so no pixel centre lies on a contour: filling the centres inside each polygon and
    combining them even-odd gives the mask back exactly.
    """
    padded = np.pad(mask, 1).astype(np.float64)  # closes contours that touch the border
    return [contour[:-1] - 1 for contour in measure.find_contours(padded, 0.5)]


def lps_points(case_ct: Volume, slice_index: int, rows_columns: NDArray[np.float64]) -> NDArray[np.float64]:
    """Patient (LPS, mm) points of (row, column) positions on one slice of a volume, [n, 3]."""
    sz, sy, sx = case_ct.spacing_zyx_mm
    d = np.asarray(case_ct.direction)
    offsets = (
        rows_columns[:, 1:2] * sx * d[:, 0] + rows_columns[:, 0:1] * sy * d[:, 1] + slice_index * sz * d[:, 2]
    )
    return np.asarray(case_ct.origin_xyz_mm)[None, :] + offsets


def write_rtstruct(
    ct_folder: Path, contours: dict[int, list[tuple[int, NDArray[np.float64]]]], out: Path
) -> Path:
    """An RT Structure Set with one ROI per entry of `contours`, drawn on the series in `ct_folder`.

    Args:
        ct_folder: the CT series it references (study, series, frame of reference, images).
        contours: ROI number -> (slice index, LPS points [n, 3]) per closed planar contour.
        out: the file to write.
    """
    sources = ct_datasets(ct_folder)
    first = sources[0]
    ds = Dataset()
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID"):
        setattr(ds, keyword, first.get(keyword, ""))
    for keyword in ("StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber"):
        setattr(ds, keyword, first.get(keyword, ""))
    ds.FrameOfReferenceUID = first.FrameOfReferenceUID
    ds.PositionReferenceIndicator = ""
    ds.SOPClassUID = RTStructureSetStorage
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "RTSTRUCT"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 301
    ds.OperatorsName = ""
    ds.Manufacturer = "radiomicgan tests"
    ds.InstanceNumber = 1
    ds.StructureSetLabel = "known mask"
    ds.StructureSetDate = first.get("StudyDate", "")
    ds.StructureSetTime = first.get("StudyTime", "")
    ds.ReferencedFrameOfReferenceSequence = [_referenced_frame(sources)]
    ds.StructureSetROISequence = [
        _dataset(
            ROINumber=number,
            ReferencedFrameOfReferenceUID=first.FrameOfReferenceUID,
            ROIName=SEGMENT_NAMES.get(number, f"roi {number}"),
            ROIGenerationAlgorithm="MANUAL",
        )
        for number in contours
    ]
    ds.ROIContourSequence = [
        _dataset(
            ReferencedROINumber=number,
            ROIDisplayColor=[255, 0, 0],
            ContourSequence=[_contour(sources[k], points) for k, points in items],
        )
        for number, items in contours.items()
    ]
    ds.RTROIObservationsSequence = [
        _dataset(ObservationNumber=n, ReferencedROINumber=n, RTROIInterpretedType="GTV", ROIInterpreter="")
        for n in contours
    ]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.save_as(out, enforce_file_format=True)
    return out


def _dataset(**elements: object) -> Dataset:
    ds = Dataset()
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    return ds


def _image_reference(ds: Dataset) -> Dataset:
    return _dataset(ReferencedSOPClassUID=ds.SOPClassUID, ReferencedSOPInstanceUID=ds.SOPInstanceUID)


def _referenced_frame(sources: list[Dataset]) -> Dataset:
    series = _dataset(
        SeriesInstanceUID=sources[0].SeriesInstanceUID,
        ContourImageSequence=[_image_reference(ds) for ds in sources],
    )
    study = _dataset(
        ReferencedSOPClassUID="1.2.840.10008.3.1.2.3.1",  # Study Component Management, as the standard asks
        ReferencedSOPInstanceUID=sources[0].StudyInstanceUID,
        RTReferencedSeriesSequence=[series],
    )
    return _dataset(FrameOfReferenceUID=sources[0].FrameOfReferenceUID, RTReferencedStudySequence=[study])


def _contour(image: Dataset, points: NDArray[np.float64]) -> Dataset:
    return _dataset(
        ContourImageSequence=[_image_reference(image)],
        ContourGeometricType="CLOSED_PLANAR",
        NumberOfContourPoints=len(points),
        ContourData=[format_number_as_ds(float(v)) for v in points.ravel()],
    )
