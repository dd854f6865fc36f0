"""The residual texture of a finished paired run (`model.texture: residual`, `radiomicgan.residual_texture`).

Measured on the held-out slices, which the model never trained on: on its training slices a model
that fits part of the noise would leave less residual than it leaves on a new scan. A run with no
held-out slices (`val_fraction: 0`) measures it on its training slices, and says so.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from radiomicgan.residual_texture import ResidualTexture
from radiomicgan.training.data import Split
from radiomicgan.training.validation import predict_hu, validation_subset
from radiomicgan.windowing import Window

log = logging.getLogger(__name__)

MAX_SLICES = 16  # evenly spread; enough pixels per HU class, and seconds of inference on a CPU


def fit_texture(
    generator: nn.Module, split: Split, window_hu: Window, multiple: int, device: torch.device
) -> ResidualTexture:
    """The residual texture of `generator` harmonizing in `window_hu` (the harmonizer's full range).

    Args:
        generator: the trained generator.
        split: the run's pairs; their source slices are prefiltered already, as the network saw them.
        window_hu: the window `Harmonizer` standardizes in by default.
        multiple: the generator's size multiple.
        device: where it runs.

    Raises:
        ValueError: the slices are too small to measure a texture on (`ResidualTexture.fit`).
    """
    return ResidualTexture.fit(*residual_pairs(generator, split, window_hu, multiple, device))


def residual_pairs(
    generator: nn.Module, split: Split, window_hu: Window, multiple: int, device: torch.device
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.bool_]]:
    """What `fit_texture` measures: up to `MAX_SLICES` held-out standard slices (HU), the
    generator's output for them, and where both lie in the window (the residual is the model's)."""
    pairs = split.held_out
    if len(pairs) == 0:
        log.info("no held-out slices: the residual texture is measured on the training slices")
        pairs = split.train
    pairs = validation_subset(pairs, MAX_SLICES)
    harmonized = np.concatenate(  # one slice at a time: a 512 px VGG U-Net batch takes GBs
        [predict_hu(generator, one[None], window_hu, multiple, device) for one in pairs.source_hu]
    )
    # the harmonizer keeps the input where it lies outside the window: no model's residual there
    inside = _in_window(pairs.source_hu, window_hu) & _in_window(pairs.target_hu, window_hu)
    return pairs.target_hu, harmonized, inside


def _in_window(hu: NDArray[np.float32], window_hu: Window) -> NDArray[np.bool_]:
    inside: NDArray[np.bool_] = (hu >= window_hu[0]) & (hu <= window_hu[1])
    return inside
