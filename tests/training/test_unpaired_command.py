"""`radiomicgan train --unpaired`: bad input is one line naming the series, exit 2, nothing written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest

from radiomicgan.cli import main
from training.pairs import Scan, tiny_config_yaml


def _run(capsys: pytest.CaptureFixture[str], run: Path, args: list[str], *words: str) -> None:
    assert main(["train", "--unpaired", *args, "--out", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("radiomicgan train: error: "), err
    for word in words:
        assert word in err, err
    assert not run.exists()


def test_a_source_without_a_target(scan: Scan, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(capsys, tmp_path / "run", ["--source", str(scan.source)], "unpaired training needs", "--target")
    _run(capsys, tmp_path / "run", ["--target", str(scan.target)], "unpaired training needs", "--source")


def test_a_series_that_is_not_ct(scan: Scan, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mr = tmp_path / "mr"
    shutil.copytree(scan.target, mr)
    for path in mr.iterdir():
        dataset = pydicom.dcmread(path)
        dataset.Modality = "MR"
        dataset.save_as(path)
    _run(
        capsys, tmp_path / "run", ["--source", str(scan.source), "--target", str(mr)], str(mr), "no CT series"
    )


def test_target_series_of_different_kernels(
    scan: Scan, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    series = ["--source", str(scan.source), "--target", str(scan.target), "--target", str(scan.source)]
    _run(capsys, tmp_path / "run", series, str(scan.source), "kernel SMOOTH differs from SHARP")


def test_a_method_that_needs_pairs(scan: Scan, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    series = ["--source", str(scan.source), "--target", str(scan.target)]
    _run(
        capsys,
        tmp_path / "run",
        [*series, "--model", "pix2pix"],
        "pix2pix trains on paired scans",
        "cyclegan",
    )
    _run(capsys, tmp_path / "run", [*series, "--prefilter", "wiener"], "Wiener prefilter is fitted on pairs")


def test_unpaired_in_the_config_file_trains_the_unpaired_default(scan: Scan, tmp_path: Path) -> None:
    config = tiny_config_yaml(tmp_path / "tiny.yaml")
    config.write_text(config.read_text() + "unpaired: true\nepochs: 1\nsteps_per_epoch: 1\n")
    run = tmp_path / "run"
    args = ["train", "--config", str(config), "--source", str(scan.source), "--target", str(scan.target)]
    assert main([*args, "--out", str(run), "--quiet"]) == 0
    saved = (run / "config.yaml").read_text()
    assert "method: spectral" in saved and "unpaired: true" in saved
