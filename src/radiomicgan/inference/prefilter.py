"""A model's prefilter applied: whole slices in HU through the fitted linear filter, before the network.

Training fits the filter (`radiomicgan.training.prefilter`, which says why it exists); training and
inference both run slices through it here, so the network sees the same input in both. Pixels below
-1024 HU (padding outside the field of view) are raised to -1024 first: a -3024 HU border would ring
through the filter into the body.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

AIR_FLOOR_HU = -1024.0
_BATCH = 8  # slices per FFT batch: bounded memory on 512 px slices


def prefilter_slices(
    prefilter: nn.Module, hu: NDArray[np.floating], device: torch.device
) -> NDArray[np.float32]:
    """Slices [n, y, x] in HU through the prefilter, whole; float32 HU out, not rounded."""
    out = np.empty(hu.shape, dtype=np.float32)
    with torch.no_grad():
        for start in range(0, hu.shape[0], _BATCH):
            batch = np.maximum(np.asarray(hu[start : start + _BATCH], dtype=np.float32), AIR_FLOOR_HU)
            filtered = prefilter(torch.from_numpy(batch).to(device).unsqueeze(1))
            out[start : start + _BATCH] = filtered[:, 0].float().cpu().numpy()
    return out
