"""The Wiener prefilter: fitted on the pairs, applied to whole slices, kept in the model, run by harmonize."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray

from radiomicgan.config import WienerConfig
from radiomicgan.inference import HarmonizeConfig, Harmonizer
from radiomicgan.inference.prefilter import prefilter_slices
from radiomicgan.train import train
from radiomicgan.training.data import PairedSlices
from radiomicgan.training.prefilter import fit_prefilter
from training.pairs import TINY_MODEL, Scan, body_hu, tiny_config

CPU = torch.device("cpu")


def _sharpened(slices: NDArray[np.float64]) -> NDArray[np.float64]:
    """A known linear shift-invariant kernel change: high frequencies raised smoothly, up to 1.6x."""
    fy = np.fft.fftfreq(slices.shape[-2])[:, None]
    fx = np.fft.fftfreq(slices.shape[-1])[None, :]
    response = 1.0 + 0.6 * (1.0 - np.exp(-(fx**2 + fy**2) / 0.02))
    return np.fft.ifft2(np.fft.fft2(slices) * response).real


def _pairs(seed: int, slices: int = 6) -> PairedSlices:
    source = body_hu(slices, 64, seed)
    target = _sharpened(source)
    return PairedSlices(
        source.astype(np.float32), target.astype(np.float32), np.zeros(slices, dtype=np.int64)
    )


def test_fitted_prefilter_recovers_a_known_kernel_change() -> None:
    # No spectrum smoothing: with it (the default, for noisy pairs) 64 px slices are too coarse in
    # frequency for an exact recovery.
    settings = WienerConfig(smoothing_px=1)
    prefilter, info = fit_prefilter(_pairs(0), _pairs(1, slices=2), settings)
    test = _pairs(2, slices=2)
    filtered = prefilter_slices(prefilter, test.source_hu, CPU)
    change = np.sqrt(np.mean((test.target_hu - test.source_hu) ** 2))
    error = np.sqrt(np.mean((test.target_hu - filtered) ** 2))
    assert error < 1e-3 * change, (error, change)
    assert info["held_out_rmse_hu"] < 1e-3 * change
    assert info["relative_lambda"] in settings.relative_lambdas


def test_padding_below_air_does_not_ring_into_the_body() -> None:
    prefilter, _ = fit_prefilter(_pairs(0), _pairs(1, slices=2), WienerConfig())
    slice_hu = body_hu(1, 64, 3)
    y, x = np.mgrid[:64, :64]
    outside_fov = (y - 32) ** 2 + (x - 32) ** 2 > 31**2
    padded = np.where(outside_fov, -3024.0, slice_hu)  # a scanner's padding value outside the FOV
    plain, with_padding = (prefilter_slices(prefilter, s, CPU) for s in (slice_hu, padded))
    body = slice_hu[0] > -900
    # What is left is the 24 HU step from air (-1000 HU here) to the floor, 2 px from the body.
    assert np.max(np.abs(plain[0][body] - with_padding[0][body])) < 5.0
    with torch.no_grad():  # the same filter without the floor: the -3024 HU border rings into the body
        unfloored = prefilter(torch.from_numpy(padded.astype(np.float32)).unsqueeze(1))[:, 0].numpy()
    assert np.max(np.abs(plain[0][body] - unfloored[0][body])) > 50.0


def test_training_keeps_the_prefilter_and_harmonize_applies_it(scan: Scan, tmp_path: Path) -> None:
    model = replace(TINY_MODEL, prefilter="wiener")
    result = train(tiny_config(scan, tmp_path / "run", model=model), progress=False)
    settings = HarmonizeConfig(device="cpu", engine="torch", texture=False)  # the network's output alone
    harmonizer = Harmonizer.load(result.run_dir, settings)
    assert harmonizer.prefilter is not None
    assert harmonizer.metadata.model["prefilter"] == "wiener"
    assert harmonizer.metadata.extra["prefilter"]["held_out_rmse_hu"] > 0
    # The same generator without the prefilter, fed slices the prefilter went through, gives the
    # same output inside the window: the harmonizer runs the network on prefiltered slices.
    plain = Harmonizer(harmonizer.generator, harmonizer.metadata, CPU, HarmonizeConfig(engine="torch"))
    slices = scan.source_hu[:2]
    filtered = prefilter_slices(harmonizer.prefilter, slices, CPU)
    lo, hi = harmonizer.window_hu
    inside = (slices >= lo) & (slices <= hi) & (filtered >= lo) & (filtered <= hi)
    ours = harmonizer.harmonize_slices(slices)
    expected = plain.harmonize_slices(filtered)
    assert np.array_equal(ours[inside], expected[inside])
    without = plain.harmonize_slices(slices)
    assert not np.array_equal(ours[inside], without[inside])  # the prefilter changed something


def test_a_baseline_trains_with_a_prefilter_too(scan: Scan, tmp_path: Path) -> None:
    model = replace(TINY_MODEL, prefilter="wiener")
    config = tiny_config(scan, tmp_path / "choe", method="choe", model=model)
    result = train(config, progress=False)
    assert (
        Harmonizer.load(result.run_dir, HarmonizeConfig(device="cpu", engine="torch")).prefilter is not None
    )
