"""Harmonizing with a trained model: pasting back outside the window, integer HU, windows, outputs."""

from __future__ import annotations

import logging
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from radiomicgan.cli import main
from radiomicgan.config import WindowConfig
from radiomicgan.errors import InputError, OutputError
from radiomicgan.harmonize import Harmonizer, harmonize_path
from radiomicgan.io import find_series, read_volume
from radiomicgan.training import train
from radiomicgan.training.tensors import harmonize_slices_hu
from training.pairs import SOURCE_KERNEL, TARGET_KERNEL, Scan, tiny_config, write_scan

TRAINING_WINDOW = (-1024, -513)  # two fixed-growing epochs with th_eta = 1


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Every test here runs torch on one thread (`one_torch_thread` in tests/conftest.py)."""


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> Scan:
    return write_scan(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def run_dir(scan: Scan, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny trained model whose final training window is TRAINING_WINDOW."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("runs") / "run"
    window = WindowConfig(schedule="fixed", th_eta=1)
    result = train(tiny_config(scan, run, epochs=2, window=window), progress=False)
    torch.set_num_threads(threads)
    assert result.final_window_hu == TRAINING_WINDOW
    return run


@pytest.fixture
def harmonizer(run_dir: Path) -> Harmonizer:
    return Harmonizer.load(run_dir, device="cpu", batch_size=2)


def _with_extremes(hu: np.ndarray) -> np.ndarray:
    """The slices with metal, dense bone and below-air padding pasted in: HU outside [-1024, 1000]."""
    out = hu.copy()
    out[:, 20:24, 20:24] = 3071.0
    out[:, 30:33, 10:14] = 1400.0
    out[:, :2, :] = -2000.0
    return out


def test_outside_window_pixels_are_pasted_back_unchanged(harmonizer: Harmonizer, scan: Scan) -> None:
    volume = read_volume(scan.source)
    volume = volume.with_hu(_with_extremes(volume.hu))
    out = harmonizer(volume)
    lo, hi = harmonizer.window_hu
    assert (lo, hi) == (-1024, 1000)  # "full", the default
    outside = (volume.hu < lo) | (volume.hu > hi)
    assert outside.sum() > 0
    np.testing.assert_array_equal(out.hu[outside], volume.hu[outside])
    inside = ~outside
    assert not np.array_equal(out.hu[inside], volume.hu[inside])  # the model did change the rest
    np.testing.assert_array_equal(out.hu, np.rint(out.hu))
    assert out.hu[inside].min() >= -1024 and out.hu[inside].max() <= 3071


def test_output_is_rounded_and_within_the_source_range(harmonizer: Harmonizer) -> None:
    rng = np.random.default_rng(0)
    hu = np.rint(rng.uniform(100, 120, size=(3, 48, 48))).astype(np.float32)  # a narrow range
    predicted = harmonize_slices_hu(harmonizer.generator, hu, harmonizer.window_hu, harmonizer.device, 8)
    assert predicted.min() < 100 or predicted.max() > 120, "the raw prediction leaves the source range"
    out = harmonizer.harmonize_slices(hu)
    np.testing.assert_array_equal(out, np.rint(out))
    assert out.min() >= 100 and out.max() <= 120
    np.testing.assert_array_equal(out, np.clip(np.rint(predicted), 100, 120))


def test_training_window_mode_uses_the_final_training_window(run_dir: Path, scan: Scan) -> None:
    harmonizer = Harmonizer.load(run_dir, device="cpu", window_mode="training")
    assert harmonizer.window_hu == harmonizer.metadata.training_window_hu == TRAINING_WINDOW
    hu = read_volume(scan.source).hu
    out = harmonizer.harmonize_slices(hu)
    above = hu > TRAINING_WINDOW[1]
    assert above.any() and (~above).any()
    np.testing.assert_array_equal(out[above], hu[above])
    predicted = harmonize_slices_hu(harmonizer.generator, hu, TRAINING_WINDOW, harmonizer.device, 8)
    expected = np.clip(np.rint(predicted), hu.min(), hu.max())
    np.testing.assert_array_equal(out[~above], expected[~above])
    full = Harmonizer.load(run_dir, device="cpu").harmonize_slices(hu)
    assert not np.array_equal(out, full)


def test_kernel_mismatch_warns_once(
    harmonizer: Harmonizer, scan: Scan, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="radiomicgan"):
        harmonize_path(harmonizer, scan.source, tmp_path / "matching", progress=False)
        assert not caplog.records
        harmonize_path(harmonizer, scan.target, tmp_path / "other", progress=False)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "\n" not in message and TARGET_KERNEL in message and SOURCE_KERNEL in message


def test_output_inside_the_input_folder_is_refused(harmonizer: Harmonizer, scan: Scan) -> None:
    before = sorted(scan.source.parent.rglob("*"))
    for output in (scan.source / "harmonized", scan.source.parent / "smooth" / "x" / "y"):
        with pytest.raises(OutputError, match="inside the input"):
            harmonize_path(harmonizer, scan.source.parent, output, progress=False)
    with pytest.raises(OutputError):
        harmonize_path(harmonizer, scan.source, scan.source / "out", progress=False)
    assert sorted(scan.source.parent.rglob("*")) == before


def test_missing_input_is_an_input_error(harmonizer: Harmonizer, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        harmonize_path(harmonizer, tmp_path / "nowhere", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_folder_tree_of_two_series_is_mirrored(harmonizer: Harmonizer, scan: Scan, tmp_path: Path) -> None:
    out = tmp_path / "out"
    written = harmonize_path(harmonizer, scan.source.parent, out, progress=False)
    assert sorted(written) == [out / "sharp", out / "smooth"]
    for name in ("smooth", "sharp"):
        alone = harmonize_path(
            harmonizer, scan.source.parent / name, tmp_path / f"alone-{name}", progress=False
        )
        np.testing.assert_array_equal(read_volume(out / name).hu, read_volume(alone[0]).hu)


def test_two_series_in_one_folder_get_one_subfolder_each(
    harmonizer: Harmonizer, scan: Scan, tmp_path: Path
) -> None:
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for series in (scan.source, scan.target):
        for file in series.iterdir():
            shutil.copy(file, mixed / f"{series.name}-{file.name}")
    uids = sorted(s.series_uid for s in find_series(mixed))
    out = tmp_path / "out"
    written = harmonize_path(harmonizer, mixed, out, progress=False)
    assert sorted(written) == [out / uid for uid in uids]  # side by side, neither inside the other
    for path, uid in zip(sorted(written), uids, strict=True):
        assert len(list(path.iterdir())) == 6
        assert read_volume(path).hu.shape == (6, 48, 48)
        assert read_volume(mixed, uid).meta.series_uid == uid


# --- the command line ---------------------------------------------------------------------------------


def test_harmonize_command(
    run_dir: Path, scan: Scan, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["harmonize", "--model", str(run_dir), str(scan.source), str(out), "--device", "cpu", "--quiet"]
    assert main(args) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert len(list(out.iterdir())) == 6
    assert main([*args, "--window", "training"]) == 2  # the output exists now
    assert "exists" in capsys.readouterr().err
    assert main([*args, "--window", "training", "--overwrite"]) == 0


def _refused(args: list[str], capsys: pytest.CaptureFixture[str], *words: str) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("radiomicgan harmonize: error: "), err
    assert "Traceback" not in err
    for word in words:
        assert word in err


def test_bad_models_and_inputs_are_one_line_errors(
    run_dir: Path, scan: Scan, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    text = tmp_path / "model.txt"
    text.write_text("hello")
    pickled = tmp_path / "model.pt"
    pickled.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    fake = tmp_path / "fake.safetensors"
    fake.write_text("not safetensors")

    def args(model: Path, source: Path = scan.source) -> list[str]:
        return ["harmonize", "--model", str(model), str(source), str(out), "--device", "cpu"]

    _refused(args(text), capsys, "model.txt", "not a radiomicgan model file")
    _refused(args(pickled), capsys, "model.pt", "pickle")
    _refused(args(fake), capsys, "fake.safetensors")
    _refused(args(tmp_path / "no-run"), capsys, "does not exist")
    _refused(args(run_dir, tmp_path / "no-input"), capsys, "no-input", "does not exist")
    assert not out.exists()
