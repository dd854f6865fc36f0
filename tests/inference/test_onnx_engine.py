"""ONNX Runtime as an engine: exported once per model into the cache, dynamic shapes, torch's output."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from radiomicgan.config import ModelConfig, UNetConfig
from radiomicgan.errors import ConfigError
from radiomicgan.inference import Harmonizer
from radiomicgan.inference.onnx_engine import OnnxGenerator, onnx_generator, onnx_runtime_available
from radiomicgan.modelfile import ModelMetadata
from radiomicgan.nets import FrequencyFilter, build_generator
from radiomicgan.nets.encoder_weights import NO_WEIGHTS

pytestmark = pytest.mark.skipif(not onnx_runtime_available(), reason="ONNX Runtime is not installed")


@pytest.fixture(scope="module")
def generator() -> torch.nn.Module:
    torch.manual_seed(0)
    config = ModelConfig(generator="unet", unet=UNetConfig(base_channels=4, downs=3))
    return build_generator("unet", config, NO_WEIGHTS).eval()


def test_export_runs_every_batch_and_slice_size_like_torch(
    generator: torch.nn.Module, tmp_path: Path
) -> None:
    runner = onnx_generator(generator, "model-a", tmp_path)
    assert isinstance(runner, OnnxGenerator) and runner.size_multiple == generator.size_multiple
    for shape in [(1, 1, 16, 24), (3, 1, 40, 32)]:  # sizes other than the export's example
        x = torch.rand(*shape)
        with torch.no_grad():
            expected = generator(x)
        out = runner(x)
        assert out.shape == expected.shape
        assert float((out - expected).abs().max()) < 1e-4  # 0.2 HU over the 2024 HU window


def test_the_export_is_cached_by_model(
    generator: torch.nn.Module, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="radiomicgan"):
        onnx_generator(generator, "model-b", tmp_path)
        exported = sorted(tmp_path.iterdir())
        onnx_generator(generator, "model-b", tmp_path)
    assert len(exported) == 1 and exported[0].name.startswith("model-b-")
    assert sorted(tmp_path.iterdir()) == exported  # nothing new, no temporary file left
    assert sum("exporting" in r.getMessage() for r in caplog.records) == 1


def test_without_onnx_runtime_the_engine_is_a_config_error(
    generator: torch.nn.Module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("radiomicgan.inference.onnx_engine.onnx_runtime_available", lambda: False)
    with pytest.raises(ConfigError, match=r"radiomicgan\[onnx\]"):
        onnx_generator(generator, "model-c", tmp_path)
    assert not tmp_path.joinpath("model-c").exists() and not any(tmp_path.iterdir())


def test_export_error_names_the_problem(tmp_path: Path) -> None:
    class Unexportable(torch.nn.Module):
        size_multiple = 8

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("this network cannot be traced")

    with pytest.raises(ConfigError, match="cannot be exported to ONNX") as caught:
        onnx_generator(Unexportable(), "model-d", tmp_path)
    assert "\n" not in str(caught.value) and "--engine torch" in str(caught.value)
    assert not any(tmp_path.iterdir())  # no partial export left behind


def test_auto_engine_does_not_try_to_export_a_frequency_filter(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    metadata = ModelMetadata("wiener", {}, NO_WEIGHTS.record(), False, (-1024, 1000))
    cpu = torch.device("cpu")
    harmonizer = Harmonizer(FrequencyFilter(), metadata, cpu, model_id="m", onnx_cache=tmp_path)
    hu = np.full((1, 16, 16), 40.0, dtype=np.float32)
    with caplog.at_level(logging.INFO, logger="radiomicgan"):
        out = harmonizer.harmonize_slices(hu)
    assert np.array_equal(out, hu)  # the identity filter
    assert harmonizer.runner.module is harmonizer.generator and not any(tmp_path.iterdir())
    assert not any("ONNX" in r.getMessage() for r in caplog.records)
