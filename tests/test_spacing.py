"""A series' pixel spacing against the model's (spacing.py): the check, resampling, the model file's
record of the training geometry, and `harmonize` on series of other spacings (issue 15, item 3)."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from radiomicgan.cli import main
from radiomicgan.config import SpacingTolerance
from radiomicgan.errors import InputError, PairingError
from radiomicgan.inference import HarmonizeConfig, Harmonizer
from radiomicgan.io import Volume, new_ct_datasets, read_volume, write_volume
from radiomicgan.modelfile import read_metadata
from radiomicgan.spacing import TrainingGeometry, check_spacing, resample_slices, spacing_ratio
from radiomicgan.training.data import load_paired_slices
from training.pairs import TINY_MODEL, Scan, scan_volumes, train_tiny

MODEL_MM = (0.8, 0.8)  # the pixel spacing of training.pairs' scans


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # the machine's two cores are shared


@pytest.fixture(scope="module")
def run_dir(scan: Scan, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "run"
    train_tiny(scan, run, model=replace(TINY_MODEL, prefilter="wiener"))
    return run


def _rewritten_at(volume: Volume, pixel_mm: float, folder: Path, name: str) -> Path:
    """The volume written as a new series whose pixels are `pixel_mm` wide (same array)."""
    moved = replace(volume, spacing_zyx_mm=(volume.spacing_zyx_mm[0], pixel_mm, pixel_mm), datasets=None)
    moved.datasets = new_ct_datasets(
        moved, patient_name="Test^Spacing", patient_id="SPACING01", study_description="spacing",
        series_description=name,
        series_number=7, kernel=volume.meta.kernel,
    )  # fmt: skip
    return write_volume(moved, folder / name)


def test_ratio_is_the_series_pixel_over_the_models() -> None:
    assert spacing_ratio((0.66, 0.66), (1.41, 1.41)) == pytest.approx(0.468, abs=1e-3)
    assert spacing_ratio((1.0, 0.5), (0.5, 1.0)) == pytest.approx(1.0)


def test_check_passes_close_warns_beyond_the_first_threshold_refuses_beyond_the_second(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tolerance = SpacingTolerance()
    where = Path("series")
    with caplog.at_level(logging.WARNING, logger="radiomicgan"):
        check_spacing(where, (0.88, 0.88), MODEL_MM)  # 10 %: routine, must keep working quietly
        assert not caplog.records
        warn_mm = MODEL_MM[0] * (tolerance.warn + tolerance.refuse) / 2
        check_spacing(where, (warn_mm, warn_mm), MODEL_MM)
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert "0.80 mm" in message and f"{warn_mm:.2f} mm" in message
    far_mm = MODEL_MM[0] / (tolerance.refuse + 0.05)
    with pytest.raises(InputError, match=r"0\.80 mm.*--resample.*--force"):
        check_spacing(where, (far_mm, far_mm), MODEL_MM)
    assert not check_spacing(where, (far_mm, far_mm), MODEL_MM, force=True)
    assert check_spacing(where, (far_mm, far_mm), MODEL_MM, resample=True)
    assert not check_spacing(where, (far_mm, far_mm), None)  # an older model file: nothing to check


def test_resampling_keeps_the_field_of_view_and_a_smooth_image() -> None:
    y, x = np.mgrid[:64, :64]
    smooth = (100.0 * np.sin(x / 9.0) * np.cos(y / 11.0)).astype(np.float32)[None]
    coarse = resample_slices(smooth, (0.5, 0.5), (1.0, 1.0))
    assert coarse.shape == (1, 32, 32)
    back = resample_slices(coarse, (1.0, 1.0), (0.5, 0.5), shape=(64, 64), fill_hu=0.0)
    inner = (slice(None), slice(8, -8), slice(8, -8))
    assert np.abs(back[inner] - smooth[inner]).max() < 5.0  # HU, on a signal of +-100 HU
    assert np.abs(resample_slices(smooth, (0.5, 0.5), (0.5, 0.5)) - smooth).max() < 1e-3


def test_model_file_records_the_training_geometry(run_dir: Path, scan: Scan) -> None:
    geometry = read_metadata(run_dir).training_geometry
    assert isinstance(geometry, TrainingGeometry)
    assert geometry.pixel_spacing_mm == pytest.approx(MODEL_MM)
    assert geometry.slice_spacing_mm == pytest.approx(read_volume(scan.source).spacing_zyx_mm[0])
    assert geometry.field_of_view_mm == pytest.approx((48 * 0.8, 48 * 0.8))


def test_training_pairs_of_far_apart_spacings_are_refused(tmp_path: Path, scan: Scan) -> None:
    source, target = scan_volumes(seed=1, name="coarse")
    coarse = {}
    for kind, volume in (("smooth", source), ("sharp", target)):
        coarse[kind] = _rewritten_at(volume, 1.2, tmp_path, kind)
    with pytest.raises(PairingError, match=r"pixel spacing 1\.20 mm differs.*0\.80 mm"):
        load_paired_slices([(scan.source, scan.target), (coarse["smooth"], coarse["sharp"])])


def test_harmonize_refuses_a_series_of_half_the_pixel_size_in_one_line(
    run_dir: Path, scan: Scan, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    series = _rewritten_at(read_volume(scan.source), 0.4, tmp_path / "in", "fine")
    before = sorted(p.read_bytes() for p in series.iterdir())
    capsys.readouterr()  # what writing the series logged
    code = main(["harmonize", "--model", str(run_dir), str(series), str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "0.40 mm" in err and "0.80 mm" in err and str(series) in err
    assert not (tmp_path / "out").exists()
    assert sorted(p.read_bytes() for p in series.iterdir()) == before


def test_resample_and_force_harmonize_it_differently(run_dir: Path, scan: Scan, tmp_path: Path) -> None:
    series = _rewritten_at(read_volume(scan.source), 0.4, tmp_path / "in", "fine")
    outputs = {}
    for option in ("--resample", "--force"):
        out = tmp_path / option.strip("-")
        assert main(["harmonize", "--model", str(run_dir), str(series), str(out), "--quiet", option]) == 0
        outputs[option] = read_volume(out).hu
    source = read_volume(series).hu
    assert outputs["--resample"].shape == outputs["--force"].shape == source.shape
    assert not np.array_equal(outputs["--resample"], outputs["--force"])
    assert not np.array_equal(outputs["--resample"], source)  # the correction came back to this grid


def test_a_ten_percent_difference_harmonizes_without_a_word(
    run_dir: Path, scan: Scan, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    series = _rewritten_at(read_volume(scan.source), 0.88, tmp_path / "in", "close")
    capsys.readouterr()
    assert main(["harmonize", "--model", str(run_dir), str(series), str(tmp_path / "out"), "--quiet"]) == 0
    assert "spacing" not in capsys.readouterr().err


def test_harmonizer_call_checks_the_volume_too(run_dir: Path, scan: Scan) -> None:
    volume = read_volume(scan.source)
    far = replace(volume, spacing_zyx_mm=(2.5, 0.4, 0.4))
    with pytest.raises(InputError, match="--resample"):
        Harmonizer.load(run_dir, HarmonizeConfig(device="cpu"))(far)
    assert (
        Harmonizer.load(run_dir, HarmonizeConfig(device="cpu", resample=True))(far).hu.shape
        == volume.hu.shape
    )
