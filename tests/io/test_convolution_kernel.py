"""ConvolutionKernel values: Siemens' two-valued kernel (kernel and ADMIRE strength) end to end.

Unit tests of the helpers, then the user's path at the command line: a series with
ConvolutionKernel ['Br40d', '3'], a model trained on it, harmonized, validated by dciodvfy.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from radiomicgan.cli import main
from radiomicgan.io import Derivation, read_volume
from radiomicgan.io.convolution_kernel import kernel_of, kernel_text, kernel_values, same_kernel
from radiomicgan.io.derivation import fit_words
from radiomicgan.modelfile import read_metadata
from training.pairs import Scan, tiny_config_yaml, write_scan

SIEMENS_SOURCE = ["Br40d", "3"]
SIEMENS_TARGET = ["Br64d", "3"]


def _dataset(kernel: object) -> Dataset:
    ds = Dataset()
    ds.ConvolutionKernel = kernel
    return ds


def test_a_two_valued_kernel_is_stored_with_a_backslash_and_shown_with_a_slash() -> None:
    ds = _dataset(["Br40d ", "3"])
    assert isinstance(ds.ConvolutionKernel, pydicom.multival.MultiValue)
    assert kernel_of(ds) == "Br40d\\3"
    assert kernel_values(kernel_of(ds)) == ("Br40d", "3")
    assert kernel_text(ds.ConvolutionKernel) == kernel_text("Br40d\\3") == "Br40d/3"
    assert (kernel_of(_dataset("B30f ")), kernel_of(Dataset()), kernel_text("")) == ("B30f", "", "")


def test_same_kernel_ignores_case_and_padding_but_not_the_strength() -> None:
    assert same_kernel("Br40d\\3", [" BR40D ", "3"])
    assert same_kernel(" b30f", "B30F ")
    assert not same_kernel("Br40d\\3", "Br40d\\2")  # ADMIRE 2 and 3 differ in noise and texture
    assert not same_kernel("Br40d\\3", "Br40d")


def test_fit_words_never_cuts_a_word() -> None:
    text = "radiomicgan-radiomicgan: Harmonized from smooth to sharp by radiomicgan (radiomicgan)"
    fitted = fit_words(text, 64)
    assert len(fitted) <= 64 and text.startswith(fitted) and text[len(fitted)] == " "
    assert fitted.endswith("to sharp by")  # not "by radi", as before
    assert fit_words("x" * 70, 64) == "x" * 64  # one word longer than the limit is cut
    assert fit_words("short", 64) == "short"


def test_a_description_holding_a_backslash_stays_one_value() -> None:
    derivation = Derivation("m", "Harmonized from Br40d\\3 to Br64d\\3 by m\nsecond line", "id")
    assert derivation.series_description() == "Harmonized from Br40d/3 to Br64d/3 by m second line"
    assert "\\" not in derivation.derivation_description()


def _set_kernel(folder: Path, kernel: list[str]) -> None:
    for path in folder.iterdir():
        ds = pydicom.dcmread(path)
        ds.ConvolutionKernel = kernel
        ds.save_as(path)


@pytest.fixture(scope="module")
def siemens(tmp_path_factory: pytest.TempPathFactory) -> tuple[Scan, Path]:
    """A paired scan with Siemens kernels Br40d\\3 -> Br64d\\3 and a histogram-matching model on it."""
    root = tmp_path_factory.mktemp("siemens")
    scan = write_scan(root)
    _set_kernel(scan.source, SIEMENS_SOURCE)
    _set_kernel(scan.target, SIEMENS_TARGET)
    run = root / "run"
    pair = ["--source", str(scan.source), "--target", str(scan.target)]
    config = ["--config", str(tiny_config_yaml(root / "train.yaml"))]
    assert main(["train", *config, *pair, "--model", "histmatch", "--out", str(run), "--quiet"]) == 0
    return scan, run


def test_train_records_the_kernel_and_strength(siemens: tuple[Scan, Path]) -> None:
    metadata = read_metadata(siemens[1])
    assert (metadata.source_kernel, metadata.target_kernel) == ("Br40d\\3", "Br64d\\3")


def test_harmonized_siemens_series_is_valid_dicom(
    siemens: tuple[Scan, Path], tmp_path: Path, run_dciodvfy: Callable[[Path], tuple[list[str], str]]
) -> None:
    scan, run = siemens
    out = tmp_path / "out"
    argv = ["harmonize", "--model", str(run), str(scan.source), str(out), "--device", "cpu", "--quiet"]
    assert main([*argv, "--strict"]) == 0  # the series' kernel is the model's
    errors, output = run_dciodvfy(out)
    assert errors == [], output
    volume = read_volume(out)
    assert volume.datasets is not None
    for ds in volume.datasets:
        description = ds["SeriesDescription"]
        assert description.VM == 1 and len(description.value) <= 64
        assert description.value == "Harmonized from Br40d/3 to Br64d/3 by radiomicgan-histmatch"
        assert "Br40d/3" in ds.DerivationDescription and "\\" not in ds.DerivationDescription
        assert list(ds.ConvolutionKernel) == SIEMENS_SOURCE  # the source's reconstruction, kept


def test_another_admire_strength_is_another_kernel(
    siemens: tuple[Scan, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scan, run = siemens
    padded, other = tmp_path / "padded", tmp_path / "strength2"
    shutil.copytree(scan.source, padded)
    shutil.copytree(scan.source, other)
    _set_kernel(padded, [" BR40D ", "3"])
    _set_kernel(other, ["Br40d", "2"])
    options = ["--device", "cpu", "--quiet", "--strict"]
    assert main(["harmonize", "--model", str(run), str(padded), str(tmp_path / "a"), *options]) == 0
    capsys.readouterr()
    assert main(["harmonize", "--model", str(run), str(other), str(tmp_path / "b"), *options]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "kernel Br40d/2 differs from the model's source kernel Br40d/3" in err
    assert not (tmp_path / "b").exists()
