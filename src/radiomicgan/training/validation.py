"""Validation after each epoch: the DWT "accuracy" and the metrics logged beside it.

The paper leaves the accuracy compared with th_acc undefined. Here it is SSIM (or PSNR) between
synthesized and standard held-out slices, both clipped and scaled to [0, 1] in the epoch's window:
it asks whether the model has learned the window it trained in.

Unpaired training has no standard slice to compare a harmonized one with, so `validate_unpaired`
asks the two things a kernel conversion must do (ours): give the standard kernel's texture (the
distance between the noise power spectra of the harmonized held-out source slices and of the
held-out target slices, `radiomicgan.noise_spectrum`) and keep the densities (the mean absolute
change of the local mean HU from the input, over 10 mm wide neighbourhoods of the body).
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray
from scipy import ndimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from torch import nn

from radiomicgan.inference.slices import predict_unit, windowed_tensor
from radiomicgan.noise_spectrum import radial_nps, spectrum_distance_db
from radiomicgan.training.data import PairedSlices
from radiomicgan.training.unpaired_data import UnpairedSlices
from radiomicgan.windowing import Window, from_unit, to_unit

BODY_HU = -500.0  # the local mean shift is averaged where the input is denser than this
LOCAL_MEAN_MM = 10.0  # the neighbourhood width of the local mean (as `evaluate.local_bias`'s discs)


def validation_subset(val: PairedSlices, max_slices: int) -> PairedSlices:
    """At most `max_slices` validation slices, evenly spread over the held-out block."""
    if len(val) <= max_slices:
        return val
    return val.take(np.linspace(0, len(val) - 1, max_slices).round().astype(np.int64))


def validate(
    generator: nn.Module, val: PairedSlices, window_hu: Window, multiple: int, device: torch.device
) -> dict[str, float]:
    """SSIM and PSNR in the window ([0, 1] units) and the mean absolute error in HU inside it."""
    if len(val) == 0:
        return {}
    predicted = _predict(generator, val.source_hu, window_hu, multiple, device)
    target = to_unit(val.target_hu, window_hu)
    width = float(window_hu[1] - window_hu[0])
    pairs = list(zip(predicted, target, strict=True))
    return {
        "ssim": float(np.mean([_ssim(p, t) for p, t in pairs])),
        "psnr": float(np.mean([_psnr(p, t) for p, t in pairs])),
        "mae_hu": float(np.mean(np.abs(predicted - target)) * width),
    }


def validate_unpaired(
    generator: nn.Module, val: UnpairedSlices, window_hu: Window, multiple: int, device: torch.device
) -> dict[str, float]:
    """The held-out texture and density metrics of an unpaired run (the module's second paragraph).

    Returns:
        "nps_db": mean |10 log10(NPS_harmonized / NPS_target)| over the reliable band (0 is the
        standard kernel's texture); "nps_db_input": the same for the input, for comparison; and
        "mean_shift_hu": mean |local mean HU harmonized - input| in the body. Empty without held-out
        slices; without uniform tissue patches in them, the density metric alone.
    """
    if len(val) == 0 or len(val.target_hu) == 0:
        return {}
    harmonized = predict_hu(generator, val.source_hu, window_hu, multiple, device)
    source = np.clip(val.source_hu, *window_hu)  # what the harmonized slices are compared with: the window
    metrics: dict[str, float] = {"mean_shift_hu": _mean_shift_hu(harmonized, source, val)}
    try:
        target = radial_nps(np.clip(val.target_hu, *window_hu))
        metrics["nps_db"] = spectrum_distance_db(radial_nps(harmonized), target)
        metrics["nps_db_input"] = spectrum_distance_db(radial_nps(source), target)
    except ValueError:
        pass  # no uniform tissue here (tiny or synthetic slices): no texture to compare
    return metrics


def _mean_shift_hu(
    harmonized: NDArray[np.float32], source: NDArray[np.float32], val: UnpairedSlices
) -> float:
    spacing_mm = val.geometry.pixel_spacing_mm if val.geometry else (1.0, 1.0)
    sigma_px = [0.0, *(LOCAL_MEAN_MM / 2.355 / s for s in spacing_mm)]  # a Gaussian 10 mm wide at half height
    shift = ndimage.gaussian_filter(harmonized - source, sigma_px)
    body = source > BODY_HU
    return float(np.mean(np.abs(shift[body]))) if body.any() else 0.0


def predict_hu(
    generator: nn.Module,
    slices_hu: NDArray[np.float32],
    window_hu: Window,
    multiple: int,
    device: torch.device,
) -> NDArray[np.float32]:
    """The generator's output for whole slices in HU, in eval mode, as the harmonizer runs it (before
    rounding and pasting)."""
    return from_unit(_predict(generator, slices_hu, window_hu, multiple, device), window_hu)


def _predict(
    generator: nn.Module,
    slices_hu: NDArray[np.float32],
    window_hu: Window,
    multiple: int,
    device: torch.device,
) -> NDArray[np.float32]:
    """The generator's output for whole slices (HU in), in [0, 1] units of `window_hu`."""
    was_training = generator.training
    generator.eval()
    try:
        with torch.no_grad():
            unit = predict_unit(generator, windowed_tensor(slices_hu, window_hu, device), multiple)
    finally:
        generator.train(was_training)
    return unit[:, 0].float().cpu().numpy()


def _ssim(predicted: NDArray[np.float32], target: NDArray[np.float32]) -> float:
    return float(structural_similarity(predicted, target, data_range=1.0))  # type: ignore[no-untyped-call]


def _psnr(predicted: NDArray[np.float32], target: NDArray[np.float32]) -> float:
    if np.array_equal(predicted, target):
        return 100.0  # identical slices: a finite stand-in for infinity, so JSON stays valid
    return float(peak_signal_noise_ratio(target, predicted, data_range=1.0))  # type: ignore[no-untyped-call]
