"""What runs the generator, decided once when a model is loaded: the module (torch's generator or
ONNX Runtime's export of it) and the autocast dtype of its forward pass.

"auto" choices are checked on probe slices made here, not on the user's first batch, so a loaded
harmonizer never changes how it runs: ONNX Runtime is kept only if it stays within 1 HU of torch, and
on a GPU fp16 only if it stays within 1 HU of fp32 ("mixed precision where it keeps output within
1 HU of fp32", issue 5). "onnx" asked for where it cannot run is a `ConfigError`; "auto" falls back to
torch when ONNX Runtime is missing or the generator has no export (the Wiener filter's FFTs).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from radiomicgan.errors import ConfigError
from radiomicgan.inference import onnx_engine
from radiomicgan.inference.precision import (
    MIXED_PRECISION_TOLERANCE_HU,
    choose_precision,
    precision_name,
    resolve_precision,
)
from radiomicgan.nets.common import Generator
from radiomicgan.windowing import Window

log = logging.getLogger(__name__)

PROBE_SIDE_PX = 64  # at least: a generator pads to its size multiple anyway
PROBE_NOISE_HU = 20.0  # about a CT slice's noise in soft tissue


@dataclass(frozen=True)
class Runner:
    """The module that runs the generator and how: fixed for the harmonizer's life.

    Attributes:
        module: the torch generator, or its ONNX Runtime export (`onnx_engine.OnnxGenerator`).
        autocast_dtype: the forward pass's mixed-precision dtype; None for float32.
        engine: "torch" or "onnx".
    """

    module: nn.Module
    autocast_dtype: torch.dtype | None = None
    engine: str = "torch"

    def describe(self) -> str:
        """ "fp32, torch", "fp16, torch" or "fp32, ONNX Runtime"."""
        engine = "ONNX Runtime" if self.engine == "onnx" else "torch"
        return f"{precision_name(self.autocast_dtype)}, {engine}"


def probe_slices(window_hu: Window, side_px: int = PROBE_SIDE_PX) -> NDArray[np.float32]:
    """Two deterministic slices [2, side, side] in HU spanning the window, for checking "auto" choices.

    Why these: the checks compare two ways of running one network, whose differences come from
    rounding in its arithmetic (ONNX Runtime against torch: about 1e-4 HU whatever the data; fp16
    against fp32: largest where activations are large). A ramp across the whole window gives every
    input value, and bars alternating between the window's ends give the sharpest edges a slice can
    hold, both with CT-like noise. They are made, not read, so the choice is the same for every input
    and is made before any input is read.
    """
    low, high = float(window_hu[0]), float(window_hu[1])
    rng = np.random.default_rng(0)
    ramp = np.broadcast_to(np.linspace(low, high, side_px, dtype=np.float32), (side_px, side_px))
    bars = np.where((np.arange(side_px) // 8) % 2 == 0, low, high).astype(np.float32)[:, None]
    slices = np.stack([ramp, np.broadcast_to(bars, (side_px, side_px))])
    noisy = slices + rng.normal(0.0, PROBE_NOISE_HU, slices.shape).astype(np.float32)
    return np.clip(noisy, low, high).astype(np.float32)


def choose_runner(
    generator: Generator,
    device: torch.device,
    *,
    precision: str,
    engine: str,
    model_id: str,
    onnx_cache: Path | None = None,
    run: Callable[[Runner], NDArray[np.float32]],
) -> Runner:
    """The runner a harmonizer keeps: `precision` and `engine` resolved for `device`, once.

    Args:
        generator: the torch generator, in eval mode on `device`.
        device: where inference runs.
        precision: "auto", "fp32", "bf16" or "fp16" (`HarmonizeConfig.precision`).
        engine: "auto", "torch" or "onnx" (`HarmonizeConfig.engine`).
        model_id: the model file's digest, naming its cached ONNX export; "" for a model built in
            memory, which only torch runs.
        onnx_cache: where ONNX exports are cached (None: `onnx_engine.default_cache_dir()`).
        run: harmonizes the probe slices with a runner (integer HU, no fallback on overflow), for the
            "auto" checks.

    Raises:
        ConfigError: an unknown precision; "onnx" where it cannot run (not installed, a GPU,
            mixed precision, a model built in memory) or where the generator has no export.
    """
    autocast_dtype, candidate = resolve_precision(precision, device)
    torch_runner = Runner(generator, autocast_dtype)
    if _wants_onnx(generator, device, engine, autocast_dtype, model_id):
        try:
            onnx_runner = Runner(onnx_engine.onnx_generator(generator, model_id, onnx_cache), None, "onnx")
        except ConfigError as error:
            if engine == "onnx":
                raise
            log.info("using torch: %s", error)  # e.g. no export for an operator
            return torch_runner
        return onnx_runner if engine == "onnx" else _keep_onnx_if_close(onnx_runner, torch_runner, run)
    if candidate is None:
        return torch_runner
    chosen, _ = choose_precision(
        lambda dtype: run(Runner(generator, dtype)), candidate, MIXED_PRECISION_TOLERANCE_HU
    )
    return Runner(generator, chosen)


def _wants_onnx(
    generator: Generator, device: torch.device, engine: str, autocast_dtype: torch.dtype | None, model_id: str
) -> bool:
    can_run = device.type == "cpu" and autocast_dtype is None and bool(model_id)
    if engine == "onnx":
        if not can_run:
            raise ConfigError("harmonize: --engine onnx runs a model file on the CPU in fp32")
        if not onnx_engine.onnx_runtime_available():
            raise ConfigError(onnx_engine.NOT_INSTALLED)
        return True
    exportable = generator.onnx_exportable  # else each load would spend seconds on a failing export
    if engine != "auto" or not (can_run and exportable):
        return False
    if not onnx_engine.onnx_runtime_available():
        log.info("ONNX Runtime is not installed (pip install 'radiomicgan[onnx]'); torch runs the model")
        return False
    return True


def _keep_onnx_if_close(
    onnx_runner: Runner, torch_runner: Runner, run: Callable[[Runner], NDArray[np.float32]]
) -> Runner:
    candidate, reference = run(onnx_runner), run(torch_runner)
    error_hu = float(np.max(np.abs(candidate - reference))) if reference.size else 0.0
    kept = onnx_runner if error_hu <= MIXED_PRECISION_TOLERANCE_HU else torch_runner
    log.info(
        "using %s: ONNX Runtime differs from torch by up to %g HU on the probe slices (tolerance %g HU)",
        "ONNX Runtime" if kept is onnx_runner else "torch",
        error_hu,
        MIXED_PRECISION_TOLERANCE_HU,
    )
    return kept
