"""Small CTs with known lesions: balls of chosen radius and density in a soft-tissue background.

Every CT is integer HU (so DICOM, NRRD and NIfTI hold the same values) with an identity direction
and a known origin; its label volume (0 background, 1.. one per ball) shares its grid exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.sr.codedict import codes
from scipy import ndimage

from radiomicgan.io import (
    SeriesMeta,
    Volume,
    deterministic_uid,
    new_ct_datasets,
    write_dicom_series,
    write_volume,
)


@dataclass(frozen=True)
class Ball:
    """A lesion: centre (z, y, x) in mm from voxel [0, 0, 0]'s centre, radius in mm, mean HU."""

    centre_zyx_mm: tuple[float, float, float]
    radius_mm: float
    hu: float

    def mask(
        self, shape: tuple[int, int, int], spacing_zyx_mm: tuple[float, float, float]
    ) -> NDArray[np.bool_]:
        """The voxels whose centre lies in the ball."""
        axes = [
            np.arange(n) * s - c for n, s, c in zip(shape, spacing_zyx_mm, self.centre_zyx_mm, strict=True)
        ]
        z, y, x = np.meshgrid(*axes, indexing="ij")
        return np.asarray(z**2 + y**2 + x**2 <= self.radius_mm**2)


@dataclass(frozen=True)
class LesionCT:
    """A CT in memory and its label volume [z, y, x] (int16, 0 = background, ball i is label i + 1)."""

    volume: Volume
    labels: NDArray[np.int16]


def lesion_ct(
    balls: list[Ball],
    *,
    shape: tuple[int, int, int] = (16, 48, 48),
    spacing_zyx_mm: tuple[float, float, float] = (1.0, 0.5, 0.5),
    background_hu: float = 40.0,
    texture_hu: float = 0.0,
    noise_hu: float = 5.0,
    seed: int = 0,
    uid_seed: str = "lesion-ct",
) -> LesionCT:
    """A CT of balls in a background (smooth texture of `texture_hu` SD plus white noise), integer HU."""
    rng = np.random.default_rng(seed)
    hu = np.full(shape, background_hu)
    if texture_hu:
        texture = ndimage.gaussian_filter(rng.normal(0.0, 1.0, shape), 1.5)
        hu += texture / texture.std() * texture_hu
    labels = np.zeros(shape, dtype=np.int16)
    for number, ball in enumerate(balls, start=1):
        inside = ball.mask(shape, spacing_zyx_mm)
        hu[inside] = ball.hu + (hu[inside] - background_hu)  # the lesion keeps the texture, moved
        labels[inside] = number
    hu = np.round(hu + rng.normal(0.0, noise_hu, shape)) if noise_hu else np.round(hu)
    meta = SeriesMeta(
        study_uid=deterministic_uid(uid_seed, "study"),
        frame_of_reference_uid=deterministic_uid(uid_seed, "frame"),
        series_uid=deterministic_uid(uid_seed, "series"),
        kernel="B30f",
        description="lesion phantom",
    )
    volume = Volume(hu.astype(np.float32), spacing_zyx_mm, origin_xyz_mm=(-12.0, -12.0, 30.0), meta=meta)
    return LesionCT(volume, labels)


def with_hu(case: LesionCT, hu: NDArray[np.floating], uid_seed: str) -> LesionCT:
    """The same grid and labels with other values (a candidate reconstruction of the same scan)."""
    meta = replace(case.volume.meta, series_uid=deterministic_uid(uid_seed, "series"))
    return replace(case, volume=case.volume.with_hu(np.round(hu).astype(np.float32), meta=meta))


def write_dicom(volume: Volume, folder: Path, series_number: int = 1) -> Path:
    """The CT as a DICOM series (one file per slice) in `folder`."""
    datasets = new_ct_datasets(
        volume,
        patient_name="Phantom^Lesion",
        patient_id="PHANTOM",
        study_description="lesion phantom",
        series_description=volume.meta.description or "lesion phantom",
        series_number=series_number,
        kernel=volume.meta.kernel or "B30f",
    )
    return write_dicom_series(replace(volume, datasets=datasets), folder)


def write_labels(case: LesionCT, path: Path) -> Path:
    """The label volume as a NRRD or NIfTI file (by suffix) on the CT's grid."""
    labels = case.volume.with_hu(case.labels.astype(np.float32))
    return write_volume(replace(labels, datasets=None, source_format="memory"), path)


# Original image only, a few feature classes: the extraction's logic at a fraction of the cost.
LIGHT_3D = {
    "setting": {"binWidth": 25, "label": 1, "additionalInfo": False},
    "imageType": {"Original": {}},
    "featureClass": {"firstorder": None, "shape": None, "glcm": None},
}


def crop(volume: Volume, box: tuple[slice, slice, slice]) -> Volume:
    """The volume inside a [z, y, x] box, its origin moved to the box's first voxel."""
    step_xyz = np.array([box[2].start, box[1].start, box[0].start]) * np.array(volume.spacing_zyx_mm[::-1])
    origin = np.asarray(volume.origin_xyz_mm) + np.asarray(volume.direction) @ step_xyz
    return replace(
        volume,
        hu=np.ascontiguousarray(volume.hu[box]),
        origin_xyz_mm=(float(origin[0]), float(origin[1]), float(origin[2])),
        datasets=None,
    )


def write_seg(ct_folder: Path, mask: NDArray[np.bool_], name: str, out: Path) -> Path:
    """A binary DICOM SEG (highdicom) of one segment drawn on the series in `ct_folder`.

    Args:
        ct_folder: the CT series the SEG references (its files only).
        mask: [z, y, x] in slice order, as `read_volume` gives the series.
        name: the SegmentLabel.
        out: the file to write.
    """
    datasets = [pydicom.dcmread(path) for path in sorted(ct_folder.iterdir())]
    normal = np.cross(*np.reshape(np.asarray(datasets[0].ImageOrientationPatient, dtype=float), (2, 3)))
    datasets.sort(key=lambda ds: float(np.dot(normal, np.asarray(ds.ImagePositionPatient, dtype=float))))
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label=name,
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )
    seg = hd.seg.Segmentation(
        source_images=datasets,
        pixel_array=mask.astype(np.uint8),
        segmentation_type="BINARY",
        segment_descriptions=[description],
        series_instance_uid=hd.UID(),
        series_number=300,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="radiomicgan tests",
        manufacturer_model_name="lesion mask",
        software_versions="1",
        device_serial_number="1",
    )
    seg.save_as(out)
    return out


@dataclass(frozen=True)
class Cohort:
    """A simulated cohort on disk: its manifest, and each case's reference labels."""

    manifest: Path
    labels: list[NDArray[np.int16]]


def nodule_cohort(
    folder: Path,
    chests: list[NDArray[np.float32]],
    *,
    spacing_zyx_mm: tuple[float, float, float] = (2.0, 0.8, 0.8),
    seed: int = 0,
) -> Cohort:
    """Cases of chests with two nodules each (radius 3-6 mm, -50 to 150 HU), a faithful candidate
    (reference + 5 HU noise) and a degraded one (blurred, + 60 HU noise), all NRRD, and the manifest.

    Args:
        folder: where the files and cohort.csv go (paths in the manifest are relative to it).
        chests: [z, y, x] background volumes in HU, one per case.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows, labels = ["id,reference,mask,candidate:faithful,candidate:degraded"], []
    for number, chest in enumerate(chests, start=1):
        z, y, x = (np.asarray(chest.shape) - 1) * np.asarray(spacing_zyx_mm)
        balls = [
            Ball((z / 2, y * f, x * g), float(rng.uniform(3.0, 6.0)), float(rng.uniform(-50.0, 150.0)))
            for f, g in ((0.35, 0.4), (0.6, 0.65))
        ]
        case = lesion_ct(
            balls, shape=chest.shape, spacing_zyx_mm=spacing_zyx_mm, noise_hu=0.0, uid_seed=f"c{number}"
        )
        hu = chest.astype(np.float64)
        for label, ball in enumerate(balls, start=1):
            hu[case.labels == label] = ball.hu + rng.normal(0.0, 10.0, int((case.labels == label).sum()))
        reference = with_hu(case, hu, f"c{number}-reference")
        faithful = hu + rng.normal(0.0, 5.0, hu.shape)
        degraded = ndimage.gaussian_filter(hu, 1.5) + rng.normal(0.0, 60.0, hu.shape)
        names = [f"case{number}_{kind}.nrrd" for kind in ("reference", "faithful", "degraded")]
        write_volume(reference.volume, folder / names[0])
        write_volume(with_hu(case, faithful, f"c{number}-faithful").volume, folder / names[1])
        write_volume(with_hu(case, degraded, f"c{number}-degraded").volume, folder / names[2])
        write_labels(case, folder / f"case{number}_mask.nrrd")
        rows.append(f"PATIENT-{number:03d},{names[0]},case{number}_mask.nrrd,{names[1]},{names[2]}")
        labels.append(case.labels)
    manifest = folder / "cohort.csv"
    manifest.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return Cohort(manifest, labels)


def chest(slices: int, size: int, seed: int) -> NDArray[np.float32]:
    """[z, y, x] chest in HU: air, a textured soft-tissue body, two lungs and a spine, with noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size] / size

    def ellipse(cy: float, cx: float, ry: float, rx: float) -> NDArray[np.bool_]:
        return np.asarray(((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1.0)

    body, spine = ellipse(0.5, 0.5, 0.42, 0.47), ellipse(0.8, 0.5, 0.06, 0.06)
    lungs = ellipse(0.5, 0.3, 0.28, 0.13) | ellipse(0.5, 0.7, 0.28, 0.13)
    texture = ndimage.gaussian_filter(rng.normal(0.0, 1.0, (slices, size, size)), 2.0) * 250.0
    hu = np.full((slices, size, size), -1000.0)
    hu[:, body] = 40.0 + 0.4 * texture[:, body]
    hu[:, lungs] = -650.0 + texture[:, lungs]
    hu[:, spine] = 600.0 + 0.5 * texture[:, spine]
    return (hu + rng.normal(0.0, 15.0, hu.shape)).astype(np.float32)
