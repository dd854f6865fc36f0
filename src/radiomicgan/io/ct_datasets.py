"""Build CT Image Storage datasets from scratch, for volumes that never were DICOM.

The simulator makes volumes from a phantom or a NRRD; to hand them to DICOM tools they need every
attribute the CT Image IOD requires (PS3.3 A.3). The datasets hold no pixel data:
`write_dicom_series` encodes the volume's HU into each slice.
"""

from __future__ import annotations

import copy

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage

from radiomicgan.io.convolution_kernel import kernel_values
from radiomicgan.io.dicom_geometry import ds_strings
from radiomicgan.io.uids import instance_uid
from radiomicgan.io.volume import Volume

_SH_MAX = 16  # characters in a SH value (ConvolutionKernel)
_IS_RANGE = (-(2**31), 2**31 - 1)


def new_ct_datasets(
    volume: Volume,
    *,
    patient_name: str,
    patient_id: str,
    study_description: str,
    series_description: str,
    series_number: int,
    kernel: str,
    manufacturer: str = "radiomicgan simulator",
    study_date: str = "20000101",
    study_time: str = "120000",
    body_part: str = "CHEST",
) -> list[Dataset]:
    """One complete CT Image Storage dataset per slice (without pixel data), in slice order.

    Everything is deterministic: UIDs come from `volume.meta` (SOPInstanceUIDs are hashed from the
    series UID and the slice index) and dates are the given constants, never today's.

    Args:
        volume: the volume; its `meta` must carry study, frame of reference and series UIDs.
        patient_name: PatientName (e.g. "Phantom^Chest").
        patient_id: PatientID.
        study_description: StudyDescription.
        series_description: SeriesDescription.
        series_number: SeriesNumber.
        kernel: ConvolutionKernel, values joined by '\\' (Siemens: "Br40d\\3"), each at most 16
            characters.
        manufacturer: Manufacturer.
        study_date: StudyDate, also used for series, acquisition and content dates (YYYYMMDD).
        study_time: StudyTime and the other times (HHMMSS).
        body_part: BodyPartExamined; an unpaired part, so Laterality is rightly absent.

    Returns:
        Datasets ready for `Volume.datasets`; `write_dicom_series` adds the pixels.

    Raises:
        ValueError: a UID is missing from `volume.meta`, a kernel value is too long, or the series
            number is out of the IS range.
    """
    meta = volume.meta
    for name, uid in (
        ("study_uid", meta.study_uid),
        ("frame_of_reference_uid", meta.frame_of_reference_uid),
        ("series_uid", meta.series_uid),
    ):
        if not uid:
            raise ValueError(f"new_ct_datasets: volume.meta.{name} must be set")
    kernel_parts = kernel_values(kernel)
    if any(len(part) > _SH_MAX for part in kernel_parts):
        raise ValueError(f"new_ct_datasets: kernel {kernel!r} has a value of more than {_SH_MAX} characters")
    if not _IS_RANGE[0] <= series_number <= _IS_RANGE[1]:
        raise ValueError(f"new_ct_datasets: series number {series_number} is outside the IS range")
    texts = (patient_name, patient_id, study_description, series_description, manufacturer)
    common = Dataset()
    if not all(text.isascii() for text in texts):
        common.SpecificCharacterSet = "ISO_IR 192"  # UTF-8
    _patient_and_study(common, patient_name, patient_id, study_description, study_date, study_time)
    _series_and_equipment(common, volume, series_description, series_number, manufacturer, kernel_parts)
    common.BodyPartExamined = body_part
    return [_slice(common, volume, z) for z in range(volume.shape[0])]


def _patient_and_study(
    ds: Dataset, patient_name: str, patient_id: str, study_description: str, date: str, time: str
) -> None:
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyDate = date
    ds.StudyTime = time
    ds.ReferringPhysicianName = ""
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.StudyDescription = study_description
    ds.SeriesDate = date
    ds.SeriesTime = time
    ds.AcquisitionDate = date
    ds.AcquisitionTime = time
    ds.ContentDate = date
    ds.ContentTime = time


def _series_and_equipment(
    ds: Dataset,
    volume: Volume,
    description: str,
    number: int,
    manufacturer: str,
    kernel: tuple[str, ...],
) -> None:
    ds.SOPClassUID = CTImageStorage
    ds.StudyInstanceUID = volume.meta.study_uid
    ds.SeriesInstanceUID = volume.meta.series_uid
    ds.FrameOfReferenceUID = volume.meta.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.Modality = "CT"
    ds.SeriesNumber = number
    ds.SeriesDescription = description
    ds.PatientPosition = "HFS"  # type 2C for CT: required; the simulated patient lies head first supine
    ds.Manufacturer = manufacturer
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.AcquisitionNumber = 1
    ds.KVP = "120"
    ds.ConvolutionKernel = list(kernel) if len(kernel) > 1 else "".join(kernel)  # VM 1-n
    ds.SliceThickness = ds_strings([volume.spacing_zyx_mm[0]])[0]
    direction = np.asarray(volume.direction, dtype=np.float64)
    ds.ImageOrientationPatient = ds_strings([*direction[:, 0], *direction[:, 1]])
    ds.PixelSpacing = ds_strings([volume.spacing_zyx_mm[1], volume.spacing_zyx_mm[2]])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = volume.shape[1], volume.shape[2]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.WindowCenter = "40"  # a soft-tissue window, so viewers open the series readably
    ds.WindowWidth = "400"
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"


def _slice(common: Dataset, volume: Volume, z: int) -> Dataset:
    ds = copy.deepcopy(common)  # no element shared between slices: editing one must not edit all
    position = volume.slice_positions_xyz_mm()[z]
    normal = np.asarray(volume.direction, dtype=np.float64)[:, 2]
    ds.SOPInstanceUID = instance_uid(volume.meta.series_uid, z)
    ds.InstanceNumber = z + 1
    ds.ImagePositionPatient = ds_strings(position)
    ds.SliceLocation = ds_strings([float(position @ normal)])[0]
    return ds
