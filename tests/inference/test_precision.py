"""Mixed precision: which autocast dtype a device gets, and the 1 HU check that decides "auto"."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pytest
import torch

from radiomicgan.config import ModelConfig, VGGUNetConfig
from radiomicgan.errors import ConfigError
from radiomicgan.inference.precision import choose_precision, resolve_precision, use_fast_layout
from radiomicgan.inference.slices import harmonize_slices_hu
from radiomicgan.nets import build_generator
from radiomicgan.nets.encoder_weights import NO_WEIGHTS


def test_resolve_precision() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_precision("auto", cpu) == (None, None)
    assert resolve_precision("auto", cuda) == (None, torch.float16)  # tried on probe slices at load
    assert resolve_precision("fp32", cuda) == (None, None)
    assert resolve_precision("bf16", cpu) == (torch.bfloat16, None)
    assert resolve_precision("fp16", cuda) == (torch.float16, None)
    with pytest.raises(ConfigError, match="precision"):
        resolve_precision("fp8", cpu)


def test_choose_precision_keeps_mixed_precision_only_within_tolerance(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reference = np.array([0.0, 10.0, -5.0], dtype=np.float32)

    def run(offset: float) -> Callable[[torch.dtype | None], np.ndarray]:
        return lambda dtype: reference if dtype is None else reference + np.float32(offset)

    with caplog.at_level(logging.INFO, logger="radiomicgan"):
        dtype, out = choose_precision(run(1.0), torch.float16)
        assert dtype == torch.float16 and out[1] == 11.0
        dtype, out = choose_precision(run(2.0), torch.float16)
        assert dtype is None and out is reference
        dtype, out = choose_precision(run(np.nan), torch.float16)  # an overflow
        assert dtype is None and out is reference
    lines = [r.getMessage() for r in caplog.records if r.name == "radiomicgan.inference.precision"]
    assert len(lines) == 3 and all("\n" not in line for line in lines)
    assert lines[0].startswith("using fp16: fp16 differs from fp32 by up to 1 HU")
    assert lines[1].startswith("using fp32: fp16 differs from fp32 by up to 2 HU")


def test_fast_layout_on_cpu_changes_the_layout_not_the_integer_hu() -> None:
    torch.manual_seed(0)
    generator = build_generator(
        "radiomicgan", ModelConfig(vgg_unet=VGGUNetConfig(encoder_weights="none")), NO_WEIGHTS
    ).eval()
    torch.nn.init.normal_(generator.head.weight, std=0.05)  # the residual head starts at zero
    hu = np.rint(np.random.default_rng(0).normal(0.0, 300.0, (2, 64, 64))).astype(np.float32)
    cpu, window = torch.device("cpu"), (-1024, 1000)
    before = np.rint(harmonize_slices_hu(generator, hu, window, cpu, 8))
    use_fast_layout(generator, cpu)
    after = np.rint(harmonize_slices_hu(generator, hu, window, cpu, 8))
    first_conv = next(m for m in generator.modules() if isinstance(m, torch.nn.Conv2d))
    assert first_conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not first_conv.weight.is_contiguous()
    assert np.abs(before - hu).max() > 5  # the head changes the image: the comparison means something
    assert np.abs(after - before).max() <= 1.0
