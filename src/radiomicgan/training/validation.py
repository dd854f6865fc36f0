"""Validation after each epoch: the DWT "accuracy" and the metrics logged beside it.

The paper leaves the accuracy compared with th_acc undefined. Here it is SSIM (or PSNR) between
synthesized and standard held-out slices, both clipped and scaled to [0, 1] in the epoch's window:
it asks whether the model has learned the window it trained in.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from torch import nn

from radiomicgan.inference.slices import predict_unit, windowed_tensor
from radiomicgan.training.data import PairedSlices
from radiomicgan.windowing import Window, to_unit


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
    was_training = generator.training
    generator.eval()
    try:
        with torch.no_grad():
            unit = predict_unit(generator, windowed_tensor(val.source_hu, window_hu, device), multiple)
    finally:
        generator.train(was_training)
    predicted = unit[:, 0].float().cpu().numpy()
    target = to_unit(val.target_hu, window_hu)
    width = float(window_hu[1] - window_hu[0])
    pairs = list(zip(predicted, target, strict=True))
    return {
        "ssim": float(np.mean([_ssim(p, t) for p, t in pairs])),
        "psnr": float(np.mean([_psnr(p, t) for p, t in pairs])),
        "mae_hu": float(np.mean(np.abs(predicted - target)) * width),
    }


def _ssim(predicted: NDArray[np.float32], target: NDArray[np.float32]) -> float:
    return float(structural_similarity(predicted, target, data_range=1.0))  # type: ignore[no-untyped-call]


def _psnr(predicted: NDArray[np.float32], target: NDArray[np.float32]) -> float:
    if np.array_equal(predicted, target):
        return 100.0  # identical slices: a finite stand-in for infinity, so JSON stays valid
    return float(peak_signal_noise_ratio(target, predicted, data_range=1.0))  # type: ignore[no-untyped-call]
