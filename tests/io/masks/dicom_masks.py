"""DICOM masks written in the tests from the known labels: SEG with highdicom, RTSTRUCT with pydicom."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from masks.phantom import CUBE, SPHERE

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
