"""Features of labelled regions (`region_features`, `regions`): known balls against analytic values,
the same CT as DICOM and NRRD, parallel against serial, empty and unmeasurable regions, per slice."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from lesions.cases import LIGHT_3D, Ball, crop, lesion_ct, write_dicom, write_labels, write_seg
from radiomicgan.config import RegionFeatureConfig
from radiomicgan.errors import ConfigError, InputError
from radiomicgan.evaluate.features import extract_features
from radiomicgan.evaluate.region_features import IDENTITY_COLUMNS, region_features
from radiomicgan.evaluate.region_inputs import SeriesMask
from radiomicgan.evaluate.regions import crop_box, margin_voxels
from radiomicgan.evaluate.settings import load_settings
from radiomicgan.io import SeriesMeta, deterministic_uid, read_volume, write_volume

LIGHT_2D = {
    "setting": {"binWidth": 25, "label": 1, "force2D": False, "additionalInfo": False},
    "imageType": {"Original": {}},
    "featureClass": {"firstorder": None, "shape2D": None},
}


@pytest.fixture(scope="module")
def light(tmp_path_factory: pytest.TempPathFactory) -> RegionFeatureConfig:
    path = tmp_path_factory.mktemp("params") / "light3d.yaml"
    path.write_text(yaml.safe_dump(LIGHT_3D), encoding="utf-8")
    return RegionFeatureConfig(settings_path=str(path), jobs=1)


def _on_disk(tmp_path: Path, balls: list[Ball], **kwargs: object) -> tuple[SeriesMask, np.ndarray]:
    case = lesion_ct(balls, **kwargs)  # type: ignore[arg-type]
    ct = write_volume(case.volume, tmp_path / "ct.nrrd")
    return SeriesMask(ct, write_labels(case, tmp_path / "labels.nrrd")), case.volume.hu


def test_a_ball_measures_its_analytic_volume_diameter_and_hu(
    tmp_path: Path, light: RegionFeatureConfig
) -> None:
    # A 7 mm ball on a CT-like grid (1 mm slices, 0.5 mm pixels), its centre off the voxel grid.
    radius, hu = 7.0, 60.0
    pair, image = _on_disk(
        tmp_path, [Ball((11.7, 10.2, 9.85), radius, hu)], shape=(24, 40, 40), background_hu=-700.0
    )
    row = region_features([pair], light).table.iloc[0]
    volume = 4.0 / 3.0 * np.pi * radius**3
    # Over 40 random placements of this ball's centre, the voxel count missed the analytic volume by
    # at most 0.6 % and the marching-cubes mesh by at most 0.94 % (the lattice's discrepancy at a
    # radius of 14 pixels): 1.5 % holds every placement, and a wrong spacing misses by far more.
    assert row["original_shape_VoxelVolume"] == pytest.approx(volume, rel=0.015)
    assert row["original_shape_MeshVolume"] == pytest.approx(volume, rel=0.015)
    assert row["voxel_count"] * 1.0 * 0.5 * 0.5 == pytest.approx(row["original_shape_VoxelVolume"])
    # The mesh reaches half a voxel beyond the outermost centres: at most one slice (1 mm) longer.
    assert 2 * radius <= row["original_shape_Maximum3DDiameter"] <= 2 * radius + 1.0
    inside = image[lesion_ct([Ball((11.7, 10.2, 9.85), radius, hu)], shape=(24, 40, 40)).labels == 1]
    assert row["original_firstorder_Mean"] == pytest.approx(float(np.mean(inside)), abs=1e-3)
    assert row["original_firstorder_Mean"] == pytest.approx(hu, abs=1.0)  # noise SD 5 HU over ~1,400 voxels
    assert list(row.index[: len(IDENTITY_COLUMNS)]) == list(IDENTITY_COLUMNS)
    assert (row["region"], row["region_name"], row["series_uid"]) == (1, "label 1", "")


def test_dicom_and_nrrd_of_one_ct_give_the_same_rows_with_the_shipped_settings(tmp_path: Path) -> None:
    case = lesion_ct(
        [Ball((5.0, 6.0, 6.0), 3.0, 80.0), Ball((10.0, 17.0, 16.0), 4.0, -20.0)], texture_hu=30.0
    )
    labels = write_labels(case, tmp_path / "labels.nrrd")
    dicom = write_dicom(case.volume, tmp_path / "dicom")
    nrrd = write_volume(case.volume, tmp_path / "ct.nrrd")
    config = RegionFeatureConfig(jobs=1)
    table = region_features([SeriesMask(dicom, labels), SeriesMask(nrrd, labels)], config).table
    assert len(table.columns) == len(IDENTITY_COLUMNS) + 1781
    assert {"wavelet-LLH_glcm_Contrast", "log-sigma-5-0-mm-3D_firstorder_Mean"} <= set(table.columns)
    from_dicom, from_nrrd = table.iloc[:2], table.iloc[2:]
    assert list(from_dicom["series_uid"]) == [case.volume.meta.series_uid] * 2
    assert list(from_nrrd["series_uid"]) == ["", ""]
    same = table.columns.drop(["series", "series_uid"])
    pd.testing.assert_frame_equal(
        from_dicom[same].reset_index(drop=True), from_nrrd[same].reset_index(drop=True)
    )
    assert from_dicom.iloc[:, len(IDENTITY_COLUMNS) :].notna().all().all()


@pytest.mark.slow  # spawns two workers: each imports radiomicgan.evaluate (torch included), ~10 s here
def test_parallel_extraction_equals_serial(tmp_path: Path, light: RegionFeatureConfig) -> None:
    balls = [
        Ball((4.0, 6.0, 6.0), 2.5, 90.0),
        Ball((8.0, 16.0, 8.0), 3.0, 20.0),
        Ball((11.0, 8.0, 17.0), 3.5, -40.0),
    ]
    pair, _ = _on_disk(tmp_path, balls, texture_hu=40.0)
    serial = region_features([pair, pair], light).table
    parallel = region_features(
        [pair, pair], RegionFeatureConfig(settings_path=light.settings_path, jobs=2)
    ).table
    pd.testing.assert_frame_equal(serial, parallel)
    assert list(serial["region"]) == [1, 2, 3, 1, 2, 3]


def test_regions_are_chosen_by_name_or_number_and_an_absent_one_is_refused(
    tmp_path: Path, light: RegionFeatureConfig
) -> None:
    pair, _ = _on_disk(tmp_path, [Ball((5.0, 6.0, 6.0), 3.0, 80.0), Ball((10.0, 17.0, 16.0), 3.0, 0.0)])
    chosen = RegionFeatureConfig(settings_path=light.settings_path, jobs=1, regions=("2", "label 1"))
    assert list(region_features([pair], chosen).table["region"]) == [2, 1]
    absent = RegionFeatureConfig(settings_path=light.settings_path, jobs=1, regions=("liver",))
    with pytest.raises(InputError, match="no region 'liver'") as caught:
        region_features([pair], absent)
    assert caught.value.path == pair.mask


def test_a_region_pyradiomics_cannot_measure_keeps_a_nan_row_and_is_warned_about(
    tmp_path: Path, light: RegionFeatureConfig, caplog: pytest.LogCaptureFixture
) -> None:
    case = lesion_ct([Ball((5.0, 6.0, 6.0), 3.0, 80.0)])
    case.labels[12, 20, 20] = 2  # a single voxel: PyRadiomics refuses it
    ct = write_volume(case.volume, tmp_path / "ct.nrrd")
    pair = SeriesMask(ct, write_labels(case, tmp_path / "labels.nrrd"))
    with caplog.at_level(logging.WARNING, logger="radiomicgan"):
        table = region_features([pair], light).table
    assert list(table["voxel_count"]) == [int((case.labels == 1).sum()), 1]
    assert table.iloc[0, len(IDENTITY_COLUMNS) :].notna().all()
    assert table.iloc[1, len(IDENTITY_COLUMNS) :].isna().all()
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and str(pair.mask) in warned[0] and "region 2 (label 2)" in warned[0]


def test_a_mask_with_no_voxel_of_the_chosen_regions_is_refused(
    tmp_path: Path, light: RegionFeatureConfig
) -> None:
    case = lesion_ct([Ball((5.0, 6.0, 6.0), 3.0, 80.0)])
    ct = write_volume(case.volume, tmp_path / "ct.nrrd")
    empty = case.volume.with_hu(np.zeros(case.volume.shape, dtype=np.float32))
    labels = write_volume(empty, tmp_path / "empty.nrrd")
    with pytest.raises(InputError) as caught:
        region_features([SeriesMask(ct, labels)], light)
    assert caught.value.path == labels


def test_per_slice_rows_are_the_random_box_protocol_on_each_slice(tmp_path: Path) -> None:
    params = tmp_path / "light2d.yaml"
    params.write_text(yaml.safe_dump(LIGHT_2D), encoding="utf-8")
    case = lesion_ct([Ball((8.0, 12.0, 12.0), 3.2, 70.0)], texture_hu=30.0)
    ct = write_volume(case.volume, tmp_path / "ct.nrrd")
    pair = SeriesMask(ct, write_labels(case, tmp_path / "labels.nrrd"))
    config = RegionFeatureConfig(settings_path=str(params), per_slice=True, jobs=1)
    table = region_features([pair], config).table
    touched = np.flatnonzero((case.labels == 1).any(axis=(1, 2)))
    assert list(table["slice"]) == list(touched)
    assert list(table["voxel_count"]) == [int((case.labels[z] == 1).sum()) for z in touched]
    assert (
        "original_shape2D_PixelSurface" in table.columns and "original_shape_VoxelVolume" not in table.columns
    )
    # Each row is `extract_features` of that slice's box: the evaluation's own 2-D extraction.
    settings = load_settings(params)
    z = int(touched[len(touched) // 2])
    box = crop_box(case.labels[z : z + 1] == 1, margin_voxels(settings, case.volume.spacing_zyx_mm, config))
    expected = extract_features(
        case.volume.hu[z][box[1:]], (case.labels[z] == 1)[box[1:]], (0.5, 0.5), settings
    )
    row = table[table["slice"] == z].iloc[0]
    assert row[list(expected)].to_numpy(dtype=float) == pytest.approx(list(expected.values()))


def test_settings_of_the_other_kind_are_refused(tmp_path: Path) -> None:
    params = tmp_path / "light2d.yaml"
    params.write_text(yaml.safe_dump(LIGHT_2D), encoding="utf-8")
    with pytest.raises(ConfigError, match="shape2D"):
        region_features([], RegionFeatureConfig(settings_path=str(params)))


LUNG1 = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.mark.slow  # reads the 512 x 512 x 48 CT and writes DICOM and a SEG: ~5 s
@pytest.mark.skipif(
    not (LUNG1 / "lung1_label.nrrd").is_file(),
    reason="the shared lung CT (../shared/data/lung1_*.nrrd) is absent: a user's clone has no ../shared",
)
def test_the_lung_tumour_from_its_nrrd_mask_and_from_a_seg_gives_the_same_row(
    tmp_path: Path, light: RegionFeatureConfig
) -> None:
    # The real chest CT around its tumour (4 slices and 2 cm beyond it), written as DICOM; its
    # tumour mask as a NRRD label volume and as a DICOM SEG made by highdicom from the same voxels.
    image, labels = read_volume(LUNG1 / "lung1_image.nrrd"), read_volume(LUNG1 / "lung1_label.nrrd")
    found = np.nonzero(labels.hu > 0)
    margins = (4, 36, 36)
    box = tuple(
        slice(max(0, int(f.min()) - m), min(n, int(f.max()) + m + 1))
        for f, m, n in zip(found, margins, image.shape, strict=True)
    )
    meta = SeriesMeta(
        *(deterministic_uid("lung1", part) for part in ("study", "frame", "series")), kernel="B30f"
    )
    ct = replace(crop(image, box), meta=meta)  # type: ignore[arg-type]
    tumour = crop(labels, box)  # type: ignore[arg-type]
    dicom = write_dicom(ct, tmp_path / "ct")
    nrrd_mask = write_volume(replace(tumour, meta=SeriesMeta()), tmp_path / "tumour.nrrd")
    seg = write_seg(dicom, tumour.hu > 0, "tumour", tmp_path / "tumour_seg.dcm")
    table = region_features([SeriesMask(dicom, nrrd_mask), SeriesMask(dicom, seg)], light).table
    assert list(table["voxel_count"]) == [837, 837]
    assert list(table["region_name"]) == ["label 1", "tumour"]
    same = table.columns.drop(["mask", "region_name"])
    pd.testing.assert_frame_equal(
        table.iloc[:1][same].reset_index(drop=True), table.iloc[1:][same].reset_index(drop=True)
    )
    assert table.iloc[:, len(IDENTITY_COLUMNS) :].notna().all().all()
