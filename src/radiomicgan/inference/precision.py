"""How the generator runs at inference: its memory layout, the autocast dtype a device gets, and the
check that keeps mixed precision honest.

`harmonize --precision auto` runs the generator in fp16 on a GPU only when the probe slices stay
within 1 HU of fp32 ("mixed precision where it keeps output within 1 HU of fp32", issue 5), decided
once at load (`runner.choose_runner`); windowing, un-windowing and rounding always stay in fp32.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from radiomicgan.errors import ConfigError

log = logging.getLogger(__name__)

MIXED_PRECISION_TOLERANCE_HU = 1.0  # "mixed precision where it keeps output within 1 HU of fp32"
_AUTOCAST_DTYPES: dict[str, torch.dtype | None] = {
    "fp32": None,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}


def use_fast_layout(generator: nn.Module, device: torch.device) -> None:
    """Store the generator's weights channels_last on a CPU (in place): oneDNN's faster convolutions.

    Float32 either way; only the order of the additions changes, moving an integer-HU output by at
    most 1 HU where a value sits at a rounding boundary. `benchmarks/inference.py` measured 1.4x the
    slices/s of the default layout on the VGG-19 U-Net at 512 px on a 2-core CPU (README,
    Performance). GPUs keep the default layout: not measured there.
    """
    if device.type == "cpu":
        generator.to(memory_format=torch.channels_last)  # type: ignore[call-overload]


def resolve_precision(precision: str, device: torch.device) -> tuple[torch.dtype | None, torch.dtype | None]:
    """The mixed-precision dtype to use, and one to try on the probe slices first, for a device.

    Args:
        precision: "auto", "fp32", "bf16" or "fp16".
        device: where inference runs.

    Returns:
        (autocast dtype or None for float32, candidate dtype for "auto" on a GPU or None).

    Raises:
        ConfigError: an unknown precision.
    """
    if precision == "auto":
        if device.type != "cuda":
            # bf16 misses the tolerance (below) and CPU fp16 is slow: measured on a 2-core AMD EPYC with
            # avx512_bf16, one 256 px slice of the VGG U-Net took 2.0 s fp32, 1.6 s bf16, over 60 s fp16.
            return None, None
        # fp16, not bf16: a sigmoid head's [0, 1] output spans ~2000 HU, and bf16's 8-bit significand
        # alone rounds values near 1 to steps of 2**-8 * 2024 = ~8 HU; fp16's 11 bits give ~1 HU steps,
        # so only fp16 can meet the 1 HU tolerance. (A residual head adds its small correction to the
        # fp32 input, which autocast's type promotion keeps in fp32.)
        return None, torch.float16
    if precision not in _AUTOCAST_DTYPES:
        raise ConfigError(f"harmonize: unknown precision {precision!r} (known: auto, fp32, bf16, fp16)")
    return _AUTOCAST_DTYPES[precision], None


def choose_precision(
    run: Callable[[torch.dtype | None], NDArray[np.float32]],
    candidate: torch.dtype,
    tolerance_hu: float = MIXED_PRECISION_TOLERANCE_HU,
) -> tuple[torch.dtype | None, NDArray[np.float32]]:
    """Run the probe slices in float32 and in `candidate`; keep the candidate if it stays within tolerance.

    Args:
        run: harmonizes the probe slices with an autocast dtype (None: float32), returning integer HU.
        candidate: the mixed-precision dtype to try.
        tolerance_hu: the largest absolute difference from float32 accepted, in HU.

    Returns:
        (the dtype chosen, None for float32; the probe's output in that precision).
    """
    reference = run(None)
    mixed = run(candidate)
    error_hu = float(np.max(np.abs(mixed - reference))) if reference.size else 0.0
    chosen = candidate if error_hu <= tolerance_hu else None  # NaN (an overflow) compares False
    log.info(
        "using %s: %s differs from fp32 by up to %g HU on the probe slices (tolerance %g HU)",
        precision_name(chosen),
        precision_name(candidate),
        error_hu,
        tolerance_hu,
    )
    return chosen, reference if chosen is None else mixed


def precision_name(dtype: torch.dtype | None) -> str:
    """ "fp32", "bf16" or "fp16" for an autocast dtype (None is fp32)."""
    return next((name for name, value in _AUTOCAST_DTYPES.items() if value == dtype), str(dtype))
