"""Dynamic selection (paper Sec. 2.2, Fig. 2): the next window from the discriminator's CAMs.

After an epoch, random subsets P of the training inputs are synthesized (P'), the frozen
discriminator's Grad-CAM marks where P' looks synthesized, and the HU values there set the window.
The HU values are read from the input slices P (raw HU, unclipped): values of P' are clipped to the
current window, so they could only ever shrink it, while the paper's window also widens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

from radiomicgan.config import WindowConfig
from radiomicgan.gradcam import gradcam
from radiomicgan.inference.slices import size_multiple, windowed_tensor
from radiomicgan.nets import PatchGAN
from radiomicgan.training.data import PairedSlices, sample_crops
from radiomicgan.windowing import Window, select_window_from_cams


@dataclass(frozen=True)
class CamSelection:
    """The window the CAMs chose (None when no hot spot survived) and one sample for the figures."""

    window_hu: Window | None
    sample_hu: NDArray[np.float32]
    sample_cam: NDArray[np.float32]


def cam_window(
    generator: torch.nn.Module,
    discriminator: PatchGAN,
    train: PairedSlices,
    window_hu: Window,
    config: WindowConfig,
    crop_px: int,
    rng: np.random.Generator,
    device: torch.device,
) -> CamSelection:
    """Run the dynamic selection over `config.subsets` random subsets of `config.subset_size` crops."""
    images: list[NDArray[np.float32]] = []
    cams: list[NDArray[np.float32]] = []
    was_training = generator.training
    generator.eval()
    try:
        for _ in range(config.subsets):
            source_hu, _target = sample_crops(
                train, config.subset_size, crop_px, rng, multiple=size_multiple(generator)
            )
            x = windowed_tensor(source_hu, window_hu, device)
            with torch.no_grad():
                synthesized = generator(x)
            cams.extend(gradcam(discriminator, discriminator.cam_layer, x, synthesized))
            images.extend(source_hu)
    finally:
        generator.train(was_training)
    selected = select_window_from_cams(images, cams, config.th_fail)
    return CamSelection(selected, images[0], cams[0])
