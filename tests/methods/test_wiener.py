"""The Wiener baseline as a method: recovers a known filter, tunes lambda on held-out slices, trains."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from methods.runs import Dciodvfy, Pairs, harmonize_and_check
from radiomicgan.cli import main
from radiomicgan.io import read_volume
from radiomicgan.methods.wiener import WienerFitting
from radiomicgan.modelfile import read_metadata
from radiomicgan.nets import FrequencyFilter
from radiomicgan.training.data import PairedSlices
from radiomicgan.windowing import from_unit, to_unit

WINDOW = (-1024, 1000)


def _textured_hu(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Low-pass noise around -200 HU, well inside the window (nothing is clipped)."""
    white = rng.normal(0.0, 150.0, (n, size, size))
    freq = np.hypot(*np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing="ij"))
    return -200.0 + np.fft.ifft2(np.fft.fft2(white) / (1.0 + 20.0 * freq)).real


def _sharpen(hu: np.ndarray) -> np.ndarray:
    """A known kernel conversion: zero phase like a kernel ratio, unit gain at DC, +100 % at the edge.

    (A phase shift, as in test_wiener.py, would be recovered less well here: the window's offset
    puts a large DC term into the spectra, which the 3-bin spectrum average spreads onto its
    neighbours. Kernel ratios are real and near 1 at low frequencies, where that does not matter.)
    """
    size = hu.shape[-1]
    fy, fx = np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing="ij")
    return np.fft.ifft2(np.fft.fft2(hu) * (1.0 + 2.0 * np.hypot(fy, fx) ** 2)).real


def _pairs(source: np.ndarray) -> PairedSlices:
    return PairedSlices(
        source.astype(np.float32), _sharpen(source).astype(np.float32), np.zeros(len(source), np.int64)
    )


def test_recovers_a_known_linear_filter_in_the_window_domain() -> None:
    rng = np.random.default_rng(0)
    fitting = WienerFitting(FrequencyFilter())
    chosen = fitting.fit(_pairs(_textured_hu(rng, 20, 64)), _pairs(_textured_hu(rng, 4, 64)), WINDOW)
    assert chosen["relative_lambda"] <= 1e-4  # noiseless pairs: (almost) no regularization
    test = _textured_hu(rng, 3, 64)
    with torch.no_grad():
        out = fitting.filter(torch.from_numpy(to_unit(test, WINDOW)).unsqueeze(1))
    predicted = from_unit(out[:, 0].numpy(), WINDOW)
    expected = _sharpen(test)
    assert np.sqrt(np.mean((predicted - expected) ** 2)) < 0.02 * expected.std()


def test_wiener_trains_from_the_command_line_harmonizes_and_resumes(
    pairs: Pairs, tmp_path: Path, run_dciodvfy: Dciodvfy, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    data = ["--source", str(pairs.source), "--target", str(pairs.target), "--out", str(run)]
    assert (
        main(["train", "--model", "wiener", *data, "--val-fraction", "0.34", "--device", "cpu", "--quiet"])
        == 0
    )
    assert capsys.readouterr().out.startswith(f"model: {run / 'model.safetensors'}")
    assert {p.name for p in run.iterdir()} >= {"config.yaml", "history.json", "model.safetensors", "figures"}
    history = json.loads((run / "history.json").read_text())
    assert len(history) == 1 and set(history[0]["losses"]) == {"relative_lambda", "held_out_rmse_hu"}
    metadata = read_metadata(run)
    assert metadata.method == "wiener" and metadata.extra["final_losses"] == history[0]["losses"]

    harmonized = harmonize_and_check(run, pairs, tmp_path / "harmonized", run_dciodvfy)
    source, target = read_volume(pairs.source).hu, read_volume(pairs.target).hu
    assert np.mean((harmonized - target) ** 2) < np.mean((source - target) ** 2)

    before = (run / "model.safetensors").read_bytes()
    assert main(["train", "--out", str(run), "--resume", "--quiet"]) == 0  # finished: nothing to do
    assert (run / "model.safetensors").read_bytes() == before
