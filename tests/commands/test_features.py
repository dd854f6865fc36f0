"""`radiomicgan features`: tables by suffix with PyRadiomics' names and the parameters beside them;
every bad input is one line on stderr, exit 2, nothing written."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from lesions.cases import LIGHT_3D, Ball, LesionCT, lesion_ct, with_hu, write_dicom, write_labels, write_seg
from radiomicgan.cli import main
from radiomicgan.io import Volume, write_volume

BALLS = [Ball((5.0, 6.0, 6.0), 3.0, 80.0), Ball((10.0, 17.0, 16.0), 3.5, -30.0)]


@dataclass(frozen=True)
class OnDisk:
    """A CT (NRRD) with two balls, its label volume, and light PyRadiomics parameters."""

    case: LesionCT
    ct: Path
    labels: Path
    params: Path


@pytest.fixture
def on_disk(tmp_path: Path) -> OnDisk:
    case = lesion_ct(BALLS, texture_hu=20.0)
    params = tmp_path / "light.yaml"
    params.write_text(yaml.safe_dump(LIGHT_3D), encoding="utf-8")
    ct = write_volume(case.volume, tmp_path / "ct.nrrd")
    return OnDisk(case, ct, write_labels(case, tmp_path / "labels.nrrd"), params)


def test_parquet_with_the_shipped_settings_keeps_pyradiomics_names_and_parameters(
    on_disk: OnDisk, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "features.parquet"
    argv = ["features", str(on_disk.ct), "--mask", str(on_disk.labels), "--region", "2", "--out", str(out)]
    assert main([*argv, "--jobs", "1"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    table = pd.read_parquet(out)
    assert list(table.columns[:7]) == [
        "id",
        "series",
        "series_uid",
        "mask",
        "region",
        "region_name",
        "voxel_count",
    ]
    assert {"original_firstorder_Mean", "original_shape_VoxelVolume", "wavelet-LLH_glcm_Contrast"} <= set(
        table
    )
    assert len(table.columns) == 7 + 1781 and list(table["region"]) == [2]
    metadata = json.loads(pq.read_schema(out).metadata[b"radiomicgan"])
    assert metadata["extraction"] == "3d" and metadata["settings_source"] == "radiomics_3d.yaml"
    assert metadata["pyradiomics_parameters"]["setting"]["binWidth"] == 25
    assert metadata["n_features"] == 1781 and metadata["regions"] == ["2"]


def test_csv_with_a_parameter_file_and_its_sidecar(on_disk: OnDisk, tmp_path: Path) -> None:
    out = tmp_path / "features.csv"
    argv = ["features", str(on_disk.ct), "--mask", str(on_disk.labels), "--params", str(on_disk.params)]
    assert main([*argv, "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    table = pd.read_csv(out)
    assert list(table["region"]) == [1, 2] and list(table["region_name"]) == ["label 1", "label 2"]
    assert table["original_firstorder_Mean"].to_numpy() == pytest.approx([80.0, -30.0], abs=3.0)
    metadata = json.loads((tmp_path / "features.csv.json").read_text(encoding="utf-8"))
    assert metadata["pyradiomics_parameters"] == yaml.safe_load(on_disk.params.read_text(encoding="utf-8"))
    assert metadata["settings_source"] == str(on_disk.params)


def test_a_manifest_names_series_relative_to_itself_and_labels_rows(on_disk: OnDisk, tmp_path: Path) -> None:
    manifest = tmp_path / "cohort.csv"
    manifest.write_text(f"id,series,mask\ncase-7,ct.nrrd,labels.nrrd\ncase-8,{on_disk.ct},labels.nrrd\n")
    out = tmp_path / "cohort.csv.out.parquet"
    argv = ["features", "--manifest", str(manifest), "--params", str(on_disk.params), "--region", "label 2"]
    assert main([*argv, "--out", str(out), "--jobs", "1"]) == 0
    table = pd.read_parquet(out)
    assert list(table["id"]) == ["case-7", "case-8"] and list(table["region"]) == [2, 2]
    assert table.iloc[0, 7:].equals(table.iloc[1, 7:])


def test_a_region_empty_on_the_ct_grid_is_warned_about_and_keeps_a_nan_row(
    on_disk: OnDisk, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Labels on a grid twice as fine, from the same origin: the CT's voxel centres fall on the even
    # fine voxels, so nearest-neighbour resampling keeps labels 1 and 2 exactly and loses label 3,
    # one odd fine voxel between the CT's centres.
    fine = np.repeat(np.repeat(np.repeat(on_disk.case.labels, 2, 0), 2, 1), 2, 2)
    fine[9, 9, 9] = 3
    volume = on_disk.case.volume
    spacing = (volume.spacing_zyx_mm[0] / 2, volume.spacing_zyx_mm[1] / 2, volume.spacing_zyx_mm[2] / 2)
    fine_volume = Volume(fine.astype(np.float32), spacing, volume.origin_xyz_mm, volume.direction)
    fine_labels = write_volume(fine_volume, tmp_path / "fine.nrrd")
    out = tmp_path / "f.csv"
    argv = ["features", str(on_disk.ct), "--mask", str(fine_labels), "--params", str(on_disk.params)]
    assert main([*argv, "--resample", "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    table = pd.read_csv(out)
    assert list(table["region"]) == [1, 2, 3]
    assert list(table["voxel_count"]) == [int((on_disk.case.labels == n).sum()) for n in (1, 2)] + [0]
    assert table.iloc[2, 7:].isna().all() and table.iloc[:2, 7:].notna().all().all()
    warnings = [line for line in capsys.readouterr().err.splitlines() if "WARNING" in line]
    assert len(warnings) == 1 and str(fine_labels) in warnings[0] and "region 3 (label 3)" in warnings[0]


def _other_grid(d: OnDisk, tmp: Path) -> tuple[list[str], Path, str]:
    shifted = d.case.volume.with_hu(d.case.labels.astype(np.float32))
    shifted.origin_xyz_mm = (0.0, 0.0, 0.0)
    labels = write_volume(shifted, tmp / "shifted.nrrd")
    return [str(d.ct), "--mask", str(labels)], labels, "differs from the CT's"


def _absent_region(d: OnDisk, tmp: Path) -> tuple[list[str], Path, str]:
    return [str(d.ct), "--mask", str(d.labels), "--region", "liver"], d.labels, "no region 'liver'"


def _empty_mask(d: OnDisk, tmp: Path) -> tuple[list[str], Path, str]:
    labels = write_volume(d.case.volume.with_hu(np.zeros(d.case.volume.shape, np.float32)), tmp / "zero.nrrd")
    return [str(d.ct), "--mask", str(labels)], labels, "no region"


def _manifest_missing(d: OnDisk, tmp: Path) -> tuple[list[str], Path, str]:
    manifest = tmp / "cohort.csv"
    manifest.write_text("series,mask\nct.nrrd,labels.nrrd\nct.nrrd,gone.nrrd\n")
    return (
        ["--manifest", str(manifest)],
        tmp / "gone.nrrd",
        f"mask does not exist \\(row 3 of {re.escape(str(manifest))}\\)",
    )


def _manifest_column(d: OnDisk, tmp: Path) -> tuple[list[str], Path, str]:
    manifest = tmp / "cohort.csv"
    manifest.write_text("image,mask\nct.nrrd,labels.nrrd\n")
    return ["--manifest", str(manifest)], manifest, "lacks the column\\(s\\) series"


def _missing_series(d: OnDisk, tmp: Path) -> tuple[list[str], Path, str]:
    return [str(tmp / "absent.nrrd"), "--mask", str(d.labels)], tmp / "absent.nrrd", "series does not exist"


def _seg_of_another_series(d: OnDisk, tmp: Path) -> tuple[list[str], Path, str]:
    # The SEG was drawn on one reconstruction; the CT given is another series of the same scan.
    drawn_on = write_dicom(d.case.volume, tmp / "drawn_on")
    other = with_hu(d.case, d.case.volume.hu, "another reconstruction")
    ct = write_dicom(other.volume, tmp / "other", series_number=2)
    seg = write_seg(drawn_on, d.case.labels == 1, "ball", tmp / "seg.dcm")
    return [str(ct), "--mask", str(seg)], seg, "references another series"


def _bad_suffix(d: OnDisk, tmp: Path) -> tuple[list[str], Path, str]:
    return [str(d.ct), "--mask", str(d.labels)], tmp / "out.xlsx", "unknown table format '.xlsx'"


CASES = {
    "other_grid": _other_grid,
    "absent_region": _absent_region,
    "empty_mask": _empty_mask,
    "manifest_missing_file": _manifest_missing,
    "manifest_without_column": _manifest_column,
    "missing_series": _missing_series,
    "seg_of_another_series": _seg_of_another_series,
    "bad_suffix": _bad_suffix,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    case: str, on_disk: OnDisk, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args, at_fault, problem = CASES[case](on_disk, tmp_path)
    out = tmp_path / ("out.xlsx" if case == "bad_suffix" else "out.csv")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    capsys.readouterr()
    # No --quiet: progress would log a line per series read, so one line proves nothing was read.
    code = main(["features", *args, "--params", str(on_disk.params), "--out", str(out), "--jobs", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"radiomicgan features: error: {at_fault}: "), err[0]
    assert re.search(problem, err[0]), err[0]
    assert not out.exists() and not Path(f"{out}.json").exists()
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_pairs_must_match_and_a_manifest_stands_alone(
    on_disk: OnDisk, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "out.csv")
    assert (
        main(["features", str(on_disk.ct), str(on_disk.ct), "--mask", str(on_disk.labels), "--out", out]) == 2
    )
    assert "2 series but 1 mask(s)" in capsys.readouterr().err
    manifest = tmp_path / "m.csv"
    manifest.write_text("series,mask\nct.nrrd,labels.nrrd\n")
    assert main(["features", str(on_disk.ct), "--manifest", str(manifest), "--out", out]) == 2
    assert "not both" in capsys.readouterr().err
    assert not Path(out).exists()


def test_an_existing_table_is_not_replaced(
    on_disk: OnDisk, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "features.csv"
    out.write_text("mine\n")
    assert main(["features", str(on_disk.ct), "--mask", str(on_disk.labels), "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err and out.read_text() == "mine\n"
