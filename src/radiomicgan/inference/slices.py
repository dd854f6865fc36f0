"""Slices for a generator: HU arrays to windowed tensors and back, whole-slice inference with padding."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from radiomicgan.nets.common import Generator
from radiomicgan.windowing import from_unit, to_unit


def windowed_tensor(
    hu: NDArray[np.float32], window_hu: tuple[int, int], device: torch.device
) -> torch.Tensor:
    """[B, y, x] HU -> [B, 1, y, x] float32 in [0, 1] on `device`."""
    return torch.from_numpy(to_unit(hu, window_hu)).unsqueeze(1).to(device)


def size_multiple(generator: nn.Module) -> int:
    """The generator's input size multiple (`Generator.size_multiple`; 1 for other modules)."""
    return generator.size_multiple if isinstance(generator, Generator) else 1


def predict_unit(generator: nn.Module, x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Run a generator on whole slices, padding H and W up to `multiple` (edge values), then cropping."""
    height, width = x.shape[-2:]
    pad_y, pad_x = -height % multiple, -width % multiple
    padded = F.pad(x, (0, pad_x, 0, pad_y), mode="replicate") if pad_y or pad_x else x
    out: torch.Tensor = generator(padded)
    return out[..., :height, :width]


def harmonize_slices_hu(
    generator: nn.Module,
    hu: NDArray[np.float32],
    window_hu: tuple[int, int],
    device: torch.device,
    multiple: int,
    autocast_dtype: torch.dtype | None = None,
) -> NDArray[np.float32]:
    """[B, y, x] HU through the generator in one window; returns HU (not yet rounded or pasted).

    With `autocast_dtype` (torch.bfloat16 or torch.float16) only the generator's forward pass runs
    in mixed precision; windowing, un-windowing and everything after stay float32.
    """
    x = windowed_tensor(hu, window_hu, device)
    mixed = torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None)
    with torch.no_grad(), mixed:
        out = predict_unit(generator, x, multiple)
    return from_unit(out[:, 0].float().cpu().numpy(), window_hu)
